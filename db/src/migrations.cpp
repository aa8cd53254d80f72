#include "circolo/db/migrations.hpp"

#include <map>

#include "circolo/db/connection_pool.hpp"
#include "circolo/engine/digest.hpp"

namespace circolo::db {

namespace {

// pg_advisory_lock key: "circolo" in ASCII, so other applications sharing the server won't collide.
constexpr const char* kLock = "select pg_advisory_lock(99108105114099111)";
constexpr const char* kUnlock = "select pg_advisory_unlock(99108105114099111)";

constexpr const char* kCreateSchemaTable = R"sql(
  create table if not exists circolo_schema_migrations (
    version    integer primary key,
    name       text not null,
    checksum   text not null,
    applied_at timestamptz not null default now()
  ))sql";

std::string label(const Migration& m) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%03d_", m.version);
  return buffer + m.name;
}

std::map<int, std::string> applied_checksums(soci::session& sql) {
  std::map<int, std::string> applied;
  soci::rowset<soci::row> rows =
      (sql.prepare << "select version, checksum from circolo_schema_migrations");
  for (const auto& row : rows) applied[row.get<int>(0)] = row.get<std::string>(1);
  return applied;
}

}  // namespace

std::vector<int> apply_migrations(soci::session& sql, const std::vector<Migration>& migrations,
                                  const std::function<void(const Migration&)>& on_applied) {
  // "relation ... already exists, skipping" notices are noise in the start-up log.
  execute_script(sql, "set client_min_messages to warning");
  execute_script(sql, kLock);
  std::vector<int> done;
  try {
    execute_script(sql, kCreateSchemaTable);
    const auto applied = applied_checksums(sql);
    int newest_known = 0;
    for (const auto& m : migrations) newest_known = std::max(newest_known, m.version);
    for (const auto& [version, checksum] : applied) {
      if (version > newest_known) {
        throw MigrationError("the database has migration " + std::to_string(version) +
                             ", newer than this circolod knows: upgrade circolod");
      }
    }
    for (const auto& m : migrations) {
      const std::string checksum = engine::sha256_hex(m.sql);
      if (auto it = applied.find(m.version); it != applied.end()) {
        if (it->second != checksum) {
          throw MigrationError("migration " + label(m) +
                               " was changed after it was applied; add a new migration instead");
        }
        continue;
      }
      execute_script(sql, "begin");
      try {
        execute_script(sql, m.sql);
        sql << "insert into circolo_schema_migrations (version, name, checksum) values (:v, :n, "
               ":c)",
            soci::use(m.version), soci::use(m.name), soci::use(checksum);
        execute_script(sql, "commit");
      } catch (const soci::soci_error& e) {
        try {
          execute_script(sql, "rollback");
        } catch (const soci::soci_error&) {
          // The connection is gone: the server rolled the transaction back for us.
        }
        throw MigrationError("migration " + label(m) + " failed and was rolled back: " + e.what());
      }
      done.push_back(m.version);
      if (on_applied) on_applied(m);
    }
  } catch (...) {
    try {
      execute_script(sql, kUnlock);
    } catch (const soci::soci_error&) {
    }
    throw;
  }
  execute_script(sql, kUnlock);
  return done;
}

bool migrations_current(soci::session& sql, const std::vector<Migration>& migrations) {
  soci::indicator exists = soci::i_null;
  std::string table;
  sql << "select cast(to_regclass('circolo_schema_migrations') as text)", soci::into(table, exists);
  if (exists != soci::i_ok) return false;
  // Every migration this binary knows is applied. Newer ones (a later release migrated during a
  // rolling upgrade) do not make a running instance unready.
  int newest_known = 0;
  for (const auto& m : migrations) newest_known = std::max(newest_known, m.version);
  int applied = 0;
  sql << "select count(*) from circolo_schema_migrations where version <= :v",
      soci::use(newest_known), soci::into(applied);
  return applied == static_cast<int>(migrations.size());
}

}  // namespace circolo::db
