#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace circolo::test {

// The secrets key every circolod of the tests gets (CIRCOLO_SECRETS_KEY) unless the test sets
// CIRCOLO_SECRETS_KEY or CIRCOLO_SECRETS_KEY_FILE itself (set to "": no key at all).
inline constexpr const char* kTestSecretsKey =
    "7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de";

// Starts the real circolod binary (CIRCOLOD_PATH, set by CMake) on port 0 and learns its port
// from the log. The log is collected so that tests can assert on it.
class ServerProcess {
 public:
  struct Options {
    std::string database_url;
    std::string admin_key;  // default: "test-admin-key-0123456789"
    std::map<std::string, std::string> extra_env;
    std::chrono::seconds start_timeout{0};  // default 30 s
    // Return only once /readyz answers 200 (false: as soon as it listens).
    bool wait_ready = true;
  };

  explicit ServerProcess(Options options);
  explicit ServerProcess(const std::string& database_url)
      : ServerProcess(Options{database_url, {}, {}, {}, true}) {}
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  unsigned short port() const { return port_; }
  const std::string& admin_key() const { return options_.admin_key; }
  std::string log() const;
  // Waits until the log contains `text`.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout);

  void signal(int sig);
  // Waits for the process to end; returns its exit status, or -1 on timeout (then kills it).
  int wait_exit(std::chrono::milliseconds timeout);
  bool running() const { return pid_ > 0; }

 private:
  Options options_;
  pid_t pid_ = -1;
  int log_fd_ = -1;
  unsigned short port_ = 0;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string log_;
  bool eof_ = false;
};

// Runs circolod to completion with the given environment and returns {exit status, output}.
std::pair<int, std::string> run_circolod_once(
    const std::map<std::string, std::string>& env,
    std::chrono::seconds timeout = std::chrono::seconds(30));

// The set-up of suites that send events: applies `program` and creates a touchpoint key per
// channel (named after it). Returns channel -> key secret; throws std::runtime_error with the
// server's answer on a refusal.
std::map<std::string, std::string> apply_program_with_touchpoints(
    const ServerProcess& server, const std::string& program,
    const std::vector<std::string>& channels);

}  // namespace circolo::test
