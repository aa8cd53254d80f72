// End-to-end: webhooks. A receiver on loopback checks every signature; it is stopped and started
// again, answers errors, and ends with every event once, in order; dead letters are visible and
// delivered again on request; two instances never deliver an event twice.
#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <openssl/hmac.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "http_client.hpp"
#include "sealed_secrets.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using namespace std::chrono_literals;
using nlohmann::json;
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

const std::string kSecret = "whsec-test-0123456789abcdef";

std::string hmac_hex(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) {
    s += hex[out[i] >> 4];
    s += hex[out[i] & 15];
  }
  return s;
}

// A webhook receiver on loopback: checks Circolo-Signature, records events, answers `status`.
class Receiver {
 public:
  explicit Receiver(unsigned short port = 0) { start(port); }
  ~Receiver() { stop(); }
  void start(unsigned short port) {
    acceptor_ = std::make_unique<tcp::acceptor>(ioc_);
    tcp::endpoint endpoint{asio::ip::make_address("127.0.0.1"), port};
    acceptor_->open(endpoint.protocol());
    acceptor_->set_option(asio::socket_base::reuse_address(true));
    acceptor_->bind(endpoint);
    acceptor_->listen();
    port_ = acceptor_->local_endpoint().port();
    running_ = true;
    thread_ = std::thread([this] { serve(); });
  }
  void stop() {
    if (!running_) return;
    running_ = false;
    // A blocking accept does not notice a close from another thread: knock to wake it.
    {
      asio::io_context knock_ioc;
      tcp::socket knock(knock_ioc);
      beast::error_code ignored;
      knock.connect({asio::ip::make_address("127.0.0.1"), port_}, ignored);
    }
    thread_.join();
    beast::error_code ignored;
    acceptor_->close(ignored);
  }
  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hooks/circolo"; }
  std::vector<json> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  int bad_signatures() const { return bad_signatures_; }
  std::atomic<int> status{200};

  // Waits until `n` events arrived (true) or the time is up.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (events().size() >= n) return true;
      std::this_thread::sleep_for(20ms);
    }
    return events().size() >= n;
  }

 private:
  void serve() {
    while (running_) {
      beast::error_code ec;
      tcp::socket socket(ioc_);
      acceptor_->accept(socket, ec);
      if (ec || !running_) return;
      beast::flat_buffer buffer;
      http::request<http::string_body> request;
      http::read(socket, buffer, request, ec);
      if (ec) continue;
      const std::string signature(request["Circolo-Signature"]);
      const auto comma = signature.find(",v1=");
      bool valid = signature.rfind("t=", 0) == 0 && comma != std::string::npos &&
                   signature.substr(comma + 4) ==
                       hmac_hex(kSecret, signature.substr(2, comma - 2) + "." + request.body()) &&
                   request[http::field::content_type] == "application/json" &&
                   request.target() == "/hooks/circolo";
      const int answer = status.load();
      if (!valid) ++bad_signatures_;
      if (valid && answer >= 200 && answer < 300) {
        std::lock_guard lock(mutex_);
        events_.push_back(json::parse(request.body()));
      }
      http::response<http::string_body> response{static_cast<http::status>(answer), 11};
      response.body() = "ok";
      response.prepare_payload();
      http::write(socket, response, ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
    }
  }
  asio::io_context ioc_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  unsigned short port_ = 0;
  std::mutex mutex_;
  std::vector<json> events_;
  std::atomic<int> bad_signatures_{0};
};

ServerProcess::Options webhook_server(const TestDatabase& database) {
  return {database.uri(),
          {},
          {{"CIRCOLO_WEBHOOK_MAX_ATTEMPTS", "3"},
           {"CIRCOLO_WEBHOOK_BACKOFF_MS", "100"},
           {"CIRCOLO_WEBHOOK_TIMEOUT_MS", "2000"},
           // The receivers of these tests listen on loopback.
           {"CIRCOLO_WEBHOOKS_ALLOW_PRIVATE", "true"}},
          {}};
}

std::string member(HttpClient& c, const std::string& admin) {
  static int members = 0;
  return c
      .post_json(
          "/v1/members",
          {{"identifiers", {{{"type", "crm"}, {"value", "hook-" + std::to_string(++members)}}}}},
          admin)
      .json()["id"];
}

void earn(HttpClient& c, const std::string& admin, const std::string& id) {
  auto r = c.post_json("/v1/members/" + id + "/points/adjust",
                       {{"points", 1}, {"reason", "webhook test"}}, admin);
  ASSERT_EQ(r.status, 201) << r.body;
}

std::string add_webhook(HttpClient& c, const std::string& admin, const std::string& url) {
  auto r = c.post_json("/v1/admin/webhooks",
                       {{"url", url}, {"events", {"points.earned"}}, {"secret", kSecret}}, admin);
  EXPECT_EQ(r.status, 201) << r.body;
  return r.json()["id"];
}

// Every event once, in seq order, balances 1..n per member.
void expect_each_once_in_order(const std::vector<json>& events, std::size_t n) {
  ASSERT_EQ(events.size(), n);
  std::set<std::string> ids;
  std::map<std::string, long long> balance;
  long long seq = 0;
  for (const auto& e : events) {
    EXPECT_TRUE(ids.insert(e["id"]).second) << "twice: " << e["id"];
    EXPECT_GT(e["seq"].get<long long>(), seq);
    seq = e["seq"];
    EXPECT_EQ(e["data"]["balance"], ++balance[e["member_id"]]) << e.dump();
  }
}

}  // namespace

TEST(Webhooks, DeliversSignedEventsInOrderAndCatchesUpAfterAnOutage) {
  TestDatabase database;
  ServerProcess server(webhook_server(database));
  HttpClient c(server.port());
  Receiver receiver;
  const auto id = add_webhook(c, server.admin_key(), receiver.url());
  const auto a = member(c, server.admin_key()), b = member(c, server.admin_key());
  for (int i = 0; i < 10; ++i) {
    earn(c, server.admin_key(), a);
    earn(c, server.admin_key(), b);
  }
  ASSERT_TRUE(receiver.wait_for(20, 10s)) << receiver.events().size();
  EXPECT_EQ(receiver.bad_signatures(), 0);

  // Down for a while (longer than three attempts): the attempts fail and are recorded, and
  // nothing becomes a dead letter while the receiver cannot be reached at all.
  receiver.stop();
  for (int i = 0; i < 5; ++i) earn(c, server.admin_key(), a);
  std::this_thread::sleep_for(2500ms);
  auto failing =
      c.get("/v1/admin/webhooks/" + id + "/deliveries?status=failing", server.admin_key());
  ASSERT_EQ(failing.status, 200) << failing.body;
  const auto failing_items = failing.json()["items"];
  ASSERT_EQ(failing_items.size(), 1u) << failing.body;  // the head event; the rest wait behind it
  EXPECT_GE(failing_items[0]["attempts"], 3);
  EXPECT_NE(failing_items[0]["last_error"].get<std::string>().find("connect"), std::string::npos)
      << failing_items[0].dump();
  EXPECT_EQ(failing_items[0]["last_status_code"], nullptr);
  EXPECT_TRUE(c.get("/v1/admin/webhooks/" + id + "/deliveries?status=dead", server.admin_key())
                  .json()["items"]
                  .empty());

  // Back: everything arrives, once, in order (no sorting here).
  receiver.start(receiver.port());
  ASSERT_TRUE(receiver.wait_for(25, 15s)) << receiver.events().size();
  std::this_thread::sleep_for(300ms);
  expect_each_once_in_order(receiver.events(), 25);
  const auto listed = c.get("/v1/admin/webhooks", server.admin_key()).json();
  EXPECT_EQ(listed["items"][0]["lag"], 0) << listed.dump();
}

TEST(Webhooks, ErrorsBecomeDeadLettersThatCanBeRedriven) {
  TestDatabase database;
  ServerProcess server(webhook_server(database));
  HttpClient c(server.port());
  Receiver receiver;
  receiver.status = 500;
  const auto id = add_webhook(c, server.admin_key(), receiver.url());
  const auto a = member(c, server.admin_key());
  earn(c, server.admin_key(), a);
  // Three attempts (100 ms, then about 200 ms apart), then a dead letter.
  std::vector<json> dead;
  for (int i = 0; i < 100 && dead.empty(); ++i) {
    std::this_thread::sleep_for(50ms);
    dead = c.get("/v1/admin/webhooks/" + id + "/deliveries?status=dead", server.admin_key())
               .json()["items"]
               .get<std::vector<json>>();
  }
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0]["attempts"], 3);
  EXPECT_EQ(dead[0]["last_status_code"], 500);
  EXPECT_EQ(dead[0]["last_error"], "HTTP 500");
  const auto attempts =
      c.get("/v1/admin/webhooks/" + id + "/deliveries/" + dead[0]["seq"].dump(), server.admin_key())
          .json();
  ASSERT_EQ(attempts["attempts"].size(), 3u) << attempts.dump();
  for (const auto& a : attempts["attempts"]) {
    EXPECT_EQ(a["status_code"], 500);
    EXPECT_GE(a["latency_ms"], 0);
  }
  expect_problem(c.get("/v1/admin/webhooks/" + id + "/deliveries/999999", server.admin_key()), 404,
                 "unknown_delivery");
  // The next event is not held up by the dead one.
  receiver.status = 200;
  earn(c, server.admin_key(), a);
  ASSERT_TRUE(receiver.wait_for(1, 5s));
  EXPECT_EQ(receiver.events()[0]["data"]["balance"], 2);
  // Redriven: delivered now.
  auto redrive =
      c.post_json("/v1/admin/webhooks/" + id + "/deliveries/" + dead[0]["seq"].dump() + "/redrive",
                  json::object(), server.admin_key());
  ASSERT_EQ(redrive.status, 202) << redrive.body;
  ASSERT_TRUE(receiver.wait_for(2, 5s));
  EXPECT_EQ(receiver.events()[1]["data"]["balance"], 1);
  expect_problem(
      c.post_json("/v1/admin/webhooks/" + id + "/deliveries/" + dead[0]["seq"].dump() + "/redrive",
                  json::object(), server.admin_key()),
      409, "not_a_dead_letter");
  const auto trail =
      c.get("/v1/admin/audit?action=webhook.redriven&target=" + id, server.admin_key()).json();
  ASSERT_EQ(trail["items"].size(), 1u) << "the refused second one is not: " << trail.dump();
  EXPECT_EQ(trail["items"][0]["detail"]["seq"], dead[0]["seq"]);
  const auto delivered =
      c.get("/v1/admin/webhooks/" + id + "/deliveries?status=delivered", server.admin_key()).json();
  EXPECT_EQ(delivered["items"].size(), 2u);
}

TEST(Webhooks, TwoInstancesNeverDeliverAnEventTwice) {
  TestDatabase database;
  ServerProcess one(webhook_server(database)), two(webhook_server(database));
  HttpClient c1(one.port()), c2(two.port());
  Receiver receiver;
  add_webhook(c1, one.admin_key(), receiver.url());
  const auto a = member(c1, one.admin_key()), b = member(c2, two.admin_key());
  std::thread t1([&] {
    for (int i = 0; i < 30; ++i) earn(c1, one.admin_key(), a);
  });
  std::thread t2([&] {
    for (int i = 0; i < 30; ++i) earn(c2, two.admin_key(), b);
  });
  t1.join();
  t2.join();
  ASSERT_TRUE(receiver.wait_for(60, 15s)) << receiver.events().size();
  std::this_thread::sleep_for(500ms);  // a duplicate would come now
  auto events = receiver.events();
  expect_each_once_in_order(events, 60);
}

TEST(Webhooks, RegistrationIsValidatedAndWebhooksCanBeDisabled) {
  TestDatabase database;
  ServerProcess server(webhook_server(database));
  HttpClient c(server.port());
  const auto& admin = server.admin_key();
  auto bad = [&](const json& body, const std::string& field) {
    auto r = c.post_json("/v1/admin/webhooks", body, admin);
    expect_problem(r, 422, "validation_failed");
    EXPECT_NE(r.body.find("\"field\":\"" + field + "\""), std::string::npos) << r.body;
  };
  bad({{"url", "ftp://x"}, {"events", {"points.earned"}}, {"secret", kSecret}}, "url");
  bad({{"url", "http://x/y"}, {"events", {"points.earnd"}}, {"secret", kSecret}}, "events[0]");
  bad({{"url", "http://x/y"}, {"events", json::array()}, {"secret", kSecret}}, "events");
  bad({{"url", "http://x/y"}, {"events", {"points.earned"}}, {"secret", "short"}}, "secret");
  Receiver receiver;
  auto created = c.post_json(
      "/v1/admin/webhooks",
      {{"url", receiver.url()}, {"events", {"coupon.issued"}}, {"secret", kSecret}}, admin);
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_FALSE(created.json().contains("secret")) << "the secret is never shown again";
  const std::string id = created.json()["id"];
  EXPECT_EQ(
      c.request("DELETE", "/v1/admin/webhooks/" + id, "", {{"Authorization", "Bearer " + admin}})
          .status,
      204);
  expect_problem(c.get("/v1/admin/webhooks/whk_nothing/deliveries", admin), 404, "unknown_webhook");

  // Disabled: nothing more is delivered.
  const auto live = add_webhook(c, admin, receiver.url());
  const auto a = member(c, admin);
  earn(c, admin, a);
  ASSERT_TRUE(receiver.wait_for(1, 5s));
  ASSERT_EQ(
      c.request("DELETE", "/v1/admin/webhooks/" + live, "", {{"Authorization", "Bearer " + admin}})
          .status,
      204);
  earn(c, admin, a);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(receiver.events().size(), 1u);
  HttpClient other(server.port());
  auto key = other.post_json(
      "/v1/admin/keys", {{"role", "touchpoint"}, {"channel", "store"}, {"name", "pos"}}, admin);
  expect_problem(c.get("/v1/admin/webhooks", key.json()["key"].get<std::string>()), 403,
                 "forbidden");
}

// The finding: webhooks could target loopback, link-local and private addresses, and the
// delivery log then worked as a port scanner of the server's own network. By default such
// targets are refused when registered (a literal address, or a name that resolves to one) and,
// after resolving the name again, at each delivery.
TEST(Webhooks, PrivateTargetsAreRefusedUnlessAllowed) {
  TestDatabase database;
  ServerProcess server({database.uri(),
                        {},
                        {{"CIRCOLO_WEBHOOK_MAX_ATTEMPTS", "2"},
                         {"CIRCOLO_WEBHOOK_BACKOFF_MS", "100"},
                         {"CIRCOLO_WEBHOOK_TIMEOUT_MS", "2000"}},
                        {}});
  HttpClient c(server.port());
  Receiver receiver;
  for (const std::string& url :
       {receiver.url(), std::string("http://localhost:") + std::to_string(receiver.port()) + "/x",
        std::string("http://169.254.169.254/latest/meta-data"), std::string("http://10.1.2.3/x"),
        std::string("http://192.168.0.1:8080/x"), std::string("http://[::1]:22/x"),
        std::string("http://[::ffff:127.0.0.1]/x"), std::string("https://0.0.0.0/x")}) {
    SCOPED_TRACE(url);
    auto r = c.post_json("/v1/admin/webhooks",
                         {{"url", url}, {"events", {"points.earned"}}, {"secret", kSecret}},
                         server.admin_key());
    expect_problem(r, 422, "validation_failed");
    EXPECT_NE(r.body.find("CIRCOLO_WEBHOOKS_ALLOW_PRIVATE"), std::string::npos) << r.body;
  }
  EXPECT_TRUE(c.get("/v1/admin/webhooks", server.admin_key()).json()["items"].empty());

  // One registered before (or through a name that resolved elsewhere then): the delivery
  // resolves it again and refuses to connect; the receiver hears nothing.
  {
    soci::session sql(soci::postgresql, database.conninfo());
    const std::string url = receiver.url(),
                      secret = test_secrets_key().seal(
                          kSecret, circolo::engine::webhook_secret_purpose("whk_old"));
    sql << "insert into webhook_endpoints (id, url, events, secret, created_at, cursor) select "
           "'whk_old', :url, array['points.earned'], :secret, now(), coalesce(max(seq), 0) from "
           "outbox",
        soci::use(url), soci::use(secret);
  }
  earn(c, server.admin_key(), member(c, server.admin_key()));
  std::vector<json> items;
  for (int i = 0; i < 100 && items.empty(); ++i) {
    std::this_thread::sleep_for(50ms);
    items = c.get("/v1/admin/webhooks/whk_old/deliveries", server.admin_key()).json()["items"];
  }
  ASSERT_FALSE(items.empty());
  EXPECT_NE(items[0]["last_error"].get<std::string>().find("not a public address"),
            std::string::npos)
      << items[0].dump();
  EXPECT_TRUE(receiver.events().empty());
}

// Secrets at rest: the database holds the webhook's secret sealed ("v1:", not its bytes), and
// deliveries are still signed with it. A database of an older version, with the secret in
// plaintext, has it sealed at the next start, and deliveries go on.
TEST(Webhooks, SecretsAreStoredEncrypted) {
  TestDatabase database;
  auto server = std::make_unique<ServerProcess>(webhook_server(database));
  HttpClient c(server->port());
  Receiver receiver;
  const auto id = add_webhook(c, server->admin_key(), receiver.url());
  const auto stored = [&] {
    soci::session sql(soci::postgresql, database.conninfo());
    std::string secret;
    sql << "select secret from webhook_endpoints where id = :id", soci::use(id), soci::into(secret);
    return secret;
  };
  const auto expect_sealed = [&] {
    const auto secret = stored();
    EXPECT_EQ(secret.rfind("v1:", 0), 0u) << secret;
    EXPECT_EQ(secret.find(kSecret), std::string::npos) << secret;
    EXPECT_EQ(test_secrets_key().open(secret, circolo::engine::webhook_secret_purpose(id)),
              kSecret);
  };
  expect_sealed();
  const auto a = member(c, server->admin_key());
  earn(c, server->admin_key(), a);
  ASSERT_TRUE(receiver.wait_for(1, 10s));

  server->signal(SIGTERM);
  ASSERT_EQ(server->wait_exit(20s), 0);
  {
    soci::session sql(soci::postgresql, database.conninfo());
    // As an older version left it: the secret in plaintext, and no lease (a lease the stopped
    // server still held would delay the next delivery by its length, a minute).
    sql << "update webhook_endpoints set secret = :secret, lease_until = null, leased_by = null "
           "where id = :id",
        soci::use(kSecret), soci::use(id);
  }
  server = std::make_unique<ServerProcess>(webhook_server(database));
  EXPECT_TRUE(server->wait_for_log("encrypted: server=0 webhooks=1", 5s)) << server->log();
  expect_sealed();
  HttpClient again(server->port());
  earn(again, server->admin_key(), a);
  ASSERT_TRUE(receiver.wait_for(2, 10s));
  EXPECT_EQ(receiver.bad_signatures(), 0);
}
