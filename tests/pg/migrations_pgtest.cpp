#include "circolo/db/connection_pool.hpp"
#include "circolo/db/migrations.hpp"

#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "test_env.hpp"

using namespace circolo;

namespace {

int count(soci::session& sql, const std::string& query) {
  int n = 0;
  sql << query, soci::into(n);
  return n;
}

bool table_exists(soci::session& sql, const std::string& name) {
  return count(sql, "select count(*) from information_schema.tables where table_name = '" + name +
                        "'") == 1;
}

}  // namespace

TEST(Migrations, ApplyOnceAndAreRecorded) {
  test::TestDatabase database;
  soci::session sql(soci::postgresql, database.conninfo());
  const auto& migrations = db::embedded_migrations();
  ASSERT_FALSE(migrations.empty());
  EXPECT_FALSE(db::migrations_current(sql, migrations));
  auto applied = db::apply_migrations(sql, migrations);
  EXPECT_EQ(applied.size(), migrations.size());
  EXPECT_TRUE(db::migrations_current(sql, migrations));
  EXPECT_TRUE(table_exists(sql, "api_keys"));
  // A later release migrated further (a rolling upgrade): this one stays ready.
  sql << "insert into circolo_schema_migrations (version, name, checksum) values (9999, "
         "'later', 'x')";
  EXPECT_TRUE(db::migrations_current(sql, migrations));
  sql << "delete from circolo_schema_migrations where version = 9999";
  // The second run finds nothing to do.
  EXPECT_TRUE(db::apply_migrations(sql, migrations).empty());
  EXPECT_EQ(count(sql, "select count(*) from circolo_schema_migrations"),
            static_cast<int>(migrations.size()));
}

TEST(Migrations, ConcurrentStartsApplyEachOnce) {
  test::TestDatabase database;
  const auto& migrations = db::embedded_migrations();
  std::vector<std::thread> starters;
  std::atomic<int> total_applied{0};
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    starters.emplace_back([&] {
      try {
        soci::session sql(soci::postgresql, database.conninfo());
        total_applied += static_cast<int>(db::apply_migrations(sql, migrations).size());
      } catch (const std::exception&) {
        ++failures;
      }
    });
  }
  for (auto& t : starters) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(total_applied.load(), static_cast<int>(migrations.size()));
}

TEST(Migrations, AFailingMigrationLeavesTheSchemaUnchanged) {
  test::TestDatabase database;
  soci::session sql(soci::postgresql, database.conninfo());
  auto migrations = db::embedded_migrations();
  db::apply_migrations(sql, migrations);
  // A migration whose first statement works and whose second fails.
  migrations.push_back(
      {900, "broken", "create table half_done (id int); select no_such_function();"});
  try {
    db::apply_migrations(sql, migrations);
    FAIL() << "the broken migration was accepted";
  } catch (const db::MigrationError& e) {
    EXPECT_NE(std::string(e.what()).find("900_broken"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no_such_function"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(table_exists(sql, "half_done"));
  EXPECT_EQ(count(sql, "select count(*) from circolo_schema_migrations where version = 900"), 0);
  // The advisory lock was released: another session can migrate right away.
  soci::session other(soci::postgresql, database.conninfo());
  EXPECT_TRUE(db::apply_migrations(other, db::embedded_migrations()).empty());
}

TEST(Migrations, RefusesAnEditedOrUnknownMigration) {
  test::TestDatabase database;
  soci::session sql(soci::postgresql, database.conninfo());
  auto migrations = db::embedded_migrations();
  db::apply_migrations(sql, migrations);
  auto edited = migrations;
  edited.front().sql += "\n-- edited";
  EXPECT_THROW(db::apply_migrations(sql, edited), db::MigrationError);

  sql << "insert into circolo_schema_migrations (version, name, checksum) values (999, 'future', "
         "'x')";
  try {
    db::apply_migrations(sql, migrations);
    FAIL();
  } catch (const db::MigrationError& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos);
  }
}

// 037 moves the per-member limit counters onto the members' rows; campaign-wide limits, budgets
// and the counters of members that do not exist stay where they were.
TEST(Migrations, MemberLimitCountersMoveOntoTheMembersRows) {
  test::TestDatabase database;
  soci::session sql(soci::postgresql, database.conninfo());
  std::vector<db::Migration> before;
  for (const auto& m : db::embedded_migrations())
    if (m.version < 37) before.push_back(m);
  db::apply_migrations(sql, before);
  sql << "insert into members (id, joined_at) values ('mem_1', now()), ('mem_11', now())";
  sql << "insert into rule_counters (key, value) values "
         "('limit:promo/earn/member:mem_1/day:2026-12-02', 1), "
         "('limit:held:promo/earn/member:mem_1/ever', 2), "
         "('limit:promo/earn/member:mem_11/week:2026-11-30', 3), "
         "('limit:promo/earn/campaign/day:2026-12-02', 4), "
         "('limit:promo/earn/member:gone/ever', 5), "
         "('budget:promo', 6)";
  db::apply_migrations(sql, db::embedded_migrations());
  std::string mem_1, mem_11;
  sql << "select cast(limit_counts as text) from members where id = 'mem_1'", soci::into(mem_1);
  sql << "select cast(limit_counts as text) from members where id = 'mem_11'", soci::into(mem_11);
  EXPECT_EQ(nlohmann::json::parse(mem_1),
            nlohmann::json::parse(R"({"limit:promo/earn/member:mem_1/day:2026-12-02": 1,
                                      "limit:held:promo/earn/member:mem_1/ever": 2})"));
  EXPECT_EQ(nlohmann::json::parse(mem_11),
            nlohmann::json::parse(R"({"limit:promo/earn/member:mem_11/week:2026-11-30": 3})"));
  EXPECT_EQ(count(sql,
                  "select count(*) from rule_counters where key in "
                  "('limit:promo/earn/campaign/day:2026-12-02', "
                  "'limit:promo/earn/member:gone/ever', 'budget:promo')"),
            3);
  EXPECT_EQ(count(sql, "select count(*) from rule_counters"), 3);
}
