#pragma once

#include <soci/soci.h>

#include <cstdint>
#include <optional>
#include <string>

// What decides whether a member token still stands besides its signature and expiry: the key
// that minted it is not revoked, and the member's token generation has not moved on.
namespace circolo::db::member_tokens {

struct State {
  std::optional<std::int64_t> generation;  // nullopt: no such member, or merged into another
  bool key_active = false;                 // the issuing key exists and is not revoked
};

// One round trip.
State state(soci::session& sql, const std::string& member_id, const std::string& key_id);

// The member's token generation now, for minting (0 when there is no such member).
std::int64_t generation(soci::session& sql, const std::string& member_id);

// Revokes every token of the member minted so far; false: no such member.
bool revoke_all(soci::session& sql, const std::string& member_id);

// Whether `channel` has served the member (or one merged into it): anything on its timeline
// from that channel (its enrolment, an event, an identifier linked there).
bool served_on(soci::session& sql, const std::string& member_id, const std::string& channel);

}  // namespace circolo::db::member_tokens
