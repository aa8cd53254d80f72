#include "test_env.hpp"

#include <ctime>

#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <cstdlib>
#include <random>
#include <regex>
#include <stdexcept>

namespace circolo::test {

std::string test_pg_conninfo() {
  const char* value = std::getenv("CIRCOLO_TEST_PG");
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(
        "CIRCOLO_TEST_PG is not set: run the tests through scripts/test.sh, which starts "
        "PostgreSQL");
  }
  return value;
}

TestDatabase::TestDatabase() {
  std::random_device rd;
  name_ = "circolo_test_" + std::to_string(rd()) + std::to_string(rd() % 1000);
  soci::session admin(soci::postgresql, test_pg_conninfo() + " dbname=postgres");
  admin << "create database " + name_ + " template template0 encoding 'UTF8'";
}

TestDatabase::~TestDatabase() {
  try {
    soci::session admin(soci::postgresql, test_pg_conninfo() + " dbname=postgres");
    admin << "drop database if exists " + name_ + " with (force)";
  } catch (const std::exception&) {
    // Leave it: the throwaway cluster is deleted with its folder anyway.
  }
}

std::string TestDatabase::conninfo() const {
  return test_pg_conninfo() + " dbname=" + name_;
}

std::string TestDatabase::uri() const {
  const auto info = test_pg_conninfo();
  auto field = [&](const std::string& key, const std::string& fallback) {
    std::smatch m;
    if (std::regex_search(info, m, std::regex(key + R"(=(\S+))"))) return m[1].str();
    return fallback;
  };
  return "postgresql://" + field("user", "circolo") + "@" + field("host", "127.0.0.1") + ":" +
         field("port", "5432") + "/" + name_;
}

bool restart_test_pg() {
  const char* command = std::getenv("CIRCOLO_TEST_PG_RESTART");
  if (command == nullptr || *command == '\0') return false;
  return std::system(command) == 0;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::chrono::system_clock::time_point noon_yesterday() {
  const auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  return today - std::chrono::days(1) + std::chrono::hours(12);
}

}  // namespace circolo::test
