#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <soci/soci.h>

// PostgreSQL LISTEN/NOTIFY on a connection of its own: how every circolod instance hears, within
// milliseconds, that another one changed shared state (a new program version, new outgoing
// events). Notifications sent while the connection was down are lost, so after every
// (re)connection `on_connected` runs: the listener reloads whatever it caches.
namespace circolo::db {

class Notifier {
 public:
  struct Options {
    std::string dsn;
    std::vector<std::string> channels;
    std::chrono::milliseconds reconnect_delay{500};
  };
  using OnNotify = std::function<void(const std::string& channel, const std::string& payload)>;
  using OnConnected = std::function<void()>;

  // Starts the listening thread; callbacks run on it (keep them short: post work elsewhere).
  Notifier(Options options, OnNotify on_notify, OnConnected on_connected);
  ~Notifier();  // stops and joins
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  bool connected() const { return connected_.load(); }

 private:
  void run();
  Options options_;
  OnNotify on_notify_;
  OnConnected on_connected_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

// NOTIFY `channel` with `payload` in the caller's transaction: delivered at commit, never if it
// rolls back.
void notify(soci::session& sql, const std::string& channel, const std::string& payload);

}  // namespace circolo::db
