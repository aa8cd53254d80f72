// End-to-end: admission control. Idle sockets cannot crowd out other clients: a connection that
// says nothing is closed soon, one client address holds a bounded number of connections, and
// the server as a whole never accepts more than it can serve; refusals are short answers.
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string kHealth = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

HttpResult health_from(unsigned short port, const std::string& from) {
  RawConnection c(port, from);
  c.send(kHealth);
  return c.read_response(3s);
}

// The finding: ~1,000 idle sockets made /healthz time out. With the defaults, one address holds
// at most 128 connections; the others it opens are refused at once, and another client is
// served as usual.
TEST(Admission, IdleSocketsFromOneAddressDoNotCrowdOutOthers) {
  TestDatabase database;
  ServerProcess server(database.uri());
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 128; ++i) idle.push_back(std::make_unique<RawConnection>(server.port()));
  // One more from the same address: refused with a short answer, not left waiting.
  RawConnection extra(server.port());
  extra.send(kHealth);
  const auto refused = extra.read_response(3s);
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(refused.json()["code"], "too_many_connections") << refused.body;
  EXPECT_EQ(refused.headers.at("retry-after"), "1");
  // Many more: all refused quickly, and another address is served meanwhile.
  for (int i = 0; i < 400; ++i) idle.push_back(std::make_unique<RawConnection>(server.port()));
  EXPECT_EQ(health_from(server.port(), "127.0.0.2").status, 200);
}

// A connection's first request has a few seconds (CIRCOLO_HEADER_TIMEOUT_MS) to arrive; once the
// idle sockets are closed, their address is served again.
TEST(Admission, SilentConnectionsAreClosedAndFreeTheirPlaces) {
  TestDatabase database;
  ServerProcess server(
      {database.uri(),
       "",
       {{"CIRCOLO_HEADER_TIMEOUT_MS", "2000"}, {"CIRCOLO_MAX_CONNECTIONS_PER_ADDRESS", "8"}},
       {}});
  // From an address of their own: the start-up's readiness probes came from 127.0.0.1, and on a
  // loaded machine the server may count one of them a moment longer (the 8th idle socket would
  // then be refused with a 429, which is not the silence this test is about).
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 8; ++i)
    idle.push_back(std::make_unique<RawConnection>(server.port(), "127.0.0.4"));
  EXPECT_EQ(health_from(server.port(), "127.0.0.4").status, 429);
  for (auto& c : idle) EXPECT_TRUE(c->closed_by_server(8s)) << "an idle socket is closed soon";
  EXPECT_EQ(health_from(server.port(), "127.0.0.4").status, 200);
  // A kept-alive connection that has sent a request keeps the longer idle timeout.
  HttpClient client(server.port());
  EXPECT_EQ(client.get("/healthz").status, 200);
}

TEST(Admission, TheServerAsAWholeRefusesBeyondItsCap) {
  TestDatabase database;
  ServerProcess server({database.uri(), "", {{"CIRCOLO_MAX_CONNECTIONS", "6"}}, {}});
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<RawConnection>(server.port()));
  for (int i = 0; i < 3; ++i)
    idle.push_back(std::make_unique<RawConnection>(server.port(), "127.0.0.3"));
  const auto refused = health_from(server.port(), "127.0.0.2");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.json()["code"], "too_many_connections");
  idle.pop_back();
  // The closed place is free again once the server has seen the connection end.
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    served = health_from(server.port(), "127.0.0.2").status == 200;
    if (!served) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(served);
}

// Method names the server does not know are 501 and one metrics label: a client cannot grow the
// metrics (memory) by sending made-up methods.
TEST(Admission, UnknownMethodsAre501UnderOneMetricsLabel) {
  TestDatabase database;
  ServerProcess server(database.uri());
  for (int i = 0; i < 50; ++i) {
    RawConnection c(server.port());
    c.send("XMETHOD" + std::to_string(i) + " /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto r = c.read_response(3s);
    ASSERT_EQ(r.status, 501) << r.body;
    EXPECT_EQ(r.json()["code"], "method_not_implemented");
  }
  const auto metrics = HttpClient(server.port()).get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.body.find("XMETHOD"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("method=\"OTHER\",status=\"501\"} 50"), std::string::npos)
      << metrics.body;
}

// Bytes that are not UTF-8 in a path or query are a bad request, not an internal error.
TEST(Admission, InvalidUtf8InAPathOrQueryIs400) {
  TestDatabase database;
  ServerProcess server(database.uri());
  HttpClient c(server.port());
  for (const char* target : {"/v1/members/%FF%FE", "/v1/members/mem_x/ledger?cursor=%C0%B1",
                             "/v1/feed?types=%ED%A0%80", "/v1/no/%FF"}) {
    SCOPED_TRACE(target);
    expect_problem(c.get(target, server.admin_key()), 400, "malformed_request");
  }
  EXPECT_EQ(c.get("/v1/members/%C3%A9", server.admin_key()).status, 404) << "UTF-8 is fine";
  // In a header, and inside a JSON string of a body: the same answer, nothing stored.
  expect_problem(
      c.request("GET", "/v1/members/lookup?type=card&value=40001234", "",
                {{"Authorization", "Bearer " + server.admin_key()}, {"X-Note", "caf\xC3"}}),
      400, "malformed_request");
  const auto bad_body = c.request(
      "POST", "/v1/members", "{\"identifiers\":[{\"type\":\"app\",\"value\":\"\xC0\xB1\"}]}",
      {{"Authorization", "Bearer " + server.admin_key()}, {"Content-Type", "application/json"}});
  EXPECT_EQ(bad_body.status, 400) << bad_body.body;
}

}  // namespace
