#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <soci/soci.h>

namespace circolo::db {

struct PoolStats {
  std::size_t size = 0;
  std::size_t in_use = 0;
  std::size_t idle = 0;
  std::uint64_t reconnects = 0;
};

// A fixed set of SOCI sessions. acquire() blocks, so it is only ever called from the database
// thread pool (sized like this pool, so in practice it never waits). A connection that broke
// during use is replaced before it is lent again, so a PostgreSQL restart heals by itself.
class ConnectionPool {
 public:
  struct Options {
    std::string dsn;
    std::size_t size = 4;
    // A connection idle longer than this is pinged before it is lent out.
    std::chrono::milliseconds validate_after_idle{2000};
  };

  class Lease {
   public:
    Lease(ConnectionPool& pool, std::size_t slot) : pool_(&pool), slot_(slot) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), slot_(other.slot_) {
      other.pool_ = nullptr;
    }
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    soci::session& session();
    // Call when the work failed: the connection is checked and replaced if it is dead.
    void mark_suspect();

   private:
    ConnectionPool* pool_;
    std::size_t slot_;
  };

  explicit ConnectionPool(Options options);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  Lease acquire();
  PoolStats stats() const;
  const Options& options() const { return options_; }

 private:
  struct Slot {
    std::unique_ptr<soci::session> session;
    bool in_use = false;
    bool suspect = false;
    std::chrono::steady_clock::time_point last_used{};
    // The pool's loss count when this connection was last known good (see lost_).
    std::uint64_t checked_at_loss = 0;
  };

  void release(std::size_t slot);
  void ensure_usable(Slot& slot);

  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::vector<Slot> slots_;
  std::uint64_t reconnects_ = 0;
  // Counts connections found dead. One dead connection usually means all of them are (a server
  // restart), so every connection last checked before the loss is pinged before it is lent.
  std::uint64_t lost_ = 0;
};

// Rewrites a libpq connection string or postgresql:// URI as keyword='value' pairs: SOCI
// parses the string itself and would mangle a URI. Throws soci::soci_error if it is invalid.
std::string to_keyword_conninfo(const std::string& dsn);

// True when the session's libpq connection is alive (no round trip).
bool connection_ok(soci::session& sql);

// Runs a script of several SQL statements (a migration) through libpq directly, since SOCI's
// prepared statements accept one statement at a time. Throws soci::soci_error on failure.
void execute_script(soci::session& sql, const std::string& script);

}  // namespace circolo::db
