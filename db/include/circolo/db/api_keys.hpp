#pragma once

#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>

#include "circolo/engine/clock.hpp"

namespace circolo::db {

struct ApiKeyRecord {
  std::string id;
  std::string role;  // "admin" or "touchpoint"
  std::optional<std::string> channel;
  std::string name;
  engine::TimePoint created_at;
  std::optional<engine::TimePoint> revoked_at;
};

// SQL for the api_keys table. Secrets never reach this layer: only their SHA-256 (hex).
namespace api_keys {

void insert(soci::session& sql, const ApiKeyRecord& key, const std::string& secret_sha256);

// The bootstrap admin key (CIRCOLO_ADMIN_KEY): created, re-keyed or un-revoked so that after
// start an admin key with exactly that secret exists.
void upsert_bootstrap(soci::session& sql, const std::string& secret_sha256, engine::TimePoint now);

struct Match {
  ApiKeyRecord key;
  std::string secret_sha256;
};
std::optional<Match> find_active_by_hash(soci::session& sql, const std::string& secret_sha256);

std::vector<ApiKeyRecord> list(soci::session& sql);

// The channel of a key (revoked or not); nullopt for an unknown key or one without a channel.
std::optional<std::string> channel_of(soci::session& sql, const std::string& id);

enum class RevokeResult { revoked, already_revoked, not_found };
RevokeResult revoke(soci::session& sql, const std::string& id, engine::TimePoint now);

inline constexpr const char* kBootstrapId = "key_bootstrap";

}  // namespace api_keys
}  // namespace circolo::db
