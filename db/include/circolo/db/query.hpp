#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <soci/soci.h>

namespace circolo::db {

using Value = std::optional<std::string>;  // nullopt is SQL NULL
using Row = std::vector<Value>;

// Runs a query with $1..$n text parameters in one round trip on the session's connection
// (inside its transaction if one is open): prepared on first use per connection (libpq's
// PQprepare), then PQexecPrepared, so it is parsed and planned once. SOCI prepares, executes and
// deallocates every statement (two or three round trips), so hot statements come through here.
// Throws soci::soci_error on failure, like SOCI does.
std::vector<Row> fetch(soci::session& sql, const std::string& query,
                       const std::vector<Value>& params);

// The same without preparing: statements PostgreSQL cannot prepare (DECLARE, FETCH), or run
// once.
std::vector<Row> fetch_unprepared(soci::session& sql, const std::string& query,
                                  const std::vector<Value>& params = {});

// A result read in place (no copy of its values): for reading many rows fast. Values are views
// into the result, valid while it lives.
class RawRows {
 public:
  int rows() const;
  bool is_null(int row, int column) const;
  std::string_view at(int row, int column) const;  // "" for NULL
  std::optional<std::string> value(int row, int column) const;

 private:
  friend RawRows fetch_raw(soci::session&, const std::string&);
  struct Free {
    void operator()(void* result) const;
  };
  std::unique_ptr<void, Free> result_;
};
// An unprepared statement without parameters (FETCH from a cursor), read in place.
RawRows fetch_raw(soci::session& sql, const std::string& query);

// COPY ... FROM STDIN with `data` in COPY's text format (rows end in '\n', columns separated by
// tabs, \N for NULL): the fastest way to store many rows. Throws SqlError on failure.
void copy_in(soci::session& sql, const std::string& copy_statement, const std::string& data);

// A failed statement run through `fetch`, with PostgreSQL's SQLSTATE.
class SqlError : public soci::soci_error {
 public:
  SqlError(const std::string& message, std::string sqlstate)
      : soci::soci_error(message), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

// Thrown by work that must start its transaction again (after a rollback) to succeed: a
// concurrent transaction changed what it read (an identifier enrolled meanwhile, say).
struct RetryTransaction : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The SQLSTATE of circolo_settle_counters when a counter would pass its cap.
inline constexpr const char* kCounterMovedState = "CL001";

// A deadlock or serialization failure (PostgreSQL rolled the transaction back: running it again
// is safe), a counter that moved past a decision (kCounterMovedState), or RetryTransaction.
bool is_retryable(const std::exception& e);

// A PostgreSQL text[] literal with every element quoted and escaped (a parameter for
// `= any($1::text[])`).
std::string text_array(const std::vector<std::string>& values);

long long to_int(const Value& v);  // a NULL or non-number is a logic error here: throws
inline std::optional<long long> to_optional_int(const Value& v) {
  return v ? std::optional<long long>(to_int(v)) : std::nullopt;
}

}  // namespace circolo::db
