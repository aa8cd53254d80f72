#include "circolo/api/app.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "circolo/api/auth.hpp"
#include "circolo/api/member_tokens.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/db/api_keys.hpp"
#include "circolo/db/idempotency.hpp"
#include "circolo/db/member_tokens.hpp"
#include "circolo/db/query.hpp"
#include "circolo/engine/digest.hpp"
#include "circolo/engine/unicode.hpp"

namespace circolo::api {

namespace {

Response problem_response(http::status status, const std::string& code, const std::string& detail,
                          const std::vector<FieldError>& errors, const std::string& request_id,
                          const nlohmann::json& extensions = nlohmann::json::object()) {
  Response r;
  r.status = status;
  r.content_type = "application/problem+json";
  r.body = problem_body(status, code, detail, errors, request_id, extensions);
  return r;
}

std::optional<Role> parse_role(const std::string& role) {
  if (role == "admin") return Role::admin;
  if (role == "touchpoint") return Role::touchpoint;
  return std::nullopt;
}

}  // namespace

App::App(Services services) : services_(services) {}

HttpResponse App::refusal(http::status status, const std::string& detail) const {
  static const std::map<http::status, std::string> kCodes{
      {http::status::payload_too_large, "payload_too_large"},
      {http::status::request_header_fields_too_large, "headers_too_large"},
      {http::status::bad_request, "malformed_request"},
      {http::status::too_many_requests, "too_many_connections"},
      {http::status::service_unavailable, "too_many_connections"},
  };
  auto it = kCodes.find(status);
  HttpResponse response{status, 11};
  response.set(http::field::content_type, "application/problem+json");
  response.set(http::field::connection, "close");
  response.body() =
      problem_body(status, it == kCodes.end() ? "refused" : it->second, detail, {}, "");
  services_.metrics.observe("unmatched", "-", static_cast<int>(status), {});
  return response;
}

asio::awaitable<std::optional<Principal>> App::authenticate(std::string_view token) {
  if (looks_like_member_token(token)) {
    auto verified = read_member_token(token, services_.member_token_secret);
    if (!verified) co_return std::nullopt;
    // Genuine but past its time: the app should mint a new one, not treat the member as gone.
    if (verified->expires_at <= services_.clock.now()) {
      throw ApiError(http::status::unauthorized, "token_expired",
                     "the member token expired at " + engine::format_rfc3339(verified->expires_at) +
                         "; get a new one (POST /v1/members/{id}/tokens)");
    }
    // It dies with its issuing key and when the member's tokens are revoked.
    const std::string cache_key = verified->member_id + "\n" + verified->issuer_key_id;
    const auto steady_now = std::chrono::steady_clock::now();
    std::optional<CachedTokenState> known;
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(key_cache_mutex_);
      generation = key_generation_;
      if (auto it = token_cache_.find(cache_key); it != token_cache_.end()) {
        if (it->second.until > steady_now)
          known = it->second;
        else
          token_cache_.erase(it);
      }
    }
    if (!known) {
      const auto state = co_await services_.db.run([&](soci::session& sql) {
        return db::member_tokens::state(sql, verified->member_id, verified->issuer_key_id);
      });
      known = CachedTokenState{state.generation, state.key_active, steady_now + kKeyCacheTtl};
      std::lock_guard lock(key_cache_mutex_);
      if (token_cache_.size() > 100'000) token_cache_.clear();
      if (generation == key_generation_) token_cache_[cache_key] = *known;
    }
    if (!known->key_active || known->generation != verified->generation)
      throw ApiError(http::status::unauthorized, "token_revoked",
                     "the member token was revoked (its key was, or the member's tokens were); "
                     "sign in again");
    // Idempotency scope: the member, so a retry with a refreshed token is still recognised.
    co_return Principal{
        "member:" + verified->member_id, Role::member,        std::nullopt, verified->member_id,
        verified->issuer_key_id,         verified->expires_at};
  }
  const std::string hash = engine::sha256_hex(token);
  const auto now = std::chrono::steady_clock::now();
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(key_cache_mutex_);
    generation = key_generation_;
    if (auto it = key_cache_.find(hash); it != key_cache_.end()) {
      if (it->second.until > now) co_return it->second.principal;
      key_cache_.erase(it);
    }
  }
  auto match = co_await services_.db.run(
      [hash](soci::session& sql) { return db::api_keys::find_active_by_hash(sql, hash); });
  // The index lookup found the row by hash; compare once more without early exit.
  if (!match || !engine::constant_time_equal(match->secret_sha256, hash)) co_return std::nullopt;
  auto role = parse_role(match->key.role);
  if (!role) co_return std::nullopt;
  Principal principal{match->key.id, *role,        match->key.channel,
                      std::nullopt,  std::nullopt, std::nullopt};
  {
    std::lock_guard lock(key_cache_mutex_);
    if (key_cache_.size() > 10'000) key_cache_.clear();
    if (generation == key_generation_) key_cache_[hash] = {principal, now + kKeyCacheTtl};
  }
  co_return principal;
}

void App::forget_cached_keys() {
  std::lock_guard lock(key_cache_mutex_);
  key_cache_.clear();
  token_cache_.clear();  // tokens minted by a revoked key die with it
  ++key_generation_;
}

void App::forget_member_tokens(const std::string& member_id) {
  std::lock_guard lock(key_cache_mutex_);
  const auto prefix = member_id + "\n";
  std::erase_if(token_cache_, [&](const auto& entry) { return entry.first.starts_with(prefix); });
  ++key_generation_;
}

namespace {

asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

std::string App::client_address(const HttpRequest& raw,
                                const std::optional<asio::ip::address>& peer) const {
  if (!peer) return "-";
  const auto seen = unmapped(*peer);
  if (std::none_of(trusted_proxies_.begin(), trusted_proxies_.end(),
                   [&](const asio::ip::address& p) { return unmapped(p) == seen; }))
    return seen.to_string();
  // The proxy appended the address it saw to the last X-Forwarded-For line (or added a line of
  // its own); everything before it the client could have forged.
  std::string_view forwarded;
  const auto [first, end] = raw.equal_range("X-Forwarded-For");
  for (auto it = first; it != end; ++it) forwarded = it->value();
  if (const auto comma = forwarded.rfind(','); comma != std::string_view::npos)
    forwarded.remove_prefix(comma + 1);
  while (!forwarded.empty() && forwarded.front() == ' ') forwarded.remove_prefix(1);
  while (!forwarded.empty() && forwarded.back() == ' ') forwarded.remove_suffix(1);
  std::string text(forwarded);
  if (text.size() > 2 && text.front() == '[') {  // [v6]:port
    text = text.substr(1, text.find(']') - 1);
  } else if (std::count(text.begin(), text.end(), ':') == 1) {  // v4:port
    text = text.substr(0, text.find(':'));
  }
  boost::system::error_code ec;
  const auto client = asio::ip::make_address(text, ec);
  return ec ? seen.to_string() : unmapped(client).to_string();
}

void App::check_authentication_allowed(const std::string& address) {
  const std::string key = "auth-failures:" + address;
  if (!limiter_.has(key, limits_.auth_failures)) throw_auth_limited(key);
}

void App::authentication_failed(const std::string& address) {
  limiter_.take("auth-failures:" + address, limits_.auth_failures);
}

void App::throw_auth_limited(const std::string& key) {
  const auto wait = limiter_.take(key, limits_.auth_failures).value_or(std::chrono::seconds(1));
  throw ApiError(http::status::too_many_requests, "rate_limited",
                 "too many failed authentications from this address; retry in " +
                     std::to_string(wait.count()) + " s",
                 {}, {{"retry_after", wait.count()}});
}

void App::throttle(const std::string& key, const RateLimiter::Rule& rule, const std::string& what) {
  if (const auto wait = limiter_.take(key, rule)) {
    throw ApiError(http::status::too_many_requests, "rate_limited",
                   "too many " + what + "; retry in " + std::to_string(wait->count()) + " s", {},
                   {{"retry_after", wait->count()}});
  }
}

asio::awaitable<HttpResponse> App::handle(HttpRequest& raw, std::optional<asio::ip::address> peer) {
  const auto started = std::chrono::steady_clock::now();
  services_.metrics.request_started();
  std::string request_id(raw["X-Request-Id"]);
  if (!acceptable_request_id(request_id)) request_id = new_id("req");
  std::string route_label = "unmatched";
  std::string principal_id = "-";
  Response response;
  std::string allow;

  // Method names the server does not know are one label, never the client's string (metric
  // labels and log fields are bounded, whatever clients send).
  const bool known_method = raw.method() != http::verb::unknown;
  const std::string method_label = known_method ? std::string(raw.method_string()) : "OTHER";

  try {
    if (!known_method)
      throw ApiError(http::status::not_implemented, "method_not_implemented",
                     "the server does not implement this method");
    auto parsed = boost::urls::parse_origin_form(raw.target());
    if (!parsed)
      throw ApiError(http::status::bad_request, "malformed_request",
                     "the request target is not a valid path");
    std::vector<std::string> segments;
    for (auto segment : parsed->segments()) segments.push_back(segment);
    // Decoded, a path or query may hold any bytes: text that is not UTF-8 is refused here
    // rather than failing wherever it is first written out (JSON, logs).
    bool utf8 = std::all_of(segments.begin(), segments.end(),
                            [](const std::string& x) { return engine::unicode::valid_utf8(x); });
    for (const auto& p : parsed->params())
      utf8 = utf8 && engine::unicode::valid_utf8(p.key) && engine::unicode::valid_utf8(p.value);
    if (!utf8)
      throw ApiError(http::status::bad_request, "malformed_request",
                     "the request's path or query is not valid UTF-8 once decoded");
    // Header values too (an Idempotency-Key, a forwarded address are stored or logged).
    for (const auto& field : raw)
      if (!engine::unicode::valid_utf8(field.value()))
        throw ApiError(
            http::status::bad_request, "malformed_request",
            "the request's header " + std::string(field.name_string()) + " is not valid UTF-8");
    auto match = router_.match(raw.method(), segments);
    if (match.kind == Router::Match::Kind::no_path) {
      throw ApiError(http::status::not_found, "not_found",
                     "no resource at " + std::string(parsed->path()));
    }
    if (match.kind == Router::Match::Kind::no_method) {
      allow = match.allow;
      throw ApiError(http::status::method_not_allowed, "method_not_allowed",
                     std::string(raw.method_string()) + " is not allowed here; use " + match.allow);
    }
    const Route& route = *match.route;
    route_label = route.pattern;
    Request request{raw,
                    request_id,
                    route.pattern,
                    std::move(match.params),
                    *parsed,
                    std::nullopt,
                    client_address(raw, peer)};

    if (route.access.authenticated) {
      auto token = bearer_token(request.header(http::field::authorization));
      if (!token)
        throw ApiError(http::status::unauthorized, "unauthenticated",
                       "send Authorization: Bearer <key>");
      // An address that failed too often is not even checked until it may try again.
      check_authentication_allowed(request.client_address);
      try {
        request.principal = co_await authenticate(*token);
      } catch (const ApiError& e) {
        if (e.status() == http::status::unauthorized && e.code() != "token_expired")
          authentication_failed(request.client_address);
        throw;
      }
      if (!request.principal) {
        authentication_failed(request.client_address);
        throw ApiError(http::status::unauthorized, "unauthenticated",
                       "the key is not valid or was revoked");
      }
      principal_id = request.principal->key_id;
      if (!route.access.allows(request.principal->role)) {
        throw ApiError(
            http::status::forbidden, "forbidden",
            std::string("a ") + role_name(request.principal->role) + " key may not do this");
      }
    }
    const auto idempotency_key = request.header("Idempotency-Key");
    if (!idempotency_key.empty() && !acceptable_idempotency_key(idempotency_key)) {
      throw ApiError(http::status::bad_request, "invalid_idempotency_key",
                     "Idempotency-Key must be 1 to 255 visible ASCII characters");
    }
    if (route.idempotency_required && idempotency_key.empty()) {
      throw ApiError(
          http::status::bad_request, "idempotency_key_required",
          "this request needs an Idempotency-Key header, so that a retry is never applied twice");
    }
    response = co_await route.handler(request);
  } catch (const ApiError& e) {
    response =
        problem_response(e.status(), e.code(), e.detail(), e.errors(), request_id, e.extensions());
    if (e.code() == "token_expired")  // RFC 6750: the token is the problem, not its absence
      response.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    if (e.status() == http::status::too_many_requests && e.extensions().contains("retry_after"))
      response.headers.emplace_back("Retry-After", e.extensions()["retry_after"].dump());
  } catch (const db::Unavailable& e) {
    spdlog::error("request_id={} database unavailable: {}", request_id, e.what());
    response = problem_response(http::status::service_unavailable, "database_unavailable",
                                "the database cannot be reached; retry shortly", {}, request_id);
  } catch (const std::exception& e) {
    spdlog::error("request_id={} route={} internal error: {}", request_id, route_label, e.what());
    response = problem_response(http::status::internal_server_error, "internal_error",
                                "an internal error occurred; quote request id " + request_id, {},
                                request_id);
  }

  HttpResponse out{response.status, raw.version()};
  if (!response.content_type.empty()) out.set(http::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) out.set(name, value);
  if (!allow.empty()) out.set(http::field::allow, allow);
  if (response.status == http::status::unauthorized &&
      out.find(http::field::www_authenticate) == out.end())
    out.set(http::field::www_authenticate, "Bearer");
  // Every 503 is temporary (no database, no primary yet, the program still loading): a client
  // retries it, with the same Idempotency-Key, after a second.
  if (response.status == http::status::service_unavailable &&
      out.find(http::field::retry_after) == out.end())
    out.set(http::field::retry_after, "1");
  out.set("X-Request-Id", request_id);
  out.set(http::field::server, "circolod");
  out.body() = std::move(response.body);

  const auto elapsed = std::chrono::steady_clock::now() - started;
  const int status = static_cast<int>(response.status);
  services_.metrics.observe(route_label, method_label, status, elapsed);
  services_.metrics.request_finished();
  const double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  spdlog::log(status >= 500 ? spdlog::level::warn : spdlog::level::info,
              "request_id={} method={} route={} status={} duration_ms={:.2f} key={}", request_id,
              method_label, route_label, status, ms, principal_id);
  co_return out;
}

std::string request_fingerprint(const Request& request) {
  std::string canonical(request.raw.method_string());
  canonical += ' ';
  canonical += request.target.path();
  canonical += '\n';
  const auto& body = request.raw.body();
  try {
    canonical += body.empty() ? std::string() : parse_json_limited(body).dump();
  } catch (const ApiError&) {
    canonical += body;
  }
  return engine::sha256_hex(canonical);
}

namespace {

constexpr int kTransactionAttempts = 8;

// One attempt: claim the key (with the read sent ahead), run the work, store the response,
// commit.
Response once(soci::session& sql, const std::string& key, const std::string& scope,
              const std::string& fingerprint, engine::TimePoint now, const db::Prefetch& prefetch,
              const PrefetchedWork& work);

}  // namespace

std::string idempotency_scope(const Request& request) {
  return request.principal ? request.principal->key_id : "anonymous";
}

asio::awaitable<Response> transact(Services& services, Request& request,
                                   std::function<Response(soci::session&)> work) {
  return transact_batched(
      services, request,
      [work = std::move(work)](soci::session& sql, db::Batch&) { return work(sql); });
}

asio::awaitable<Response> transact_batched(
    Services& services, Request& request,
    std::function<Response(soci::session&, db::Batch&)> work) {
  return transact_prefetched(
      services, request, {},
      [work = std::move(work)](soci::session& sql, db::Batch& batch, const std::vector<db::Row>*) {
        return work(sql, batch);
      });
}

asio::awaitable<Response> transact_prefetched(Services& services, Request& request,
                                              db::Prefetch prefetch, PrefetchedWork work) {
  // Not a coroutine (see Database::run): everything the work needs is captured by value.
  std::string key(request.header("Idempotency-Key"));
  std::string scope = idempotency_scope(request);
  std::string fingerprint = key.empty() ? std::string() : request_fingerprint(request);
  const auto now = services.clock.now();
  return services.db.run([key = std::move(key), scope = std::move(scope),
                          fingerprint = std::move(fingerprint), now, work = std::move(work),
                          prefetch = std::move(prefetch),
                          committed = services.committed](soci::session& sql) -> Response {
    // A deadlock or a race that PostgreSQL resolved by rolling us back: run it all again.
    for (int attempt = 1;; ++attempt) {
      try {
        auto response = once(sql, key, scope, fingerprint, now, prefetch, work);
        if (committed) committed();  // outgoing events may wait for publication
        return response;
      } catch (const std::exception& e) {
        if (attempt >= kTransactionAttempts || !db::is_retryable(e)) throw;
        spdlog::debug("transaction attempt {} rolled back ({}); retrying", attempt, e.what());
      }
    }
  });
}

namespace {

Response once(soci::session& sql, const std::string& key, const std::string& scope,
              const std::string& fingerprint, engine::TimePoint now, const db::Prefetch& prefetch,
              const PrefetchedWork& work) {
  db::Transaction tx(sql);
  db::Batch batch;
  std::vector<db::Row> rows;
  const bool ahead = !key.empty() && prefetch.query != nullptr;
  if (key.empty()) tx.begin();
  if (!key.empty()) {
    auto claim = db::idempotency::claim(tx, sql, scope, key, fingerprint, now,
                                        ahead ? &prefetch : nullptr, ahead ? &rows : nullptr);
    if (claim.kind == db::idempotency::Claim::Kind::conflict) {
      throw ApiError(http::status::conflict, "idempotency_conflict",
                     "this Idempotency-Key was used for a different request");
    }
    if (claim.kind == db::idempotency::Claim::Kind::replay) {
      Response replay;
      replay.status = claim.stored.status == 201 ? http::status::ok
                                                 : static_cast<http::status>(claim.stored.status);
      replay.content_type = claim.stored.content_type;
      replay.body = claim.stored.body;
      replay.headers.emplace_back("Idempotent-Replayed", "true");
      tx.rollback();
      return replay;
    }
  }
  Response response = work(sql, batch, ahead ? &rows : nullptr);
  const int status = static_cast<int>(response.status);
  if (status < 200 || status >= 300) {
    tx.rollback();  // a refusal changes nothing
    return response;
  }
  if (!key.empty()) {
    db::idempotency::store(
        batch, scope, key,
        {status, response.content_type, response.replay_body.value_or(response.body)});
  }
  tx.commit(batch);
  return response;
}

}  // namespace

}  // namespace circolo::api
