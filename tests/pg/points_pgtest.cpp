#include "circolo/db/gamification.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/migrations.hpp"
#include "circolo/db/points.hpp"

#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>

#include <atomic>
#include <random>
#include <thread>

#include "test_env.hpp"

using namespace circolo;
using namespace std::chrono;
namespace points = circolo::db::points;

namespace {

// Load, decide, apply, as the API does; nullopt when refused (nothing written).
std::optional<points::LedgerEntry> spend(soci::session& sql, const std::string& member,
                                         const points::Debit& debit, engine::TimePoint now) {
  const auto decided =
      engine::ledger::decide_spend(points::active_lots(sql, member), debit.points, now);
  if (decided.refused()) return std::nullopt;
  return points::apply_spend(sql, member, debit, *decided.draws, now);
}

std::optional<points::TransferResult> transfer(soci::session& sql, const std::string& from,
                                               const std::string& to, long long n,
                                               engine::TimePoint now) {
  const auto decided = engine::ledger::decide_spend(points::active_lots(sql, from), n, now);
  if (decided.refused()) return std::nullopt;
  return points::apply_transfer(sql, from, to, n, *decided.draws, now);
}

class Points : public ::testing::Test {
 protected:
  void SetUp() override {
    sql_ = std::make_unique<soci::session>(soci::postgresql, database_.conninfo());
    db::apply_migrations(*sql_, db::embedded_migrations());
  }

  std::string member(const std::string& id, std::vector<engine::Identifier> ids = {}) {
    db::Member m;
    m.id = id;
    m.joined_at = clock_.now();
    EXPECT_FALSE(db::members::insert(*sql_, m, ids, clock_.now()));
    return id;
  }

  points::LedgerEntry earn(const std::string& id, long long n,
                           std::optional<engine::TimePoint> expires = std::nullopt,
                           std::optional<engine::TimePoint> pending = std::nullopt,
                           std::optional<std::string> event = std::nullopt) {
    points::Award a;
    a.points = n;
    a.expires_at = expires;
    a.pending_until = pending;
    a.event_id = event;
    soci::transaction tx(*sql_);
    db::members::lock(*sql_, id);
    auto e = points::earn(*sql_, id, a, clock_.now());
    tx.commit();
    return e;
  }

  long long scalar(const std::string& query, const std::string& id) {
    long long v = 0;
    soci::indicator ind = soci::i_ok;
    *sql_ << query, soci::use(id), soci::into(v, ind);
    return ind == soci::i_ok ? v : 0;
  }

  // The three views of a balance agree: the stored balance, the ledger's sum, the lots' sum.
  void expect_consistent(const std::string& id) {
    const auto stored = scalar("select points_balance from members where id = :id", id);
    const auto ledger =
        scalar("select coalesce(sum(points), 0) from ledger_entries where member_id = :id", id);
    const auto lots =
        scalar("select coalesce(sum(remaining), 0) from point_lots where member_id = :id", id);
    const auto last = scalar(
        "select balance_after from ledger_entries where member_id = :id order by id desc limit 1",
        id);
    EXPECT_EQ(stored, ledger) << id;
    EXPECT_EQ(stored, lots) << id;
    EXPECT_EQ(stored, last) << id;
    EXPECT_GE(stored, 0);
    // The database's sums are the engine's.
    const auto engine_view = engine::ledger::balances(points::active_lots(*sql_, id), clock_.now());
    const auto db_view = points::balances(*sql_, id, clock_.now());
    EXPECT_EQ(db_view.available, engine_view.available) << id;
    EXPECT_EQ(db_view.pending, engine_view.pending) << id;
  }

  test::TestDatabase database_;
  std::unique_ptr<soci::session> sql_;
  engine::ManualClock clock_{engine::TimePoint{sys_days{2026y / 11 / 22}}};
};

}  // namespace

TEST_F(Points, EarnSpendAndBalanceAfter) {
  member("mem_a");
  earn("mem_a", 100, clock_.now() + hours(24 * 30));
  earn("mem_a", 50, clock_.now() + hours(24 * 2));
  soci::transaction tx(*sql_);
  db::members::lock(*sql_, "mem_a");
  auto spent =
      spend(*sql_, "mem_a", {70, "spend", std::string("reward"), std::nullopt, std::nullopt},
            clock_.now());
  ASSERT_TRUE(spent);
  EXPECT_EQ(spent->points, -70);
  EXPECT_EQ(spent->balance_after, 80);
  EXPECT_FALSE(
      spend(*sql_, "mem_a", {81, "spend", std::nullopt, std::nullopt, std::nullopt}, clock_.now()));
  tx.commit();
  // The 50 that expire soonest went first: 80 remain on the 30-day lot.
  auto lots = points::active_lots(*sql_, "mem_a");
  ASSERT_EQ(lots.size(), 1u);
  EXPECT_EQ(lots[0].remaining, 80);
  expect_consistent("mem_a");
}

TEST_F(Points, PendingPointsAreNotSpendable) {
  member("mem_a");
  earn("mem_a", 100, std::nullopt, clock_.now() + hours(24 * 14));
  soci::transaction tx(*sql_);
  EXPECT_FALSE(
      spend(*sql_, "mem_a", {1, "spend", std::nullopt, std::nullopt, std::nullopt}, clock_.now()));
  clock_.advance(hours(24 * 14));
  EXPECT_TRUE(spend(*sql_, "mem_a", {100, "spend", std::nullopt, std::nullopt, std::nullopt},
                    clock_.now()));
  tx.commit();
  expect_consistent("mem_a");
}

TEST_F(Points, ExpiryWritesOffDueLotsAndPublishes) {
  member("mem_a");
  earn("mem_a", 30, clock_.now() + hours(1));
  earn("mem_a", 20, clock_.now() + hours(2));
  earn("mem_a", 10);
  clock_.advance(hours(1));
  auto due = points::members_with_due_lots(*sql_, clock_.now(), 10);
  ASSERT_EQ(due, std::vector<std::string>{"mem_a"});
  soci::transaction tx(*sql_);
  auto entries = points::expire_member(*sql_, "mem_a", clock_.now());
  tx.commit();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].kind, "expire");
  EXPECT_EQ(entries[0].points, -30);
  EXPECT_EQ(entries[0].balance_after, 30);
  EXPECT_EQ(scalar("select count(*) from outbox where type = 'points.expired' and member_id = :id",
                   "mem_a"),
            1);
  EXPECT_TRUE(points::members_with_due_lots(*sql_, clock_.now(), 10).empty());
  expect_consistent("mem_a");
}

TEST_F(Points, ReversalCancelsPendingThenAvailableAndOnlyOnce) {
  member("mem_a");
  earn("mem_a", 60, std::nullopt, std::nullopt, "evt_1");
  earn("mem_a", 40, std::nullopt, clock_.now() + hours(48), "evt_1");
  earn("mem_a", 500);
  soci::transaction tx(*sql_);
  auto first = points::reverse(*sql_, "mem_a", "evt_1", 70, clock_.now());
  ASSERT_TRUE(first.entry);
  EXPECT_EQ(first.entry->points, -70);
  auto second = points::reverse(*sql_, "mem_a", "evt_1", 70, clock_.now());
  EXPECT_EQ(second.plan.reversible, 30);
  EXPECT_EQ(second.entry->points, -30);
  auto third = points::reverse(*sql_, "mem_a", "evt_1", 70, clock_.now());
  EXPECT_FALSE(third.entry);
  EXPECT_EQ(third.plan.reversible, 0);
  tx.commit();
  EXPECT_EQ(scalar("select points_balance from members where id = :id", "mem_a"), 500);
  EXPECT_EQ(scalar("select count(*) from outbox where type = 'points.reversed' and member_id = :id",
                   "mem_a"),
            2);
  expect_consistent("mem_a");
}

TEST_F(Points, TransferKeepsExpiryDates) {
  member("mem_a");
  member("mem_b");
  const auto soon = clock_.now() + hours(24 * 3);
  earn("mem_a", 40, soon);
  earn("mem_a", 100);
  soci::transaction tx(*sql_);
  db::members::lock_pair(*sql_, "mem_a", "mem_b");
  auto moved = transfer(*sql_, "mem_a", "mem_b", 60, clock_.now());
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->out.balance_after, 80);
  EXPECT_EQ(moved->in.balance_after, 60);
  EXPECT_FALSE(transfer(*sql_, "mem_a", "mem_b", 81, clock_.now()));
  tx.commit();
  auto lots = points::active_lots(*sql_, "mem_b");
  ASSERT_EQ(lots.size(), 2u);
  long long expiring = 0;
  for (const auto& l : lots) {
    if (l.expires_at == soon) expiring += l.remaining;
  }
  EXPECT_EQ(expiring, 40);
  expect_consistent("mem_a");
  expect_consistent("mem_b");
}

TEST_F(Points, MergeMovesEverythingAndAddsUp) {
  member("mem_a", {{"card", "A1"}});
  member("mem_b", {{"card", "B1"}, {"email", "b@x.it"}});
  earn("mem_a", 100);
  earn("mem_b", 35, clock_.now() + hours(5));
  db::TimelineEntry t;
  t.member_id = "mem_b";
  t.type = "visit";
  t.occurred_at = t.recorded_at = clock_.now();
  db::members::timeline_append(*sql_, t);
  soci::transaction tx(*sql_);
  db::members::lock_pair(*sql_, "mem_a", "mem_b");
  EXPECT_EQ(db::members::merge(*sql_, "mem_a", "mem_b", clock_.now()), 35);
  tx.commit();
  EXPECT_EQ(db::members::find_by_identifier(*sql_, {"email", "b@x.it"}).value(), "mem_a");
  EXPECT_EQ(db::members::identifiers(*sql_, "mem_a").size(), 3u);
  EXPECT_EQ(db::members::find(*sql_, "mem_b")->merged_into.value(), "mem_a");
  EXPECT_EQ(db::members::timeline_page(*sql_, "mem_a", std::nullopt, 10).size(), 1u);
  EXPECT_EQ(scalar("select points_balance from members where id = :id", "mem_a"), 135);
  expect_consistent("mem_a");
  expect_consistent("mem_b");
}

TEST_F(Points, LedgerIsAppendOnly) {
  member("mem_a");
  earn("mem_a", 10);
  EXPECT_THROW(*sql_ << "update ledger_entries set points = 1000", soci::soci_error);
  EXPECT_THROW(*sql_ << "delete from ledger_entries", soci::soci_error);
}

TEST_F(Points, IdentifiersAreUniqueAcrossMembers) {
  member("mem_a", {{"card", "C1"}});
  db::Member other;
  other.id = "mem_b";
  other.joined_at = clock_.now();
  soci::transaction tx(*sql_);
  auto taken =
      db::members::insert(*sql_, other, {{"email", "new@x.it"}, {"card", "C1"}}, clock_.now());
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->value, "C1");
  tx.rollback();
  EXPECT_EQ(db::members::link(*sql_, "mem_a", {"card", "C1"}, clock_.now()),
            db::members::LinkResult::already_linked);
}

TEST_F(Points, ConcurrentSpendsNeverOverspend) {
  member("mem_a");
  earn("mem_a", 200);
  std::atomic<int> succeeded{0}, refused{0};
  std::vector<std::thread> spenders;
  for (int i = 0; i < 50; ++i) {
    spenders.emplace_back([&] {
      soci::session s(soci::postgresql, database_.conninfo());
      soci::transaction tx(s);
      db::members::lock(s, "mem_a");
      if (spend(s, "mem_a", {10, "spend", std::nullopt, std::nullopt, std::nullopt},
                clock_.now())) {
        tx.commit();
        ++succeeded;
      } else {
        ++refused;
      }
    });
  }
  for (auto& t : spenders) t.join();
  EXPECT_EQ(succeeded.load(), 20);
  EXPECT_EQ(refused.load(), 30);
  EXPECT_EQ(scalar("select points_balance from members where id = :id", "mem_a"), 0);
  expect_consistent("mem_a");
}

// Property: whatever sequence of operations, the balance views agree and never go negative.
TEST_F(Points, RandomOperationsKeepTheInvariants) {
  const std::vector<std::string> ids{"mem_a", "mem_b", "mem_c"};
  for (const auto& id : ids) member(id);
  std::mt19937 rng(20261122);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  int event = 0;
  for (int step = 0; step < 300; ++step) {
    const auto& id = ids[static_cast<std::size_t>(pick(3))];
    soci::transaction tx(*sql_);
    switch (pick(7)) {
      case 0: {
        points::Award a;
        a.points = 1 + pick(200);
        if (pick(2)) a.expires_at = clock_.now() + hours(1 + pick(72));
        if (pick(3) == 0) a.pending_until = clock_.now() + hours(pick(24));
        a.event_id = "evt_" + std::to_string(event++ % 20);
        db::members::lock(*sql_, id);
        points::earn(*sql_, id, a, clock_.now());
        break;
      }
      case 1:
        db::members::lock(*sql_, id);
        spend(*sql_, id, {1 + pick(150), "spend", std::nullopt, std::nullopt, std::nullopt},
              clock_.now());
        break;
      case 2: {
        const auto& to = ids[static_cast<std::size_t>(pick(3))];
        if (to == id) break;
        db::members::lock_pair(*sql_, id, to);
        transfer(*sql_, id, to, 1 + pick(100), clock_.now());
        break;
      }
      case 3:
        db::members::lock(*sql_, id);
        points::reverse(*sql_, id, "evt_" + std::to_string(pick(20)), 1 + pick(120), clock_.now());
        break;
      case 4:
        db::members::lock(*sql_, id);
        points::expire_member(*sql_, id, clock_.now());
        break;
      case 5: {
        // Several awards of one event in one statement (the event path).
        std::vector<points::Award> awards(static_cast<std::size_t>(1 + pick(4)));
        for (auto& a : awards) {
          a.points = 1 + pick(100);
          if (pick(2)) a.expires_at = clock_.now() + hours(1 + pick(72));
          if (pick(3) == 0) a.pending_until = clock_.now() + hours(pick(24));
          a.event_id = "evt_" + std::to_string(event % 20);
          a.campaign = "c" + std::to_string(pick(3));
        }
        ++event;
        db::members::lock(*sql_, id);
        const auto entries = points::earn_many(*sql_, id, awards, clock_.now());
        EXPECT_EQ(entries.size(), awards.size());
        for (std::size_t i = 1; i < entries.size(); ++i)
          EXPECT_EQ(entries[i].balance_after, entries[i - 1].balance_after + awards[i].points);
        break;
      }
      default:
        clock_.advance(minutes(1 + pick(600)));
        break;
    }
    tx.commit();
    if (step % 25 == 0) {
      for (const auto& m : ids) expect_consistent(m);
    }
  }
  for (const auto& m : ids) expect_consistent(m);
  // Reversals never took back more than the events earned.
  long long over = 0;
  *sql_ << "select count(*) from point_lots where reversed > points", soci::into(over);
  EXPECT_EQ(over, 0);
}

TEST_F(Points, LeaderboardPeriodsRankWithTiesAndOldDaysArePurged) {
  for (const auto* id : {"mem_a", "mem_b", "mem_c", "mem_d"}) member(id);
  const std::vector<std::string> periods = {"day:2026-09-01", "day:2026-11-22", "week:2025-11-10",
                                            "week:2026-11-16", "all"};
  auto add = [&](const std::string& id, long long points) {
    db::Batch batch;
    db::gamification::add_points(batch, id, periods, points);
    db::Transaction tx(*sql_);
    tx.begin();
    tx.commit(batch);
  };
  add("mem_a", 300);
  add("mem_b", 300);
  add("mem_c", 100);
  add("mem_d", 50);
  add("mem_d", -80);  // a refund never takes a period below zero
  const auto top = db::gamification::top(*sql_, "all", 10);
  ASSERT_EQ(top.size(), 3u) << "members without points are not listed";
  EXPECT_EQ(top[0].rank, 1);
  EXPECT_EQ(top[1].rank, 1);
  EXPECT_EQ(top[2].rank, 3);
  EXPECT_EQ(top[2].member_id, "mem_c");
  EXPECT_EQ(db::gamification::points_of(*sql_, "all", "mem_d"), 0);
  EXPECT_EQ(db::gamification::scores(*sql_, "all"), (std::vector<long long>{300, 300, 100}));

  // Days before 2026-09-21 and weeks before 2025-11-17 go; the rest stays.
  EXPECT_EQ(db::gamification::purge_periods(*sql_, "day:2026-09-21", "week:2025-11-17"), 8);
  EXPECT_EQ(scalar("select count(*) from leaderboard_points where member_id = :id", "mem_a"), 3);
  EXPECT_EQ(db::gamification::top(*sql_, "day:2026-11-22", 10).size(), 3u);
}
