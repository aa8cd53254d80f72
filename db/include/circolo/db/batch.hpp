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

// A transaction on the session without SOCI's: BEGIN now, and on destruction ROLLBACK unless
// committed.
class Transaction {
 public:
  explicit Transaction(soci::session& sql);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  // Sends the batch's statements and COMMIT in one round trip. Throws (after rolling back) on
  // the first failure.
  void commit(Batch& batch);
  void rollback();

 private:
  soci::session& sql_;
  bool open_ = true;
};

}  // namespace circolo::db
