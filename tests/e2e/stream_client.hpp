// A blocking WebSocket client of GET /v1/stream, for e2e tests.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

namespace circolo::test {

namespace stream_detail {
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace asio = boost::asio;
using nlohmann::json;
using namespace std::chrono_literals;

class StreamClient {
 public:
  StreamClient(unsigned short port, const std::string& target, const std::string& key,
               int receive_buffer = 0)
      : ws_(ioc_) {
    auto& socket = beast::get_lowest_layer(ws_);
    socket.open(asio::ip::tcp::v4());
    if (receive_buffer > 0)
      socket.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
    ws_.set_option(websocket::stream_base::decorator([key](websocket::request_type& req) {
      req.set(beast::http::field::authorization, "Bearer " + key);
    }));
    ws_.handshake(response_, "127.0.0.1", target);
  }
  // The next event, or nullopt when the stream ended or nothing came in time.
  std::optional<json> next(std::chrono::milliseconds timeout = 5000ms) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    std::atomic<bool> done{false};
    std::thread watchdog([&] {
      const auto until = std::chrono::steady_clock::now() + timeout;
      while (!done && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
      if (!done) {
        // Wakes the blocking read (cancel would not).
        timed_out_ = true;
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).shutdown(asio::socket_base::shutdown_both, ignored);
      }
    });
    ws_.read(buffer, ec);
    done = true;
    watchdog.join();
    if (ec) {
      error_ = ec;
      return std::nullopt;
    }
    return json::parse(beast::buffers_to_string(buffer.data()));
  }
  // A text message to the server (clients only answer pings and close; this tests limits).
  void send(const std::string& text) {
    beast::error_code ignored;
    ws_.write(asio::buffer(text), ignored);
  }
  bool timed_out() const { return timed_out_; }
  beast::error_code error() const { return error_; }
  websocket::close_reason reason() const { return ws_.reason(); }

 private:
  asio::io_context ioc_;
  websocket::stream<asio::ip::tcp::socket> ws_;
  websocket::response_type response_;
  bool timed_out_ = false;
  beast::error_code error_;
};

}  // namespace stream_detail

using stream_detail::StreamClient;

}  // namespace circolo::test
