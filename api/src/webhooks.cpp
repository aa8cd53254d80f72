#include "circolo/api/webhooks.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <cmath>

#include "circolo/api/app.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/engine/digest.hpp"
#include "circolo/engine/sealed.hpp"

namespace circolo::api {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr int kBatch = 50;

double random_unit() {
  std::uint32_t r = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&r), sizeof r) != 1) return 0.5;
  return r / 4294967296.0;
}

std::string describe(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  return ec.message();
}

}  // namespace

bool private_address(const asio::ip::address& address) {
  if (address.is_v6()) {
    const auto v6 = address.to_v6();
    if (v6.is_v4_mapped())
      return private_address(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
    const auto b = v6.to_bytes();
    // ::a.b.c.d (IPv4-compatible, deprecated) and 2002:a.b.c.d:: (6to4) carry an IPv4 address.
    if (std::all_of(b.begin(), b.begin() + 12, [](unsigned char x) { return x == 0; }) &&
        !v6.is_loopback() && !v6.is_unspecified())
      return private_address(
          asio::ip::make_address_v4(asio::ip::address_v4::bytes_type{b[12], b[13], b[14], b[15]}));
    if (b[0] == 0x20 && b[1] == 0x02)
      return private_address(
          asio::ip::make_address_v4(asio::ip::address_v4::bytes_type{b[2], b[3], b[4], b[5]}));
    return v6.is_loopback() || v6.is_unspecified() || v6.is_link_local() || v6.is_multicast() ||
           v6.is_site_local() ||     // fec0::/10, deprecated
           (b[0] & 0xfe) == 0xfc ||  // fc00::/7 unique local
           (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) ||  // 2001:db8::/32
           (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff &&
            b[3] == 0x9b);  // 64:ff9b::/96, 64:ff9b:1::/48
  }
  const auto v = address.to_v4().to_uint();
  const auto in = [v](std::uint32_t net, int bits) {
    const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
    return (v & mask) == net;
  };
  return in(0x00000000, 8) ||   // 0.0.0.0/8 "this network"
         in(0x0a000000, 8) ||   // 10/8
         in(0x64400000, 10) ||  // 100.64/10 shared (CGNAT)
         in(0x7f000000, 8) ||   // 127/8 loopback
         in(0xa9fe0000, 16) ||  // 169.254/16 link-local (cloud metadata)
         in(0xac100000, 12) ||  // 172.16/12
         in(0xc0000000, 24) ||  // 192.0.0/24 protocol assignments
         in(0xc0000200, 24) ||  // 192.0.2/24 documentation
         in(0xc0a80000, 16) ||  // 192.168/16
         in(0xc6120000, 15) ||  // 198.18/15 benchmarking
         in(0xc6336400, 24) ||  // 198.51.100/24 documentation
         in(0xcb007100, 24) ||  // 203.0.113/24 documentation
         in(0xe0000000, 4) ||   // multicast
         in(0xf0000000, 4);     // reserved, broadcast
}

std::string webhook_signature(const std::string& secret, long long unix_seconds,
                              const std::string& body) {
  const std::string t = std::to_string(unix_seconds);
  return "t=" + t + ",v1=" + engine::hmac_sha256_hex(secret, t + "." + body);
}

std::chrono::milliseconds webhook_backoff(const WebhookSettings& s, int failures, double unit) {
  double wait = static_cast<double>(s.backoff.count()) * std::pow(2.0, std::max(0, failures - 1));
  wait = std::min(wait, static_cast<double>(s.max_backoff.count()));
  return std::chrono::milliseconds(static_cast<long long>(wait * (0.75 + 0.5 * unit)));
}

WebhookWorker::WebhookWorker(asio::io_context& ioc, Services& services, WebhookSettings settings)
    : ioc_(ioc),
      services_(services),
      settings_(settings),
      strand_(asio::make_strand(ioc)),
      timer_(strand_),
      tls_(asio::ssl::context::tls_client),
      worker_id_(new_id("wrk")) {
  tls_.set_default_verify_paths();
  tls_.set_verify_mode(asio::ssl::verify_peer);
}

std::chrono::seconds WebhookWorker::lease_length() const {
  // Every recorded attempt extends the lease: it must outlast one delivery comfortably.
  return std::max(std::chrono::seconds(60),
                  std::chrono::duration_cast<std::chrono::seconds>(3 * settings_.timeout) +
                      std::chrono::seconds(5));
}

void WebhookWorker::start() {
  asio::co_spawn(strand_, loop(), asio::detached);
}

void WebhookWorker::poke() {
  if (poked_.exchange(true)) return;
  asio::post(strand_, [this] { timer_.cancel(); });
}

void WebhookWorker::stop() {
  stopping_ = true;
  asio::post(strand_, [this] { timer_.cancel(); });
}

asio::awaitable<void> WebhookWorker::loop() {
  while (!stopping_) {
    if (!poked_) {  // something published, or every half second (backoffs end, leases lapse)
      timer_.expires_after(std::chrono::milliseconds(500));
      co_await timer_.async_wait(tuple_awaitable);
      if (stopping_) break;
    }
    poked_ = false;
    constexpr int kLeaseBatch = 20;
    std::vector<db::webhooks::Endpoint> leased;
    try {
      // Every endpoint with work, not only the first ones: lease until a batch comes back short.
      for (;;) {
        const auto now = services_.clock.now();
        const auto until = now + lease_length();
        auto batch = co_await services_.db.run([this, now, until](soci::session& sql) {
          return db::webhooks::lease(sql, worker_id_, now, until, kLeaseBatch);
        });
        const bool more = batch.size() == static_cast<std::size_t>(kLeaseBatch);
        for (auto& e : batch) leased.push_back(std::move(e));
        if (!more || leased.size() >= 1000) break;
      }
    } catch (const std::exception& e) {
      spdlog::warn("job=webhooks lease failed: {}", e.what());
    }
    for (auto& endpoint : leased) {
      if (!serving_.insert(endpoint.id).second) {
        serve_again_.insert(endpoint.id);
        continue;
      }
      const std::string id = endpoint.id;
      asio::co_spawn(
          asio::make_strand(ioc_), serve(std::move(endpoint)),
          [this, id](std::exception_ptr failure) {
            bool release = false;
            if (failure) {
              try {
                std::rethrow_exception(failure);
              } catch (const engine::SealError& e) {
                // Kept leased: tried again when the lease lapses, not in a loop.
                spdlog::warn("job=webhooks endpoint={} failed: {}", id, e.what());
              } catch (const std::exception& e) {
                spdlog::warn("job=webhooks endpoint={} failed: {}", id, e.what());
                release = true;
              }
            }
            // A run that ended on an error (a database hiccup) gives its lease
            // back: the next round, half a second on, takes the endpoint again
            // instead of a minute later when the lease lapses.
            if (release) {
              asio::co_spawn(
                  ioc_,
                  [this, id]() -> asio::awaitable<void> {
                    try {
                      co_await services_.db.run(
                          [&](soci::session& sql) { db::webhooks::release(sql, id, worker_id_); });
                    } catch (const std::exception& e) {
                      spdlog::warn("job=webhooks endpoint={} release failed: {}", id, e.what());
                    }
                  },
                  asio::detached);
            }
            asio::post(strand_, [this, id] {
              serving_.erase(id);
              if (serve_again_.erase(id) > 0) poke();
            });
          });
    }
  }
}

asio::awaitable<void> WebhookWorker::serve(db::webhooks::Endpoint endpoint) {
  // Stored sealed; one that does not open (another key, altered) is logged by the caller and
  // retried when its lease lapses, never delivered unsigned.
  endpoint.secret =
      services_.secrets_key.open(endpoint.secret, engine::webhook_secret_purpose(endpoint.id));
  auto& db = services_.db;
  const std::string id = endpoint.id, worker = worker_id_;
  long long cursor = endpoint.cursor;
  int failures = endpoint.failures;
  auto record = [&](const db::webhooks::Attempt& a, bool ok, bool give_up,
                    engine::TimePoint retry_at) -> asio::awaitable<bool> {
    co_return co_await db.run([&](soci::session& sql) {
      return ok ? db::webhooks::delivered(sql, id, worker, a)
                : db::webhooks::failed(sql, id, worker, a, give_up, retry_at);
    });
  };
  Connection connection;
  auto attempt_of = [&](const db::outbox::Event& e, const Result& r, bool redrive) {
    db::webhooks::Attempt a;
    a.lease_until = services_.clock.now() + lease_length();
    a.seq = e.seq;
    a.event_type = e.type;
    a.at = services_.clock.now();
    a.status_code = r.status;
    a.latency_ms = r.latency_ms;
    a.error = r.error;
    a.redrive = redrive;
    return a;
  };

  while (!stopping_) {
    // Dead letters asked for again go first.
    const auto again = co_await db.run(
        [&](soci::session& sql) { return db::webhooks::redrives(sql, id, kBatch); });
    for (const long long seq : again) {
      db::outbox::Query q{seq - 1, std::nullopt, {}, 1};
      const auto found =
          co_await db.run([q](soci::session& sql) { return db::outbox::read(sql, q); });
      if (found.empty() || found.front().seq != seq) {
        db::outbox::Event gone;
        gone.seq = seq;
        gone.type = "unknown";
        Result r;
        r.error = "the event was removed (older than the retention period)";
        if (!co_await record(attempt_of(gone, r, true), false, true, services_.clock.now()))
          co_return;
        continue;
      }
      const auto r = co_await post(endpoint, found.front(), connection);
      if (!co_await record(attempt_of(found.front(), r, true), r.ok(), true, services_.clock.now()))
        co_return;
    }

    // The published mark first: every event up to it is visible to the read that follows.
    const long long published =
        co_await db.run([](soci::session& sql) { return db::outbox::state(sql).last_seq; });
    db::outbox::Query q{cursor, std::nullopt, endpoint.events, kBatch};
    const auto events =
        co_await db.run([q](soci::session& sql) { return db::outbox::read(sql, q); });
    if (events.empty() && again.empty()) {
      // Nothing for this endpoint up to the mark: move past events of other types.
      if (published > cursor)
        co_await db.run(
            [&](soci::session& sql) { return db::webhooks::skip_to(sql, id, worker, published); });
      break;
    }
    for (const auto& e : events) {
      if (stopping_) co_return;
      const auto r = co_await post(endpoint, e, connection);
      if (r.ok()) {
        if (!co_await record(attempt_of(e, r, false), true, false, services_.clock.now()))
          co_return;  // the lease went to another worker
        cursor = e.seq;
        failures = 0;
        continue;
      }
      ++failures;
      // A receiver that answers with errors gets max_attempts; one that cannot be reached at
      // all (down, restarting) is retried at the capped backoff until it is back, so that it
      // then gets every event, in order.
      const bool give_up = r.status && failures >= settings_.max_attempts;
      const auto retry_at =
          services_.clock.now() + std::chrono::duration_cast<std::chrono::microseconds>(
                                      webhook_backoff(settings_, failures, random_unit()));
      if (!co_await record(attempt_of(e, r, false), false, give_up, retry_at)) co_return;
      if (!give_up) {
        // In order per endpoint: nothing after this event goes before it. Wait for the backoff.
        co_await db.run([&](soci::session& sql) { db::webhooks::release(sql, id, worker); });
        co_return;
      }
      cursor = e.seq;  // a dead letter: visible, re-drivable; the next events go on
      failures = 0;
    }
    const auto until = services_.clock.now() + lease_length();
    if (!co_await db.run(
            [&](soci::session& sql) { return db::webhooks::renew(sql, id, worker, until); }))
      co_return;
  }
  co_await db.run([&](soci::session& sql) { db::webhooks::release(sql, id, worker); });
}

asio::awaitable<WebhookWorker::Result> WebhookWorker::post(const db::webhooks::Endpoint& endpoint,
                                                           const db::outbox::Event& event,
                                                           Connection& connection) {
  bool reused = false;
  auto result = co_await post_once(endpoint, event, connection, reused);
  // A kept-alive connection the receiver closed meanwhile: once more on a fresh one.
  if (reused && !result.status) result = co_await post_once(endpoint, event, connection, reused);
  co_return result;
}

asio::awaitable<WebhookWorker::Result> WebhookWorker::post_once(
    const db::webhooks::Endpoint& endpoint, const db::outbox::Event& event, Connection& connection,
    bool& reused) {
  Result result;
  reused = false;
  const auto started = std::chrono::steady_clock::now();
  auto finish = [&]() {
    result.latency_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now() - started)
                                             .count());
  };
  const auto url = boost::urls::parse_absolute_uri(endpoint.url);
  if (!url) {
    result.error = "the URL cannot be parsed";
    finish();
    co_return result;
  }
  const bool tls = url->scheme() == "https";
  const std::string host(url->host_address());  // IPv6 without its brackets
  const std::string port = url->has_port() ? std::string(url->port()) : (tls ? "443" : "80");
  std::string target(url->encoded_path());
  if (target.empty()) target = "/";
  if (url->has_query()) target += "?" + std::string(url->encoded_query());

  const std::string body = db::outbox::to_json(event).dump();
  const long long now_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  http::request<http::string_body> request{http::verb::post, target, 11};
  request.set(http::field::host, std::string(url->encoded_host_and_port()));
  request.set(http::field::user_agent, "circolod-webhooks");
  request.set(http::field::content_type, "application/json");
  request.set("Circolo-Signature", webhook_signature(endpoint.secret, now_s, body));
  request.set("Circolo-Event-Id", event.id);
  request.set("Circolo-Event-Type", event.type);
  request.keep_alive(!tls);
  request.body() = body;
  request.prepare_payload();

  const auto executor = co_await asio::this_coro::executor;
  const std::string peer = host + ":" + port;
  if (tls || connection.peer != peer) connection.stream.reset();
  reused = connection.stream.has_value();
  if (!connection.stream) {
    tcp::resolver resolver(executor);
    auto [resolve_ec, addresses] = co_await resolver.async_resolve(host, port, tuple_awaitable);
    if (resolve_ec) {
      result.error = "cannot resolve " + host + ": " + resolve_ec.message();
      finish();
      co_return result;
    }
    // Checked on the addresses connected to, so a name that resolves elsewhere by now
    // (DNS rebinding) gains nothing.
    if (!settings_.allow_private_targets) {
      for (const auto& entry : addresses) {
        if (private_address(entry.endpoint().address())) {
          result.error = "refused: " + host + " resolves to " +
                         entry.endpoint().address().to_string() +
                         ", not a public address (CIRCOLO_WEBHOOKS_ALLOW_PRIVATE allows it)";
          finish();
          co_return result;
        }
      }
    }
    connection.stream.emplace(executor);
    connection.peer = peer;
    connection.stream->expires_after(settings_.timeout);
    auto [connect_ec, connected] =
        co_await connection.stream->async_connect(addresses, tuple_awaitable);
    if (connect_ec) {
      connection.stream.reset();
      result.error = "cannot connect: " + describe(connect_ec);
      finish();
      co_return result;
    }
  }
  auto& stream = *connection.stream;
  stream.expires_after(settings_.timeout);
  bool keep = false;
  auto exchange = [&](auto& s) -> asio::awaitable<void> {
    auto [write_ec, written] = co_await http::async_write(s, request, tuple_awaitable);
    if (write_ec) {
      result.error = "sending failed: " + describe(write_ec);
      co_return;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1024 * 1024);  // the answer's body is not used
    auto [read_ec, read] = co_await http::async_read(s, buffer, parser, tuple_awaitable);
    if (parser.is_header_done()) result.status = parser.get().result_int();
    if (read_ec && read_ec != http::error::body_limit) {
      if (!result.status) result.error = "no answer: " + describe(read_ec);
      co_return;
    }
    if (!result.ok()) result.error = "HTTP " + std::to_string(*result.status);
    keep = !read_ec && parser.get().keep_alive();
  };
  if (tls) {
    beast::ssl_stream<beast::tcp_stream&> secure(stream, tls_);
    SSL_set_tlsext_host_name(secure.native_handle(), host.c_str());
    secure.set_verify_callback(asio::ssl::host_name_verification(host));
    auto [handshake_ec] =
        co_await secure.async_handshake(asio::ssl::stream_base::client, tuple_awaitable);
    if (handshake_ec) {
      result.error = "TLS handshake failed: " + describe(handshake_ec);
    } else {
      co_await exchange(secure);
    }
  } else {
    co_await exchange(stream);
  }
  if (!keep || tls) {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    connection.stream.reset();
  }
  finish();
  co_return result;
}

}  // namespace circolo::api
