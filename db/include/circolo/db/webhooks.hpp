#pragma once

#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>

#include "circolo/engine/clock.hpp"

// Webhook endpoints, their leases and cursors, and the record of every delivery attempt.
namespace circolo::db::webhooks {

struct Endpoint {
  std::string id, url;
  std::vector<std::string> events;
  std::string secret;  // sealed (engine::SecretsKey, webhook_secret_purpose), as stored
  engine::TimePoint created_at{};
  std::optional<engine::TimePoint> disabled_at, next_attempt_at;
  long long cursor = 0;
  int failures = 0;
};

void insert(soci::session& sql, const Endpoint& endpoint);
std::vector<Endpoint> list(soci::session& sql);
std::optional<Endpoint> find(soci::session& sql, const std::string& id);
bool disable(soci::session& sql, const std::string& id, engine::TimePoint at);

// Leases up to `limit` endpoints that are due (enabled, not leased, not backing off) to
// `worker` until `until`.
std::vector<Endpoint> lease(soci::session& sql, const std::string& worker, engine::TimePoint now,
                            engine::TimePoint until, int limit);
// Extends a lease; false if it was lost (another worker took the endpoint).
bool renew(soci::session& sql, const std::string& id, const std::string& worker,
           engine::TimePoint until);
void release(soci::session& sql, const std::string& id, const std::string& worker);

struct Attempt {
  long long seq = 0;
  std::string event_type;
  engine::TimePoint at{};
  std::optional<int> status_code;
  int latency_ms = 0;
  std::optional<std::string> error;
  bool redrive = false;             // a dead letter delivered again: the cursor and backoff stay
  engine::TimePoint lease_until{};  // recording an attempt also extends the lease to this
};
// Records a successful attempt and moves the cursor past `seq` (unless it is a redrive of an
// older event). False if the lease was lost (nothing recorded).
bool delivered(soci::session& sql, const std::string& id, const std::string& worker,
               const Attempt& attempt);
// Records a failed attempt. With `give_up` the event becomes a dead letter and the cursor moves
// past it; otherwise the endpoint waits until `retry_at`.
bool failed(soci::session& sql, const std::string& id, const std::string& worker,
            const Attempt& attempt, bool give_up, engine::TimePoint retry_at);

// Moves the cursor to `seq` (events up to it are not for this endpoint); false if the lease was
// lost or the endpoint disabled.
bool skip_to(soci::session& sql, const std::string& id, const std::string& worker, long long seq);
// Removes the record of deliveries last attempted before `cutoff` (retention).
long long purge_before(soci::session& sql, engine::TimePoint cutoff);

// Dead letters asked to be delivered again, oldest first.
std::vector<long long> redrives(soci::session& sql, const std::string& id, int limit);
// Marks a dead letter for redelivery; false if there is no dead letter for that seq.
bool redrive(soci::session& sql, const std::string& id, long long seq);

struct Delivery {
  long long seq = 0;
  std::string event_type, status;
  int attempts = 0;
  std::optional<int> last_status_code, last_latency_ms;
  std::optional<std::string> last_error;
  std::optional<engine::TimePoint> first_attempt_at, last_attempt_at;
};
std::vector<Delivery> deliveries(soci::session& sql, const std::string& id,
                                 const std::optional<std::string>& status, long long before_seq,
                                 int limit);

// Every attempt of one event, oldest first.
std::vector<Attempt> attempts(soci::session& sql, const std::string& id, long long seq);

}  // namespace circolo::db::webhooks
