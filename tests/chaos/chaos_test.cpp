// Chaos: touchpoints send purchases, each retried with its Idempotency-Key until answered, while
// a circolod is killed, PostgreSQL restarts, or the primary dies and pg_auto_failover promotes the
// standby. Afterwards, exactly: every answered event recorded once, no request left unanswered,
// each balance equal to its ledger, the budget and the limit never exceeded, every outgoing event
// present once and in order, and no 5xx but 503.
#include <gtest/gtest.h>
#include <signal.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int kTouchpoints = 6;
constexpr int kMembers = 24;
constexpr long long kBudget = 100;  // points of campaign "capped": binds (24 x 2 x 7 > 100)
constexpr long long kLimit = 2;     // awards of capped/bonus per member

const char* kProgram = R"(campaign "base" {
  rule "earn" {
    on purchase
    then award floor(event.total) points
  }
}

campaign "capped" {
  budget 100 points

  rule "bonus" {
    on purchase
    then award 7 points
    limit 2 per member
  }
}
)";

// The instances the touchpoints may send to, as a load balancer would know them.
class Instances {
 public:
  void set(std::vector<unsigned short> ports) {
    std::lock_guard lock(mutex_);
    ports_ = std::move(ports);
  }
  unsigned short pick(unsigned attempt) const {
    std::lock_guard lock(mutex_);
    return ports_.empty() ? 0 : ports_[attempt % ports_.size()];
  }

 private:
  mutable std::mutex mutex_;
  std::vector<unsigned short> ports_;
};

struct Outcome {
  std::map<std::string, std::string> answered;  // Idempotency-Key -> event id
  std::vector<std::string> unanswered;          // keys given up on
  std::map<int, int> statuses;                  // every status seen, retries included
  int connection_failures = 0;
};

// Touchpoints in threads: purchases for kMembers cards (enrolled on first sight), each request
// retried with the same key (on the next instance) until answered or 90 s passed.
class Touchpoints {
 public:
  Touchpoints(const Instances& instances, std::string key) : instances_(instances), key_(key) {
    for (int t = 0; t < kTouchpoints; ++t) threads_.emplace_back([this, t] { run(t); });
  }
  ~Touchpoints() { stop(); }

  Outcome stop() {
    stopping_ = true;
    for (auto& thread : threads_)
      if (thread.joinable()) thread.join();
    std::lock_guard lock(mutex_);
    return outcome_;
  }

  int answered() const { return answered_.load(); }
  bool stopped() const { return stopping_.load(); }  // a final refusal stopped them

 private:
  void run(int touchpoint) {
    std::mt19937 random(static_cast<unsigned>(touchpoint) * 7919u + 17u);
    for (int n = 0; !stopping_; ++n) {
      const std::string key = "chaos-" + std::to_string(touchpoint) + "-" + std::to_string(n);
      const int member = static_cast<int>(random() % kMembers);
      const json body{
          {"type", "purchase"},
          {"channel", "store"},
          {"member",
           {{"identifier", {{"type", "card"}, {"value", "4000" + std::to_string(member)}}}}},
          {"enroll", true},
          {"currency", "EUR"},
          {"total", std::to_string(10 + random() % 40) + ".00"}};
      send(key, body, static_cast<unsigned>(n));
    }
  }

  // The n-th request of a touchpoint goes to instance n (round robin), its retries to the next.
  void send(const std::string& key, const json& body, unsigned n) {
    const auto until = std::chrono::steady_clock::now() + 90s;
    for (unsigned attempt = 0; std::chrono::steady_clock::now() < until; ++attempt) {
      const auto port = instances_.pick(n + attempt);
      if (port != 0) {
        try {
          HttpClient client(port);
          const auto r = client.post_json("/v1/events", body, key_, key);
          record(r.status);
          // 200: a replay (Idempotent-Replayed), the answer to an attempt whose first answer
          // was lost (its instance died after the commit).
          if (r.status == 201 || (r.status == 200 && r.header("idempotent-replayed") == "true")) {
            std::lock_guard lock(mutex_);
            outcome_.answered[key] = r.json()["event_id"].get<std::string>();
            ++answered_;
            return;
          }
          if (r.status != 503) {  // a final answer other than the event: the test fails on it
            stopping_ = true;
            std::lock_guard lock(mutex_);
            outcome_.unanswered.push_back(key + " answered " + std::to_string(r.status) + " " +
                                          r.body);
            return;
          }
        } catch (const std::exception&) {
          std::lock_guard lock(mutex_);
          ++outcome_.connection_failures;
        }
      }
      std::this_thread::sleep_for(50ms);
    }
    std::lock_guard lock(mutex_);
    outcome_.unanswered.push_back(key + " never answered");
  }

  void record(int status) {
    std::lock_guard lock(mutex_);
    ++outcome_.statuses[status];
  }

  const Instances& instances_;
  std::string key_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> answered_{0};
  std::mutex mutex_;
  Outcome outcome_;
  std::vector<std::thread> threads_;
};

void wait_for_answers(const Touchpoints& load, int more, std::chrono::seconds timeout) {
  const int target = load.answered() + more;
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (load.answered() < target && !load.stopped() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  ASSERT_GE(load.answered(), target) << "the load made no progress";
}

long long scalar(soci::session& sql, const std::string& query) {
  long long value = 0;
  sql << query, soci::into(value);
  return value;
}

// The checks after the chaos, on the database `conninfo` (any node that has every commit).
void check_exactly(const std::string& conninfo, const Outcome& outcome) {
  EXPECT_TRUE(outcome.unanswered.empty())
      << outcome.unanswered.size() << " unanswered, first: " << outcome.unanswered.front();
  for (const auto& [status, count] : outcome.statuses)
    EXPECT_TRUE(status == 201 || status == 200 || status == 503)
        << count << " answers with status " << status;
  ASSERT_GT(outcome.answered.size(), 100u) << "too little load to tell anything";
  std::cout << "[ chaos    ] " << outcome.answered.size() << " events answered; 503 answers "
            << (outcome.statuses.count(503) ? outcome.statuses.at(503) : 0) << ", replays "
            << (outcome.statuses.count(200) ? outcome.statuses.at(200) : 0)
            << ", connection failures " << outcome.connection_failures << "\n";

  soci::session sql(soci::postgresql, conninfo);
  // Every answered event is recorded once, and nothing else is.
  std::set<std::string> answered_ids;
  for (const auto& [key, id] : outcome.answered) answered_ids.insert(id);
  EXPECT_EQ(answered_ids.size(), outcome.answered.size()) << "two requests got the same event";
  std::vector<std::string> stored(200000);
  sql << "select id from events order by id", soci::into(stored);
  const std::set<std::string> stored_ids(stored.begin(), stored.end());
  EXPECT_EQ(stored.size(), stored_ids.size());
  EXPECT_EQ(stored_ids, answered_ids)
      << stored_ids.size() << " stored, " << answered_ids.size() << " answered";

  // Balances equal their ledgers; lots hold what the ledger says.
  EXPECT_EQ(scalar(sql,
                   "select count(*) from members m where points_balance <> (select "
                   "coalesce(sum(points), 0) from ledger_entries l where l.member_id = m.id)"),
            0);
  // The budget and the limit.
  const auto capped =
      scalar(sql, "select coalesce(sum(points), 0) from ledger_entries where campaign = 'capped'");
  EXPECT_LE(capped, kBudget);
  EXPECT_GT(capped, kBudget - 7) << "the load should have used the budget up";
  EXPECT_LE(scalar(sql,
                   "select coalesce(max(n), 0) from (select count(*) n from ledger_entries "
                   "where campaign = 'capped' group by member_id) x"),
            kLimit);
  // One earn per answered event from "base".
  EXPECT_EQ(scalar(sql, "select count(*) from ledger_entries where campaign = 'base'"),
            static_cast<long long>(answered_ids.size()));

  // Every outgoing event of a ledger entry once, published, in the ledger's order per member.
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (scalar(sql, "select count(*) from outbox where seq is null") > 0 &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(scalar(sql, "select count(*) from outbox where seq is null"), 0) << "unpublished";
  EXPECT_EQ(scalar(sql,
                   "select count(*) from ledger_entries l where (select count(*) from "
                   "outbox_events o where o.data->>'ledger_entry_id' = l.id::text) <> 1"),
            0);
  EXPECT_EQ(
      scalar(sql,
             "select count(*) from (select (data->>'ledger_entry_id')::bigint e, "
             "lag((data->>'ledger_entry_id')::bigint) over (partition by member_id "
             "order by seq) p from outbox_events where data ? 'ledger_entry_id') x where p > e"),
      0);
}

std::string admin_key() {
  return "test-admin-key-0123456789";
}

std::string apply_program_and_key(unsigned short port) {
  HttpClient client(port);
  const auto applied = client.post_json("/v1/admin/program", {{"source", kProgram}}, admin_key());
  EXPECT_EQ(applied.status, 201) << applied.body;
  const auto key = client.post_json("/v1/admin/keys",
                                    {{"role", "touchpoint"}, {"channel", "store"}, {"name", "POS"}},
                                    admin_key());
  EXPECT_EQ(key.status, 201) << key.body;
  return key.json()["key"].get<std::string>();
}

}  // namespace

TEST(Chaos, CircolodKilledAndRestarted) {
  TestDatabase database;
  Instances instances;
  auto server = std::make_unique<ServerProcess>(database.uri());
  const auto pos = apply_program_and_key(server->port());
  instances.set({server->port()});
  Touchpoints load(instances, pos);
  for (int round = 0; round < 3; ++round) {
    wait_for_answers(load, 80, 30s);
    server->signal(SIGKILL);
    server->wait_exit(5s);
    // Traffic as soon as it listens, before it has read the program (a naive load balancer):
    // it must answer 503, never 409 no_program.
    server = std::make_unique<ServerProcess>(
        ServerProcess::Options{database.uri(), {}, {}, {}, /*wait_ready=*/false});
    instances.set({server->port()});
  }
  wait_for_answers(load, 80, 30s);
  check_exactly(database.conninfo(), load.stop());
}

TEST(Chaos, PostgresRestarted) {
  TestDatabase database;
  Instances instances;
  ServerProcess server(database.uri());
  const auto pos = apply_program_and_key(server.port());
  instances.set({server.port()});
  Touchpoints load(instances, pos);
  for (int round = 0; round < 2; ++round) {
    wait_for_answers(load, 80, 30s);
    ASSERT_TRUE(restart_test_pg()) << "CIRCOLO_TEST_PG_RESTART is needed for this test";
  }
  wait_for_answers(load, 80, 30s);
  check_exactly(database.conninfo(), load.stop());
}

TEST(Chaos, OneOfTwoInstancesKilled) {
  TestDatabase database;
  Instances instances;
  ServerProcess a(database.uri());
  auto b = std::make_unique<ServerProcess>(database.uri());
  const auto pos = apply_program_and_key(a.port());
  instances.set({a.port(), b->port()});
  Touchpoints load(instances, pos);
  wait_for_answers(load, 100, 30s);
  b->signal(SIGKILL);  // its port stays in the list for a while, as in a load balancer
  wait_for_answers(load, 100, 30s);
  EXPECT_EQ(b->wait_exit(5s), 128 + SIGKILL);
  instances.set({a.port()});
  wait_for_answers(load, 80, 30s);
  check_exactly(database.conninfo(), load.stop());
}

// The primary dies (keeper and PostgreSQL killed with SIGKILL); pg_auto_failover promotes the
// synchronous standby; circolod, on the multi-host URL, finds it.
TEST(Chaos, PrimaryKilledAndStandbyPromoted) {
  const std::string ha = CIRCOLO_HA_SCRIPT;
  const auto dir =
      std::filesystem::temp_directory_path() / ("circolo-ha-" + std::to_string(::getpid()));
  const std::string d = dir.string();
  struct Stop {
    std::string command;
    ~Stop() { std::system(command.c_str()); }
  } stop{ha + " stop " + d + " >/dev/null 2>&1; rm -rf " + d};
  // Setting up three PostgreSQL servers on a busy machine can fail for reasons of its own (a
  // port taken meanwhile): a second try from scratch before failing.
  bool started = false;
  for (int attempt = 1; attempt <= 2 && !started; ++attempt) {
    started = std::system((ha + " start " + d + " >" + d + ".url").c_str()) == 0;
    if (!started) {
      std::system(("tail -n 15 " + d + "/*.log").c_str());
      std::system((ha + " stop " + d + " >/dev/null 2>&1; rm -rf " + d).c_str());
    }
  }
  if (!started) FAIL() << "scripts/ha.sh start failed twice (its logs above)";
  std::string url;
  {
    std::FILE* f = std::fopen((d + ".url").c_str(), "r");
    ASSERT_NE(f, nullptr);
    char line[1024] = {0};
    if (std::fgets(line, sizeof line, f)) url = line;
    std::fclose(f);
    std::filesystem::remove(d + ".url");
  }
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r')) url.pop_back();
  ASSERT_FALSE(url.empty());

  Instances instances;
  ServerProcess server(ServerProcess::Options{url, {}, {}, {}});
  const auto pos = apply_program_and_key(server.port());
  instances.set({server.port()});
  Touchpoints load(instances, pos);
  wait_for_answers(load, 100, 30s);
  {
    // Acknowledged commits are on the standby: the primary waits for it.
    soci::session primary(soci::postgresql, url);
    std::string names;
    primary << "select current_setting('synchronous_standby_names')", soci::into(names);
    EXPECT_NE(names, "") << "the standby is not synchronous";
  }
  ASSERT_EQ(std::system((ha + " kill-primary " + d + " >/dev/null").c_str()), 0);
  wait_for_answers(load, 100, 60s);
  const auto outcome = load.stop();
  check_exactly(url, outcome);
}
