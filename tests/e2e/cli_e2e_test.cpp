// The circolo CLI driven against a real circolod: plan, apply, versions, simulate, keys, and
// its refusals (problem+json explained, exit codes).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;

namespace {

struct Run {
  int code = -1;
  std::string output;  // stdout and stderr
};

Run run_cli(const std::string& args, const ServerProcess& server, const std::string& key = "") {
  const std::string command =
      "XDG_CONFIG_HOME=/nonexistent CIRCOLO_URL=http://127.0.0.1:" + std::to_string(server.port()) +
      " CIRCOLO_KEY='" + (key.empty() ? server.admin_key() : key) + "' " CIRCOLO_CLI_PATH " " +
      args + " </dev/null 2>&1";
  Run run;
  FILE* pipe = ::popen(command.c_str(), "r");
  std::array<char, 4096> buffer{};
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    run.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

const std::string kDemo = CIRCOLO_EXAMPLES_DIR "/demo.rules";
const std::string kPurchase = CIRCOLO_EXAMPLES_DIR "/purchase.json";

}  // namespace

TEST(Cli, PlanApplySimulateAndKeys) {
  TestDatabase database;
  ServerProcess server(database.uri());

  auto plan = run_cli("program plan " + kDemo, server);
  EXPECT_EQ(plan.code, 0) << plan.output;
  EXPECT_NE(plan.output.find("+ campaign \"weekend-double\""), std::string::npos) << plan.output;
  EXPECT_NE(plan.output.find("13 to create, 0 to change, 0 to remove."), std::string::npos)
      << plan.output;

  auto unconfirmed = run_cli("program apply " + kDemo, server);
  EXPECT_EQ(unconfirmed.code, 2) << unconfirmed.output;
  EXPECT_NE(unconfirmed.output.find("--yes"), std::string::npos);

  auto apply = run_cli("program apply --yes " + kDemo, server);
  EXPECT_EQ(apply.code, 0) << apply.output;
  EXPECT_NE(apply.output.find("Applied as version 1."), std::string::npos) << apply.output;
  EXPECT_NE(run_cli("program plan " + kDemo, server).output.find("No changes."), std::string::npos);
  EXPECT_NE(run_cli("program versions", server).output.find("key_bootstrap"), std::string::npos);
  EXPECT_NE(run_cli("--json program show", server).output.find("\"version\": 1"),
            std::string::npos);

  auto sim = run_cli("simulate --active --event " + kPurchase, server);
  EXPECT_EQ(sim.code, 0) << sim.output;
  EXPECT_NE(sim.output.find("points_awarded 84  [weekend-double/weekend]"), std::string::npos)
      << sim.output;
  EXPECT_NE(sim.output.find("skipped welcome/signup: trigger"), std::string::npos) << sim.output;

  auto created = run_cli("keys create --role touchpoint --channel store --name \"POS 1\"", server);
  EXPECT_EQ(created.code, 0) << created.output;
  EXPECT_NE(created.output.find("ck_"), std::string::npos);
  auto refused = run_cli("keys create --role touchpoint --name \"POS 2\"", server);
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.output.find("(validation_failed)"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("channel: is required"), std::string::npos) << refused.output;
  EXPECT_NE(run_cli("keys list", server).output.find("POS 1"), std::string::npos);

  // Members and campaigns.
  auto enrolled =
      circolo::test::HttpClient(server.port())
          .post_json("/v1/members",
                     {{"identifiers", {{{"type", "email"}, {"value", "ada+shop@x.it"}}}}},
                     server.admin_key());
  ASSERT_EQ(enrolled.status, 201);
  const std::string id = enrolled.json()["id"];
  EXPECT_NE(run_cli("members find --email ada+shop@x.it", server).output.find(id),
            std::string::npos);
  EXPECT_NE(
      run_cli("members adjust " + id + " 100 --reason welcome", server).output.find("balance 100"),
      std::string::npos);
  auto down = run_cli("members adjust " + id + " -30 --reason fix", server);
  EXPECT_NE(down.output.find("balance 70"), std::string::npos) << down.output;
  auto too_much = run_cli("members adjust " + id + " -100 --reason fix", server);
  EXPECT_EQ(too_much.code, 1);
  EXPECT_NE(too_much.output.find("(insufficient_points)"), std::string::npos) << too_much.output;
  const auto shown = run_cli("members show " + id, server).output;
  EXPECT_NE(shown.find("70 available"), std::string::npos) << shown;
  // A member without a name: the first line is its id, without trailing blanks.
  EXPECT_EQ(shown.substr(0, shown.find('\n')), id) << shown;
  // The wallet's way to the next tier and the program's challenges (adjustments do not qualify).
  EXPECT_NE(shown.find("next tier: silver (0 qualifying points, 1000 more needed)"),
            std::string::npos)
      << shown;
  EXPECT_NE(shown.find("challenge: explorer  Omnichannel explorer  0/3"), std::string::npos)
      << shown;
  EXPECT_NE(shown.find("challenge: regular  Four weeks in a row  0/4"), std::string::npos) << shown;
  auto review = run_cli("tiers review --member " + id, server);
  EXPECT_EQ(review.code, 0) << review.output;
  EXPECT_NE(review.output.find("Reviewed 1 member(s) above the entry tier; 0 moved down"),
            std::string::npos)
      << review.output;
  EXPECT_EQ(run_cli("tiers review --member mem_none", server).code, 1);
  auto board = run_cli("leaderboard --period all --member " + id, server);
  EXPECT_EQ(board.code, 0) << board.output;
  EXPECT_NE(board.output.find("RANK  MEMBER"), std::string::npos) << board.output;
  EXPECT_NE(board.output.find(id + " is number 1 with 0 points."), std::string::npos)
      << board.output;
  EXPECT_EQ(run_cli("leaderboard --period decade", server).code, 2) << "refused by the CLI";
  EXPECT_NE(run_cli("members history " + id, server).output.find("member.enrolled"),
            std::string::npos);
  EXPECT_EQ(run_cli("members show mem_none", server).code, 1);
  EXPECT_NE(run_cli("campaign pause weekend-double", server).output.find("paused"),
            std::string::npos);
  EXPECT_NE(run_cli("simulate --active --event " + kPurchase, server)
                .output.find("skipped weekend-double/weekend: inactive"),
            std::string::npos);
  EXPECT_EQ(run_cli("campaign resume nope", server).code, 1);

  auto bad_key = run_cli("keys list", server, "ck_wrong");
  EXPECT_EQ(bad_key.code, 1);
  EXPECT_NE(bad_key.output.find("(unauthenticated)"), std::string::npos);
  EXPECT_EQ(bad_key.output.find("HTTP/1.1"), std::string::npos) << "never a raw HTTP dump";
}

TEST(Cli, UnreachableServerIsExitCode3) {
  TestDatabase database;
  ServerProcess server(database.uri());
  const std::string command = "CIRCOLO_URL=http://127.0.0.1:1 " CIRCOLO_CLI_PATH " keys list 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::array<char, 1024> buffer{};
  std::string out;
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  EXPECT_EQ(WEXITSTATUS(status), 3) << out;
  EXPECT_NE(out.find("cannot reach"), std::string::npos) << out;
}

TEST(Cli, RollbackAppliesAnEarlierVersionAgain) {
  TestDatabase database;
  ServerProcess server(database.uri());
  ASSERT_EQ(run_cli("program apply --yes " + kDemo, server).code, 0);
  const std::string smaller = ::testing::TempDir() + "/smaller.rules";
  {
    FILE* f = std::fopen(smaller.c_str(), "w");
    std::fputs(
        "campaign \"only\" {\n  rule \"r\" {\n    on visit\n    then award 1 points\n  }\n}\n", f);
    std::fclose(f);
  }
  ASSERT_EQ(run_cli("program apply --yes " + smaller, server).code, 0);
  auto back = run_cli("program rollback --yes 1", server);
  EXPECT_EQ(back.code, 0) << back.output;
  EXPECT_NE(back.output.find("+ campaign \"weekend-double\""), std::string::npos) << back.output;
  EXPECT_NE(back.output.find("- campaign \"only\""), std::string::npos) << back.output;
  EXPECT_NE(back.output.find("Applied as version 3."), std::string::npos) << back.output;
  HttpClient c(server.port());
  EXPECT_NE(c.get("/v1/admin/program", server.admin_key())
                .json()["source"]
                .get<std::string>()
                .find("weekend-double"),
            std::string::npos);
  auto missing = run_cli("program rollback --yes 99", server);
  EXPECT_EQ(missing.code, 1) << missing.output;
  EXPECT_NE(missing.output.find("(unknown_version)"), std::string::npos) << missing.output;
}

TEST(Cli, ConfigFileUnderFlagsAndEnvironment) {
  TestDatabase database;
  ServerProcess server(database.uri());
  const std::string home = ::testing::TempDir() + "/circolo-config";
  ::mkdir(home.c_str(), 0700);
  ::mkdir((home + "/circolo").c_str(), 0700);
  {
    FILE* f = std::fopen((home + "/circolo/config.toml").c_str(), "w");
    std::fprintf(f, "# where the server is\nurl = \"http://127.0.0.1:%u\"\nkey = \"%s\"\n",
                 unsigned(server.port()), server.admin_key().c_str());
    std::fclose(f);
  }
  auto run_with = [&](const std::string& env, const std::string& args) {
    const std::string command = "env -u CIRCOLO_URL -u CIRCOLO_KEY XDG_CONFIG_HOME=" + home + " " +
                                env + " " + CIRCOLO_CLI_PATH + std::string(" ") + args +
                                " </dev/null 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    std::array<char, 4096> buffer{};
    struct Run r;
    std::size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
      r.output.append(buffer.data(), n);
    const int status = ::pclose(pipe);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  };
  auto from_file = run_with("", "keys list");
  EXPECT_EQ(from_file.code, 0) << from_file.output;
  EXPECT_NE(from_file.output.find("key_bootstrap"), std::string::npos) << from_file.output;
  // The environment and flags win over the file.
  EXPECT_EQ(run_with("CIRCOLO_URL=http://127.0.0.1:1", "keys list").code, 3);
  EXPECT_EQ(run_with("", "keys list --url http://127.0.0.1:1").code, 3);
  // A broken file is named with its line.
  {
    FILE* f = std::fopen((home + "/circolo/config.toml").c_str(), "a");
    std::fputs("colour = \"red\"\n", f);
    std::fclose(f);
  }
  // Named with --config it stops the command (exit 2); found by default it is reported and
  // ignored, so flags and the environment still work.
  auto named = run_with("", "keys list --config " + home + "/circolo/config.toml");
  EXPECT_EQ(named.code, 2);
  EXPECT_NE(named.output.find("config.toml:4: unknown setting 'colour'"), std::string::npos)
      << named.output;
  auto by_default = run_with("CIRCOLO_URL=http://127.0.0.1:" + std::to_string(server.port()) +
                                 " CIRCOLO_KEY=" + server.admin_key(),
                             "keys list");
  EXPECT_EQ(by_default.code, 0) << by_default.output;
  EXPECT_NE(by_default.output.find("config.toml:4: unknown setting 'colour'"), std::string::npos)
      << by_default.output;
  // Offline commands do not need it.
  EXPECT_EQ(run_with("", "program check " + kDemo).code, 0);
}

TEST(Cli, BashCompletionFollowsTheCommandTree) {
  const std::string script = std::string("eval \"$(") + CIRCOLO_CLI_PATH +
                             " completion bash)\"; COMP_WORDS=(circolo program ''); "
                             "COMP_CWORD=2; _circolo; echo \"${COMPREPLY[*]}\"; "
                             "COMP_WORDS=(circolo members find --c); COMP_CWORD=3; _circolo; "
                             "echo \"${COMPREPLY[*]}\"";
  const std::string command = "bash -c '" + [&] {
    std::string quoted;
    for (char c : script) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted;
  }() + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::array<char, 4096> buffer{};
  std::string out;
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  ASSERT_EQ(::pclose(pipe), 0) << out;
  EXPECT_NE(out.find("check fmt plan apply show versions rollback"), std::string::npos) << out;
  EXPECT_NE(out.find("--card"), std::string::npos) << out;
}

TEST(Cli, CouponsGenerateAndShow) {
  TestDatabase database;
  ServerProcess server(database.uri());
  ASSERT_EQ(run_cli("program apply --yes " + kDemo, server).code, 0);
  const std::string out = ::testing::TempDir() + "/circolo-codes.txt";
  auto generated = run_cli("coupons generate COFFEE --count 3 --prefix xmas --out " + out, server);
  ASSERT_EQ(generated.code, 0) << generated.output;
  EXPECT_NE(generated.output.find("3 codes of COFFEE"), std::string::npos) << generated.output;
  std::ifstream file(out);
  std::vector<std::string> codes;
  for (std::string line; std::getline(file, line);) codes.push_back(line);
  ASSERT_EQ(codes.size(), 3u);
  EXPECT_EQ(codes[0].rfind("XMAS-", 0), 0u);

  // Any case: the code is found and described.
  std::string lower;
  for (char c : codes[1]) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto shown = run_cli("coupons show " + lower, server);
  ASSERT_EQ(shown.code, 0) << shown.output;
  EXPECT_NE(shown.output.find(codes[1] + "  (COFFEE: A free coffee)"), std::string::npos)
      << shown.output;
  EXPECT_NE(shown.output.find("discount: 2.50"), std::string::npos) << shown.output;
  EXPECT_NE(shown.output.find("member: unassigned"), std::string::npos) << shown.output;
  EXPECT_NE(shown.output.find("uses: 0 of 1"), std::string::npos) << shown.output;

  auto missing = run_cli("coupons show XMAS-22222222222", server);
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.output.find("(unknown_coupon)"), std::string::npos) << missing.output;
  EXPECT_EQ(run_cli("coupons generate NOPE --count 1", server).code, 1);
  EXPECT_EQ(run_cli("coupons generate COFFEE --count 0", server).code, 2);
  auto json_run = run_cli("--json coupons generate COFFEE --count 2", server);
  ASSERT_EQ(json_run.code, 0);
  EXPECT_EQ(nlohmann::json::parse(json_run.output)["codes"].size(), 2u);
}

TEST(Cli, WebhooksAndEventsTail) {
  TestDatabase database;
  ServerProcess server(database.uri());
  auto added = run_cli(
      "webhooks add http://127.0.0.1:9/hooks --events points.earned,tier.changed --secret "
      "cli-secret-0123456789",
      server);
  ASSERT_EQ(added.code, 0) << added.output;
  EXPECT_NE(added.output.find("delivers [\"points.earned\",\"tier.changed\"]"), std::string::npos)
      << added.output;
  const auto id_at = added.output.find("whk_");
  ASSERT_NE(id_at, std::string::npos);
  const std::string id = added.output.substr(id_at, added.output.find(' ', id_at) - id_at);
  EXPECT_NE(run_cli("webhooks list", server).output.find(id), std::string::npos);
  auto bad =
      run_cli("webhooks add http://x/y --events nope --secret cli-secret-0123456789", server);
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("events[0]"), std::string::npos) << bad.output;

  // Two events; tail shows them; the webhook (nobody listens on port 9) records failures.
  HttpClient c(server.port());
  const std::string member =
      c.post_json("/v1/members", nlohmann::json::object(), server.admin_key()).json()["id"];
  for (int i = 0; i < 2; ++i)
    c.post_json("/v1/members/" + member + "/points/adjust", {{"points", 5}, {"reason", "cli"}},
                server.admin_key());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto tail = run_cli("events tail --member " + member, server);
  ASSERT_EQ(tail.code, 0) << tail.output;
  EXPECT_NE(tail.output.find("points.earned         " + member), std::string::npos)
      << tail.output;  // aligned columns
  auto json_tail = run_cli("--json events tail --after 0 --types points.earned", server);
  int lines = 0;
  std::istringstream in(json_tail.output);
  for (std::string line; std::getline(in, line); ++lines)
    EXPECT_EQ(nlohmann::json::parse(line)["type"], "points.earned");
  EXPECT_EQ(lines, 2);
  auto deliveries = run_cli("webhooks deliveries " + id, server);
  ASSERT_EQ(deliveries.code, 0) << deliveries.output;
  EXPECT_NE(deliveries.output.find("failing"), std::string::npos) << deliveries.output;
  EXPECT_NE(deliveries.output.find("cannot connect"), std::string::npos) << deliveries.output;
  // --follow: then live over the WebSocket.
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    c.post_json("/v1/members/" + member + "/points/adjust", {{"points", 7}, {"reason", "live"}},
                server.admin_key());
  });
  const std::string follow_command =
      "XDG_CONFIG_HOME=/nonexistent CIRCOLO_URL=http://127.0.0.1:" + std::to_string(server.port()) +
      " CIRCOLO_KEY='" + server.admin_key() +
      "' timeout 3 " CIRCOLO_CLI_PATH " --json events tail --follow --member " + member + " 2>&1";
  std::string followed;
  {
    FILE* pipe = ::popen(follow_command.c_str(), "r");
    std::array<char, 4096> buffer{};
    std::size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
      followed.append(buffer.data(), n);
    ::pclose(pipe);
  }
  later.join();
  std::istringstream follow_lines(followed);
  std::vector<long long> balances;
  for (std::string line; std::getline(follow_lines, line);) {
    const auto e = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(e.is_discarded()) << line;
    balances.push_back(e["data"]["balance"]);
  }
  EXPECT_EQ(balances, (std::vector<long long>{5, 10, 17})) << followed;

  auto not_dead = run_cli("webhooks redrive " + id + " 1", server);
  EXPECT_EQ(not_dead.code, 1);
  EXPECT_NE(not_dead.output.find("not_a_dead_letter"), std::string::npos) << not_dead.output;
}
