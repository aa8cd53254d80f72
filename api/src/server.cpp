#include "circolo/api/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <spdlog/spdlog.h>

#include <array>

#include <sys/resource.h>

namespace circolo::api {

namespace http = beast::http;
using asio::use_awaitable;
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);

namespace {

// Malformed HTTP deserves a 400; a client that simply went away does not.
bool is_protocol_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

}  // namespace

Server::Server(asio::io_context& ioc, ServerOptions options, RequestHandler handler,
               RefusalHandler refusal)
    : ioc_(ioc),
      options_(std::move(options)),
      handler_(std::move(handler)),
      refusal_(std::move(refusal)),
      acceptor_(asio::make_strand(ioc)) {
  // Descriptors beyond the connections: the database pool, webhooks, logs, files.
  constexpr rlim_t kReserved = 256;
  rlimit files{};
  max_connections_ = options_.max_connections;
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    const auto room =
        files.rlim_cur > 2 * kReserved ? files.rlim_cur - kReserved : files.rlim_cur / 2;
    if (room < max_connections_) {
      spdlog::warn("the open-file limit ({}) allows {} connections at once, not {}", files.rlim_cur,
                   room, max_connections_);
      max_connections_ = static_cast<std::size_t>(room);
    }
  }
}

http::status Server::admit(const asio::ip::address& address) {
  std::lock_guard lock(mutex_);
  if (admitted_ >= max_connections_) return http::status::service_unavailable;
  auto& mine = per_address_[address];
  if (mine >= options_.max_connections_per_address) return http::status::too_many_requests;
  ++mine;
  ++admitted_;
  return http::status::unknown;
}

asio::awaitable<void> Server::refuse_connection(tcp::socket socket, http::status status) {
  beast::tcp_stream stream(std::move(socket));
  auto response = refusal_(status, status == http::status::too_many_requests
                                       ? "too many connections from this address at once"
                                       : "the server has too many connections at once");
  response.set(http::field::retry_after, "1");
  response.keep_alive(false);
  response.prepare_payload();
  stream.expires_after(std::chrono::seconds(1));
  co_await http::async_write(stream, response, tuple_awaitable);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

tcp::endpoint Server::listen() {
  const auto address = asio::ip::make_address(options_.host);
  const tcp::endpoint endpoint{address, options_.port};
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  return acceptor_.local_endpoint();
}

void Server::start() {
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
}

asio::awaitable<void> Server::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(ioc_), tuple_awaitable);
    if (ec == asio::error::operation_aborted || stopping_) co_return;
    if (ec) {
      // Out of descriptors and the like: log, breathe, go on accepting.
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(tuple_awaitable);
      continue;
    }
    beast::error_code peer_ec;
    const auto peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) continue;  // gone already
    if (const auto refused = admit(peer.address()); refused != http::status::unknown) {
      auto executor = socket.get_executor();
      asio::co_spawn(executor, refuse_connection(std::move(socket), refused), asio::detached);
      continue;
    }
    std::uint64_t id;
    {
      std::lock_guard lock(mutex_);
      id = next_id_++;
    }
    auto executor = socket.get_executor();
    asio::co_spawn(executor, serve(std::move(socket), id, peer.address()), asio::detached);
  }
}

asio::awaitable<void> Server::serve(tcp::socket socket, std::uint64_t id,
                                    asio::ip::address address) {
  auto strand = socket.get_executor();
  beast::tcp_stream stream(std::move(socket));
  {
    std::lock_guard lock(mutex_);
    connections_.emplace(id, Connection{strand, &stream, true, address});
  }
  // However serve ends (an exception too), the connection leaves the books exactly once.
  struct Leave {
    Server& server;
    std::uint64_t id;
    asio::ip::address address;
    ~Leave() {
      std::lock_guard lock(server.mutex_);
      server.connections_.erase(id);
      --server.admitted_;
      if (auto it = server.per_address_.find(address);
          it != server.per_address_.end() && --it->second == 0)
        server.per_address_.erase(it);
    }
  } leave{*this, id, address};
  auto set_idle = [&](bool idle) {
    std::lock_guard lock(mutex_);
    connections_.at(id).idle = idle;
  };
  beast::flat_buffer buffer;

  // `detail` by value: the awaitable is lazy and may outlive a temporary argument.
  auto refuse = [&](http::status status, std::string detail) -> asio::awaitable<void> {
    auto response = refusal_(status, detail);
    response.keep_alive(false);
    response.prepare_payload();
    stream.expires_after(options_.io_timeout);
    co_await http::async_write(stream, response, tuple_awaitable);
    // Read what the client is still sending (briefly) so that closing does not reset the
    // connection before it has read the refusal.
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.expires_after(std::chrono::seconds(1));
    std::array<char, 16 * 1024> sink;
    for (std::size_t drained = 0; drained < 8 * options_.body_limit;) {
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), tuple_awaitable);
      if (ec) break;
      drained += n;
    }
  };

  auto refuse_too_large = [&]() {
    return refuse(http::status::payload_too_large,
                  "the body is larger than " + std::to_string(options_.body_limit) + " bytes");
  };

  for (bool first = true;; first = false) {
    if (stopping_) break;
    set_idle(true);
    http::request_parser<http::string_body> parser;
    parser.body_limit(options_.body_limit);
    parser.header_limit(options_.header_limit);
    // A client that connects and says nothing holds a descriptor: it gets little time.
    stream.expires_after(first ? options_.header_timeout : options_.idle_timeout);
    auto [read_ec, header_bytes] =
        co_await http::async_read_header(stream, buffer, parser, tuple_awaitable);
    set_idle(false);
    if (read_ec) {
      if (read_ec == http::error::header_limit) {
        co_await refuse(http::status::request_header_fields_too_large,
                        "the request headers are too large");
      } else if (read_ec == http::error::body_limit) {
        // Beast checks Content-Length against the limit as soon as the headers are in.
        co_await refuse_too_large();
      } else if (is_protocol_error(read_ec)) {
        co_await refuse(http::status::bad_request, "the request is not valid HTTP/1.1");
      }
      break;
    }
    (void)header_bytes;
    const auto& header = parser.get();
    if (auto length = parser.content_length(); length && *length > options_.body_limit) {
      co_await refuse_too_large();
      break;
    }
    if (beast::iequals(header[http::field::expect], "100-continue")) {
      http::response<http::empty_body> go_on{http::status::continue_, header.version()};
      stream.expires_after(options_.io_timeout);
      auto [ec, n] = co_await http::async_write(stream, go_on, tuple_awaitable);
      if (ec) break;
    }
    stream.expires_after(options_.io_timeout);
    auto [body_ec, body_bytes] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
    if (body_ec) {
      if (body_ec == http::error::body_limit) {
        co_await refuse_too_large();
      } else if (is_protocol_error(body_ec)) {
        co_await refuse(http::status::bad_request, "the request is not valid HTTP/1.1");
      }
      break;
    }
    (void)body_bytes;
    HttpRequest request = parser.release();
    if (upgrade_ && beast::websocket::is_upgrade(request)) {
      set_idle(true);  // a long-lived stream: closed at once on shutdown
      if (co_await upgrade_(request, stream)) break;
      set_idle(false);
    }
    HttpResponse response = co_await handler_(request, address);
    // A server that is stopping answers what it was asked, then hangs up.
    const bool keep_alive = request.keep_alive() && !stopping_;
    response.keep_alive(keep_alive);
    response.prepare_payload();
    stream.expires_after(options_.io_timeout);
    auto [write_ec, written] = co_await http::async_write(stream, response, tuple_awaitable);
    if (write_ec || !keep_alive) break;
  }

  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void Server::close_connections(bool idle_only) {
  std::lock_guard lock(mutex_);
  for (auto& [id, connection] : connections_) {
    asio::post(connection.strand, [this, id = id, idle_only] {
      // Looked up again on the connection's strand: it may have ended meanwhile.
      std::lock_guard inner(mutex_);
      auto it = connections_.find(id);
      if (it == connections_.end()) return;
      if (idle_only && !it->second.idle) return;
      it->second.stream->cancel();
      beast::error_code ignored;
      it->second.stream->socket().close(ignored);
    });
  }
}

std::size_t Server::open_connections() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

asio::awaitable<void> Server::shutdown(std::chrono::milliseconds deadline) {
  stopping_ = true;
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  close_connections(true);
  const auto until = std::chrono::steady_clock::now() + deadline;
  asio::steady_timer timer(ioc_);
  while (open_connections() > 0 && std::chrono::steady_clock::now() < until) {
    // Connections that were between requests close now; the others after their response.
    close_connections(true);
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(tuple_awaitable);
  }
  if (open_connections() > 0) {
    spdlog::warn("shutdown deadline passed with {} connection(s) open; closing them",
                 open_connections());
    close_connections(false);
  }
}

}  // namespace circolo::api
