#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace circolo::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::size_t body_limit = 1024 * 1024;
  std::uint32_t header_limit = 16 * 1024;
  // Waiting for (the headers of) the next request on a kept-alive connection.
  std::chrono::milliseconds idle_timeout{60'000};
  // Reading a body once its headers are in, and writing a response.
  std::chrono::milliseconds io_timeout{30'000};
  // A new connection's first request headers (idle sockets are closed soon).
  std::chrono::milliseconds header_timeout{5'000};
  // Connections at once (beyond: 503), and from one client address (beyond: 429); each refused
  // with a short answer and closed. max_connections is also kept below the open-file limit, so
  // that accepting never fails for want of descriptors.
  std::size_t max_connections = 4096;
  std::size_t max_connections_per_address = 128;
};

using HttpRequest = beast::http::request<beast::http::string_body>;
using HttpResponse = beast::http::response<beast::http::string_body>;
// Turns a complete request into a response; must not throw.
// `peer`: the client's address.
using RequestHandler =
    std::function<asio::awaitable<HttpResponse>(HttpRequest&, const asio::ip::address& peer)>;
// Answers requests the server refuses before they reach the handler (413, 431, 400).
using RefusalHandler = std::function<HttpResponse(beast::http::status, const std::string& detail)>;

// Takes over a connection whose request asks for a WebSocket upgrade; returns false to let the
// request go to the RequestHandler like any other (which then refuses it).
using UpgradeHandler = std::function<asio::awaitable<bool>(HttpRequest&, beast::tcp_stream&)>;

// HTTP/1.1 with keep-alive, one strand per connection, a fresh parser with limits and timeouts
// for every request. shutdown() stops accepting, closes idle connections, and lets requests in
// flight finish and answer with "Connection: close".
class Server {
 public:
  Server(asio::io_context& ioc, ServerOptions options, RequestHandler handler,
         RefusalHandler refusal);

  // Binds and listens; returns the bound endpoint (useful with port 0).
  tcp::endpoint listen();
  void start();
  // Resolves once every connection has ended, or after `deadline` (then they are closed).
  asio::awaitable<void> shutdown(std::chrono::milliseconds deadline);

  std::size_t open_connections() const;
  // Before start(). Connections taken over count as idle: shutdown closes them at once.
  void set_upgrade_handler(UpgradeHandler handler) { upgrade_ = std::move(handler); }

 private:
  struct Connection {
    asio::any_io_executor strand;  // the connection's strand
    beast::tcp_stream* stream;
    bool idle;
    asio::ip::address address;
  };
  // Why a new connection is refused (0: it is not).
  beast::http::status admit(const asio::ip::address& address);
  asio::awaitable<void> refuse_connection(tcp::socket socket, beast::http::status status);

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(tcp::socket socket, std::uint64_t id, asio::ip::address address);
  void close_connections(bool idle_only);

  asio::io_context& ioc_;
  ServerOptions options_;
  RequestHandler handler_;
  RefusalHandler refusal_;
  UpgradeHandler upgrade_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::map<std::uint64_t, Connection> connections_;
  std::map<asio::ip::address, std::size_t> per_address_;
  std::size_t max_connections_ = 0;  // options_.max_connections under the open-file limit
  std::size_t admitted_ = 0;         // connections being served
  std::uint64_t next_id_ = 0;
};

}  // namespace circolo::api
