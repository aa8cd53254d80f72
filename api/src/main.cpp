// circolod: settings, database and migrations, the HTTP server, background jobs, and a
// graceful stop on SIGTERM/SIGINT.
#include <sys/resource.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "circolo/api/app.hpp"
#include "circolo/api/audit.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/api/coupons.hpp"
#include "circolo/api/events.hpp"
#include "circolo/api/feed.hpp"
#include "circolo/api/gamification.hpp"
#include "circolo/api/interests.hpp"
#include "circolo/api/offers.hpp"
#include "circolo/api/outbox.hpp"
#include "circolo/api/privacy.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/api/referrals.hpp"
#include "circolo/api/segments.hpp"
#include "circolo/api/settings.hpp"
#include "circolo/api/webhooks.hpp"
#include "circolo/db/api_keys.hpp"
#include "circolo/db/data_steps.hpp"
#include "circolo/db/idempotency.hpp"
#include "circolo/db/migrations.hpp"
#include "circolo/db/notifier.hpp"
#include "circolo/db/outbox.hpp"
#include "circolo/db/programs.hpp"
#include "circolo/db/secrets.hpp"
#include "circolo/db/webhooks.hpp"
#include "circolo/engine/digest.hpp"

namespace {

using namespace circolo;
namespace asio = boost::asio;

// Runs `job` every `period` until `stopping` is set; failures are logged, never fatal.
asio::awaitable<void> periodic(asio::steady_timer& timer, std::chrono::milliseconds period,
                               const char* name, std::function<asio::awaitable<void>()> job,
                               const std::atomic<bool>& stopping) {
  while (!stopping) {
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || stopping) co_return;
    try {
      co_await job();
    } catch (const std::exception& e) {
      spdlog::warn("job={} failed: {}", name, e.what());
    }
  }
}

int run(const api::Settings& settings) {
  spdlog::set_level(spdlog::level::from_str(settings.log_level));

  std::unique_ptr<db::Database> database;
  try {
    database = std::make_unique<db::Database>(
        db::ConnectionPool::Options{settings.database_url, settings.db_pool_size});
  } catch (const std::exception& e) {
    spdlog::critical("cannot connect to the database: {}", e.what());
    return 1;
  }
  engine::SystemClock clock;
  try {
    auto migrate = [](soci::session& sql) {
      return db::apply_migrations(sql, db::embedded_migrations(), [](const db::Migration& m) {
        spdlog::info("applied migration {:03}_{}", m.version, m.name);
      });
    };
    database->run_blocking(migrate);
    const auto forms = database->run_blocking(db::data_steps::normalise_identifiers);
    if (forms.ran) {
      spdlog::info(
          "identifiers in today's normal form: checked={} rewritten={} invalid={} clashes={}",
          forms.checked, forms.rewritten, forms.invalid, forms.clashes);
      if (forms.invalid > 0 || forms.clashes > 0)
        spdlog::warn(
            "{} stored identifiers are no longer valid (cards with letters) and {} clash with "
            "another member's once normalised: kept as they are, no lookup finds them; unlink "
            "them by hand (docs/privacy.md)",
            forms.invalid, forms.clashes);
    }
    if (settings.admin_key) {
      auto bootstrap = [&](soci::session& sql) {
        db::api_keys::upsert_bootstrap(sql, engine::sha256_hex(*settings.admin_key), clock.now());
      };
      database->run_blocking(bootstrap);
    }
  } catch (const std::exception& e) {
    spdlog::critical("database set-up failed: {}", e.what());
    return 1;
  }

  // Secrets at rest: values of older versions sealed, then the token-signing key opened, in one
  // transaction (a key that does not open it changes nothing).
  const engine::SecretsKey& secrets_key = *settings.secrets_key;
  std::string token_secret;
  try {
    auto load = [&secrets_key](soci::session& sql) {
      soci::transaction tx(sql);
      const auto sealed = db::secrets::seal_plaintext(sql, secrets_key);
      auto secret =
          db::secrets::server_secret(sql, "member_tokens", api::new_key_secret(), secrets_key);
      tx.commit();
      return std::pair(sealed, secret);
    };
    const auto [sealed, secret] = database->run_blocking(load);
    if (sealed.server_secrets > 0 || sealed.webhooks > 0)
      spdlog::info(
          "secrets stored in plaintext by an earlier version encrypted: server={} webhooks={}",
          sealed.server_secrets, sealed.webhooks);
    token_secret = secret;
  } catch (const engine::SealError& e) {
    spdlog::critical(
        "the secrets key (CIRCOLO_SECRETS_KEY_FILE or CIRCOLO_SECRETS_KEY) does not open the "
        "secrets stored in the database: it is not the key they were encrypted with ({})",
        e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::critical("database set-up failed: {}", e.what());
    return 1;
  }

  asio::io_context ioc(static_cast<int>(settings.io_threads));
  api::Metrics metrics;
  api::App app({*database, clock, metrics, secrets_key, token_secret, {}});
  api::register_key_routes(app);
  api::register_audit_routes(app);
  api::register_privacy_routes(app);
  api::ProgramStore programs;
  api::register_operations_routes(app, programs);
  api::register_member_routes(app, programs);
  api::register_interest_routes(app, programs);
  api::register_segment_routes(app, programs);
  api::RecommendationStore recommendations;
  api::register_offer_routes(app, programs, recommendations);
  api::register_report_routes(app, programs);
  api::register_experiment_routes(app, programs);
  api::register_referral_routes(app, programs);
  api::register_backtest_routes(app);
  api::register_program_routes(app, programs);
  api::register_event_routes(app, programs, {settings.offline_window, settings.clock_skew});
  api::CouponSettings coupon_settings;
  coupon_settings.expiring_notice = settings.coupon_expiring_notice;
  api::register_coupon_routes(app, programs, coupon_settings);
  api::register_reward_routes(app, programs);
  api::FeedSettings feed_settings;
  feed_settings.stream_queue = settings.stream_queue;
  feed_settings.stream_recheck = settings.stream_recheck;
  feed_settings.streams_per_principal = settings.streams_per_principal;
  api::register_feed_routes(app, feed_settings);
  // Outgoing events: published after every commit here (and every 250 ms whatever wrote them),
  // handed to this instance's WebSocket clients when PostgreSQL says something was published.
  api::OutboxPublisher publisher(ioc, *database);
  api::OutboxHub hub(ioc, *database);
  app.services().committed = [&publisher] { publisher.poke(); };
  api::register_gamification_routes(app, programs);
  api::WebhookSettings webhook_settings;
  webhook_settings.max_attempts = settings.webhook_max_attempts;
  webhook_settings.backoff = settings.webhook_backoff;
  webhook_settings.timeout = settings.webhook_timeout;
  webhook_settings.allow_private_targets = settings.webhooks_allow_private;
  api::register_webhook_routes(app, webhook_settings);
  api::WebhookWorker webhooks(ioc, app.services(), webhook_settings);

  {
    std::vector<boost::asio::ip::address> proxies;
    for (const auto& p : settings.trusted_proxies)
      proxies.push_back(boost::asio::ip::make_address(p));
    app.set_trusted_proxies(std::move(proxies));
  }
  api::ServerOptions options;
  options.host = settings.listen_host;
  options.port = settings.listen_port;
  options.idle_timeout = settings.idle_timeout;
  options.io_timeout = settings.io_timeout;
  options.header_timeout = settings.header_timeout;
  options.max_connections = settings.max_connections;
  options.max_connections_per_address = settings.max_connections_per_address;
  api::Server server(
      ioc, options,
      [&app](api::HttpRequest& r, const boost::asio::ip::address& peer) {
        return app.handle(r, peer);
      },
      [&app](api::http::status s, const std::string& d) { return app.refusal(s, d); });
  boost::asio::ip::tcp::endpoint bound;
  try {
    bound = server.listen();
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}:{}: {}", settings.listen_host, settings.listen_port,
                     e.what());
    return 1;
  }
  server.set_upgrade_handler([&](api::HttpRequest& r, boost::beast::tcp_stream& stream) {
    return api::serve_stream(app, hub, feed_settings, r, stream);
  });
  {
    auto read_state = [](soci::session& sql) { return db::outbox::state(sql); };
    hub.start(database->run_blocking(read_state).last_seq);
  }
  publisher.start();
  webhooks.start();
  server.start();
  const std::string host = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                   : bound.address().to_string();
  spdlog::info("circolod listening on http://{}:{}", host, bound.port());

  // Set by the signal handler on one I/O thread, read by jobs on the others.
  std::atomic<bool> stopping{false};
  asio::steady_timer purge_timer(ioc);
  asio::co_spawn(
      ioc,
      periodic(
          purge_timer, std::chrono::hours(1), "idempotency_purge",
          [&]() -> asio::awaitable<void> {
            const auto cutoff = clock.now() - settings.idempotency_retention;
            const auto purged = co_await database->run([cutoff](soci::session& sql) {
              return db::idempotency::purge_before(sql, cutoff);
            });
            if (purged > 0) spdlog::info("job=idempotency_purge deleted={}", purged);
            const auto events_cutoff = clock.now() - settings.event_retention;
            const auto events = co_await database->run([events_cutoff](soci::session& sql) {
              return db::outbox::purge_before(sql, events_cutoff);
            });
            if (events > 0) spdlog::info("job=outbox_purge deleted={}", events);
            const auto attempts = co_await database->run([events_cutoff](soci::session& sql) {
              return db::webhooks::purge_before(sql, events_cutoff);
            });
            if (attempts > 0) spdlog::info("job=webhook_deliveries_purge deleted={}", attempts);
          },
          stopping),
      asio::detached);

  // The active program: loaded now, reloaded when PostgreSQL notifies a change (an apply, pause
  // or resume on any instance) and after every (re)connection of the listener, which may have
  // missed notifications. A slow poll backs that up.
  auto reload_program = [&]() -> asio::awaitable<void> {
    // A failure (a connection that died with the database, say) is retried at once: the
    // notification that asked for this reload will not come again.
    for (int attempt = 1; attempt <= 5 && !stopping; ++attempt) {
      try {
        if (co_await api::refresh_program(app.services(), programs))
          spdlog::info("program version {} active", programs.current()->version);
        co_return;
      } catch (const std::exception& e) {
        spdlog::warn("loading the active program failed (attempt {}): {}", attempt, e.what());
      }
      asio::steady_timer pause(ioc, std::chrono::milliseconds(100 * attempt));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  };
  auto post_reload = [&] { asio::co_spawn(ioc, reload_program, asio::detached); };
  asio::steady_timer program_timer(ioc);
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        co_await reload_program();
        co_await periodic(program_timer, std::chrono::seconds(5), "program_reload", reload_program,
                          stopping);
      },
      asio::detached);
  std::atomic<bool> listener_connected_before{false};
  db::Notifier notifier(
      {settings.database_url, {db::programs::kChannel, db::outbox::kChannel}, {}},
      [&](const std::string& channel, const std::string&) {
        if (channel == db::outbox::kChannel) {
          hub.published();
          webhooks.poke();
        } else {
          post_reload();
        }
      },
      [&] {
        // After a reconnection notifications may have been missed: the program held may be
        // stale, so requests that need it wait (503) until it is read again. The first
        // connection only reloads: requests already wait for the first read, and a version
        // applied between that read and this LISTEN is picked up by this reload.
        if (listener_connected_before.exchange(true)) programs.invalidate();
        post_reload();
        hub.published();
      });

  asio::steady_timer expiry_timer(ioc);
  asio::co_spawn(ioc,
                 periodic(
                     expiry_timer, settings.expiry_interval, "points_expiry",
                     [&]() -> asio::awaitable<void> {
                       const auto report = co_await api::expire_due_points(app.services());
                       const auto announced = co_await api::announce_expiring_coupons(
                           app.services(), settings.coupon_expiring_notice);
                       if (report.lots > 0 || announced > 0) publisher.poke();  // events written
                       if (announced > 0)
                         spdlog::info("job=coupon_expiring announced={}", announced);
                       if (report.lots > 0) {
                         spdlog::info("job=points_expiry members={} lots={} points={}",
                                      report.members, report.lots, report.points);
                       }
                     },
                     stopping),
                 asio::detached);

  asio::steady_timer tier_timer(ioc);
  asio::co_spawn(
      ioc,
      periodic(
          tier_timer, settings.tier_review_interval, "tier_review",
          [&]() -> asio::awaitable<void> {
            if (!programs.loaded()) co_return;  // the next run, once the program is read
            const auto report = co_await api::review_tiers(app.services(), programs, std::nullopt);
            spdlog::info("job=tier_review members={} lowered={}", report.members, report.lowered);
            const auto purged = co_await api::purge_leaderboards(app.services(), programs);
            if (purged > 0) spdlog::info("job=leaderboard_purge rows={}", purged);
          },
          stopping),
      asio::detached);

  // Segments: a program change is taken up within seconds, the schedule every refresh interval;
  // one instance at a time (a lease), batch after batch.
  asio::steady_timer segment_timer(ioc);
  const std::string segment_holder = "circolod-" + api::new_id("seg");
  asio::co_spawn(ioc,
                 periodic(
                     segment_timer, std::chrono::seconds(2), "segments",
                     [&]() -> asio::awaitable<void> {
                       if (!programs.loaded()) co_return;
                       const auto report =
                           co_await api::run_segment_job(app.services(), programs, segment_holder,
                                                         settings.segment_refresh_interval);
                       if (report.ran)
                         spdlog::info("job=segments reason={} members={} entered={} left={}",
                                      report.reason, report.members, report.entered, report.left);
                     },
                     stopping),
                 asio::detached);

  // Retention: inactive members' personal data, erased when the setting asks for it.
  asio::steady_timer retention_timer(ioc);
  if (settings.retention_inactive.count() > 0) {
    asio::co_spawn(ioc,
                   periodic(
                       retention_timer, settings.retention_interval, "retention",
                       [&]() -> asio::awaitable<void> {
                         const auto erased =
                             co_await api::erase_inactive_members(app, settings.retention_inactive);
                         if (erased > 0) spdlog::info("job=retention erased={}", erased);
                       },
                       stopping),
                   asio::detached);
  }

  // The offers' recommendation model: built at start, rebuilt in the background, swapped whole.
  asio::steady_timer recommend_timer(ioc);
  auto rebuild_model = [&]() -> asio::awaitable<void> {
    const auto started = std::chrono::steady_clock::now();
    const auto members = co_await api::rebuild_recommendations(app.services(), recommendations);
    spdlog::info("job=recommend_model members={} ms={}", members,
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count());
  };
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        try {
          co_await rebuild_model();
        } catch (const std::exception& e) {
          spdlog::warn("job=recommend_model failed: {}", e.what());
        }
        co_await periodic(recommend_timer, settings.recommend_interval, "recommend_model",
                          rebuild_model, stopping);
      },
      asio::detached);

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {} received: finishing requests in flight, then stopping", signal);
    stopping = true;
    purge_timer.cancel();
    expiry_timer.cancel();
    retention_timer.cancel();
    segment_timer.cancel();
    recommend_timer.cancel();
    publisher.stop();
    hub.stop();
    webhooks.stop();
    program_timer.cancel();
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          co_await server.shutdown(settings.shutdown_timeout);
          ioc.stop();
        },
        asio::detached);
  });

  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < settings.io_threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  database->stop();
  spdlog::info("circolod stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_logger_mt("circolod");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  spdlog::set_default_logger(logger);
  // Connections are descriptors: take what the hard limit allows (the server stays below it).
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  const auto parsed = circolo::api::parse_settings(argc, argv);
  if (!parsed.settings) {
    std::fputs(parsed.message.c_str(), parsed.exit_code == 0 ? stdout : stderr);
    return parsed.exit_code;
  }
  try {
    return run(*parsed.settings);
  } catch (const std::exception& e) {
    spdlog::critical("circolod failed: {}", e.what());
    return 1;
  }
}
