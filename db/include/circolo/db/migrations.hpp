#pragma once

#include <functional>
#include <string>
#include <vector>

#include <soci/soci.h>

namespace circolo::db {

struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// The files of db/migrations, compiled into the binary, in version order.
const std::vector<Migration>& embedded_migrations();

struct MigrationError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Applies the pending migrations, each in its own transaction, under a PostgreSQL advisory
// lock so that instances starting together apply each one once. A failing migration is rolled
// back and reported as MigrationError naming it; so is an applied migration whose text changed
// or a database newer than this binary. Returns the versions applied now.
std::vector<int> apply_migrations(soci::session& sql, const std::vector<Migration>& migrations,
                                  const std::function<void(const Migration&)>& on_applied = {});

// True when every given migration is applied (readiness); newer ones applied by a later
// release do not count against it.
bool migrations_current(soci::session& sql, const std::vector<Migration>& migrations);

}  // namespace circolo::db
