#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "circolo/engine/sealed.hpp"

namespace circolo::api {

// circolod's settings: flags win over CIRCOLO_* environment variables, which win over defaults.
struct Settings {
  std::string database_url;
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::optional<std::string> admin_key;
  // Seals webhook secrets and the token-signing key in the database (required: from
  // CIRCOLO_SECRETS_KEY_FILE / --secrets-key-file or CIRCOLO_SECRETS_KEY).
  std::optional<engine::SecretsKey> secrets_key;
  std::size_t io_threads = 2;
  std::size_t db_pool_size = 8;
  std::string log_level = "info";
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds io_timeout{30'000};
  // A new connection's first request headers must arrive within this (idle sockets go soon).
  std::chrono::milliseconds header_timeout{5'000};
  // Admission: connections at once, and from one client address (beyond: 503 / 429).
  std::size_t max_connections = 4096;
  std::size_t max_connections_per_address = 128;
  std::chrono::milliseconds shutdown_timeout{20'000};
  std::chrono::hours idempotency_retention{24 * 7};
  std::chrono::seconds expiry_interval{60};
  std::chrono::seconds tier_review_interval{86400};  // tiers lowered by the review this often
  // Every member's dynamic segments evaluated again this often (what time alone changes, and
  // changes made outside events); a program change is taken up within seconds.
  std::chrono::seconds segment_refresh_interval{900};
  std::chrono::seconds offline_window{30 * 86400};  // oldest occurred_at accepted
  std::chrono::seconds clock_skew{300};             // how far ahead a touchpoint's clock may be
  std::chrono::seconds coupon_expiring_notice{3 * 86400};  // coupon.expiring this long before
  std::chrono::seconds event_retention{30 * 86400};        // outgoing events kept this long
  int webhook_max_attempts = 8;
  std::chrono::milliseconds webhook_backoff{1000};
  std::chrono::milliseconds webhook_timeout{10'000};
  bool webhooks_allow_private = false;       // receivers on loopback or private networks
  std::vector<std::string> trusted_proxies;  // load balancers whose X-Forwarded-For is believed
  std::size_t stream_queue = 1000;           // events waiting for one WebSocket client, at most
  std::chrono::milliseconds stream_recheck{2000};  // an open stream checks its key this often
  std::size_t streams_per_principal = 8;
  // Retention: the personal data of members inactive this long is erased (0: kept until erased
  // on request), checked this often.
  std::chrono::days retention_inactive{0};
  std::chrono::seconds retention_interval{3600};
  // How often the recommendation model of the offers is rebuilt from members' purchases (and at
  // start).
  std::chrono::seconds recommend_interval{600};
};

// "host:port", "[v6]:port" or ":port". Throws std::invalid_argument with a readable message.
void parse_listen(const std::string& text, std::string& host, std::uint16_t& port);

struct SettingsResult {
  std::optional<Settings> settings;  // empty: exit with `exit_code` after printing `message`
  int exit_code = 0;
  std::string message;
};

// Parses argv and the environment (through CLI11's envname), with validation.
SettingsResult parse_settings(int argc, const char* const* argv);

}  // namespace circolo::api
