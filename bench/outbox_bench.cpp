// Outgoing events end to end: writers commit events (points adjustments, one outgoing event
// each) for a while; a WebSocket client on /v1/stream and a webhook receiver on loopback count
// what reaches them and when. Reports events/s committed and delivered, and the latency from
// commit (the writer got its 201) to delivery, p50/p99/max, as one JSON line each.
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Sink {
  std::mutex mutex;
  std::map<std::string, Clock::time_point> arrived;  // reason -> when
};

std::string request(tcp::socket& socket, http::verb verb, const std::string& target,
                    const std::string& key, const std::string& body, int& status) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::authorization, "Bearer " + key);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  status = res.result_int();
  return res.body();
}

std::vector<double> percentiles(std::vector<double> v) {
  if (v.empty()) return {0, 0, 0};
  std::sort(v.begin(), v.end());
  auto at = [&](double p) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
  };
  return {at(0.5), at(0.99), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"outgoing events to a WebSocket client and a webhook receiver"};
  unsigned short port = 0;
  std::string key;
  double seconds = 5;
  int writers = 4;
  app.add_option("--port", port)->required();
  app.add_option("--key", key, "an admin key")->required();
  app.add_option("--seconds", seconds);
  app.add_option("--writers", writers);
  CLI11_PARSE(app, argc, argv);

  asio::io_context ioc;
  auto connect = [&] {
    tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    return s;
  };
  int status = 0;

  // The webhook receiver.
  Sink hooks;
  tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  const auto hook_port = acceptor.local_endpoint().port();
  std::atomic<bool> running{true};
  std::thread receiver([&] {
    while (running) {
      tcp::socket s(ioc);
      beast::error_code ec;
      acceptor.accept(s, ec);
      if (ec || !running) return;
      beast::flat_buffer buffer;
      for (;;) {  // keep-alive or not, as the client likes
        http::request<http::string_body> req;
        http::read(s, buffer, req, ec);
        if (ec) break;
        const auto now = Clock::now();
        const auto event = json::parse(req.body(), nullptr, false);
        if (!event.is_discarded() && event["data"].contains("reason")) {
          std::lock_guard lock(hooks.mutex);
          hooks.arrived.emplace(event["data"]["reason"].get<std::string>(), now);
        }
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        http::write(s, res, ec);
        if (ec || !req.keep_alive()) break;
      }
    }
  });
  {
    auto s = connect();
    request(s, http::verb::post, "/v1/admin/webhooks", key,
            json{{"url", "http://127.0.0.1:" + std::to_string(hook_port) + "/bench"},
                 {"events", {"points.earned"}},
                 {"secret", "bench-secret-0123456789"}}
                .dump(),
            status);
    if (status != 201) {
      std::cerr << "cannot register the webhook: " << status << "\n";
      return 1;
    }
  }

  // The WebSocket client, live from now.
  Sink stream;
  websocket::stream<tcp::socket> ws(connect());
  ws.set_option(websocket::stream_base::decorator(
      [&](websocket::request_type& r) { r.set(http::field::authorization, "Bearer " + key); }));
  ws.handshake("127.0.0.1", "/v1/stream?types=points.earned");
  std::thread listener([&] {
    beast::flat_buffer buffer;
    beast::error_code ec;
    while (running) {
      ws.read(buffer, ec);
      if (ec) return;
      const auto now = Clock::now();
      const auto event = json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
      buffer.consume(buffer.size());
      if (!event.is_discarded() && event["data"].contains("reason")) {
        std::lock_guard lock(stream.mutex);
        stream.arrived.emplace(event["data"]["reason"].get<std::string>(), now);
      }
    }
  });

  // Writers: a member each, one adjustment after the other.
  std::mutex committed_mutex;
  std::map<std::string, Clock::time_point> committed;
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      auto s = connect();
      int st = 0;
      const auto member = json::parse(request(
          s, http::verb::post, "/v1/members", key,
          json{{"identifiers",
                {{{"type", "crm"},
                  {"value", "bench-outbox-" + std::to_string(w) + "-" +
                                std::to_string(until.time_since_epoch().count())}}}}}
              .dump(),
          st))["id"]
                              .get<std::string>();
      for (int i = 0; Clock::now() < until; ++i) {
        const std::string reason = "b" + std::to_string(w) + "-" + std::to_string(i);
        request(s, http::verb::post, "/v1/members/" + member + "/points/adjust", key,
                json{{"points", 1}, {"reason", reason}}.dump(), st);
        const auto now = Clock::now();
        if (st == 201) {
          std::lock_guard lock(committed_mutex);
          committed.emplace(reason, now);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = seconds;
  // Let deliveries finish (up to 30 s).
  for (int i = 0; i < 300; ++i) {
    std::size_t a = 0, b = 0;
    {
      std::lock_guard lock(stream.mutex);
      a = stream.arrived.size();
    }
    {
      std::lock_guard lock(hooks.mutex);
      b = hooks.arrived.size();
    }
    if (a >= committed.size() && b >= committed.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  running = false;
  beast::error_code ignored;
  ws.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
  listener.join();
  {
    tcp::socket knock(ioc);
    knock.connect({asio::ip::make_address("127.0.0.1"), hook_port}, ignored);
  }
  receiver.join();

  std::cout << json{{"name", "outbox_committed"},
                    {"events", committed.size()},
                    {"events_per_s", static_cast<long long>(committed.size() / elapsed)}}
                   .dump()
            << "\n";
  for (auto* sink : {&stream, &hooks}) {
    std::vector<double> latency;
    std::size_t delivered = 0;
    for (const auto& [reason, at] : committed) {
      auto it = sink->arrived.find(reason);
      if (it == sink->arrived.end()) continue;
      ++delivered;
      latency.push_back(
          std::max(0.0, std::chrono::duration<double, std::milli>(it->second - at).count()));
    }
    const auto p = percentiles(latency);
    std::cout << json{{"name", sink == &stream ? "to_websocket" : "to_webhook"},
                      {"delivered", delivered},
                      {"of", committed.size()},
                      {"p50_ms", p[0]},
                      {"p99_ms", p[1]},
                      {"max_ms", p[2]}}
                     .dump()
              << "\n";
  }
  return 0;
}
