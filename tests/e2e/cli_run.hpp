// Driving the circolo CLI from e2e tests: a command's output and exit code, the CLI against a
// running circolod, and the pages of --html opened in headless Chromium.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "server_process.hpp"

#ifndef CIRCOLO_CLI_PATH
#error "CIRCOLO_CLI_PATH: the circolo binary the tests run (a compile definition of e2e_tests)"
#endif

namespace circolo::test {

struct Run {
  int code = -1;
  std::string output;  // stdout and stderr
};

// A shell command's standard output and exit code.
inline Run run_command(const std::string& command) {
  Run run;
  FILE* pipe = ::popen(command.c_str(), "r");
  std::array<char, 4096> buffer{};
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    run.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// `circolo ARGS` against the server on `port` (1: none there), stdin not a terminal.
inline Run run_cli_at(const std::string& args, unsigned short port, const std::string& key) {
  return run_command(
      "XDG_CONFIG_HOME=/nonexistent CIRCOLO_URL=http://127.0.0.1:" + std::to_string(port) +
      " CIRCOLO_KEY='" + key + "' " CIRCOLO_CLI_PATH " " + args + " </dev/null 2>&1");
}

inline Run run_cli(const std::string& args, const ServerProcess& server,
                   const std::string& key = "") {
  return run_cli_at(args, server.port(), key.empty() ? server.admin_key() : key);
}

inline bool has(const Run& r, const std::string& text) {
  return r.output.find(text) != std::string::npos;
}

inline std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// `page` opened in headless Chromium (no network: every host name fails to resolve), its DOM
// once its scripts ran; "" (with the reason in `error`) when Chromium did not answer.
inline std::string browser_dom(const std::string& page, const std::string& profile,
                               std::string& error) {
  const std::string log = profile + ".log";
  const std::string command =
      "timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run "
      "--user-data-dir='" +
      profile + "' --host-resolver-rules='MAP * ~NOTFOUND' --virtual-time-budget=5000 " +
      "--dump-dom 'file://" + page + "' 2>'" + log + "'";
  const auto run = run_command(command);
  if (run.code != 0 || run.output.empty())
    error = "chromium failed (exit " + std::to_string(run.code) + "): " + read(log);
  return run.output;
}

// The value of an attribute of the page's <body> ("" when it has none).
inline std::string body_attribute(const std::string& dom, const std::string& name) {
  std::smatch m;
  return std::regex_search(dom, m, std::regex("<body[^>]* " + name + "=\"([^\"]*)\"")) ? m[1].str()
                                                                                       : "";
}

}  // namespace circolo::test
