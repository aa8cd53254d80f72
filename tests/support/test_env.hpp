#pragma once

#include <chrono>
#include <string>

namespace circolo::test {

// The PostgreSQL server the test command started: CIRCOLO_TEST_PG is a libpq conninfo without
// dbname ("host=127.0.0.1 port=5599 user=circolo"). Fails the calling test if unset.
std::string test_pg_conninfo();

// A database of its own for one test binary or fixture, dropped again at destruction.
class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  std::string conninfo() const;  // libpq conninfo with dbname
  std::string uri() const;       // postgresql:// form, for CIRCOLO_DATABASE_URL tests

 private:
  std::string name_;
};

// A time as RFC 3339 in UTC, to the second ("2026-11-22T12:00:00Z"), as events send it.
std::string rfc3339(std::chrono::system_clock::time_point t);
// Yesterday at 12:00 UTC (13:00 or 14:00 in Rome): in the past, inside the offline window, and
// far from midnight, so days and weeks in the program's time zone are unambiguous.
std::chrono::system_clock::time_point noon_yesterday();

// Restarts the test PostgreSQL (CIRCOLO_TEST_PG_RESTART, a shell command); false if unavailable.
bool restart_test_pg();

}  // namespace circolo::test
