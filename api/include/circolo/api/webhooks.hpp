#pragma once

#include <boost/asio/ip/address.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <set>
#include <string>

#include "circolo/db/outbox.hpp"
#include "circolo/db/webhooks.hpp"

namespace circolo::api {

namespace asio = boost::asio;
struct Services;
class App;

struct WebhookSettings {
  int max_attempts = 8;                     // then the event is a dead letter
  std::chrono::milliseconds backoff{1000};  // first retry; doubles, with ±25 % jitter
  std::chrono::milliseconds max_backoff{600'000};
  std::chrono::milliseconds timeout{10'000};  // connect + send + answer
  // Targets in loopback, link-local, private and other non-public ranges are refused (at
  // registration and, after name resolution, at each delivery) unless this is set: a private
  // deployment whose receivers are on its own network.
  bool allow_private_targets = false;
};

// Loopback, link-local, private (RFC 1918, unique local), shared (CGNAT), unspecified,
// multicast, reserved and documentation addresses: no public receiver has one.
bool private_address(const boost::asio::ip::address& address);

// Circolo-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
std::string webhook_signature(const std::string& secret, long long unix_seconds,
                              const std::string& body);

// The wait before the attempt after `failures` failed ones: backoff × 2^(failures-1), capped,
// times a factor from [0.75, 1.25) (`unit` in [0, 1) picks it).
std::chrono::milliseconds webhook_backoff(const WebhookSettings& settings, int failures,
                                          double unit);

// Delivers outgoing events to the registered endpoints: any instance may serve any endpoint,
// one at a time (a lease in the database), in seq order, every attempt recorded.
class WebhookWorker {
 public:
  WebhookWorker(asio::io_context& ioc, Services& services, WebhookSettings settings);
  void start();
  void poke();  // something was published (thread-safe)
  void stop();

 private:
  asio::awaitable<void> loop();
  asio::awaitable<void> serve(db::webhooks::Endpoint endpoint);
  struct Result {
    std::optional<int> status;
    std::optional<std::string> error;
    int latency_ms = 0;
    bool ok() const { return status && *status >= 200 && *status < 300; }
  };
  // A kept-alive plain HTTP connection to one endpoint, reused across its events.
  struct Connection {
    std::optional<boost::beast::tcp_stream> stream;
    std::string peer;  // host:port it goes to
  };
  asio::awaitable<Result> post(const db::webhooks::Endpoint& endpoint,
                               const db::outbox::Event& event, Connection& connection);
  asio::awaitable<Result> post_once(const db::webhooks::Endpoint& endpoint,
                                    const db::outbox::Event& event, Connection& connection,
                                    bool& reused);
  std::chrono::seconds lease_length() const;

  asio::io_context& ioc_;
  Services& services_;
  WebhookSettings settings_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer timer_;
  asio::ssl::context tls_;
  std::string worker_id_;
  std::atomic<bool> poked_{false}, stopping_{false};
  std::set<std::string> serving_;  // endpoints in flight here (on strand_)
  // Endpoints leased again while in flight: the events that woke us may have come after their
  // last read, so they are served again as soon as they finish (on strand_).
  std::set<std::string> serve_again_;
};

void register_webhook_routes(App& app, const WebhookSettings& settings);

}  // namespace circolo::api
