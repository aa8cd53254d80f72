#include "server_process.hpp"

#include "http_client.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <regex>
#include <stdexcept>
#include <vector>

#ifndef CIRCOLOD_PATH
#error "CIRCOLOD_PATH must be defined by the build"
#endif

namespace circolo::test {

namespace {

pid_t spawn(const std::map<std::string, std::string>& env, int& read_fd) {
  int fds[2];
  // Close-on-exec: a server started at the same time from another thread must not inherit this
  // pipe's write end, or this reader never sees EOF while that server lives (dup2 below clears
  // the flag on the child's own stdout and stderr).
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    // Only what the test says: no CIRCOLO_* leaking in from the caller's environment.
    for (const char* name : {"CIRCOLO_DATABASE_URL", "CIRCOLO_LISTEN", "CIRCOLO_ADMIN_KEY",
                             "CIRCOLO_SECRETS_KEY", "CIRCOLO_SECRETS_KEY_FILE"})
      ::unsetenv(name);
    for (const auto& [key, value] : env) ::setenv(key.c_str(), value.c_str(), 1);
    if (!env.count("CIRCOLO_SECRETS_KEY") && !env.count("CIRCOLO_SECRETS_KEY_FILE"))
      ::setenv("CIRCOLO_SECRETS_KEY", kTestSecretsKey, 1);
    ::execl(CIRCOLOD_PATH, CIRCOLOD_PATH, static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(fds[1]);
  read_fd = fds[0];
  return pid;
}

}  // namespace

ServerProcess::ServerProcess(Options options) : options_(std::move(options)) {
  if (options_.admin_key.empty()) options_.admin_key = "test-admin-key-0123456789";
  if (options_.start_timeout.count() == 0) options_.start_timeout = std::chrono::seconds(30);
  std::map<std::string, std::string> env = options_.extra_env;
  env["CIRCOLO_DATABASE_URL"] = options_.database_url;
  env.emplace("CIRCOLO_LISTEN", "127.0.0.1:0");
  env["CIRCOLO_ADMIN_KEY"] = options_.admin_key;
  env.emplace("CIRCOLO_IO_THREADS", "2");
  env.emplace("CIRCOLO_DB_POOL_SIZE", "4");
  pid_ = spawn(env, log_fd_);
  reader_ = std::thread([this] {
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(log_fd_, buffer, sizeof buffer);
      std::lock_guard lock(mutex_);
      if (n <= 0) {
        eof_ = true;
        changed_.notify_all();
        return;
      }
      log_.append(buffer, static_cast<std::size_t>(n));
      changed_.notify_all();
    }
  });
  std::unique_lock lock(mutex_);
  const std::regex listening(R"(listening on http://[^:\s]+:(\d+))");
  std::smatch m;
  const bool up = changed_.wait_for(lock, options_.start_timeout,
                                    [&] { return eof_ || std::regex_search(log_, m, listening); });
  if (!up || eof_) {
    const std::string log = log_;
    lock.unlock();
    if (pid_ > 0) wait_exit(std::chrono::seconds(5));
    throw std::runtime_error("circolod did not start:\n" + log);
  }
  port_ = static_cast<unsigned short>(std::stoi(m[1].str()));
  lock.unlock();
  // As a load balancer does: traffic only once /readyz says so (the program is read).
  if (!options_.wait_ready) return;
  const auto until = std::chrono::steady_clock::now() + options_.start_timeout;
  while (std::chrono::steady_clock::now() < until) {
    try {
      if (HttpClient(port_).get("/readyz").status == 200) return;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string text = log();
  ::kill(pid_, SIGKILL);
  wait_exit(std::chrono::seconds(5));  // also joins the log reader
  if (log_fd_ >= 0) {
    ::close(log_fd_);
    log_fd_ = -1;
  }
  throw std::runtime_error("circolod did not become ready:\n" + text);
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    if (wait_exit(std::chrono::seconds(20)) == -1) {
      // Already killed inside wait_exit.
    }
  }
  if (reader_.joinable()) reader_.join();
  if (log_fd_ >= 0) ::close(log_fd_);
}

std::string ServerProcess::log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

bool ServerProcess::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] {
    return log_.find(text) != std::string::npos || eof_;
  }) && log_.find(text) != std::string::npos;
}

void ServerProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const auto until = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() > until) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::pair<int, std::string> run_circolod_once(const std::map<std::string, std::string>& env,
                                              std::chrono::seconds timeout) {
  int fd = -1;
  const pid_t pid = spawn(env, fd);
  std::string output;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0)
    output.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  int status = 0;
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (::waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return {-1, output};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), output};
}

std::map<std::string, std::string> apply_program_with_touchpoints(
    const ServerProcess& server, const std::string& program,
    const std::vector<std::string>& channels) {
  HttpClient c(server.port());
  auto applied = c.post_json("/v1/admin/program", {{"source", program}}, server.admin_key());
  if (applied.status != 201) throw std::runtime_error("program refused: " + applied.body);
  std::map<std::string, std::string> keys;
  for (const auto& channel : channels) {
    auto key = c.post_json("/v1/admin/keys",
                           {{"role", "touchpoint"}, {"channel", channel}, {"name", channel}},
                           server.admin_key());
    if (key.status != 201) throw std::runtime_error("key refused: " + key.body);
    keys[channel] = key.json()["key"];
  }
  return keys;
}

}  // namespace circolo::test
