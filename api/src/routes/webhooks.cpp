// Webhooks (admin): POST/GET /v1/admin/webhooks, DELETE /v1/admin/webhooks/{id},
// GET /v1/admin/webhooks/{id}/deliveries, POST /v1/admin/webhooks/{id}/deliveries/{seq}/redrive.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>

#include <set>

#include "circolo/api/app.hpp"
#include "circolo/api/audit.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/webhooks.hpp"
#include "circolo/db/outbox.hpp"
#include "circolo/db/webhooks.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;
using tcp = asio::ip::tcp;
const Access kAdmin = Access::only({Role::admin});

// The outgoing event types of the API: what an endpoint may subscribe to.
const std::set<std::string> kEventTypes(db::outbox::event_types().begin(),
                                        db::outbox::event_types().end());

json endpoint_json(const db::webhooks::Endpoint& e, long long last_seq) {
  return {
      {"id", e.id},
      {"url", e.url},
      {"events", e.events},
      {"created_at", engine::format_rfc3339(e.created_at)},
      {"disabled_at", e.disabled_at ? json(engine::format_rfc3339(*e.disabled_at)) : json(nullptr)},
      {"cursor", e.cursor},
      {"lag", std::max(0LL, last_seq - e.cursor)},
      {"failures", e.failures},
      {"next_attempt_at",
       e.next_attempt_at ? json(engine::format_rfc3339(*e.next_attempt_at)) : json(nullptr)}};
}

json delivery_json(const db::webhooks::Delivery& d) {
  auto time = [](const std::optional<engine::TimePoint>& t) {
    return t ? json(engine::format_rfc3339(*t)) : json(nullptr);
  };
  return {{"seq", d.seq},
          {"event_type", d.event_type},
          {"status", d.status},
          {"attempts", d.attempts},
          {"last_status_code", d.last_status_code ? json(*d.last_status_code) : json(nullptr)},
          {"last_latency_ms", d.last_latency_ms ? json(*d.last_latency_ms) : json(nullptr)},
          {"last_error", d.last_error ? json(*d.last_error) : json(nullptr)},
          {"first_attempt_at", time(d.first_attempt_at)},
          {"last_attempt_at", time(d.last_attempt_at)}};
}

db::webhooks::Endpoint parse_endpoint(const json& body) {
  if (!body.is_object()) throw_validation({{"", "the body must be a JSON object"}});
  std::vector<FieldError> errors;
  for (const auto& item : body.items()) {
    if (item.key() != "url" && item.key() != "events" && item.key() != "secret")
      errors.push_back({item.key(), "is not a known field"});
  }
  db::webhooks::Endpoint e;
  if (!body.contains("url") || !body["url"].is_string()) {
    errors.push_back({"url", "is required: http(s)://host[:port]/path"});
  } else {
    e.url = body["url"].get<std::string>();
    const auto url = boost::urls::parse_absolute_uri(e.url);
    if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->host().empty() ||
        e.url.size() > 2000 || url->has_userinfo() || url->has_fragment())
      errors.push_back({"url",
                        "must be an http:// or https:// URL with a host, without "
                        "credentials or fragment"});
  }
  if (!body.contains("events") || !body["events"].is_array() || body["events"].empty()) {
    errors.push_back({"events", "is required: a list of event types, as in [\"points.earned\"]"});
  } else {
    for (std::size_t i = 0; i < body["events"].size(); ++i) {
      const auto& t = body["events"][i];
      if (!t.is_string() || !kEventTypes.count(t.get<std::string>())) {
        errors.push_back({"events[" + std::to_string(i) + "]",
                          "is not an event type (points.earned, coupon.issued, tier.changed...)"});
      } else if (std::find(e.events.begin(), e.events.end(), t.get<std::string>()) ==
                 e.events.end()) {
        e.events.push_back(t.get<std::string>());
      }
    }
  }
  if (!body.contains("secret") || !body["secret"].is_string() ||
      body["secret"].get<std::string>().size() < 16 ||
      body["secret"].get<std::string>().size() > 256) {
    errors.push_back({"secret",
                      "is required: 16 to 256 characters, the HMAC key of "
                      "Circolo-Signature"});
  } else {
    e.secret = body["secret"].get<std::string>();
  }
  if (!errors.empty()) throw_validation(std::move(errors));
  return e;
}

// A target that is, or resolves to, a non-public address is refused (422): the delivery log
// would otherwise let an admin key probe the server's own network. A name that does not resolve
// now is accepted: each delivery checks again, after resolving it.
asio::awaitable<void> refuse_private_target(const std::string& target) {
  const auto url = boost::urls::parse_absolute_uri(target);
  const std::string host = url->host_address();  // an IPv6 address without its brackets
  const auto refuse = [&](const std::string& address) {
    throw_validation({{"url", "targets " + address +
                                  ", a loopback, link-local or private address: webhooks go to "
                                  "public receivers (CIRCOLO_WEBHOOKS_ALLOW_PRIVATE allows "
                                  "private ones)"}});
  };
  beast::error_code ec;
  const auto literal = asio::ip::make_address(host, ec);
  if (!ec) {
    if (private_address(literal)) refuse(literal.to_string());
    co_return;
  }
  tcp::resolver resolver(co_await asio::this_coro::executor);
  auto [resolve_ec, addresses] = co_await resolver.async_resolve(
      host, url->has_port() ? std::string(url->port()) : std::string(url->scheme()),
      asio::as_tuple(asio::use_awaitable));
  if (resolve_ec) co_return;
  for (const auto& entry : addresses)
    if (private_address(entry.endpoint().address())) refuse(entry.endpoint().address().to_string());
}

}  // namespace

void register_webhook_routes(App& app, const WebhookSettings& settings) {
  auto& s = app.services();
  auto& r = app.router();

  r.add(
      {http::verb::post, "/v1/admin/webhooks", kAdmin,
       [&s, &settings](Request& request) -> asio::awaitable<Response> {
         auto endpoint = parse_endpoint(request.json_body());
         if (!settings.allow_private_targets) co_await refuse_private_target(endpoint.url);
         endpoint.id = new_id("whk");
         // Stored sealed (docs/security.md); the worker opens it to sign deliveries.
         endpoint.secret =
             s.secrets_key.seal(endpoint.secret, engine::webhook_secret_purpose(endpoint.id));
         endpoint.created_at = s.clock.now();
         co_return co_await transact(s, request, [&request, endpoint](soci::session& sql) mutable {
           // Events from now on (the cursor starts at the last published seq).
           const auto state = db::outbox::state(sql);
           endpoint.cursor = state.last_seq;
           db::webhooks::insert(sql, endpoint);
           // Without its query: a receiver's own token in it stays out of the append-only trail.
           audit(sql, request, endpoint.created_at, "webhook.created", endpoint.id,
                 {{"url", endpoint.url.substr(0, endpoint.url.find('?'))},
                  {"events", endpoint.events}});
           return json_response(http::status::created, endpoint_json(endpoint, state.last_seq));
         });
       }});

  r.add(
      {http::verb::get, "/v1/admin/webhooks", kAdmin, [&s](Request&) -> asio::awaitable<Response> {
         co_return co_await s.db.run([](soci::session& sql) {
           const auto last = db::outbox::state(sql).last_seq;
           json items = json::array();
           for (const auto& e : db::webhooks::list(sql)) items.push_back(endpoint_json(e, last));
           return json_response(http::status::ok, {{"items", items}, {"next_cursor", nullptr}});
         });
       }});

  r.add({http::verb::delete_, "/v1/admin/webhooks/{id}", kAdmin,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           const auto now = s.clock.now();
           co_return co_await transact(s, request, [&request, id, now](soci::session& sql) {
             if (!db::webhooks::find(sql, id))
               throw ApiError(http::status::not_found, "unknown_webhook", "no webhook " + id);
             db::webhooks::disable(sql, id, now);
             audit(sql, request, now, "webhook.disabled", id);
             return empty_response(http::status::no_content);
           });
         }});

  r.add({http::verb::get, "/v1/admin/webhooks/{id}/deliveries", kAdmin,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           auto status = request.query("status");
           if (status && *status != "delivered" && *status != "failing" && *status != "dead" &&
               *status != "redrive")
             throw ApiError(http::status::bad_request, "invalid_query",
                            "status is delivered, failing, dead or redrive");
           long long before = std::numeric_limits<long long>::max();
           int limit = 50;
           try {
             if (auto c = request.query("cursor")) before = std::stoll(*c);
             if (auto l = request.query("limit")) limit = std::stoi(*l);
           } catch (const std::exception&) {
             limit = 0;
           }
           if (limit < 1 || limit > 200 || before < 0)
             throw ApiError(http::status::bad_request, "invalid_query",
                            "limit is 1 to 200; cursor is a next_cursor of this list");
           co_return co_await s.db.run([=](soci::session& sql) {
             if (!db::webhooks::find(sql, id))
               throw ApiError(http::status::not_found, "unknown_webhook", "no webhook " + id);
             const auto page = db::webhooks::deliveries(sql, id, status, before, limit);
             json items = json::array();
             for (const auto& d : page) items.push_back(delivery_json(d));
             json next = page.size() == static_cast<std::size_t>(limit)
                             ? json(std::to_string(page.back().seq))
                             : json(nullptr);
             return json_response(http::status::ok, {{"items", items}, {"next_cursor", next}});
           });
         }});

  r.add({http::verb::get, "/v1/admin/webhooks/{id}/deliveries/{seq}", kAdmin,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           long long seq = -1;
           try {
             seq = std::stoll(request.param("seq"));
           } catch (const std::exception&) {
           }
           co_return co_await s.db.run([id, seq](soci::session& sql) {
             const auto all = db::webhooks::attempts(sql, id, seq);
             if (all.empty())
               throw ApiError(http::status::not_found, "unknown_delivery",
                              "no attempt to deliver event " + std::to_string(seq) + " to " + id);
             json items = json::array();
             for (const auto& a : all) {
               items.push_back(
                   {{"at", engine::format_rfc3339(a.at)},
                    {"status_code", a.status_code ? json(*a.status_code) : json(nullptr)},
                    {"latency_ms", a.latency_ms},
                    {"error", a.error ? json(*a.error) : json(nullptr)}});
             }
             return json_response(http::status::ok, {{"webhook_id", id},
                                                     {"seq", seq},
                                                     {"event_type", all.front().event_type},
                                                     {"attempts", items}});
           });
         }});

  r.add({http::verb::post, "/v1/admin/webhooks/{id}/deliveries/{seq}/redrive", kAdmin,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           long long seq = 0;
           try {
             seq = std::stoll(request.param("seq"));
           } catch (const std::exception&) {
             throw ApiError(http::status::not_found, "unknown_delivery", "no such delivery");
           }
           const auto now = s.clock.now();
           co_return co_await transact(s, request, [&request, id, seq, now](soci::session& sql) {
             if (!db::webhooks::find(sql, id))
               throw ApiError(http::status::not_found, "unknown_webhook", "no webhook " + id);
             if (!db::webhooks::redrive(sql, id, seq))
               throw ApiError(http::status::conflict, "not_a_dead_letter",
                              "event " + std::to_string(seq) +
                                  " is not a dead letter of this webhook (only those are "
                                  "delivered again)");
             audit(sql, request, now, "webhook.redriven", id, {{"seq", seq}});
             return json_response(http::status::accepted,
                                  {{"webhook_id", id}, {"seq", seq}, {"status", "redrive"}});
           });
         }});
}

}  // namespace circolo::api
