// Golden tests of the CLI's output, for people and with --json: each case runs `circolo ARGS`
// against a real circolod with a fixed program and members, normalises what changes from run to
// run (ids, times, ports, secrets) and compares with tests/cli/golden/NAME.out (first line: the
// exit code). CIRCOLO_UPDATE_GOLDEN=1 rewrites the files instead (review the diff).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using nlohmann::json;

namespace {

const std::string kDemo = CIRCOLO_EXAMPLES_DIR "/demo.rules";
const std::string kPurchase = CIRCOLO_EXAMPLES_DIR "/purchase.json";
const std::string kGolden = CIRCOLO_CLI_GOLDEN_DIR;

std::string normalise(std::string text) {
  static const std::vector<std::pair<std::regex, std::string>> rules = {
      {std::regex(R"(\b(mem|key|ev|req|oe)_[a-z0-9]{8,})"), "$1_*"},
      {std::regex(R"(ck_[A-Za-z0-9_-]{20,})"), "ck_*"},
      {std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d))"), "<time>"},
      {std::regex(R"(127\.0\.0\.1:\d+)"), "127.0.0.1:<port>"},
  };
  // Where the checkout lives differs between machines.
  const std::string examples = CIRCOLO_EXAMPLES_DIR;
  for (auto at = text.find(examples); at != std::string::npos; at = text.find(examples, at))
    text.replace(at, examples.size(), "<examples>");
  for (const auto& [re, replacement] : rules) text = std::regex_replace(text, re, replacement);
  // Table padding after a time depends on its length (a time with 0 µs has no fraction).
  return std::regex_replace(text, std::regex("<time> +"), "<time> ");
}

std::string run(const ServerProcess& server, const std::string& args) {
  const std::string command = "CIRCOLO_URL=http://127.0.0.1:" + std::to_string(server.port()) +
                              " CIRCOLO_KEY='" + server.admin_key() +
                              "' XDG_CONFIG_HOME=/nonexistent " + CIRCOLO_CLI_PATH +
                              std::string(" ") + args + " </dev/null 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::array<char, 4096> buffer{};
  std::string out;
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  return "exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + "\n" +
         normalise(out);
}

void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = kGolden + "/" + name + ".out";
  if (const char* update = std::getenv("CIRCOLO_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path << " is missing: run with CIRCOLO_UPDATE_GOLDEN=1 to create it";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(actual, expected.str()) << "golden file " << path;
}

}  // namespace

TEST(CliGolden, HumanAndJsonOutput) {
  TestDatabase database;
  ServerProcess server(database.uri());
  HttpClient c(server.port());
  const auto& admin = server.admin_key();
  // A member with a card and a name, and one with points (an adjustment that never expires).
  auto anna = c.post_json("/v1/members",
                          {{"identifiers", {{{"type", "card"}, {"value", "4000123412341234"}}}},
                           {"profile", {{"name", "Anna Rossi"}}}},
                          admin);
  ASSERT_EQ(anna.status, 201) << anna.body;
  const std::string anna_id = anna.json()["id"];
  ASSERT_EQ(c.post_json("/v1/members/" + anna_id + "/points/adjust",
                        {{"points", 250}, {"reason", "welcome gift"}}, admin)
                .status,
            201);

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"check_demo", "program check " + kDemo},
      {"unknown_command", "program chek " + kDemo},
      {"check_demo_json", "program check --json " + kDemo},
      {"plan_demo", "program plan " + kDemo},
      {"plan_demo_json", "program plan --json " + kDemo},
      {"apply_demo", "program apply --yes " + kDemo},
      {"apply_again", "program apply --yes " + kDemo},
      {"versions", "program versions"},
      {"simulate_purchase", "simulate --active --event " + kPurchase + " --member " + anna_id},
      {"simulate_purchase_json",
       "simulate --active --json --event " + kPurchase + " --member " + anna_id},
      {"members_find", "members find --card '4000 1234 1234 1234'"},
      {"members_find_json", "members find --json --card 4000123412341234"},
      {"members_show", "members show " + anna_id},
      {"members_show_missing", "members show mem_nobody"},
      {"campaign_pause", "campaign pause weekend-double"},
      {"campaign_pause_unknown", "campaign pause nope"},
      {"keys_list", "keys list"},
      {"report_liability", "report liability"},
      {"report_liability_json", "report liability --json"},
  };
  for (const auto& [name, args] : cases) {
    SCOPED_TRACE(name);
    expect_golden(name, run(server, args));
  }
}
