#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "circolo/db/database.hpp"
#include "circolo/db/outbox.hpp"

// Outgoing events after commit: the publisher gives them their sequence numbers, the hub hands
// new ones to the WebSocket sessions of this instance. Every instance runs both; PostgreSQL's
// NOTIFY tells every hub that something was published, wherever it was written.
namespace circolo::api {

namespace asio = boost::asio;

class OutboxPublisher {
 public:
  OutboxPublisher(asio::io_context& ioc, db::Database& db);
  // Publishes whatever committed: at once when poked (after this instance's transactions), and
  // every `backstop` anyway (other writers, crashed instances).
  void start(std::chrono::milliseconds backstop = std::chrono::milliseconds(250));
  void poke();  // thread-safe
  void stop();

 private:
  asio::awaitable<void> loop(std::chrono::milliseconds backstop);
  db::Database& db_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer timer_;
  asio::steady_timer pause_;  // between publications: pokes meanwhile are gathered into one
  std::atomic<bool> poked_{false}, stopping_{false};
};

// Live events for this instance's subscribers: one database read per publication, whatever the
// number of subscribers. A subscriber's callback must not block (it queues and returns).
class OutboxHub {
 public:
  OutboxHub(asio::io_context& ioc, db::Database& db);
  using Callback = std::function<void(const db::outbox::Event&)>;
  // Returns an id for unsubscribe and the last seq the hub had handed out when subscribing:
  // every event after it will be delivered to `callback` (read older ones from the database).
  std::pair<long long, long long> subscribe(Callback callback);
  void unsubscribe(long long id);
  // Called on NOTIFY (and on a timer): reads what was published since the last read.
  void published();
  // `last_seq`: the published seq at start; live delivery begins after it.
  void start(long long last_seq,
             std::chrono::milliseconds backstop = std::chrono::milliseconds(1000));
  void stop();
  std::size_t subscribers() const;

 private:
  asio::awaitable<void> loop(std::chrono::milliseconds backstop);
  db::Database& db_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer timer_;
  std::atomic<bool> notified_{false}, stopping_{false};
  mutable std::mutex mutex_;
  std::map<long long, Callback> subscribers_;
  long long next_id_ = 1;
  long long last_seq_ = 0;  // the last seq handed to subscribers (or skipped without any)
};

}  // namespace circolo::api
