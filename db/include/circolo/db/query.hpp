#pragma once

#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>

namespace circolo::db {

using Value = std::optional<std::string>;  // nullopt is SQL NULL
using Row = std::vector<Value>;

// Runs a query with $1..$n text parameters in one round trip (libpq's PQexecParams on the
// session's connection, inside its transaction if one is open). SOCI rowsets prepare, execute
// and deallocate a statement, three round trips, so hot multi-row reads come through here.
// Throws soci::soci_error on failure, like SOCI does.
std::vector<Row> fetch(soci::session& sql, const std::string& query,
                       const std::vector<Value>& params);

long long to_int(const Value& v);  // a NULL or non-number is a logic error here: throws
inline std::optional<long long> to_optional_int(const Value& v) {
  return v ? std::optional<long long>(to_int(v)) : std::nullopt;
}

}  // namespace circolo::db
