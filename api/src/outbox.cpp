#include "circolo/api/outbox.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

namespace circolo::api {

namespace {
constexpr int kPublishBatch = 1000;
constexpr int kReadBatch = 1000;
// A publication costs about as much as a small transaction whatever its size. When commits keep
// coming (pokes arrived while publishing), the next publication waits a few milliseconds to
// take the events of several transactions at once (one per event took a fifth of the
// database's time in the events benchmark); a lone commit is published at once.
constexpr auto kPublishPause = std::chrono::milliseconds(5);
}  // namespace

OutboxPublisher::OutboxPublisher(asio::io_context& ioc, db::Database& db)
    : db_(db), strand_(asio::make_strand(ioc)), timer_(strand_), pause_(strand_) {}

void OutboxPublisher::start(std::chrono::milliseconds backstop) {
  asio::co_spawn(strand_, loop(backstop), asio::detached);
}

void OutboxPublisher::poke() {
  if (poked_.exchange(true)) return;  // a wake-up is on its way already
  asio::post(strand_, [this] { timer_.cancel(); });
}

void OutboxPublisher::stop() {
  stopping_ = true;
  asio::post(strand_, [this] {
    timer_.cancel();
    pause_.cancel();
  });
}

asio::awaitable<void> OutboxPublisher::loop(std::chrono::milliseconds backstop) {
  bool failed = false;
  while (!stopping_) {
    if (!poked_) {
      timer_.expires_after(backstop);
      co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (stopping_) break;
    }
    poked_ = false;
    bool waited = false;  // for another instance's publication: no pause on top
    try {
      for (;;) {
        const auto n = co_await db_.run(
            [](soci::session& sql) { return db::outbox::publish(sql, kPublishBatch); });
        if (n == -1) {
          waited = true;
          // Another instance is publishing; what it did not see, we publish next time.
          poked_ = true;
          timer_.expires_after(std::chrono::milliseconds(5));
          co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
          break;
        }
        if (n < kPublishBatch) break;
      }
    } catch (const std::exception& e) {
      spdlog::warn("job=outbox_publish failed: {}", e.what());
      failed = true;
    }
    if (failed) {  // the database went away: breathe, then try again
      failed = false;
      poked_ = true;
      timer_.expires_after(std::chrono::milliseconds(200));
      co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    } else if (poked_ && !waited && !stopping_) {
      pause_.expires_after(kPublishPause);
      co_await pause_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
}

OutboxHub::OutboxHub(asio::io_context& ioc, db::Database& db)
    : db_(db), strand_(asio::make_strand(ioc)), timer_(strand_) {}

std::pair<long long, long long> OutboxHub::subscribe(Callback callback) {
  std::lock_guard lock(mutex_);
  const long long id = next_id_++;
  subscribers_.emplace(id, std::move(callback));
  return {id, last_seq_};
}

void OutboxHub::unsubscribe(long long id) {
  std::lock_guard lock(mutex_);
  subscribers_.erase(id);
}

std::size_t OutboxHub::subscribers() const {
  std::lock_guard lock(mutex_);
  return subscribers_.size();
}

void OutboxHub::published() {
  if (notified_.exchange(true)) return;
  asio::post(strand_, [this] { timer_.cancel(); });
}

void OutboxHub::start(long long last_seq, std::chrono::milliseconds backstop) {
  last_seq_ = last_seq;
  asio::co_spawn(strand_, loop(backstop), asio::detached);
}

void OutboxHub::stop() {
  stopping_ = true;
  asio::post(strand_, [this] { timer_.cancel(); });
}

asio::awaitable<void> OutboxHub::loop(std::chrono::milliseconds backstop) {
  bool failed = false;
  while (!stopping_) {
    if (!notified_) {  // NOTIFY wakes us; the timer is the backstop
      timer_.expires_after(backstop);
      co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (stopping_) break;
    }
    notified_ = false;
    try {
      if (subscribers() == 0) {
        // Nobody listens here: move the mark without reading the events.
        const auto state =
            co_await db_.run([](soci::session& sql) { return db::outbox::state(sql); });
        std::lock_guard lock(mutex_);
        if (subscribers_.empty()) {
          last_seq_ = std::max(last_seq_, state.last_seq);
          continue;
        }
      }
      for (;;) {
        db::outbox::Query q;
        q.after = last_seq_;
        q.limit = kReadBatch;
        auto events =
            co_await db_.run([q](soci::session& sql) { return db::outbox::read(sql, q); });
        if (events.empty()) break;
        std::lock_guard lock(mutex_);
        for (const auto& e : events) {
          for (auto& [id, callback] : subscribers_) callback(e);
        }
        last_seq_ = events.back().seq;
        if (events.size() < static_cast<std::size_t>(kReadBatch)) break;
      }
    } catch (const std::exception& e) {
      spdlog::warn("job=outbox_hub failed: {}", e.what());
      failed = true;
    }
    if (failed) {
      failed = false;
      notified_ = true;
      timer_.expires_after(std::chrono::milliseconds(200));
      co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
}

}  // namespace circolo::api
