// The circolo CLI driven against a real circolod: plan, apply, versions, simulate, keys, and
// its refusals (problem+json explained, exit codes).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "cli_run.hpp"
#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using nlohmann::json;

namespace {

const std::string kDemo = CIRCOLO_EXAMPLES_DIR "/demo.rules";
const std::string kPurchase = CIRCOLO_EXAMPLES_DIR "/purchase.json";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

}  // namespace

TEST(Cli, PlanApplySimulateAndKeys) {
  TestDatabase database;
  ServerProcess server(database.uri());

  auto plan = run_cli("program plan " + kDemo, server);
  EXPECT_EQ(plan.code, 0) << plan.output;
  EXPECT_NE(plan.output.find("+ campaign \"weekend-double\""), std::string::npos) << plan.output;
  EXPECT_NE(plan.output.find("17 to create, 0 to change, 0 to remove."), std::string::npos)
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
  // Referrals: the member's code brings a friend; both show in the member's and the report's.
  const auto referral = run_cli("--json members referrals " + id, server);
  ASSERT_EQ(referral.code, 0) << referral.output;
  const std::string code = nlohmann::json::parse(referral.output)["code"];
  auto friend_enrolled =
      circolo::test::HttpClient(server.port())
          .post_json("/v1/members",
                     {{"identifiers", {{{"type", "email"}, {"value", "bea@x.it"}}}},
                      {"referral_code", code}},
                     server.admin_key());
  ASSERT_EQ(friend_enrolled.status, 201) << friend_enrolled.body;
  const std::string friend_id = friend_enrolled.json()["id"];
  const auto referrals = run_cli("members referrals " + id, server).output;
  EXPECT_NE(referrals.find("Referral code " + code + ": 0 completed, 1 open"), std::string::npos)
      << referrals;
  EXPECT_NE(referrals.find("referrer  " + friend_id), std::string::npos) << referrals;
  const auto report = run_cli("report referrals --from 2026-01-01", server);
  EXPECT_EQ(report.code, 0) << report.output;
  EXPECT_NE(report.output.find("total"), std::string::npos) << report.output;
  EXPECT_NE(report.output.find(id), std::string::npos) << report.output;
  EXPECT_EQ(run_cli("report referrals --from yesterday", server).code, 1);
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
  ServerProcess server({database.uri(), "", {{"CIRCOLO_WEBHOOKS_ALLOW_PRIVATE", "true"}}, {}});
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
      c.post_json("/v1/members", {{"identifiers", {{{"type", "crm"}, {"value", "cli-tail"}}}}},
                  server.admin_key())
          .json()["id"];
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

// A new user's first hour: a suggestion for a misspelt command, `fmt --check` showing the diff,
// a plan that says what changes setting by setting and warns about (and makes `apply` confirm)
// changes to what members already have, and `campaigns list`.

TEST(CliFirstHour, MisspeltCommandsGetTheClosestSuggestion) {
  auto r = run_cli_at("program chek " + kDemo, 1, "");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_EQ(r.output,
            "circolo: unknown command \"chek\" for \"circolo program\"; did you mean "
            "\"check\"?\n");
  r = run_cli_at("membrs find --card 1", 1, "");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(has(r, "unknown command \"membrs\" for \"circolo\"; did you mean \"members\"?"))
      << r.output;
  r = run_cli_at("--json program verions", 1, "");  // a flag before the command, a letter missing
  EXPECT_TRUE(has(r, "did you mean \"versions\"?")) << r.output;
  r = run_cli_at("campaigns lsit", 1, "");  // a swap of neighbours, after an alias
  EXPECT_TRUE(has(r, "unknown command \"lsit\" for \"circolo campaigns\"; did you mean \"list\"?"))
      << r.output;
  r = run_cli_at("prog check " + kDemo, 1, "");  // the start of one command only
  EXPECT_TRUE(has(r, "did you mean \"program\"?")) << r.output;
  // Nothing close: the commands of that level instead of a guess.
  r = run_cli_at("program xyzzy", 1, "");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(has(r,
                  "unknown command \"xyzzy\" for \"circolo program\"; the commands are: check, "
                  "fmt, plan, apply, show, versions, rollback"))
      << r.output;
  EXPECT_FALSE(has(r, "did you mean")) << r.output;
  // A file where a file is expected is not a command.
  r = run_cli_at("program check /nonexistent.rules", 1, "");
  EXPECT_FALSE(has(r, "unknown command")) << r.output;
}

TEST(CliFirstHour, FmtCheckShowsTheDiffWithLineNumbers) {
  // One line indented too far in the middle of the demo: one hunk with three lines around.
  const auto demo = read(kDemo);
  const auto path = write_temp("misindented.rules",
                               replaced(demo, "  threshold 1000\n", "      threshold 1000\n"));
  auto r = run_cli_at("program fmt --check " + path, 1, "");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(has(r, "--- " + path + "\n+++ " + path +
                         " (formatted)\n"
                         "@@ -13,7 +13,7 @@\n"
                         " \n"
                         " tier \"silver\" {\n"
                         "   name \"Silver\"\n"
                         "-      threshold 1000\n"
                         "+  threshold 1000\n"
                         "   window 365 days\n"
                         "   multiplier 1.25\n"
                         " }\n"))
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '@'), 4) << r.output;  // one hunk
  EXPECT_TRUE(has(r, path + ": not formatted")) << r.output;

  // Blocks on one line and no final newline: added lines, and the marker for the last line.
  const auto compact = write_temp("compact.rules", "tier \"a\" { threshold 0 }");
  r = run_cli_at("program fmt --check " + compact, 1, "");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(has(r,
                  "@@ -1 +1,3 @@\n"
                  "-tier \"a\" { threshold 0 }\n"
                  "\\ No newline at end of file\n"
                  "+tier \"a\" {\n"
                  "+  threshold 0\n"
                  "+}\n"))
      << r.output;
  // The file is left as it is; a canonical file says nothing and passes.
  EXPECT_EQ(read(compact), "tier \"a\" { threshold 0 }");
  r = run_cli_at("program fmt --check " + kDemo, 1, "");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "");
}

TEST(CliFirstHour, PlanShowsBeforeAndAfterAndApplyConfirmsWhatAltersMembers) {
  TestDatabase database;
  ServerProcess server(database.uri());
  ASSERT_EQ(run_cli("program apply --yes " + kDemo, server).code, 0);

  auto next = read(kDemo);
  next = replaced(next, "currency \"EUR\"", "currency \"USD\"");
  next = replaced(next, "timezone \"Europe/Rome\"", "timezone \"Europe/London\"");
  next = replaced(next, "threshold 5000", "threshold 6000");
  next = replaced(next,
                  "coupon \"WELCOME5\" {\n  name \"5 euro off your next purchase\"\n  discount "
                  "5.00\n  min_total 25.00\n  valid 60 days\n}\n\n",
                  "");
  next = replaced(next, "then issue coupon \"WELCOME5\"", "then issue coupon \"COFFEE\"");
  next = replaced(next, "discount 10%", "discount 15%");
  next = replaced(next, "goal distinct event.channel reaches 3",
                  "goal distinct event.channel reaches 2");
  next = replaced(next, "name \"Welcome coupon\"", "name \"Welcome gift\"");
  next += "\ncampaign \"rainy\" {\n  rule \"r\" {\n    on visit\n    then award 1 points\n  }\n}\n";
  const auto path = write_temp("changed.rules", next);

  auto plan = run_cli("program plan " + path, server);
  EXPECT_EQ(plan.code, 0) << plan.output;
  for (const char* line : {
           "  ~ program currency: EUR -> USD\n",
           "  ~ program timezone: Europe/Rome -> Europe/London\n",
           "  ~ tier \"gold\": threshold 5000 -> 6000\n",
           "  - coupon \"WELCOME5\"\n",
           "  ~ coupon \"SHOES10\": discount 10% -> 15%\n",
           "  ~ challenge \"explorer\": goal\n"
           "      - distinct event.channel reaches 3\n"
           "      + distinct event.channel reaches 2\n",
           "  ~ campaign \"welcome\": name \"Welcome coupon\" -> \"Welcome gift\"\n",
           "  ~ campaign \"welcome\" rule \"signup\": then\n"
           "      - issue coupon \"WELCOME5\"\n"
           "      - notify \"Welcome! Here is 5 euro off your next purchase.\"\n"
           "      + issue coupon \"COFFEE\"\n"
           "      + notify \"Welcome! Here is 5 euro off your next purchase.\"\n",
           "  + campaign \"rainy\"\n",
           "1 to create, 5 to change, 1 to remove.\n",
           "WARNING: program currency EUR -> USD: ",
           "WARNING: program timezone Europe/Rome -> Europe/London: ",
           "WARNING: tier \"gold\" threshold 5000 -> 6000: members may move to another tier",
           "WARNING: coupon \"SHOES10\" discount 10% -> 15%: codes already issued keep their old "
           "terms",
           "WARNING: challenge \"explorer\" goal changes: every member's progress toward it "
           "starts again from zero",
           "WARNING: coupon \"WELCOME5\" is removed: ",
       }) {
    EXPECT_TRUE(has(plan, line)) << line << "\n" << plan.output;
  }
  // A new name or a new campaign alters nothing members have.
  EXPECT_FALSE(has(plan, "WARNING: campaign")) << plan.output;

  auto json_plan = run_cli("program plan --json " + path, server);
  ASSERT_EQ(json_plan.code, 0) << json_plan.output;
  EXPECT_EQ(json::parse(json_plan.output)["alterations"].size(), 6u) << json_plan.output;

  // Not at a terminal and no --yes: refused, nothing applied.
  auto refused = run_cli("program apply " + path, server);
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_TRUE(has(refused,
                  "circolo: not applied: 6 changes alter existing members, coupons or "
                  "balances"))
      << refused.output;
  HttpClient c(server.port());
  EXPECT_EQ(c.get("/v1/admin/program", server.admin_key()).json()["version"], 1);

  auto applied = run_cli("program apply --yes " + path, server);
  EXPECT_EQ(applied.code, 0) << applied.output;
  EXPECT_TRUE(has(applied, "Applied as version 2.")) << applied.output;
  EXPECT_EQ(c.get("/v1/admin/program", server.admin_key()).json()["version"], 2);

  // Changes without warnings: as before (refused without --yes off a terminal, for every change).
  const auto renamed = write_temp(
      "renamed.rules", replaced(next, "name \"Welcome gift\"", "name \"Welcome present\""));
  auto quiet = run_cli("program plan " + renamed, server);
  EXPECT_TRUE(
      has(quiet, "  ~ campaign \"welcome\": name \"Welcome gift\" -> \"Welcome present\"\n"))
      << quiet.output;
  EXPECT_FALSE(has(quiet, "WARNING")) << quiet.output;
  auto unconfirmed = run_cli("program apply " + renamed, server);
  EXPECT_EQ(unconfirmed.code, 2) << unconfirmed.output;
  EXPECT_TRUE(has(unconfirmed, "circolo: not applied: confirm with --yes")) << unconfirmed.output;
}

namespace {

// A campaign in every state: "always" (a budget of 1000, 10 points a purchase), "held" (1 point
// a visit), "over" (ended) and "later" (scheduled).
const std::string kFourCampaigns = R"(program {
  currency "EUR"
  timezone "Europe/Rome"
}

campaign "always" {
  name "Always on"
  budget 1000 points
  rule "earn" {
    on purchase
    then award 10 points
  }
}

campaign "held" {
  name "Held back"
  rule "visit" {
    on visit
    then award 1 points
  }
}

campaign "over" {
  name "Last year's"
  active from 2020-01-01 until 2020-02-01
  rule "earn" {
    on purchase
    then award 1 points
  }
}

campaign "later" {
  name "Next century"
  active from 2099-01-01
  rule "earn" {
    on purchase
    then award 1 points
  }
}
)";

// A purchase of 12.00 in store by the member of card 4000111122223333 (enrolled at the first).
HttpResult store_purchase(const ServerProcess& server, const std::string& key,
                          const std::string& order) {
  return HttpClient(server.port())
      .post_json("/v1/events",
                 {{"type", "purchase"},
                  {"member", {{"identifier", {{"type", "card"}, {"value", "4000111122223333"}}}}},
                  {"enroll", true},
                  {"order_id", order},
                  {"total", "12.00"},
                  {"currency", "EUR"}},
                 key, order);
}

// The first purchase after a program is applied: sent again while the program is loading.
HttpResult first_store_purchase(const ServerProcess& server, const std::string& key,
                                const std::string& order) {
  auto r = store_purchase(server, key, order);
  for (int i = 0; i < 50 && r.status >= 300; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r = store_purchase(server, key, order);
  }
  return r;
}

}  // namespace

TEST(CliFirstHour, CampaignsListShowsStateBudgetAndLastFiring) {
  TestDatabase database;
  ServerProcess server(database.uri());
  auto keys = apply_program_with_touchpoints(server, kFourCampaigns, {"store"});
  auto before = run_cli("campaigns list", server);
  EXPECT_EQ(before.code, 0) << before.output;
  EXPECT_TRUE(has(before, "CAMPAIGN")) << before.output;
  auto row = [](const struct Run& r, const std::string& id) {
    const auto at = r.output.find("\n" + id + " ");
    return at == std::string::npos ? std::string()
                                   : r.output.substr(at + 1, r.output.find('\n', at + 1) - at - 1);
  };
  EXPECT_NE(row(before, "always").find("active"), std::string::npos) << before.output;
  EXPECT_NE(row(before, "always").find("0 of 1000"), std::string::npos) << before.output;
  EXPECT_NE(row(before, "always").find("never"), std::string::npos) << before.output;
  EXPECT_NE(row(before, "over").find("ended"), std::string::npos) << before.output;
  EXPECT_NE(row(before, "later").find("scheduled"), std::string::npos) << before.output;

  HttpClient c(server.port());
  ASSERT_EQ(first_store_purchase(server, keys["store"], "R-1").status, 201);
  ASSERT_EQ(store_purchase(server, keys["store"], "R-2").status, 201);
  ASSERT_EQ(run_cli("campaign pause held", server).code, 0);
  ASSERT_EQ(run_cli("campaign pause over", server).code, 0);

  auto after = run_cli("campaigns list", server);
  EXPECT_EQ(after.code, 0) << after.output;
  EXPECT_NE(row(after, "always").find("20 of 1000"), std::string::npos) << after.output;
  EXPECT_EQ(row(after, "always").find("never"), std::string::npos) << after.output;
  EXPECT_NE(row(after, "held").find("paused"), std::string::npos) << after.output;
  EXPECT_NE(row(after, "held").find(" - "), std::string::npos) << after.output;    // no budget
  EXPECT_NE(row(after, "over").find("ended"), std::string::npos) << after.output;  // paused too

  auto listed = run_cli("campaigns list --json", server);
  ASSERT_EQ(listed.code, 0) << listed.output;
  const auto items = json::parse(listed.output)["items"];
  ASSERT_EQ(items.size(), 4u) << listed.output;
  EXPECT_EQ(items[0]["id"], "always");
  EXPECT_EQ(items[0]["name"], "Always on");
  EXPECT_EQ(items[0]["state"], "active");
  EXPECT_EQ(items[0]["budget"], json({{"points", 1000}, {"remaining", 980}}));
  EXPECT_EQ(items[0]["budget_used"], 20);
  EXPECT_TRUE(items[0]["last_fired_at"].is_string()) << listed.output;
  EXPECT_EQ(items[1]["state"], "paused");
  EXPECT_TRUE(items[1]["paused_at"].is_string()) << listed.output;
  EXPECT_TRUE(items[1]["budget"].is_null());
  EXPECT_TRUE(items[1]["last_fired_at"].is_null());
  EXPECT_EQ(items[2]["state"], "ended");
  EXPECT_EQ(items[2]["until"], "2020-01-31T23:00:00Z");  // local midnight in Rome
  EXPECT_EQ(items[3]["state"], "scheduled");
  EXPECT_EQ(items[3]["from"], "2098-12-31T23:00:00Z");

  // Resumed, the campaign is active again; a touchpoint key may not list campaigns.
  ASSERT_EQ(run_cli("campaign resume held", server).code, 0);
  EXPECT_EQ(json::parse(run_cli("campaigns list --json", server).output)["items"][1]["state"],
            "active");
  EXPECT_EQ(c.get("/v1/admin/campaigns", keys["store"]).status, 403);
}

TEST(Cli, MembersMergeShowsWhatMovesAndAsksFirst) {
  TestDatabase database;
  ServerProcess server(database.uri());
  HttpClient c(server.port());
  const auto& key = server.admin_key();
  auto create = [&](const std::string& card) {
    auto r =
        c.post_json("/v1/members", {{"identifiers", {{{"type", "card"}, {"value", card}}}}}, key);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", "");
  };
  const auto keep = create("111122223333"), duplicate = create("444455556666");
  ASSERT_EQ(c.post_json("/v1/members/" + duplicate + "/points/adjust",
                        {{"points", 40}, {"reason", "old card"}}, key)
                .status,
            201);

  // Not at a terminal and no --yes: the preview, then nothing merged.
  auto asked = run_cli("members merge " + keep + " " + duplicate, server);
  EXPECT_EQ(asked.code, 2) << asked.output;
  EXPECT_TRUE(has(asked, "points: 40 available, 0 pending (1 lots)")) << asked.output;
  EXPECT_TRUE(has(asked, "identifiers: card 444455556666")) << asked.output;
  EXPECT_TRUE(has(asked, "not merged")) << asked.output;
  EXPECT_EQ(c.get("/v1/members/" + duplicate, key).status, 200);

  auto merged = run_cli("members merge --yes " + keep + " " + duplicate, server);
  EXPECT_EQ(merged.code, 0) << merged.output;
  EXPECT_TRUE(has(merged, "points: 40 available")) << merged.output;
  EXPECT_EQ(c.get("/v1/members/" + duplicate, key).status, 410);
  EXPECT_EQ(c.get("/v1/members/" + keep, key).json()["points"]["available"], 40);
}

// The pages of --html, opened in a real browser without network: every chart is laid out with
// its lines, no script fails, and what the user named is shown as text.
TEST(Cli, HtmlPagesDrawTheirPlotsInABrowser) {
  ASSERT_EQ(std::system("command -v chromium >/dev/null 2>&1"), 0)
      << "chromium is not installed: the pages of --html are checked in it "
         "(scripts/install-deps.sh installs it; on Debian: apt-get install chromium)";
  TestDatabase database;
  ServerProcess server(database.uri());
  const auto program = replaced(kFourCampaigns, "Always on", "Earn <b>more</b> & more");
  auto keys = apply_program_with_touchpoints(server, program, {"store"});
  ASSERT_EQ(first_store_purchase(server, keys["store"], "R-1").status, 201);
  ASSERT_EQ(store_purchase(server, keys["store"], "R-2").status, 201);
  ASSERT_EQ(store_purchase(server, keys["store"], "R-3").status, 201);
  const json member{{"identifier", {{"type", "card"}, {"value", "4000111122223333"}}}};
  ASSERT_EQ(
      HttpClient(server.port())
          .post_json("/v1/events", {{"type", "visit"}, {"member", member}}, keys["store"], "V-1")
          .status,
      201);

  const std::string dir = ::testing::TempDir() + "/circolo-html-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  // The draft's budget runs out on the third purchase.
  const auto draft = write_temp("html-draft.rules", replaced(program, "1000 points", "25 points"));
  auto backtest =
      run_cli("program backtest " + draft + " --html " + dir + "/backtest.html", server);
  ASSERT_EQ(backtest.code, 0) << backtest.output;
  EXPECT_TRUE(has(backtest, "Wrote " + dir + "/backtest.html")) << backtest.output;
  EXPECT_TRUE(has(backtest, "CAMPAIGN")) << "the table as usual: " << backtest.output;
  auto report = run_cli("report campaigns --html " + dir + "/report.html", server);
  ASSERT_EQ(report.code, 0) << report.output;
  EXPECT_TRUE(has(report, "budget 1000: 30 used, 970 left")) << report.output;

  // The backtest: points per day and the draft's one budget; the report: the days of the two
  // campaigns that fired ("over" and "later" did not) and the burn-down of the one with a budget.
  for (const auto& [page, charts] : {std::pair{"backtest.html", 2}, std::pair{"report.html", 3}}) {
    SCOPED_TRACE(page);
    std::string error;
    const auto dom = browser_dom(dir + "/" + page, dir + "/profile", error);
    ASSERT_TRUE(error.empty()) << error;
    EXPECT_EQ(body_attribute(dom, "data-plots"), "ok") << dom;
    EXPECT_EQ(body_attribute(dom, "data-charts"), std::to_string(charts)) << dom;
    EXPECT_EQ(body_attribute(dom, "data-errors"), "") << dom;
    EXPECT_NE(dom.find("<p id=\"plot-errors\" class=\"errors\" hidden=\"\"></p>"),
              std::string::npos)
        << "no script error: " << dom;
    EXPECT_NE(dom.find("Earn &lt;b&gt;more&lt;/b&gt; &amp; more"), std::string::npos) << dom;
  }
  EXPECT_NE(read(dir + "/backtest.html").find("points ran out on "), std::string::npos);
  std::filesystem::remove_all(dir);
}
