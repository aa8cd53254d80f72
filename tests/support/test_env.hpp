#pragma once

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

// Restarts the test PostgreSQL (CIRCOLO_TEST_PG_RESTART, a shell command); false if unavailable.
bool restart_test_pg();

}  // namespace circolo::test
