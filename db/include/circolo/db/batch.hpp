#pragma once

#include <functional>
#include <string>
#include <vector>

#include <soci/soci.h>

#include "circolo/db/query.hpp"

// The end of a transaction in one round trip: statements whose results are not needed (only
// their success) are queued while the work runs, then sent together with COMMIT in libpq's
// pipeline mode. Any failure rolls everything back.
namespace circolo::db {

class Batch {
 public:
  // `on_error`, if given, may turn the failure into an exception of the caller's (it is called
  // after the rollback, and should throw); otherwise the SqlError propagates.
  void add(const std::string& query, std::vector<Value> params,
           std::function<void(const SqlError&)> on_error = {});
  bool empty() const { return statements_.empty(); }

 private:
  friend class Transaction;
  struct Statement {
    const std::string* query;  // the named constants of the repositories outlive the batch
    std::vector<Value> params;
    std::function<void(const SqlError&)> on_error;
  };
  std::vector<Statement> statements_;
};

// A read sent in the round trip that opens a transaction (after BEGIN and the statement
// begin_with sends): the work's first question, answered without a round trip of its own.
struct Prefetch {
  const std::string* query = nullptr;  // a named constant of a repository
  std::vector<Value> params;
};

// A transaction on the session without SOCI's: BEGIN (alone, or sent together with the first
// statement), and on destruction ROLLBACK unless committed.
class Transaction {
 public:
  explicit Transaction(soci::session& sql) : sql_(sql) {}
  void begin();
  // BEGIN and `query` in one round trip; returns the query's rows. With `prefetch`, its
  // statement goes in the same round trip, after `query`, and its rows into `prefetched`.
  std::vector<Row> begin_with(const std::string& query, const std::vector<Value>& params,
                              const Prefetch* prefetch = nullptr,
                              std::vector<Row>* prefetched = nullptr);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  // Sends the batch's statements and COMMIT in one round trip. Throws (after rolling back) on
  // the first failure.
  void commit(Batch& batch);
  void rollback();

 private:
  soci::session& sql_;
  bool open_ = false;
};

}  // namespace circolo::db
