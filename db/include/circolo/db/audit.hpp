#pragma once

#include <soci/soci.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "circolo/engine/clock.hpp"

// The audit trail (audit_log): appended in the transaction of the action it records, read by
// admins, never changed.
namespace circolo::db::audit {

struct Entry {
  long long id = 0;
  engine::TimePoint at{};
  std::string actor, role;
  std::optional<std::string> address;
  std::string action;
  std::optional<std::string> target;
  nlohmann::json detail = nlohmann::json::object();
};

void append(soci::session& sql, const Entry& entry);

struct Query {
  std::optional<long long> before;  // entries with a smaller id (newest first)
  std::optional<std::string> actor, action, target;
  std::optional<engine::TimePoint> from, until;
  int limit = 50;
};
std::vector<Entry> page(soci::session& sql, const Query& query);

}  // namespace circolo::db::audit
