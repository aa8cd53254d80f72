#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <soci/soci.h>

#include "circolo/api/http.hpp"
#include "circolo/api/metrics.hpp"
#include "circolo/api/rate_limit.hpp"
#include "circolo/api/router.hpp"
#include "circolo/api/server.hpp"
#include "circolo/db/batch.hpp"
#include "circolo/db/database.hpp"
#include "circolo/engine/clock.hpp"
#include "circolo/engine/sealed.hpp"

namespace circolo::api {

// What handlers share: the database, the clock, the metrics.
struct Services {
  db::Database& db;
  const engine::Clock& clock;
  Metrics& metrics;
  const engine::SecretsKey& secrets_key;  // seals webhook secrets (the server's configuration)
  std::string member_token_secret;        // shared by all instances (server_secrets table)
  // Called after every committed transaction (the outbox publisher's poke); may be empty.
  std::function<void()> committed;
};

struct ExpiryReport {
  long long members = 0, lots = 0, points = 0;
};
// Writes off every lot due now, member by member (one transaction each); safe to run on several
// instances at once.
asio::awaitable<ExpiryReport> expire_due_points(Services& services);

// The request path: request id, routing (404/405), authentication (401/403), Idempotency-Key
// checks, the handler, problem+json for every refusal, metrics and one log line per request.
class App {
 public:
  explicit App(Services services);

  // `peer`: the client's address (failed authentications are limited per address).
  asio::awaitable<HttpResponse> handle(HttpRequest& request,
                                       std::optional<asio::ip::address> peer = std::nullopt);
  // Takes one request of `key` under `rule`; 429 rate_limited (with Retry-After) when there is
  // none left. `what` names them in the answer ("coupon checks").
  void throttle(const std::string& key, const RateLimiter::Rule& rule, const std::string& what);
  const RateLimits& rate_limits() const { return limits_; }
  // The client's address: the peer's, or behind a trusted proxy the one it forwarded ("-").
  std::string client_address(const HttpRequest& raw,
                             const std::optional<asio::ip::address>& peer) const;
  // Failed authentications per client address: 429 rate_limited (thrown) when the address has
  // failed too often; record a failure after it.
  void check_authentication_allowed(const std::string& address);
  void authentication_failed(const std::string& address);
  // Load balancers whose X-Forwarded-For is believed: behind one, the client's address (for the
  // limit on failed authentications) is the last address it appended.
  void set_trusted_proxies(std::vector<asio::ip::address> proxies) {
    trusted_proxies_ = std::move(proxies);
  }
  HttpResponse refusal(http::status status, const std::string& detail) const;
  Router& router() { return router_; }
  // API keys found valid are trusted for kKeyCacheTtl without asking the database again (a key
  // revoked on another instance is refused there at once, here within that time).
  static constexpr std::chrono::milliseconds kKeyCacheTtl{1000};
  void forget_cached_keys();
  // After the member's tokens were revoked here: refused here at once, elsewhere within
  // kKeyCacheTtl.
  void forget_member_tokens(const std::string& member_id);
  Services& services() { return services_; }
  // The principal of a bearer token (API key or member token); nullopt if not valid.
  asio::awaitable<std::optional<Principal>> authenticate(std::string_view token);

 private:
  [[noreturn]] void throw_auth_limited(const std::string& key);

  Services services_;
  Router router_;
  RateLimiter limiter_;
  RateLimits limits_;
  std::vector<asio::ip::address> trusted_proxies_;
  struct CachedKey {
    Principal principal;
    std::chrono::steady_clock::time_point until;
  };
  std::mutex key_cache_mutex_;
  std::unordered_map<std::string, CachedKey> key_cache_;  // by SHA-256 of the secret
  // Bumped by forget_cached_keys: a lookup that started before a revocation is not cached.
  std::uint64_t key_generation_ = 0;
  // Member tokens: whether their issuing key and generation still stand, by "member\nkey".
  struct CachedTokenState {
    std::optional<std::int64_t> generation;
    bool key_active = false;
    std::chrono::steady_clock::time_point until;
  };
  std::unordered_map<std::string, CachedTokenState> token_cache_;  // under key_cache_mutex_
};

// Runs `work` in one database transaction. With an Idempotency-Key, the key is claimed in the
// same transaction: a repeated request replays the stored response (201 becomes 200, with
// Idempotent-Replayed: true), a different request under the same key is 409
// idempotency_conflict, and concurrent duplicates wait for the first to commit. Only successful
// responses are stored: a refusal changed nothing, so its retry is evaluated afresh.
asio::awaitable<Response> transact(Services& services, Request& request,
                                   std::function<Response(soci::session&)> work);
// The same, for work that queues statements whose results it does not need into the batch: they
// go to the database with the stored response and COMMIT in one round trip (rows they lock,
// such as hot budget counters, are held for that round trip only).
asio::awaitable<Response> transact_batched(
    Services& services, Request& request, std::function<Response(soci::session&, db::Batch&)> work);
// The same with a read sent ahead: `prefetch` goes to the database with BEGIN and the
// Idempotency-Key claim (one round trip for the three), and `work` gets its rows (nullptr when
// the request had no key: then nothing was sent ahead and the work reads for itself).
// Whose Idempotency-Keys a request's key is among (its API key's).
std::string idempotency_scope(const Request& request);
using PrefetchedWork =
    std::function<Response(soci::session&, db::Batch&, const std::vector<db::Row>* prefetched)>;
asio::awaitable<Response> transact_prefetched(Services& services, Request& request,
                                              db::Prefetch prefetch, PrefetchedWork work);

// The hash that identifies "the same request": method, path and body (canonical JSON when the
// body is JSON, so key order and blanks don't matter).
std::string request_fingerprint(const Request& request);

class ProgramStore;
// /healthz, /readyz (503 until the database is reachable, migrated, and `programs` loaded),
// /metrics.
void register_operations_routes(App& app, const ProgramStore& programs);
void register_key_routes(App& app);
void register_member_routes(App& app, const ProgramStore& store);
void register_report_routes(App& app, const ProgramStore& store);
// GET /v1/admin/reports/experiments/{campaign}.
void register_experiment_routes(App& app, const ProgramStore& store);
// POST /v1/admin/backtests, GET and DELETE /v1/admin/backtests/{id}.
void register_backtest_routes(App& app);

}  // namespace circolo::api
