#include "circolo/api/metrics.hpp"

#include <fmt/format.h>

namespace circolo::api {

namespace {

// Label values are route patterns and method names, but escape anyway per the format.
std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

void Metrics::observe(const std::string& route, const std::string& method, int status,
                      std::chrono::nanoseconds duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  std::lock_guard lock(mutex_);
  ++requests_[{route, method, status}];
  auto& h = latency_[route];
  for (std::size_t i = 0; i < kBucketsSeconds.size(); ++i) {
    if (seconds <= kBucketsSeconds[i]) ++h.buckets[i];
  }
  ++h.count;
  h.sum_seconds += seconds;
}

void Metrics::count_event(const std::string& type) {
  const bool builtin =
      type == "purchase" || type == "refund" || type == "visit" || type == "signup";
  std::lock_guard lock(mutex_);
  ++events_[builtin ? type : "custom"];
}

std::string Metrics::render(const PoolGauges& pool) const {
  std::string out;
  out +=
      "# HELP circolo_http_requests_total HTTP requests answered, by route pattern and status.\n";
  out += "# TYPE circolo_http_requests_total counter\n";
  std::lock_guard lock(mutex_);
  for (const auto& [key, count] : requests_) {
    const auto& [route, method, status] = key;
    out +=
        fmt::format("circolo_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                    escape(route), escape(method), status, count);
  }
  out +=
      "# HELP circolo_http_request_duration_seconds Time from a complete request to its "
      "response.\n";
  out += "# TYPE circolo_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    const auto r = escape(route);
    for (std::size_t i = 0; i < kBucketsSeconds.size(); ++i) {
      out +=
          fmt::format("circolo_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n",
                      r, kBucketsSeconds[i], h.buckets[i]);
    }
    out +=
        fmt::format("circolo_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n",
                    r, h.count);
    out += fmt::format("circolo_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", r,
                       h.sum_seconds);
    out +=
        fmt::format("circolo_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", r, h.count);
  }
  out += "# HELP circolo_events_total Touchpoint events applied, by type.\n";
  out += "# TYPE circolo_events_total counter\n";
  for (const auto& [type, count] : events_)
    out += fmt::format("circolo_events_total{{type=\"{}\"}} {}\n", type, count);
  out += "# HELP circolo_http_requests_in_flight Requests being handled now.\n";
  out += "# TYPE circolo_http_requests_in_flight gauge\n";
  out += fmt::format("circolo_http_requests_in_flight {}\n",
                     in_flight_.load(std::memory_order_relaxed));
  out += "# HELP circolo_db_pool_connections Database connections by state.\n";
  out += "# TYPE circolo_db_pool_connections gauge\n";
  out += fmt::format("circolo_db_pool_connections{{state=\"in_use\"}} {}\n", pool.in_use);
  out += fmt::format("circolo_db_pool_connections{{state=\"idle\"}} {}\n", pool.idle);
  out += "# HELP circolo_db_pool_size Configured database connections.\n";
  out += "# TYPE circolo_db_pool_size gauge\n";
  out += fmt::format("circolo_db_pool_size {}\n", pool.size);
  out += "# HELP circolo_db_reconnects_total Broken database connections replaced.\n";
  out += "# TYPE circolo_db_reconnects_total counter\n";
  out += fmt::format("circolo_db_reconnects_total {}\n", pool.reconnects);
  return out;
}

}  // namespace circolo::api
