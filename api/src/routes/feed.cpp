// Outgoing events for touchpoints: GET /v1/feed (polling, resumable) and GET /v1/stream
// (WebSocket: the backlog after a seq, then live events).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>

#include <deque>
#include <map>
#include <mutex>
#include <regex>

#include <spdlog/spdlog.h>

#include "circolo/api/app.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/api/feed.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/db/outbox.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;
namespace websocket = beast::websocket;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

const Access kAnyone = Access::only({Role::admin, Role::touchpoint, Role::member});

struct Filter {
  std::optional<long long> after;
  std::optional<std::string> member_id;
  std::vector<std::string> types;
  int limit = 100;
};

// after, member, types (comma separated), limit; a member token sees its own member only.
Filter parse_filter(const std::function<std::optional<std::string>(std::string_view)>& query,
                    const Principal& caller, int max_limit) {
  Filter f;
  auto number = [&](std::string_view name, long long low,
                    long long high) -> std::optional<long long> {
    const auto text = query(name);
    if (!text) return std::nullopt;
    try {
      std::size_t used = 0;
      const long long v = std::stoll(*text, &used);
      if (used == text->size() && v >= low && v <= high) return v;
    } catch (const std::exception&) {
    }
    throw ApiError(http::status::bad_request, "invalid_query",
                   std::string(name) + " must be a whole number from " + std::to_string(low) +
                       " to " + std::to_string(high));
  };
  f.after = number("after", 0, std::numeric_limits<long long>::max());
  if (auto l = number("limit", 1, max_limit)) f.limit = static_cast<int>(*l);
  if (auto m = query("member")) {
    if (m->empty() || m->size() > 100)
      throw ApiError(http::status::bad_request, "invalid_query", "member must be a member id");
    f.member_id = *m;
  }
  if (auto t = query("types")) {
    static const std::regex name("[a-z_][a-z0-9_.]{0,63}");
    std::size_t start = 0;
    while (start <= t->size()) {
      const auto comma = t->find(',', start);
      const auto item =
          t->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!std::regex_match(item, name))
        throw ApiError(http::status::bad_request, "invalid_query",
                       "types is a comma-separated list of event types, as in "
                       "points.earned,coupon.issued");
      const auto& valid = db::outbox::event_types();
      if (std::find(valid.begin(), valid.end(), item) == valid.end()) {
        std::string list;
        for (const auto& v : valid) list += (list.empty() ? "" : ", ") + v;
        throw ApiError(http::status::bad_request, "invalid_query",
                       "unknown event type '" + item + "' in types; valid: " + list);
      }
      f.types.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (caller.role == Role::member) {
    if (f.member_id && f.member_id != caller.member_id)
      throw ApiError(http::status::forbidden, "forbidden",
                     "a member token may only follow its own member's events");
    f.member_id = caller.member_id;
  }
  return f;
}

// A cursor no feed or stream answer gave: seqs are published in order, so one beyond the last
// published seq can only be a mistake (another deployment's cursor, a typo).
[[noreturn]] void cursor_ahead(long long after, long long last_seq) {
  throw ApiError(http::status::bad_request, "invalid_cursor",
                 "after=" + std::to_string(after) + " is beyond the last published seq (" +
                     std::to_string(last_seq) +
                     "): resume from a next_after or last_seq an answer gave, or leave after out");
}

[[noreturn]] void cursor_expired(long long after, long long purged_through) {
  throw ApiError(http::status::gone, "cursor_expired",
                 "events up to seq " + std::to_string(purged_through) +
                     " were removed (older than the retention period); seq " +
                     std::to_string(after) +
                     " cannot be resumed: start again from after=" + std::to_string(purged_through),
                 {}, {{"purged_through", purged_through}});
}

bool matches(const Filter& f, const db::outbox::Event& e) {
  if (f.member_id && e.member_id != f.member_id) return false;
  return f.types.empty() || std::find(f.types.begin(), f.types.end(), e.type) != f.types.end();
}

// What the hub hands over to one WebSocket session, across strands.
// An outgoing event as its reader may see it: a member's own token does not read the notes staff
// wrote (the reason of points.adjusted and points.spent).
json for_caller(const Principal& caller, const db::outbox::Event& e) {
  auto out = db::outbox::to_json(e);
  if (caller.role == Role::member && out.contains("data") && out["data"].is_object())
    out["data"].erase("reason");
  return out;
}

struct Mailbox {
  explicit Mailbox(asio::any_io_executor executor) : wake(std::move(executor)) {}
  std::mutex mutex;
  std::deque<db::outbox::Event> events;
  bool overflow = false;
  bool finished = false;  // the session ended: drop what comes
  bool writing = false;   // a write is in flight (on the connection's strand only)
  bool live = false;      // the backlog is done: an overflow now means a slow client
  asio::steady_timer wake;
};

}  // namespace

void register_feed_routes(App& app, const FeedSettings& settings) {
  auto& s = app.services();
  app.router().add(
      {http::verb::get, "/v1/feed", kAnyone, [&s](Request& request) -> asio::awaitable<Response> {
         auto f = parse_filter([&](std::string_view name) { return request.query(name); },
                               request.caller(), 1000);
         auto [state, events, after] = co_await s.db.run([f](soci::session& sql) {
           // Without `after`: from the oldest event still kept.
           const long long from = f.after.value_or(db::outbox::state(sql).purged_through);
           db::outbox::Query q{from, f.member_id, f.types, f.limit};
           auto read = db::outbox::read(sql, q);
           // The state after the read: a purge in between is noticed.
           return std::make_tuple(db::outbox::state(sql), std::move(read), from);
         });
         if (f.after && after < state.purged_through) cursor_expired(after, state.purged_through);
         if (f.after && after > state.last_seq) cursor_ahead(after, state.last_seq);
         json items = json::array();
         for (const auto& e : events) items.push_back(for_caller(request.caller(), e));
         co_return json_response(http::status::ok,
                                 {{"items", items},
                                  {"next_after", events.empty() ? after : events.back().seq},
                                  {"last_seq", state.last_seq}});
       }});
  // The stream is a WebSocket: a plain GET (no Upgrade) is told so rather than "not found".
  app.router().add(
      {http::verb::get, "/v1/stream", kAnyone, [](Request& request) -> asio::awaitable<Response> {
         Response out =
             json_response(http::status::upgrade_required,
                           {{"type", "https://circolo.dev/problems/upgrade_required"},
                            {"title", "Upgrade Required"},
                            {"status", 426},
                            {"code", "upgrade_required"},
                            {"detail", "/v1/stream is a WebSocket: send Upgrade: websocket"},
                            {"request_id", request.request_id}});
         out.content_type = "application/problem+json";
         out.headers.emplace_back("Upgrade", "websocket");
         co_return out;
       }});
  (void)settings;  // the stream's settings; the feed has none yet
}

namespace {

// Streams open per principal, in this process.
class OpenStreams {
 public:
  bool enter(const std::string& principal, std::size_t cap) {
    std::lock_guard lock(mutex_);
    auto& n = open_[principal];
    if (n >= cap) return false;
    ++n;
    return true;
  }
  void leave(const std::string& principal) {
    std::lock_guard lock(mutex_);
    if (auto it = open_.find(principal); it != open_.end() && --it->second == 0) open_.erase(it);
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::size_t> open_;
};
OpenStreams open_streams;

}  // namespace

asio::awaitable<bool> serve_stream(App& app, OutboxHub& hub, const FeedSettings& settings,
                                   HttpRequest& request, beast::tcp_stream& stream) {
  auto target = boost::urls::parse_origin_form(request.target());
  if (!target || target->path() != "/v1/stream") co_return false;
  const auto request_id = new_id("req");

  auto refuse = [&](const ApiError& e) -> asio::awaitable<bool> {
    HttpResponse out{e.status(), request.version()};
    out.set(http::field::content_type, "application/problem+json");
    out.set("X-Request-Id", request_id);
    if (e.status() == http::status::unauthorized)
      out.set(http::field::www_authenticate,
              e.code() == "token_expired" ? "Bearer error=\"invalid_token\"" : "Bearer");
    if (e.status() == http::status::service_unavailable) out.set(http::field::retry_after, "1");
    if (e.status() == http::status::too_many_requests && e.extensions().contains("retry_after"))
      out.set(http::field::retry_after, e.extensions()["retry_after"].dump());
    out.body() =
        problem_body(e.status(), e.code(), e.detail(), e.errors(), request_id, e.extensions());
    out.keep_alive(false);
    out.prepare_payload();
    stream.expires_after(std::chrono::seconds(10));
    co_await http::async_write(stream, out, tuple_awaitable);
    co_return true;
  };

  // As Request::query: a parameter given twice is refused (thrown inside the try below).
  auto query = [&](std::string_view name) -> std::optional<std::string> {
    std::optional<std::string> found;
    for (const auto& p : target->params()) {
      if (p.key != name) continue;
      if (found)
        throw ApiError(http::status::bad_request, "invalid_query",
                       "query parameter " + std::string(name) + " given more than once");
      found = std::string(p.value);
    }
    return found;
  };

  Filter filter;
  long long after = 0;
  std::optional<ApiError> refusal;
  std::optional<Principal> principal;
  std::string token;
  try {
    // Browsers cannot set headers on a WebSocket: ?access_token= works too.
    const auto header = std::string(request[http::field::authorization]);
    if (header.rfind("Bearer ", 0) == 0) token = header.substr(7);
    if (token.empty()) token = query("access_token").value_or("");
    if (token.empty())
      throw ApiError(http::status::unauthorized, "unauthenticated",
                     "send Authorization: Bearer <key> (or ?access_token=)");
    // As for every request: an address that failed too often is not checked (each check costs
    // a database lookup).
    beast::error_code peer_ec;
    const auto peer = stream.socket().remote_endpoint(peer_ec);
    const auto client = app.client_address(
        request, peer_ec ? std::nullopt : std::optional<asio::ip::address>(peer.address()));
    app.check_authentication_allowed(client);
    try {
      principal = co_await app.authenticate(token);
    } catch (const ApiError& e) {
      if (e.status() == http::status::unauthorized && e.code() != "token_expired")
        app.authentication_failed(client);
      throw;
    }
    if (!principal) {
      app.authentication_failed(client);
      throw ApiError(http::status::unauthorized, "unauthenticated",
                     "the key is not valid or was revoked");
    }
    filter = parse_filter(query, *principal, 1000);
    const auto state =
        co_await app.services().db.run([](soci::session& sql) { return db::outbox::state(sql); });
    // Without `after`: live events only, from now.
    after = filter.after.value_or(state.last_seq);
    if (after < state.purged_through) cursor_expired(after, state.purged_through);
    if (after > state.last_seq) cursor_ahead(after, state.last_seq);
  } catch (const ApiError& e) {
    refusal = e;
  } catch (const db::Unavailable&) {
    refusal = ApiError(http::status::service_unavailable, "database_unavailable",
                       "the database cannot be reached; retry shortly");
  } catch (const std::exception& e) {
    spdlog::error("request_id={} stream set-up failed: {}", request_id, e.what());
    refusal = ApiError(http::status::internal_server_error, "internal_error",
                       "an internal error occurred; quote request id " + request_id);
  }
  if (refusal) co_return co_await refuse(*refusal);
  if (!open_streams.enter(principal->key_id, settings.streams_per_principal))
    co_return co_await refuse(ApiError(http::status::too_many_requests, "too_many_streams",
                                       "this key or member has " +
                                           std::to_string(settings.streams_per_principal) +
                                           " streams open already; close one first"));
  struct Leave {
    std::string principal;
    ~Leave() { open_streams.leave(principal); }
  } leave{principal->key_id};

  // A bounded kernel buffer per client: a client that stops reading fills it soon, and then its
  // queue here, and is dropped (rather than the server buffering megabytes for it).
  beast::error_code ignored;
  stream.socket().set_option(asio::socket_base::send_buffer_size(64 * 1024), ignored);
  websocket::stream<beast::tcp_stream&> ws(stream);
  stream.expires_never();  // the WebSocket's own timeouts (and pings) take over
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(10);
  timeouts.idle_timeout = settings.stream_idle_timeout;
  timeouts.keep_alive_pings = true;  // a ping at half the idle timeout; no pong ends it
  ws.set_option(timeouts);
  // Clients only answer pings and close: a message of theirs is never large.
  ws.read_message_max(1024);
  ws.set_option(websocket::stream_base::decorator([request_id](websocket::response_type& res) {
    res.set(http::field::server, "circolod");
    res.set("X-Request-Id", request_id);
  }));
  if (auto [ec] = co_await ws.async_accept(request, tuple_awaitable); ec) co_return true;
  ws.text(true);

  const auto executor = co_await asio::this_coro::executor;
  auto mailbox = std::make_shared<Mailbox>(executor);
  const std::size_t capacity = settings.stream_queue;
  beast::tcp_stream* raw = &stream;
  auto on_event = [mailbox, filter, capacity, executor, raw](const db::outbox::Event& e) {
    if (!matches(filter, e)) return;
    bool overflowed = false;
    {
      std::lock_guard lock(mailbox->mutex);
      if (mailbox->finished || mailbox->overflow) return;
      if (mailbox->events.size() >= capacity)
        overflowed = mailbox->overflow = true;
      else
        mailbox->events.push_back(e);
    }
    asio::post(executor, [mailbox, overflowed, raw] {
      // On the connection's strand; `finished` is set there before the stream goes away.
      if (mailbox->finished) return;
      mailbox->wake.cancel();
      // A write the client does not take would hold the session forever: end it.
      if (overflowed && mailbox->writing && mailbox->live) raw->cancel();
    });
  };
  auto [subscription, live_from] = hub.subscribe(on_event);

  // The reader keeps control frames (pong, close) flowing; what clients send is ignored.
  bool reading = true;
  asio::co_spawn(
      executor,
      [&ws, &reading, mailbox]() -> asio::awaitable<void> {
        beast::flat_buffer buffer;
        for (;;) {
          auto [ec, n] = co_await ws.async_read(buffer, tuple_awaitable);
          if (ec) break;
          buffer.consume(n);
        }
        reading = false;
        mailbox->wake.cancel();
      },
      asio::detached);

  long long sent = after;
  bool ok = true;
  auto send = [&](const db::outbox::Event& e) -> asio::awaitable<bool> {
    const std::string text = for_caller(*principal, e).dump();
    mailbox->writing = true;
    auto [ec, n] = co_await ws.async_write(asio::buffer(text), tuple_awaitable);
    mailbox->writing = false;
    if (ec) co_return false;
    sent = e.seq;
    co_return true;
  };

  // The backlog, up to where live delivery starts. Live events that pile up meanwhile beyond
  // the queue are not a slow client: they are read from the database too.
  try {
    for (;;) {
      while (ok && sent < live_from) {
        db::outbox::Query q{sent, filter.member_id, filter.types, 500};
        auto page = co_await app.services().db.run(
            [q](soci::session& sql) { return db::outbox::read(sql, q); });
        for (const auto& e : page) {
          if (e.seq > live_from) break;
          if (!(ok = co_await send(e))) break;
        }
        if (page.size() < 500 || (!page.empty() && page.back().seq >= live_from)) break;
      }
      bool overflowed = false;
      {
        std::lock_guard lock(mailbox->mutex);
        overflowed = mailbox->overflow;
        if (!overflowed) mailbox->live = true;
      }
      if (!ok || !overflowed) break;
      hub.unsubscribe(subscription);
      {
        std::lock_guard lock(mailbox->mutex);
        mailbox->events.clear();
        mailbox->overflow = false;
      }
      sent = std::max(sent, live_from);
      std::tie(subscription, live_from) = hub.subscribe(on_event);
      live_from = std::max(live_from, sent);
    }
  } catch (const std::exception& e) {
    spdlog::warn("request_id={} stream backlog failed: {}", request_id, e.what());
    ok = false;
  }

  // Live: what the hub hands over, in seq order. The key or token is checked again every
  // stream_recheck (and a member token's expiry is kept to the second): a stream does not
  // outlive what opened it.
  auto next_check = std::chrono::steady_clock::now() + settings.stream_recheck;
  std::string ended;  // why the server ends the stream
  auto still_allowed = [&]() -> asio::awaitable<std::string> {
    try {
      const auto again = co_await app.authenticate(token);
      if (!again) co_return "the key was revoked";
      if (again->expires_at && *again->expires_at <= app.services().clock.now())
        co_return "the member token expired";
    } catch (const ApiError& e) {
      co_return e.code() == "token_expired" ? "the member token expired"
                                            : "the member token was revoked";
    } catch (const std::exception&) {
      // The database is away: go on with what was checked last; the next round asks again.
    }
    co_return "";
  };
  while (ok && reading) {
    if (std::chrono::steady_clock::now() >= next_check ||
        (principal->expires_at && *principal->expires_at <= app.services().clock.now())) {
      ended = co_await still_allowed();
      if (!ended.empty()) break;
      next_check = std::chrono::steady_clock::now() + settings.stream_recheck;
    }
    std::deque<db::outbox::Event> batch;
    bool overflow = false;
    {
      std::lock_guard lock(mailbox->mutex);
      batch.swap(mailbox->events);
      overflow = mailbox->overflow;
    }
    if (overflow) {
      // A client that cannot keep up is dropped, never slowing the others.
      stream.expires_after(std::chrono::seconds(2));
      co_await ws.async_close(websocket::close_reason(websocket::close_code::policy_error,
                                                      "too slow: events were not read in time"),
                              tuple_awaitable);
      ok = false;
      break;
    }
    if (batch.empty()) {
      auto wake_at = next_check;
      if (principal->expires_at) {
        const auto left = *principal->expires_at - app.services().clock.now();
        wake_at =
            std::min(wake_at, std::chrono::steady_clock::now() +
                                  std::chrono::duration_cast<std::chrono::milliseconds>(left) +
                                  std::chrono::milliseconds(1));
      }
      mailbox->wake.expires_at(wake_at);
      co_await mailbox->wake.async_wait(tuple_awaitable);
      continue;
    }
    for (const auto& e : batch) {
      if (e.seq <= sent) continue;
      if (!(ok = co_await send(e))) break;
    }
  }

  if (!ended.empty() && reading) {
    stream.expires_after(std::chrono::seconds(2));
    co_await ws.async_close(websocket::close_reason(websocket::close_code::policy_error, ended),
                            tuple_awaitable);
  }
  hub.unsubscribe(subscription);
  {
    std::lock_guard lock(mailbox->mutex);
    mailbox->finished = true;
  }
  // The reader refers to `ws`: end it before `ws` goes away.
  if (reading) {
    beast::get_lowest_layer(ws).cancel();
    beast::get_lowest_layer(ws).socket().close(ignored);
    while (reading) {
      mailbox->wake.expires_after(std::chrono::milliseconds(50));
      co_await mailbox->wake.async_wait(tuple_awaitable);
    }
  }
  co_return true;
}

}  // namespace circolo::api
