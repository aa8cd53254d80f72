// End-to-end: segments kept exact by events, by the job after a program change and on its
// schedule; campaign audiences; static lists uploaded as CSV; segment.entered / segment.left
// in the feed; who may read what.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "cli_run.hpp"
#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using nlohmann::json;

namespace {

const char* kProgram = R"(program { currency "EUR" }

segment "buyers" {
  name "Buyers"
  when member.purchases >= 1
}

segment "flagged" {
  name "Flagged by head office"
  when member.attributes.flagged == true
}

segment "vip" {
  name "VIP list"
  static
}

campaign "base" {
  rule "earn" {
    on purchase
    then award floor(event.total) points
  }
}

campaign "welcome-back" {
  name "Visits of buyers and VIPs"
  audience "buyers", "vip"
  rule "bonus" {
    on visit
    then award 7 points
  }
}
)";

class Segments : public ::testing::Test {
 protected:
  Segments()
      : server_(ServerProcess::Options{
            database_.uri(), {}, {{"CIRCOLO_SEGMENT_REFRESH_SECONDS", "2"}}, {}, true}),
        c_(server_.port()),
        admin_(server_.admin_key()),
        keys_(apply_program_with_touchpoints(server_, kProgram, {"store", "app"})) {}

  std::string enrol(const std::string& card) {
    auto created = c_.post_json(
        "/v1/members", {{"identifiers", {{{"type", "card"}, {"value", card}}}}}, keys_["store"]);
    EXPECT_EQ(created.status, 201) << created.body;
    return created.json()["id"];
  }
  json send(json body, const std::string& idempotency) {
    auto r = c_.post_json("/v1/events", body, keys_["store"], idempotency);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json();
  }
  json purchase(const std::string& id, const std::string& total, const std::string& key) {
    return send(
        {{"type", "purchase"}, {"member", {{"id", id}}}, {"total", total}, {"currency", "EUR"}},
        key);
  }
  json visit(const std::string& id, const std::string& key) {
    return send({{"type", "visit"}, {"member", {{"id", id}}}}, key);
  }
  std::vector<std::string> segments_of(const std::string& id, const std::string& key = "") {
    auto r = c_.get("/v1/members/" + id + "/segments", key.empty() ? admin_ : key);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> out;
    const auto body = r.json();
    for (const auto& s : body["segments"]) out.push_back(s["id"]);
    return out;
  }
  // segment.entered / segment.left of a member in the feed, as "type segment cause".
  std::vector<std::string> feed(const std::string& id) {
    auto r = c_.get("/v1/feed?types=segment.entered,segment.left&member=" + id, admin_);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> out;
    const auto body = r.json();
    for (const auto& e : body["items"])
      out.push_back(e["type"].get<std::string>() + " " + e["data"]["segment"].get<std::string>() +
                    " " + e["data"]["cause"].get<std::string>());
    return out;
  }
  HttpResult upload(const std::string& segment, const std::string& csv) {
    return c_.request("PUT", "/v1/segments/" + segment + "/members", csv,
                      {{"Authorization", "Bearer " + admin_}, {"Content-Type", "text/csv"}});
  }
  // Waits until every segment is evaluated and the last run finished.
  json settled() {
    json body;
    for (int i = 0; i < 150; ++i) {
      body = c_.get("/v1/segments", admin_).json();
      bool done = !body["run"].is_null() && !body["run"]["finished_at"].is_null();
      for (const auto& s : body["segments"]) done = done && s["evaluated"].get<bool>();
      if (done) return body;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "segments never settled: " << body.dump();
    return body;
  }

  TestDatabase database_;
  ServerProcess server_;
  HttpClient c_;
  std::string admin_;
  std::map<std::string, std::string> keys_;
};

TEST_F(Segments, EventsMoveMembersAndAudiencesFollow) {
  const auto id = enrol("4000000000000101");
  // Not a buyer yet: the audience keeps the bonus away.
  EXPECT_EQ(visit(id, "v1")["effects"].size(), 0u);
  EXPECT_TRUE(segments_of(id).empty());
  purchase(id, "20.00", "p1");
  EXPECT_EQ(segments_of(id), std::vector<std::string>{"buyers"});
  EXPECT_EQ(feed(id), std::vector<std::string>{"segment.entered buyers event"});
  // Now a buyer: the visit earns the bonus.
  const auto second = visit(id, "v2");
  ASSERT_EQ(second["effects"].size(), 1u) << second.dump();
  EXPECT_EQ(second["effects"][0]["campaign"], "welcome-back");
  // Consent travels with the event: the push provider may use only what the member agreed to.
  auto r = c_.get("/v1/feed?types=segment.entered&member=" + id, admin_);
  const auto body = r.json();
  EXPECT_EQ(body["items"][0]["data"]["marketing_channels"], json::array());
  EXPECT_EQ(body["items"][0]["data"]["name"], "Buyers");
  // The CLI lists the member's segments and the segments with their counts.
  const auto cli = run_cli("members segments " + id, server_, admin_);
  ASSERT_EQ(cli.code, 0) << cli.output;
  EXPECT_TRUE(has(cli, "buyers")) << cli.output;
  const auto list = run_cli("segments list", server_, admin_);
  ASSERT_EQ(list.code, 0) << list.output;
  EXPECT_TRUE(has(list, "buyers")) << list.output;
  EXPECT_TRUE(has(list, "vip")) << list.output;
}

TEST_F(Segments, StaticListsUploadedAsCsv) {
  const auto a = enrol("4000000000000202");
  const auto b = enrol("4000000000000303");
  auto r = upload("vip", "type,value\ncard,4000000000000202\nmem_nobody\ncard,4000000000000999\n");
  ASSERT_EQ(r.status, 200) << r.body;
  auto body = r.json();
  EXPECT_EQ(body["members"], 1);
  EXPECT_EQ(body["entered"], 1);
  EXPECT_EQ(body["left"], 0);
  EXPECT_EQ(body["unknown_count"], 2);
  EXPECT_EQ(body["unknown"][0]["line"], 4);
  EXPECT_EQ(body["unknown"][1]["value"], "mem_nobody");
  EXPECT_EQ(segments_of(a), std::vector<std::string>{"vip"});
  // In the audience by the list alone.
  EXPECT_EQ(visit(a, "va")["effects"].size(), 1u);
  // The list replaced: a leaves, b enters; the same upload again changes nothing.
  r = upload("vip", b + "\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["entered"], 1);
  EXPECT_EQ(r.json()["left"], 1);
  EXPECT_EQ(upload("vip", b + "\n").json()["entered"], 0);
  EXPECT_EQ(feed(a),
            (std::vector<std::string>{"segment.entered vip upload", "segment.left vip upload"}));
  // Paged JSON and a CSV export.
  auto page = c_.get("/v1/segments/vip/members?limit=10", admin_).json();
  ASSERT_EQ(page["members"].size(), 1u);
  EXPECT_EQ(page["members"][0]["id"], b);
  EXPECT_TRUE(page["next_cursor"].is_null());
  auto csv = c_.request("GET", "/v1/segments/vip/members", "",
                        {{"Authorization", "Bearer " + admin_}, {"Accept", "text/csv"}});
  ASSERT_EQ(csv.status, 200);
  EXPECT_EQ(csv.body, "member_id,name,email,phone\n" + b + ",,,\n");
  // The export goes back in as it is (with a spreadsheet's byte order mark): nothing changes.
  r = upload("vip", "\xEF\xBB\xBF" + csv.body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["members"], 1);
  EXPECT_EQ(r.json()["entered"], 0);
  EXPECT_EQ(r.json()["left"], 0);
  // Bad input changes nothing: a line that is neither, a dynamic segment, an unknown one.
  expect_problem(upload("vip", "card,12ab\n"), 422, "validation_failed");
  expect_problem(upload("buyers", a + "\n"), 409, "segment_not_static");
  expect_problem(upload("nope", a + "\n"), 404, "unknown_segment");
  EXPECT_EQ(segments_of(b), std::vector<std::string>{"vip"});
  // Who sees a member's segments: the till, the member's own app; not another member's.
  EXPECT_EQ(segments_of(b, keys_["store"]), std::vector<std::string>{"vip"});
  const std::string token_b =
      c_.post_json("/v1/members/" + b + "/tokens", json::object(), keys_["store"]).json()["token"];
  EXPECT_EQ(segments_of(b, token_b), std::vector<std::string>{"vip"});
  EXPECT_EQ(c_.get("/v1/members/" + a + "/segments", token_b).status, 403);
  // Segment lists are head office's: a touchpoint key may not read them.
  EXPECT_EQ(c_.get("/v1/segments", keys_["store"]).status, 403);
}

TEST_F(Segments, TheJobFollowsProgramChangesAndTheSchedule) {
  const auto a = enrol("4000000000000404");
  const auto b = enrol("4000000000000505");
  purchase(a, "80.00", "pa");
  settled();
  // Head office flags b outside any event: the scheduled run (every 2 s here) takes it in.
  auto patched =
      c_.request("PATCH", "/v1/members/" + b, json{{"attributes", {{"flagged", true}}}}.dump(),
                 {{"Authorization", "Bearer " + admin_}, {"Content-Type", "application/json"}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  for (int i = 0; i < 100 && segments_of(b).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(segments_of(b), std::vector<std::string>{"flagged"});
  EXPECT_EQ(feed(b), std::vector<std::string>{"segment.entered flagged schedule"});

  // A new program: "buyers" now needs two purchases, "rich" is new, "flagged" is gone.
  std::string next = kProgram;
  next.replace(next.find("member.purchases >= 1"), 21, "member.purchases >= 2");
  next.replace(next.find("segment \"flagged\""), 0,
               "segment \"rich\" {\n  name \"Rich\"\n  when member.points >= 50\n}\n\n");
  const auto flagged_at = next.find("segment \"flagged\"");
  next.erase(flagged_at, next.find("segment \"vip\"") - flagged_at);
  // The CLI applies it and waits while the job evaluates every member.
  const std::string file = "/tmp/segments-e2e-" + std::to_string(::getpid()) + ".rules";
  std::ofstream(file) << next;
  const auto applied = run_cli("program apply --yes " + file, server_, admin_);
  std::remove(file.c_str());
  ASSERT_EQ(applied.code, 0) << applied.output;
  EXPECT_TRUE(has(applied, "Segments evaluated: 2 members, 1 entered, 2 left.")) << applied.output;
  const auto body = settled();
  EXPECT_EQ(body["run"]["reason"], "program");
  EXPECT_EQ(segments_of(a), std::vector<std::string>{"rich"});
  EXPECT_TRUE(segments_of(b).empty());
  EXPECT_EQ(feed(a),
            (std::vector<std::string>{"segment.entered buyers event", "segment.left buyers program",
                                      "segment.entered rich program"}));
  EXPECT_EQ(feed(b), (std::vector<std::string>{"segment.entered flagged schedule",
                                               "segment.left flagged program"}));
  for (const auto& s : body["segments"]) {
    if (s["id"] == "rich") {
      EXPECT_EQ(s["members"], 1);
      EXPECT_EQ(s["condition"], "member.points >= 50");
    }
  }
}

}  // namespace
