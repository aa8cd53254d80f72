#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>

#include "circolo/api/outbox.hpp"
#include "circolo/api/server.hpp"

namespace circolo::api {

class App;

struct FeedSettings {
  // Events waiting for one WebSocket client; beyond, it is dropped (close code 1008).
  std::size_t stream_queue = 1000;
  // No frame (not even a pong) from the client this long ends the stream; a ping goes out at
  // half of it.
  std::chrono::seconds stream_idle_timeout{30};
  // How often an open stream checks its key or token again: revoked or expired, it is closed
  // (close code 1008, policy violation, with the reason).
  std::chrono::milliseconds stream_recheck{2000};
  // Streams one principal (key, or member) may hold at once; beyond: 429 too_many_streams.
  std::size_t streams_per_principal = 8;
};

void register_feed_routes(App& app, const FeedSettings& settings);

// The server's upgrade handler for GET /v1/stream (WebSocket). Returns false for other targets.
boost::asio::awaitable<bool> serve_stream(App& app, OutboxHub& hub, const FeedSettings& settings,
                                          HttpRequest& request, beast::tcp_stream& stream);

}  // namespace circolo::api
