#pragma once

#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>

#include "circolo/engine/clock.hpp"

namespace circolo::db::programs {

// The NOTIFY channel of program changes (apply, pause, resume), sent in their transactions.
inline const std::string kChannel = "circolo_program";

struct Version {
  long long version = 0;
  std::string source;
  std::string created_by;
  engine::TimePoint created_at{};
};

// Stores `source` as a new version and makes it the active one; returns the version number.
// Takes the program_state row lock, so concurrent applies are serialised.
long long apply(soci::session& sql, const std::string& source, const std::string& created_by,
                engine::TimePoint now);

std::optional<Version> active(soci::session& sql);
// The active version and the state's revision (bumped by every apply, pause and resume): a
// one-row read.
struct State {
  std::optional<long long> version;
  long long revision = 0;
};
State state(soci::session& sql);
std::optional<Version> find(soci::session& sql, long long version);
std::vector<Version> list(soci::session& sql, std::optional<long long> before,
                          int limit);  // newest first, no source

void pause(soci::session& sql, const std::string& campaign, const std::string& by,
           engine::TimePoint now);
bool resume(soci::session& sql, const std::string& campaign);  // false if it was not paused
std::vector<std::string> paused(soci::session& sql);

}  // namespace circolo::db::programs
