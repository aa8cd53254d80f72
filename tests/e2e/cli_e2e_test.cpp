// The circolo CLI driven against a real circolod: plan, apply, versions, simulate, keys, and
// its refusals (problem+json explained, exit codes).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <array>
#include <cstdio>

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
  const std::string command = "CIRCOLO_URL=http://127.0.0.1:" + std::to_string(server.port()) +
                              " CIRCOLO_KEY='" + (key.empty() ? server.admin_key() : key) +
                              "' " CIRCOLO_CLI_PATH " " + args + " </dev/null 2>&1";
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
  EXPECT_NE(run_cli("members show " + id, server).output.find("70 available"), std::string::npos);
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
