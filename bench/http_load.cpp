// circolo_http_load: a small closed-loop HTTP/1.1 load generator with keep-alive connections,
// for benchmarks against a circolod on this machine (loopback only). Prints one JSON line:
// {"name","requests","seconds","rps","p50_us","p99_us","max_us","errors"}. With --retry-503, as a
// touchpoint does: a 503 or a lost connection is retried with the same Idempotency-Key (latency
// counts from the first attempt), and the output adds "answered_503", "connection_errors",
// "unanswered" (still retried when the time ran out) and "longest_gap_ms", the longest time
// without a successful answer.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App app{"closed-loop HTTP load on 127.0.0.1"};
  std::string name = "load", method = "GET", target = "/healthz", key, body, host = "127.0.0.1";
  unsigned short port = 8080;
  int connections = 4;
  double seconds = 5;
  bool unique_idempotency = false;
  bool retry_503 = false;
  std::string targets_file;
  std::string bodies_file;
  app.add_option("--name", name);
  app.add_option("--port", port)->required();
  app.add_option("--host", host)->check([](const std::string& h) {
    return h.rfind("127.", 0) == 0 || h == "::1" ? std::string() : std::string("loopback only");
  });
  app.add_option("--method", method);
  app.add_option("--target", target);
  app.add_option("--key", key, "bearer key");
  app.add_option("--body", body, "JSON body");
  app.add_option("--connections", connections)->check(CLI::Range(1, 256));
  app.add_option("--seconds", seconds)->check(CLI::Range(0.1, 600.0));
  app.add_flag("--unique-idempotency-key", unique_idempotency,
               "a fresh Idempotency-Key per request");
  app.add_flag("--retry-503", retry_503,
               "retry a 503 or a lost connection with the same Idempotency-Key");
  app.add_option("--targets-file", targets_file,
                 "targets, one a line, taken in turn (instead of --target)");
  app.add_option("--bodies-file", bodies_file,
                 "JSON bodies, one a line, taken in turn with the targets (instead of --body)");
  CLI11_PARSE(app, argc, argv);

  // One value a line from `file`, or just `single` without a file; empty: nothing usable.
  auto lines_of = [](const std::string& file, const std::string& single) {
    std::vector<std::string> out;
    if (file.empty()) return std::vector<std::string>{single};
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out.push_back(line);
    }
    return out;
  };
  const auto targets = lines_of(targets_file, target);
  const auto bodies = lines_of(bodies_file, body);
  if (targets.empty() || bodies.empty()) {
    std::cerr << "no lines in " << (targets.empty() ? targets_file : bodies_file) << "\n";
    return 2;
  }
  // Keys unique to this run: an earlier run's key on another path would be a conflict.
  const std::string run_id =
      name + "-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  std::atomic<long> errors{0}, answered_503{0}, connection_errors{0}, unanswered{0};
  std::mutex success_mutex;
  std::vector<Clock::time_point> successes;  // with --retry-503: when each 2xx came
  std::mutex status_mutex;
  std::map<int, long> refused;  // status -> count, for statuses >= 400
  std::atomic<std::size_t> next_target{0};
  std::vector<std::vector<std::uint32_t>> latencies(static_cast<std::size_t>(connections));
  const auto start = Clock::now();
  const auto until =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      auto& mine = latencies[static_cast<std::size_t>(c)];
      boost::asio::io_context ioc;
      std::optional<beast::tcp_stream> stream;
      beast::flat_buffer buffer;
      long sequence = 0;
      std::optional<std::size_t> pending;  // the request being retried (--retry-503)
      Clock::time_point first_attempt;
      while (Clock::now() < until) {
        try {
          if (!stream) {
            stream.emplace(ioc);
            stream->connect(tcp::endpoint(boost::asio::ip::make_address(host), port));
          }
          const bool retrying = pending.has_value();
          const auto n = retrying ? *pending : next_target.fetch_add(1, std::memory_order_relaxed);
          if (!retrying) {
            first_attempt = Clock::now();
            ++sequence;
          }
          pending = n;
          const auto& this_target = targets[n % targets.size()];
          const auto& this_body = bodies[n % bodies.size()];
          http::request<http::string_body> req{http::string_to_verb(method), this_target, 11};
          req.set(http::field::host, host);
          req.keep_alive(true);
          if (!key.empty()) req.set(http::field::authorization, "Bearer " + key);
          if (!this_body.empty()) {
            req.set(http::field::content_type, "application/json");
            req.body() = this_body;
          }
          if (unique_idempotency) {
            req.set("Idempotency-Key",
                    run_id + "-" + std::to_string(c) + "-" + std::to_string(sequence));
          }
          req.prepare_payload();
          const auto t0 = retry_503 ? first_attempt : Clock::now();
          http::write(*stream, req);
          http::response<http::string_body> res;
          http::read(*stream, buffer, res);
          const auto us =
              std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
          if (retry_503 && res.result_int() == 503) {
            ++answered_503;
            if (!res.keep_alive()) stream.reset();
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            continue;
          }
          pending.reset();
          if (retry_503 && res.result_int() < 300) {
            std::lock_guard lock(success_mutex);
            successes.push_back(Clock::now());
          }
          if (res.result_int() >= 400) {
            ++errors;
            std::lock_guard lock(status_mutex);
            // The first refusal of each status goes to stderr: a benchmark that fails says why.
            if (refused[static_cast<int>(res.result_int())]++ == 0) std::cerr << res.body() << "\n";
          }
          mine.push_back(static_cast<std::uint32_t>(us));
          if (!res.keep_alive()) stream.reset();
        } catch (const std::exception&) {
          stream.reset();
          if (retry_503) {
            ++connection_errors;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          } else {
            ++errors;
            pending.reset();
          }
        }
      }
      if (pending) ++unanswered;  // still being retried when the time ran out
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<std::uint32_t> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty()
               ? 0u
               : all[std::min(all.size() - 1,
                              static_cast<std::size_t>(p * static_cast<double>(all.size())))];
  };
  nlohmann::json out{{"name", name},
                     {"requests", all.size()},
                     {"seconds", elapsed},
                     {"rps", static_cast<long>(static_cast<double>(all.size()) / elapsed)},
                     {"p50_us", pct(0.50)},
                     {"p99_us", pct(0.99)},
                     {"p999_us", pct(0.999)},
                     {"max_us", all.empty() ? 0u : all.back()},
                     {"errors", errors.load()}};
  if (retry_503) {
    std::sort(successes.begin(), successes.end());
    auto gap = Clock::duration::zero();
    auto previous = start;
    for (const auto& t : successes) {
      gap = std::max(gap, t - previous);
      previous = t;
    }
    gap = std::max(gap, Clock::now() - previous);
    out["answered_503"] = answered_503.load();
    out["unanswered"] = unanswered.load();
    out["connection_errors"] = connection_errors.load();
    out["longest_gap_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(gap).count();
  }
  if (!refused.empty()) {
    for (const auto& [status, count] : refused) out["refused"][std::to_string(status)] = count;
  }
  std::cout << out.dump() << std::endl;
  return errors.load() > 0 ? 1 : 0;
}
