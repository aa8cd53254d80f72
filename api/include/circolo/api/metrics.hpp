#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace circolo::api {

// Prometheus metrics for the HTTP server, rendered in the text exposition format.
class Metrics {
 public:
  static constexpr std::array<double, 12> kBucketsSeconds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                          0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

  void observe(const std::string& route, const std::string& method, int status,
               std::chrono::nanoseconds duration);
  // An event applied (POST /v1/events); custom types are counted together as "custom".
  void count_event(const std::string& type);
  void request_started() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void request_finished() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  std::int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

  struct PoolGauges {
    std::size_t size = 0, in_use = 0, idle = 0;
    std::uint64_t reconnects = 0;
  };
  // The text for GET /metrics.
  std::string render(const PoolGauges& pool) const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBucketsSeconds.size()> buckets{};
    std::uint64_t count = 0;
    double sum_seconds = 0;  // Prometheus sums are floating point by definition
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::map<std::string, std::uint64_t> events_;
  std::atomic<std::int64_t> in_flight_{0};
};

}  // namespace circolo::api
