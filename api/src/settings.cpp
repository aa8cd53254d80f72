#include "circolo/api/settings.hpp"

#include <CLI/CLI.hpp>

#include <boost/asio/ip/address.hpp>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace circolo::api {

void parse_listen(const std::string& text, std::string& host, std::uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument("listen address must be host:port, got '" + text + "'");
  std::string h = text.substr(0, colon);
  const std::string p = text.substr(colon + 1);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) h = "0.0.0.0";
  unsigned value = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || value > 65535) {
    throw std::invalid_argument("listen port must be 0..65535, got '" + p + "'");
  }
  host = h;
  port = static_cast<std::uint16_t>(value);
}

namespace {

// The key from its file, or from CIRCOLO_SECRETS_KEY (environment only: a flag would show it in
// the process list). Exactly one of them. Throws std::invalid_argument with what to do.
engine::SecretsKey read_secrets_key(const std::string& file) {
  const char* inline_key = std::getenv("CIRCOLO_SECRETS_KEY");
  const bool given = inline_key != nullptr && *inline_key != '\0';
  if (given && !file.empty())
    throw std::invalid_argument(
        "set CIRCOLO_SECRETS_KEY_FILE (--secrets-key-file) or CIRCOLO_SECRETS_KEY, not both");
  if (!given && file.empty())
    throw std::invalid_argument(
        "set CIRCOLO_SECRETS_KEY_FILE (--secrets-key-file) to a file holding 64 hex digits "
        "(make one with: openssl rand -hex 32 > FILE; chmod 600 FILE), or CIRCOLO_SECRETS_KEY "
        "to them: webhook secrets and the token-signing key are encrypted with it in the "
        "database (docs/security.md)");
  std::string text;
  if (given) {
    text = inline_key;
  } else {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream contents;
    contents << in.rdbuf();
    if (!in) throw std::invalid_argument("cannot read CIRCOLO_SECRETS_KEY_FILE " + file);
    text = contents.str();
  }
  try {
    return engine::SecretsKey::from_hex(text);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(given ? "CIRCOLO_SECRETS_KEY" : file) + ": " +
                                e.what());
  }
}

}  // namespace

SettingsResult parse_settings(int argc, const char* const* argv) {
  Settings s;
  s.io_threads = std::max(1u, std::thread::hardware_concurrency());
  CLI::App app{"circolod: the Circolo loyalty engine server"};
  app.set_version_flag("--version", "circolod 0.1.0");
  std::string listen = "127.0.0.1:8080";
  std::string admin_key, secrets_key_file;
  long long idle_ms = s.idle_timeout.count(), io_ms = s.io_timeout.count(),
            header_ms = s.header_timeout.count(), stream_recheck_ms = s.stream_recheck.count(),
            shutdown_ms = s.shutdown_timeout.count(), retention_h = s.idempotency_retention.count(),
            expiry_s = s.expiry_interval.count(), tier_review_s = s.tier_review_interval.count(),
            segment_refresh_s = s.segment_refresh_interval.count(), offline_days = 30,
            skew_s = s.clock_skew.count(), expiring_days = s.coupon_expiring_notice.count() / 86400,
            event_retention_days = s.event_retention.count() / 86400,
            webhook_backoff_ms = s.webhook_backoff.count(),
            webhook_timeout_ms = s.webhook_timeout.count(), retention_days = 0,
            retention_interval_s = s.retention_interval.count(),
            recommend_interval_s = s.recommend_interval.count();
  app.add_option("--database-url", s.database_url, "libpq connection string or postgresql:// URI")
      ->envname("CIRCOLO_DATABASE_URL");
  app.add_option("--listen", listen, "host:port to listen on; port 0 picks a free port")
      ->envname("CIRCOLO_LISTEN")
      ->capture_default_str();
  app.add_option("--admin-key", admin_key, "secret of a bootstrap admin key kept in existence")
      ->envname("CIRCOLO_ADMIN_KEY");
  app.add_option("--secrets-key-file", secrets_key_file,
                 "file holding the key (64 hex digits: openssl rand -hex 32) that encrypts "
                 "webhook secrets and the token-signing key in the database; or the key itself "
                 "in CIRCOLO_SECRETS_KEY")
      ->envname("CIRCOLO_SECRETS_KEY_FILE");
  app.add_option("--io-threads", s.io_threads, "threads serving HTTP")
      ->envname("CIRCOLO_IO_THREADS")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--db-pool-size", s.db_pool_size, "database connections (and database threads)")
      ->envname("CIRCOLO_DB_POOL_SIZE")
      ->check(CLI::Range(1, 512))
      ->capture_default_str();
  app.add_option("--log-level", s.log_level, "trace, debug, info, warn, error")
      ->envname("CIRCOLO_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--idle-timeout-ms", idle_ms, "keep-alive wait for the next request")
      ->envname("CIRCOLO_IDLE_TIMEOUT_MS")
      ->check(CLI::Range(100LL, 3'600'000LL))
      ->capture_default_str();
  app.add_option("--header-timeout-ms", header_ms,
                 "time for a new connection's first request headers to arrive")
      ->envname("CIRCOLO_HEADER_TIMEOUT_MS")
      ->check(CLI::Range(100LL, 600'000LL))
      ->capture_default_str();
  app.add_option("--max-connections", s.max_connections,
                 "connections at once (beyond: 503 too_many_connections); also kept below the "
                 "open-file limit")
      ->envname("CIRCOLO_MAX_CONNECTIONS")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--max-connections-per-address", s.max_connections_per_address,
                 "connections at once from one client address (beyond: 429 too_many_connections)")
      ->envname("CIRCOLO_MAX_CONNECTIONS_PER_ADDRESS")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--io-timeout-ms", io_ms, "time to read a request body or write a response")
      ->envname("CIRCOLO_IO_TIMEOUT_MS")
      ->check(CLI::Range(100LL, 3'600'000LL))
      ->capture_default_str();
  app.add_option("--shutdown-timeout-ms", shutdown_ms,
                 "how long requests in flight may finish on SIGTERM")
      ->envname("CIRCOLO_SHUTDOWN_TIMEOUT_MS")
      ->check(CLI::Range(0LL, 600'000LL))
      ->capture_default_str();
  app.add_option("--idempotency-retention-hours", retention_h,
                 "how long Idempotency-Key records are kept (at least 168)")
      ->envname("CIRCOLO_IDEMPOTENCY_RETENTION_HOURS")
      ->check(CLI::Range(168LL, 24LL * 3650))
      ->capture_default_str();

  app.add_option("--segment-refresh-seconds", segment_refresh_s,
                 "how often every member's segments are evaluated again (time-based conditions)")
      ->envname("CIRCOLO_SEGMENT_REFRESH_SECONDS")
      ->check(CLI::Range(1LL, 7 * 86400LL))
      ->capture_default_str();
  app.add_option("--tier-review-interval-seconds", tier_review_s,
                 "how often tiers are reviewed (members below their tier's threshold move down)")
      ->envname("CIRCOLO_TIER_REVIEW_INTERVAL_SECONDS")
      ->check(CLI::Range(1LL, 7 * 86400LL))
      ->capture_default_str();
  app.add_option("--expiry-interval-seconds", expiry_s, "how often due points are written off")
      ->envname("CIRCOLO_EXPIRY_INTERVAL_SECONDS")
      ->check(CLI::Range(1LL, 86400LL))
      ->capture_default_str();

  app.add_option("--retention-inactive-days", retention_days,
                 "erase the personal data of members inactive this many days (0: never; erase "
                 "on request)")
      ->envname("CIRCOLO_RETENTION_INACTIVE_DAYS")
      ->check(CLI::Range(0LL, 36500LL))
      ->capture_default_str();
  app.add_option("--retention-interval-seconds", retention_interval_s,
                 "how often inactive members are looked for")
      ->envname("CIRCOLO_RETENTION_INTERVAL_SECONDS")
      ->check(CLI::Range(1LL, 7 * 86400LL))
      ->capture_default_str();
  app.add_option("--recommend-interval-seconds", recommend_interval_s,
                 "how often the offers' recommendation model is rebuilt from purchases")
      ->envname("CIRCOLO_RECOMMEND_INTERVAL_SECONDS")
      ->check(CLI::Range(1LL, 7 * 86400LL))
      ->capture_default_str();

  app.add_option("--offline-window-days", offline_days,
                 "how old an event's occurred_at may be (offline touchpoints catching up)")
      ->envname("CIRCOLO_OFFLINE_WINDOW_DAYS")
      ->check(CLI::Range(0LL, 3650LL))
      ->capture_default_str();
  app.add_option("--clock-skew-seconds", skew_s,
                 "how far in the future an event's occurred_at may be")
      ->envname("CIRCOLO_CLOCK_SKEW_SECONDS")
      ->check(CLI::Range(0LL, 86400LL))
      ->capture_default_str();

  app.add_option("--coupon-expiring-days", expiring_days,
                 "how many days before a member's coupon expires coupon.expiring is published")
      ->envname("CIRCOLO_COUPON_EXPIRING_DAYS")
      ->check(CLI::Range(0LL, 365LL))
      ->capture_default_str();

  app.add_option("--event-retention-days", event_retention_days,
                 "how long outgoing events stay readable (feed, stream, webhooks)")
      ->envname("CIRCOLO_EVENT_RETENTION_DAYS")
      ->check(CLI::Range(1LL, 3650LL))
      ->capture_default_str();
  app.add_option("--stream-recheck-ms", stream_recheck_ms,
                 "how often an open stream checks its key or member token again")
      ->envname("CIRCOLO_STREAM_RECHECK_MS")
      ->check(CLI::Range(50LL, 60'000LL))
      ->capture_default_str();
  app.add_option("--streams-per-principal", s.streams_per_principal,
                 "streams one key or member may hold at once")
      ->envname("CIRCOLO_STREAMS_PER_PRINCIPAL")
      ->check(CLI::Range(1, 10'000))
      ->capture_default_str();
  app.add_option("--stream-queue", s.stream_queue,
                 "events waiting for one WebSocket client before it is dropped as too slow")
      ->envname("CIRCOLO_STREAM_QUEUE")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();

  app.add_option("--webhook-max-attempts", s.webhook_max_attempts,
                 "attempts of one event before it becomes a dead letter")
      ->envname("CIRCOLO_WEBHOOK_MAX_ATTEMPTS")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--webhook-backoff-ms", webhook_backoff_ms,
                 "wait before the first retry; it doubles (with jitter) up to 10 minutes")
      ->envname("CIRCOLO_WEBHOOK_BACKOFF_MS")
      ->check(CLI::Range(10LL, 3'600'000LL))
      ->capture_default_str();
  app.add_option("--trusted-proxies", s.trusted_proxies,
                 "addresses of load balancers whose X-Forwarded-For names the client (for the "
                 "limit on failed authentications per address), comma-separated")
      ->envname("CIRCOLO_TRUSTED_PROXIES")
      ->delimiter(',')
      ->check([](const std::string& v) {
        boost::system::error_code ec;
        boost::asio::ip::make_address(v, ec);
        return ec ? "not an IP address: " + v : std::string();
      });
  app.add_flag("--webhooks-allow-private", s.webhooks_allow_private,
               "let webhooks target loopback, link-local and private addresses (a private "
               "deployment's own receivers)")
      ->envname("CIRCOLO_WEBHOOKS_ALLOW_PRIVATE");
  app.add_option("--webhook-timeout-ms", webhook_timeout_ms,
                 "connect, send and answer of one webhook delivery")
      ->envname("CIRCOLO_WEBHOOK_TIMEOUT_MS")
      ->check(CLI::Range(100LL, 120'000LL))
      ->capture_default_str();

  SettingsResult result;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    result.exit_code = app.exit(e, out, err);
    result.message = out.str() + err.str();
    return result;
  }
  try {
    parse_listen(listen, s.listen_host, s.listen_port);
  } catch (const std::invalid_argument& e) {
    result.exit_code = 2;
    result.message = std::string("circolod: ") + e.what() + "\n";
    return result;
  }
  if (s.database_url.empty()) {
    result.exit_code = 2;
    result.message = "circolod: set CIRCOLO_DATABASE_URL or --database-url\n";
    return result;
  }
  if (!admin_key.empty()) {
    if (admin_key.size() < 16) {
      result.exit_code = 2;
      result.message = "circolod: CIRCOLO_ADMIN_KEY must be at least 16 characters\n";
      return result;
    }
    s.admin_key = admin_key;
  }
  try {
    s.secrets_key = read_secrets_key(secrets_key_file);
  } catch (const std::invalid_argument& e) {
    result.exit_code = 2;
    result.message = std::string("circolod: ") + e.what() + "\n";
    return result;
  }
  s.idle_timeout = std::chrono::milliseconds(idle_ms);
  s.io_timeout = std::chrono::milliseconds(io_ms);
  s.header_timeout = std::chrono::milliseconds(header_ms);
  s.stream_recheck = std::chrono::milliseconds(stream_recheck_ms);
  s.shutdown_timeout = std::chrono::milliseconds(shutdown_ms);
  s.idempotency_retention = std::chrono::hours(retention_h);
  s.expiry_interval = std::chrono::seconds(expiry_s);
  s.tier_review_interval = std::chrono::seconds(tier_review_s);
  s.segment_refresh_interval = std::chrono::seconds(segment_refresh_s);
  s.offline_window = std::chrono::seconds(offline_days * 86400);
  s.clock_skew = std::chrono::seconds(skew_s);
  s.coupon_expiring_notice = std::chrono::seconds(expiring_days * 86400);
  s.event_retention = std::chrono::seconds(event_retention_days * 86400);
  s.webhook_backoff = std::chrono::milliseconds(webhook_backoff_ms);
  s.webhook_timeout = std::chrono::milliseconds(webhook_timeout_ms);
  s.retention_inactive = std::chrono::days(retention_days);
  s.retention_interval = std::chrono::seconds(retention_interval_s);
  s.recommend_interval = std::chrono::seconds(recommend_interval_s);
  result.settings = s;
  return result;
}

}  // namespace circolo::api
