#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <functional>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "circolo/db/connection_pool.hpp"

namespace circolo::db {

// Thrown when the database cannot be reached; the API maps it to 503.
struct Unavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// SOCI blocks, so every database call runs here: a thread pool as large as the connection pool.
// Coroutines on I/O threads co_await run(...), which hops to a database thread, lends it a
// connection, and resumes the coroutine on its own executor (its connection's strand).
class Database {
 public:
  explicit Database(ConnectionPool::Options options) : pool_(options), threads_(options.size) {}
  ~Database() { stop(); }

  // Not a coroutine itself: GCC 12 may destroy by-value coroutine parameters twice, so the
  // work is moved straight into the function co_spawn keeps alive.
  template <class Work>
  auto run(Work work) -> boost::asio::awaitable<std::invoke_result_t<Work&, soci::session&>> {
    using Result = std::invoke_result_t<Work&, soci::session&>;
    return boost::asio::co_spawn(
        threads_.get_executor(),
        [this, work = std::move(work)]() mutable -> boost::asio::awaitable<Result> {
          co_return run_blocking(work);
        },
        boost::asio::use_awaitable);
  }

  // The same, for code already on a database thread or outside any event loop (start-up, tests).
  template <class Work>
  auto run_blocking(Work& work) -> std::invoke_result_t<Work&, soci::session&> {
    std::optional<ConnectionPool::Lease> lease;
    try {
      lease.emplace(pool_.acquire());
    } catch (const soci::soci_error& e) {
      throw Unavailable(e.what());
    }
    try {
      return work(lease->session());
    } catch (const soci::soci_error& e) {
      lease->mark_suspect();
      if (!connection_ok(lease->session())) throw Unavailable(e.what());
      throw;
    }
  }

  PoolStats stats() const { return pool_.stats(); }

  // Waits for queued work to finish, then ends the threads. Call after the last request.
  void stop() { threads_.join(); }

 private:
  ConnectionPool pool_;
  boost::asio::thread_pool threads_;
};

}  // namespace circolo::db
