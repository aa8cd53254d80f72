#include "circolo/db/api_keys.hpp"
#include "circolo/db/batch.hpp"
#include "circolo/db/connection_pool.hpp"
#include "circolo/db/database.hpp"
#include "circolo/db/events.hpp"
#include "circolo/db/idempotency.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/migrations.hpp"
#include "circolo/db/outbox.hpp"
#include "circolo/db/points.hpp"
#include "circolo/engine/digest.hpp"

#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <set>

#include <atomic>
#include <future>
#include <thread>

#include "test_env.hpp"

using namespace circolo;
using namespace std::chrono;

namespace {

class Repositories : public ::testing::Test {
 protected:
  void SetUp() override {
    sql_ = std::make_unique<soci::session>(soci::postgresql, database_.conninfo());
    db::apply_migrations(*sql_, db::embedded_migrations());
  }
  test::TestDatabase database_;
  std::unique_ptr<soci::session> sql_;
  engine::ManualClock clock_{engine::TimePoint{sys_days{2026y / 11 / 22}}};
};

}  // namespace

TEST_F(Repositories, ApiKeysInsertFindRevoke) {
  db::ApiKeyRecord key{"key_a", "touchpoint", "store", "POS 1", clock_.now(), std::nullopt};
  db::api_keys::insert(*sql_, key, engine::sha256_hex("secret-a"));
  auto found = db::api_keys::find_active_by_hash(*sql_, engine::sha256_hex("secret-a"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->key.id, "key_a");
  EXPECT_EQ(found->key.channel.value(), "store");
  EXPECT_EQ(found->key.created_at, clock_.now());  // microseconds survive the round trip
  EXPECT_FALSE(db::api_keys::find_active_by_hash(*sql_, engine::sha256_hex("secret-b")));

  clock_.advance(minutes(5));
  EXPECT_EQ(db::api_keys::revoke(*sql_, "key_a", clock_.now()),
            db::api_keys::RevokeResult::revoked);
  EXPECT_EQ(db::api_keys::revoke(*sql_, "key_a", clock_.now()),
            db::api_keys::RevokeResult::already_revoked);
  EXPECT_EQ(db::api_keys::revoke(*sql_, "key_zz", clock_.now()),
            db::api_keys::RevokeResult::not_found);
  EXPECT_FALSE(db::api_keys::find_active_by_hash(*sql_, engine::sha256_hex("secret-a")));
  auto all = db::api_keys::list(*sql_);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].revoked_at.value(), clock_.now());
}

TEST_F(Repositories, TouchpointKeysNeedAChannel) {
  db::ApiKeyRecord key{"key_b", "touchpoint", std::nullopt, "POS", clock_.now(), std::nullopt};
  EXPECT_THROW(db::api_keys::insert(*sql_, key, engine::sha256_hex("s")), soci::soci_error);
}

TEST_F(Repositories, BootstrapKeyIsCreatedRekeyedAndRestored) {
  db::api_keys::upsert_bootstrap(*sql_, engine::sha256_hex("first-secret-123456"), clock_.now());
  EXPECT_TRUE(db::api_keys::find_active_by_hash(*sql_, engine::sha256_hex("first-secret-123456")));
  db::api_keys::revoke(*sql_, db::api_keys::kBootstrapId, clock_.now());
  db::api_keys::upsert_bootstrap(*sql_, engine::sha256_hex("second-secret-123456"), clock_.now());
  EXPECT_FALSE(db::api_keys::find_active_by_hash(*sql_, engine::sha256_hex("first-secret-123456")));
  auto match = db::api_keys::find_active_by_hash(*sql_, engine::sha256_hex("second-secret-123456"));
  ASSERT_TRUE(match);
  EXPECT_EQ(match->key.role, "admin");
  EXPECT_EQ(db::api_keys::list(*sql_).size(), 1u);
}

TEST_F(Repositories, IdempotencyClaimReplayConflict) {
  using Kind = db::idempotency::Claim::Kind;
  // Each claim opens its transaction (BEGIN travels with it); the response is stored with COMMIT.
  auto claim = [&](const std::string& scope, const std::string& hash) {
    db::Transaction tx(*sql_);
    auto result = db::idempotency::claim(tx, *sql_, scope, "k1", hash, clock_.now());
    tx.rollback();
    return result;
  };
  {
    db::Transaction tx(*sql_);
    EXPECT_EQ(db::idempotency::claim(tx, *sql_, "key_a", "k1", "hash1", clock_.now()).kind,
              Kind::fresh);
    db::Batch batch;
    db::idempotency::store(batch, "key_a", "k1", {201, "application/json", R"({"ok":1})"});
    tx.commit(batch);
  }
  auto again = claim("key_a", "hash1");
  EXPECT_EQ(again.kind, Kind::replay);
  EXPECT_EQ(again.stored.status, 201);
  EXPECT_EQ(again.stored.body, R"({"ok":1})");
  EXPECT_EQ(claim("key_a", "hash2").kind, Kind::conflict);
  // Keys are per API key: another caller may use the same string.
  EXPECT_EQ(claim("key_b", "hash2").kind, Kind::fresh);
}

TEST_F(Repositories, ClaimCarriesAReadSentAhead) {
  // BEGIN, the claim and the read in one round trip; the read sees the transaction's own state.
  static const std::string kRead = "select $1::int + 1, txid_current_if_assigned() is not null";
  const db::Prefetch ahead{&kRead, {std::string("41")}};
  std::vector<db::Row> rows;
  db::Transaction tx(*sql_);
  EXPECT_EQ(db::idempotency::claim(tx, *sql_, "key_a", "k1", "h", clock_.now(), &ahead, &rows).kind,
            db::idempotency::Claim::Kind::fresh);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], db::Value("42"));
  EXPECT_EQ(rows[0][1], db::Value("t")) << "after the claim's insert, in its transaction";
  tx.rollback();

  // A failing read fails the claim: the transaction is rolled back, nothing claimed.
  static const std::string kBad = "select 1 / ($1::int - 1)";
  const db::Prefetch bad{&kBad, {std::string("1")}};
  {
    db::Transaction failing(*sql_);
    EXPECT_THROW(
        db::idempotency::claim(failing, *sql_, "key_a", "k2", "h", clock_.now(), &bad, &rows),
        db::SqlError);
  }
  int claimed = -1;
  *sql_ << "select count(*) from idempotency_keys", soci::into(claimed);
  EXPECT_EQ(claimed, 0);
}

TEST_F(Repositories, IdempotencyRolledBackClaimLeavesNoTrace) {
  {
    db::Transaction tx(*sql_);
    db::idempotency::claim(tx, *sql_, "key_a", "k2", "hash1", clock_.now());
    // no commit: the work failed
  }
  db::Transaction tx(*sql_);
  EXPECT_EQ(db::idempotency::claim(tx, *sql_, "key_a", "k2", "other", clock_.now()).kind,
            db::idempotency::Claim::Kind::fresh);
  tx.rollback();
}

TEST_F(Repositories, ConcurrentDuplicatesApplyOnce) {
  // Eight sessions race with the same key; each "applies" by inserting a row when fresh.
  *sql_ << "create table applied (n int)";
  std::atomic<int> fresh{0}, replayed{0};
  std::vector<std::thread> racers;
  for (int i = 0; i < 8; ++i) {
    racers.emplace_back([&] {
      soci::session s(soci::postgresql, database_.conninfo());
      db::Transaction tx(s);
      auto claim = db::idempotency::claim(tx, s, "key_a", "race", "h", clock_.now());
      if (claim.kind == db::idempotency::Claim::Kind::fresh) {
        s << "insert into applied values (1)";
        std::this_thread::sleep_for(milliseconds(50));  // hold the claim while others arrive
        db::Batch batch;
        db::idempotency::store(batch, "key_a", "race", {200, "application/json", "{}"});
        tx.commit(batch);
        ++fresh;
      } else if (claim.kind == db::idempotency::Claim::Kind::replay) {
        ++replayed;
      }
    });
  }
  for (auto& t : racers) t.join();
  int rows = 0;
  *sql_ << "select count(*) from applied", soci::into(rows);
  EXPECT_EQ(rows, 1);
  EXPECT_EQ(fresh.load(), 1);
  EXPECT_EQ(replayed.load(), 7);
}

TEST_F(Repositories, IdempotencyPurge) {
  auto claim_and_store = [&](const std::string& key) {
    db::Transaction tx(*sql_);
    db::idempotency::claim(tx, *sql_, "key_a", key, "h", clock_.now());
    db::Batch batch;
    db::idempotency::store(batch, "key_a", key, {200, "", ""});
    tx.commit(batch);
  };
  claim_and_store("old");
  clock_.advance(hours(24 * 8));
  claim_and_store("new");
  EXPECT_EQ(db::idempotency::purge_before(*sql_, clock_.now() - hours(24 * 7)), 1);
  // A claim opens its transaction (BEGIN goes with it): one transaction per claim.
  {
    db::Transaction tx(*sql_);
    EXPECT_EQ(db::idempotency::claim(tx, *sql_, "key_a", "new", "h", clock_.now()).kind,
              db::idempotency::Claim::Kind::replay);
  }
  {
    db::Transaction tx(*sql_);
    EXPECT_EQ(db::idempotency::claim(tx, *sql_, "key_a", "old", "h", clock_.now()).kind,
              db::idempotency::Claim::Kind::fresh);
  }
}

TEST_F(Repositories, DatabaseRunsWorkOnItsOwnThreads) {
  db::Database database({database_.conninfo(), 3});
  boost::asio::io_context ioc;
  std::thread::id io_thread = std::this_thread::get_id();
  std::thread::id work_thread;
  int value = 0;
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        auto work = [&](soci::session& sql) {
          work_thread = std::this_thread::get_id();
          int n = 0;
          sql << "select 41 + 1", soci::into(n);
          return n;
        };
        value = co_await database.run(work);
        EXPECT_EQ(std::this_thread::get_id(), io_thread);  // resumed on the I/O side
      },
      boost::asio::detached);
  ioc.run();
  EXPECT_EQ(value, 42);
  EXPECT_NE(work_thread, io_thread);
  const auto stats = database.stats();
  EXPECT_EQ(stats.size, 3u);
  EXPECT_EQ(stats.in_use, 0u);
}

TEST_F(Repositories, PoolReplacesConnectionsAfterAServerRestart) {
  db::ConnectionPool pool({database_.conninfo(), 2, milliseconds(0)});
  {
    auto lease = pool.acquire();
    int n = 0;
    lease.session() << "select 1", soci::into(n);
  }
  ASSERT_TRUE(test::restart_test_pg()) << "CIRCOLO_TEST_PG_RESTART is needed for this test";
  // The first statement after the restart works: the idle connection is pinged and replaced.
  for (int i = 0; i < 4; ++i) {
    auto lease = pool.acquire();
    int n = 0;
    lease.session() << "select 2", soci::into(n);
    EXPECT_EQ(n, 2);
  }
  EXPECT_GE(pool.stats().reconnects, 1u);
  // The fixture's own session died with the restart; give it a new one for TearDown.
  sql_ = std::make_unique<soci::session>(soci::postgresql, database_.conninfo());
}

TEST_F(Repositories, OutboxPublishesInCommitOrderAndPurgesAPrefix) {
  // Two writers: the first takes its write number first but commits last.
  soci::session late(soci::postgresql, database_.conninfo());
  late << "begin";
  db::points::publish(late, "notification", std::nullopt, clock_.now(), {{"n", "late"}});
  db::points::publish(*sql_, "notification", std::nullopt, clock_.now(), {{"n", "early"}});
  EXPECT_EQ(db::outbox::publish(*sql_, 100), 1);  // the committed one only
  late << "commit";
  EXPECT_EQ(db::outbox::publish(*sql_, 100), 1);
  EXPECT_EQ(db::outbox::publish(*sql_, 100), 0);
  const auto events = db::outbox::read(*sql_, {0, std::nullopt, {}, 10});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data["n"], "early");  // published first, whatever the write order
  EXPECT_EQ(events[0].seq, 1);
  EXPECT_EQ(events[1].data["n"], "late");
  EXPECT_EQ(events[1].seq, 2);
  EXPECT_EQ(db::outbox::state(*sql_).last_seq, 2);

  // A publisher holding the lock makes another one step aside.
  soci::session other(soci::postgresql, database_.conninfo());
  other << "begin";
  other << "select pg_advisory_xact_lock(7271001)";
  EXPECT_EQ(db::outbox::publish(*sql_, 100), -1);
  other << "rollback";

  // Retention removes a prefix and remembers where it ends.
  db::points::publish(*sql_, "notification", std::nullopt, clock_.now(), {{"n", "new"}});
  db::outbox::publish(*sql_, 100);
  *sql_ << "update outbox set at = now() - interval '40 days' where seq <= 2";
  EXPECT_EQ(db::outbox::purge_before(*sql_, engine::TimePoint{} + std::chrono::hours(24 * 20000)),
            0);  // nothing that old
  *sql_ << "update outbox set at = timestamptz '2000-01-01' where seq <= 2";
  EXPECT_EQ(db::outbox::purge_before(*sql_, engine::TimePoint{sys_days{2001y / 1 / 1}}), 2);
  EXPECT_EQ(db::outbox::state(*sql_).purged_through, 2);
  const auto left = db::outbox::read(*sql_, {0, std::nullopt, {}, 10});
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].data["n"], "new");
  // Every published row older than the cutoff: all of them go; an unpublished one stays.
  db::points::publish(*sql_, "notification", std::nullopt, clock_.now(), {{"n", "newer"}});
  db::outbox::publish(*sql_, 100);
  db::points::publish(*sql_, "notification", std::nullopt, clock_.now(), {{"n", "unpublished"}});
  EXPECT_EQ(db::outbox::purge_before(*sql_, clock_.now() + std::chrono::hours(1)), 2);
  EXPECT_EQ(db::outbox::state(*sql_).purged_through, 4);
  EXPECT_TRUE(db::outbox::read(*sql_, {0, std::nullopt, {}, 10}).empty());
  int unpublished = 0;
  *sql_ << "select count(*) from outbox where seq is null", soci::into(unpublished);
  EXPECT_EQ(unpublished, 1);
}

// An event's outgoing events travel in one row (migration 034) and come out one by one, each
// with its own seq and id, whatever the reader's `after`, type filter or limit.
TEST_F(Repositories, AnEventsOutgoingEventsAreOneRowReadAsMany) {
  *sql_ << "insert into members (id, joined_at) values ('mem_ob', now())";
  db::points::publish(*sql_, "notification", "mem_ob", clock_.now(), {{"n", "before"}});
  {
    db::Transaction tx(*sql_);
    tx.begin();
    db::Batch batch;
    db::points::Award first, second;
    first.points = 10;
    first.event_id = "ev_ob";
    first.campaign = "welcome";
    second.points = 5;
    second.event_id = "ev_ob";
    second.reason = "staff: a note that names the customer";
    const nlohmann::json events = {
        {{"award", 1}}, {{"type", "tier.changed"}, {"data", {{"to", "silver"}}}}, {{"award", 2}}};
    db::points::earn_event(batch, "mem_ob", {first, second}, clock_.now(), events);
    tx.commit(batch);
  }
  db::points::publish(*sql_, "notification", "mem_ob", clock_.now(), {{"n", "after"}});
  long long rows = 0;
  *sql_ << "select count(*) from outbox", soci::into(rows);
  EXPECT_EQ(rows, 3);
  EXPECT_EQ(db::outbox::publish(*sql_, 100), 3);    // rows
  EXPECT_EQ(db::outbox::state(*sql_).last_seq, 5);  // events

  const auto all = db::outbox::read(*sql_, {0, std::nullopt, {}, 10});
  ASSERT_EQ(all.size(), 5u);
  std::vector<std::string> types, ids;
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].seq, static_cast<long long>(i + 1));
    types.push_back(all[i].type);
    ids.push_back(all[i].id);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"notification", "points.earned", "tier.changed",
                                             "points.earned", "notification"}));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 5u) << "ids are distinct";
  // The awards' data got what the database assigned: running balances and their entries' ids.
  long long first_entry = 0;
  *sql_ << "select min(id) from ledger_entries where event_id = 'ev_ob'", soci::into(first_entry);
  EXPECT_EQ(all[1].data["balance"], 10);
  EXPECT_EQ(all[1].data["ledger_entry_id"], std::to_string(first_entry));
  EXPECT_EQ(all[1].data["campaign"], "welcome");
  EXPECT_EQ(all[3].data["balance"], 15);
  EXPECT_EQ(all[3].data["ledger_entry_id"], std::to_string(first_entry + 1));
  EXPECT_FALSE(all[3].data.contains("award"));
  EXPECT_EQ(all[2].data, (nlohmann::json{{"to", "silver"}}));

  // After a seq inside the row: the rest of it; a limit cuts inside it; types filter inside it.
  const auto rest = db::outbox::read(*sql_, {2, std::nullopt, {}, 2});
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].seq, 3);
  EXPECT_EQ(rest[1].seq, 4);
  const auto earned = db::outbox::read(*sql_, {0, "mem_ob", {"points.earned"}, 10});
  ASSERT_EQ(earned.size(), 2u);
  EXPECT_EQ(earned[0].seq, 2);
  EXPECT_EQ(earned[1].seq, 4);
  // Operators' view: the same events.
  long long viewed = 0;
  *sql_ << "select count(*) from outbox_events where member_id = 'mem_ob' and seq between 2 and 4",
      soci::into(viewed);
  EXPECT_EQ(viewed, 3);

  // Erasure takes the notes out of the events inside the row too; the row keeps its events.
  ASSERT_TRUE(db::outbox::read(*sql_, {0, std::nullopt, {}, 10})[3].data.contains("reason"));
  db::members::erase(*sql_, "mem_ob", clock_.now());
  const auto erased = db::outbox::read(*sql_, {0, std::nullopt, {}, 10});
  ASSERT_EQ(erased.size(), 5u);
  for (const auto& e : erased) EXPECT_FALSE(e.data.contains("reason")) << e.data.dump();
  EXPECT_EQ(erased[3].data["points"], 5);
  EXPECT_EQ(erased[3].seq, 4);
}

// Limits and budgets: read without locks, settled with COMMIT all or nothing.
TEST_F(Repositories, CountersSettleAllOrNothingWithinTheirCaps) {
  // Many other counters: the settlement and the reads go by key, whatever the table holds.
  *sql_ << "insert into rule_counters (key, value) select 'limit:other/' || g, 1 from "
           "generate_series(1, 5000) g";
  *sql_ << "analyze rule_counters";
  auto settle = [&](const std::map<std::string, long long>& increments,
                    const std::map<std::string, long long>& caps,
                    const std::vector<std::string>& absent) -> std::string {
    db::Transaction tx(*sql_);
    tx.begin();
    db::Batch batch;
    db::events::settle_counters(batch, increments, caps, absent);
    try {
      tx.commit(batch);
    } catch (const db::SqlError& e) {
      return e.sqlstate();
    }
    return "ok";
  };
  auto value = [&](const std::string& key) {
    const auto values = db::events::read_counters(*sql_, {key});
    return values.count(key) ? values.at(key) : -1;
  };

  // Absent counters are created; present ones move.
  EXPECT_EQ(settle({{"budget:b", 990}, {"limit:r/m1", 1}}, {{"budget:b", 1000}, {"limit:r/m1", 3}},
                   {"budget:b", "limit:r/m1"}),
            "ok");
  EXPECT_EQ(value("budget:b"), 990);
  EXPECT_EQ(value("limit:r/m1"), 1);
  EXPECT_EQ(
      settle({{"budget:b", 10}, {"limit:r/m1", 2}}, {{"budget:b", 1000}, {"limit:r/m1", 3}}, {}),
      "ok");
  EXPECT_EQ(value("budget:b"), 1000);
  EXPECT_EQ(value("limit:r/m1"), 3);

  // One counter past its cap: nothing moves, the other counter of the call included.
  EXPECT_EQ(settle({{"budget:b", 1}, {"limit:r/m2", 1}}, {{"budget:b", 1000}, {"limit:r/m2", 3}},
                   {"limit:r/m2"}),
            db::kCounterMovedState);
  EXPECT_EQ(value("budget:b"), 1000);
  EXPECT_EQ(value("limit:r/m2"), -1);

  // Read as absent, created and filled up since by other events: refused, not overwritten.
  EXPECT_EQ(settle({{"limit:r/m3", 1}}, {{"limit:r/m3", 3}}, {"limit:r/m3"}), "ok");
  EXPECT_EQ(settle({{"limit:r/m3", 1}}, {{"limit:r/m3", 1}}, {"limit:r/m3"}),
            db::kCounterMovedState);
  EXPECT_EQ(value("limit:r/m3"), 1);

  // Locked before deciding (a retry): created at 0 when missing, returned in key order.
  {
    db::Transaction tx(*sql_);
    tx.begin();
    const auto locked = db::events::lock_counters(*sql_, {"budget:b", "limit:r/m4"});
    EXPECT_EQ(locked.at("budget:b"), 1000);
    EXPECT_EQ(locked.at("limit:r/m4"), 0);
    tx.rollback();
  }
  const auto read = db::events::read_counters(*sql_, {"limit:other/7", "limit:nowhere"});
  EXPECT_EQ(read.size(), 1u);
  EXPECT_EQ(read.at("limit:other/7"), 1);
}

namespace {

void add_member(soci::session& sql, const std::string& id, std::vector<engine::Identifier> ids,
                engine::TimePoint now) {
  db::Member m;
  m.id = id;
  m.joined_at = now;
  ASSERT_FALSE(db::members::insert(sql, m, ids, now));
}

// Another transaction holding a member's row, as an event in flight does (an event updates the
// row without changing its key).
std::unique_ptr<soci::session> hold_member(const std::string& conninfo, const std::string& id) {
  auto session = std::make_unique<soci::session>(soci::postgresql, conninfo);
  *session << "begin";
  *session << "select 1 from members where id = :id for no key update", soci::use(id);
  return session;
}

}  // namespace

// An event by card waiting on a member that a merge is moving into another: it gets the merged
// member (answered 410 with the survivor), not the survivor read as of before a second wait.
TEST_F(Repositories, MemberReadByIdentifierThatWaitedOnAMergeSeesTheMergedMember) {
  add_member(*sql_, "mem_old", {{"card", "C-1"}}, clock_.now());
  add_member(*sql_, "mem_new", {}, clock_.now());
  soci::session merge(soci::postgresql, database_.conninfo());
  merge << "begin";
  merge << "update members set merged_into = 'mem_new' where id = 'mem_old'";
  merge << "update member_identifiers set member_id = 'mem_new' where member_id = 'mem_old'";
  // Another transaction holds the survivor too: a read that went to it would wait.
  auto busy = hold_member(database_.conninfo(), "mem_new");

  auto read = std::async(std::launch::async, [&] {
    soci::session sql(soci::postgresql, database_.conninfo());
    db::Transaction tx(sql);
    tx.begin();
    auto state =
        db::events::lock_member_state(sql, engine::Identifier{"card", "C-1"}, clock_.now(), {});
    tx.rollback();
    return state;
  });
  EXPECT_EQ(read.wait_for(300ms), std::future_status::timeout) << "waits for the merge";
  merge << "commit";
  const bool answered = read.wait_for(10s) == std::future_status::ready;
  *busy << "rollback";
  ASSERT_TRUE(answered) << "waited for the survivor";
  const auto state = read.get();
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->member.id, "mem_old");
  EXPECT_EQ(state->member.merged_into, std::optional<std::string>("mem_new"));
}

// The counters asked with the member come with it (nullopt: no row), also when the read waited
// for the member's lock and read again.
TEST_F(Repositories, MemberReadBringsTheCountersAskedForAlsoAfterAWait) {
  add_member(*sql_, "mem_c", {}, clock_.now());
  *sql_ << "insert into rule_counters (key, value) values ('budget:a', 5)";
  soci::session other(soci::postgresql, database_.conninfo());
  other << "begin";
  other << "update members set purchases = purchases + 1 where id = 'mem_c'";
  other << "update rule_counters set value = 9 where key = 'budget:a'";
  auto read = std::async(std::launch::async, [&] {
    soci::session sql(soci::postgresql, database_.conninfo());
    db::Transaction tx(sql);
    tx.begin();
    const auto ask =
        db::events::member_state_read(std::string("mem_c"), std::nullopt, clock_.now(), {}, {},
                                      std::nullopt, true, {"budget:a", "budget:b"});
    auto state =
        db::events::member_state(sql, ask, db::fetch(sql, *ask.read.query, ask.read.params));
    tx.rollback();
    return state;
  });
  EXPECT_EQ(read.wait_for(300ms), std::future_status::timeout) << "waits for the member";
  other << "commit";
  ASSERT_EQ(read.wait_for(10s), std::future_status::ready);
  const auto state = read.get();
  ASSERT_TRUE(state && state->counters);
  EXPECT_EQ(state->member.purchases, 1);
  const std::map<std::string, std::optional<std::int64_t>> expected{{"budget:a", 9},
                                                                    {"budget:b", std::nullopt}};
  EXPECT_EQ(*state->counters, expected);
  // None asked: none read.
  const auto plain = db::events::lock_member_state(*sql_, std::string("mem_c"), clock_.now(), {});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->counters);
}

// A refund finds its purchase's used-up lots through the purchase's ledger entries, also after
// the member was merged into another (the lots moved, the entries did not).
TEST_F(Repositories, ReversalLotsIncludeTheEventsUsedUpLotsAlsoAfterAMerge) {
  add_member(*sql_, "mem_r", {}, clock_.now());
  add_member(*sql_, "mem_s", {}, clock_.now());
  db::points::Award award;
  award.points = 100;
  award.event_id = "ev_1";
  const auto earned = db::points::earn(*sql_, "mem_r", award, clock_.now());
  award.event_id = "ev_2";
  db::points::earn(*sql_, "mem_r", award, clock_.now());
  *sql_ << "update point_lots set remaining = 0 where member_id = 'mem_r'";  // spent
  const auto of = [&](const std::string& member) {
    std::vector<long long> ids;
    for (const auto& lot : db::points::reversal_lots(*sql_, member, "ev_1")) ids.push_back(lot.id);
    return ids;
  };
  EXPECT_EQ(of("mem_r"), std::vector<long long>{*earned.lot_id});
  db::members::merge(*sql_, "mem_s", "mem_r", clock_.now());
  EXPECT_EQ(of("mem_s"), std::vector<long long>{*earned.lot_id});
}

// A replayed request whose member read goes ahead with the claim locks nothing: it answers
// while the member's own events hold its row.
TEST_F(Repositories, ReplayedClaimDoesNotLockTheMemberReadAhead) {
  add_member(*sql_, "mem_a", {}, clock_.now());
  const auto ahead = [&] {
    return db::events::member_state_read(std::string("mem_a"), std::nullopt, clock_.now(), {}, {},
                                         db::events::ClaimOf{"key_a", "k1"});
  };
  {
    db::Transaction tx(*sql_);
    const auto read = ahead();
    std::vector<db::Row> rows;
    EXPECT_EQ(
        db::idempotency::claim(tx, *sql_, "key_a", "k1", "h", clock_.now(), &read.read, &rows).kind,
        db::idempotency::Claim::Kind::fresh);
    EXPECT_EQ(rows.size(), 1u) << "a fresh claim reads (and locks) the member";
    db::Batch batch;
    db::idempotency::store(batch, "key_a", "k1", {201, "application/json", "{}"});
    tx.commit(batch);
  }
  auto busy = hold_member(database_.conninfo(), "mem_a");
  auto replay = std::async(std::launch::async, [&] {
    soci::session sql(soci::postgresql, database_.conninfo());
    db::Transaction tx(sql);
    const auto read = ahead();
    std::vector<db::Row> rows;
    auto claim =
        db::idempotency::claim(tx, sql, "key_a", "k1", "h", clock_.now(), &read.read, &rows);
    tx.rollback();
    return std::make_pair(claim.kind, rows.size());
  });
  const bool answered = replay.wait_for(10s) == std::future_status::ready;
  *busy << "rollback";
  ASSERT_TRUE(answered) << "the replay waited for the member's lock";
  const auto [kind, rows] = replay.get();
  EXPECT_EQ(kind, db::idempotency::Claim::Kind::replay);
  EXPECT_EQ(rows, 0u);
}
