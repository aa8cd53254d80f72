// Identifiers stored by earlier versions (ASCII-only normalisation, cards with letters) brought
// to today's normal form once, at start-up.
#include "circolo/db/data_steps.hpp"

#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>

#include "circolo/db/members.hpp"
#include "circolo/db/migrations.hpp"
#include "test_env.hpp"

using namespace circolo;

namespace {

TEST(DataSteps, StoredIdentifiersAreBroughtToTheirNormalFormOnce) {
  circolo::test::TestDatabase database;
  soci::session sql(soci::postgresql, database.conninfo());
  db::apply_migrations(sql, db::embedded_migrations());
  const auto now = engine::TimePoint{} + std::chrono::hours(24 * 20000);
  auto member = [&](const std::string& id, std::vector<engine::Identifier> ids) {
    db::Member m;
    m.id = id;
    m.joined_at = now;
    ASSERT_FALSE(db::members::insert(sql, m, ids, now));
  };
  // As an earlier version stored them: full-width digits, an email in decomposed form, a card
  // with letters; and a clash: two spellings that are one card now.
  member("mem_a", {{"card", "\uFF14\uFF10\uFF10\uFF10\uFF11\uFF12\uFF13\uFF14"},
                   {"email", "jose\u0301@example.com"}});
  member("mem_b", {{"card", "EVCARD7"}, {"phone", "+393331234567"}});
  member("mem_c", {{"card", "55556666"}});
  member("mem_d", {{"card", "\uFF15\uFF15\uFF15\uFF15\uFF16\uFF16\uFF16\uFF16"}});

  const auto report = db::data_steps::normalise_identifiers(sql);
  EXPECT_TRUE(report.ran);
  EXPECT_EQ(report.checked, 6);
  EXPECT_EQ(report.rewritten, 2);
  EXPECT_EQ(report.invalid, 1);
  EXPECT_EQ(report.clashes, 1);
  EXPECT_EQ(db::members::find_by_identifier(sql, {"card", "40001234"}), "mem_a");
  EXPECT_EQ(db::members::find_by_identifier(sql, {"email", "jos\u00E9@example.com"}), "mem_a");
  EXPECT_EQ(db::members::find_by_identifier(sql, {"card", "55556666"}), "mem_c")
      << "the clash leaves both as they were";
  EXPECT_EQ(db::members::find_by_identifier(sql, {"phone", "+393331234567"}), "mem_b");

  // Done once: a second start does nothing.
  EXPECT_FALSE(db::data_steps::normalise_identifiers(sql).ran);
}

}  // namespace

namespace {

// The ledger stays append-only; only an erasure's removal of a staff note gets through.
TEST(LedgerTrigger, OnlyANoteMayBeTakenOut) {
  circolo::test::TestDatabase database;
  soci::session sql(soci::postgresql, database.conninfo());
  db::apply_migrations(sql, db::embedded_migrations());
  const auto now = engine::TimePoint{} + std::chrono::hours(24 * 20000);
  db::Member m;
  m.id = "mem_l";
  m.joined_at = now;
  ASSERT_FALSE(db::members::insert(sql, m, {{"card", "40000001"}}, now));
  sql << "insert into ledger_entries (member_id, kind, points, balance_after, at, reason) values "
         "('mem_l', 'adjust', 5, 5, now(), 'sorry Giulia')";
  EXPECT_THROW(sql << "update ledger_entries set points = 50 where member_id = 'mem_l'",
               soci::soci_error);
  EXPECT_THROW(sql << "update ledger_entries set reason = 'other' where member_id = 'mem_l'",
               soci::soci_error);
  EXPECT_THROW(sql << "delete from ledger_entries where member_id = 'mem_l'", soci::soci_error);
  sql << "update ledger_entries set reason = null where member_id = 'mem_l'";
  long long points = 0;
  sql << "select points from ledger_entries where member_id = 'mem_l' and reason is null",
      soci::into(points);
  EXPECT_EQ(points, 5);
}

}  // namespace
