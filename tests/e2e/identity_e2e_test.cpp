// End-to-end: one customer on every touchpoint. Several identifiers naming one member (and
// linking the new ones), conflicts that change nothing, link codes from the app to the till,
// admin unlinking, and merges that keep the journey (preview, tier qualification).
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <future>
#include <set>
#include <vector>

#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using nlohmann::json;

namespace {

const char* kProgram = R"(program {
  currency "EUR"
  timezone "Europe/Rome"
}

tier "member" {
  threshold 0
}

tier "silver" {
  threshold 100
  window 365 days
}

campaign "base" {
  rule "earn" {
    on purchase
    then award floor(event.total) points
  }

  rule "newsletter" {
    on signup
    when member.attributes.newsletter == true
    then award 7 points
  }
}
)";

class Identity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    database_ = new TestDatabase();
    server_ = new ServerProcess(database_->uri());
    keys_ = apply_program_with_touchpoints(*server_, kProgram, {"store", "app", "web"});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete database_;
  }

  HttpClient client() { return HttpClient(server_->port()); }
  const std::string& admin() { return server_->admin_key(); }
  std::string unique(const std::string& prefix) {
    return prefix + std::to_string(counter_++) + "-" + std::to_string(::getpid());
  }
  // A card number: digits only, as cards are stored.
  std::string number(const std::string& prefix) {
    return prefix + std::to_string(counter_++) + std::to_string(::getpid());
  }
  json card(const std::string& value) { return {{"type", "card"}, {"value", value}}; }
  json email(const std::string& value) { return {{"type", "email"}, {"value", value}}; }

  HttpResult event(json body, const std::string& channel) {
    return client().post_json("/v1/events", body, keys_[channel], unique("ev-"));
  }
  json purchase(json member, const std::string& total) {
    return {{"type", "purchase"},
            {"member", std::move(member)},
            {"total", total},
            {"currency", "EUR"},
            {"order_id", unique("o-")}};
  }
  std::string enrol(const json& identifier, const std::string& channel = "web") {
    auto r = event({{"type", "signup"}, {"member", {{"identifier", identifier}}}, {"enroll", true}},
                   channel);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("member_id", "");
  }
  json member(const std::string& id) { return client().get("/v1/members/" + id, admin()).json(); }
  std::vector<std::string> identifier_values(const std::string& id) {
    std::vector<std::string> out;
    const auto m = member(id);
    for (const auto& i : m["identifiers"]) out.push_back(i["value"]);
    return out;
  }
  json timeline(const std::string& id) {
    return client().get("/v1/members/" + id + "/timeline", admin()).json()["items"];
  }
  static json entry(const json& items, const std::string& type) {
    for (const auto& e : items)
      if (e["type"] == type) return e;
    return nullptr;
  }
  std::string token_for(const std::string& id) {
    auto r = client().post_json("/v1/members/" + id + "/tokens", json::object(), keys_["app"]);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("token", "");
  }

  static TestDatabase* database_;
  static ServerProcess* server_;
  static std::map<std::string, std::string> keys_;
  static std::atomic<int> counter_;
};

TestDatabase* Identity::database_ = nullptr;
ServerProcess* Identity::server_ = nullptr;
std::map<std::string, std::string> Identity::keys_;
std::atomic<int> Identity::counter_{0};

TEST_F(Identity, AnyIdentifierFindsTheMemberAndNewOnesAreLinkedWhenAsked) {
  const auto mail = unique("anna") + "@example.com";
  const auto id = enrol(email(mail));
  const auto new_card = number("4000");

  // The till knows the email and a new card: the member is found; without "link" the card stays
  // unknown...
  auto plain = event(purchase({{"identifiers", {card(new_card), email(mail)}}}, "10.00"), "store");
  ASSERT_EQ(plain.status, 201) << plain.body;
  EXPECT_EQ(plain.json()["member_id"], id);
  EXPECT_EQ(identifier_values(id).size(), 1u);
  // ...with "link" it becomes the member's, recorded on its timeline with channel and key.
  auto linked = event(
      [&] {
        auto p = purchase({{"identifiers", {card(new_card), email(mail)}}}, "20.00");
        p["link"] = true;
        return p;
      }(),
      "store");
  ASSERT_EQ(linked.status, 201) << linked.body;
  EXPECT_EQ(linked.json()["member_id"], id);
  EXPECT_EQ(identifier_values(id), (std::vector<std::string>{mail, new_card}));
  const auto link = entry(timeline(id), "identifier.linked");
  ASSERT_FALSE(link.is_null());
  EXPECT_EQ(link["channel"], "store");
  EXPECT_EQ(link["data"]["identifier"]["value"], new_card);
  EXPECT_TRUE(link["data"]["key"].get<std::string>().starts_with("key_"));
  // Now the card alone finds her; enrol with known identifiers creates nobody.
  auto by_card = event(purchase({{"identifier", card(new_card)}}, "1.00"), "store");
  EXPECT_EQ(by_card.json()["member_id"], id);
  auto again = event({{"type", "signup"},
                      {"member", {{"identifiers", {card(new_card), email(mail)}}}},
                      {"enroll", true}},
                     "web");
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.json()["member_id"], id);
  EXPECT_FALSE(again.json().contains("enrolled"));
}

// The findings: a card typed with full-width digits or a trailing zero-width space, or an email
// in another Unicode form, created a new member. One spelling for what reads the same (NFKC);
// invisible characters are refused and change nothing.
TEST_F(Identity, WhatReadsTheSameIsTheSameIdentifier) {
  const auto digits = number("4000");
  const auto id = enrol(card(digits), "store");
  std::string wide;  // the same number in full-width digits (U+FF10..U+FF19)
  for (const char c : digits)
    wide += "\xEF\xBC" + std::string(1, static_cast<char>(0x90 + (c - '0')));
  auto again = event(purchase({{"identifier", card(wide)}}, "10.00"), "store");
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.json()["member_id"], id);

  const auto mail = unique("jos") + "\xC3\xA9@example.com";  // é composed
  const auto mail_id = enrol(email(mail));
  std::string upper_decomposed = mail;
  upper_decomposed.replace(upper_decomposed.find("jos"), 3, "JOS");
  upper_decomposed.replace(upper_decomposed.find("\xC3\xA9"), 2, "E\xCC\x81");  // É decomposed
  auto found = event(purchase({{"identifier", email(upper_decomposed)}}, "10.00"), "web");
  ASSERT_EQ(found.status, 201) << found.body;
  EXPECT_EQ(found.json()["member_id"], mail_id);

  auto hidden = event({{"type", "signup"},
                       {"member", {{"identifier", card(digits + "\xE2\x80\x8B")}}},
                       {"enroll", true}},
                      "store");
  expect_problem(hidden, 422, "validation_failed");
}

TEST_F(Identity, SeveralUnknownIdentifiersEnrolOneMemberWithAllOfThem) {
  const auto c = number("5000"), m = unique("new") + "@example.com";
  auto r = event(
      {{"type", "signup"}, {"member", {{"identifiers", {card(c), email(m)}}}}, {"enroll", true}},
      "store");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json()["enrolled"], true);
  const std::string id = r.json()["member_id"];
  EXPECT_EQ(identifier_values(id), (std::vector<std::string>{c, m}));
  // Without enroll, nobody known is 404, and nothing is created.
  const auto other = number("6000");
  expect_problem(
      event(purchase({{"identifiers", {card(other), email(unique("x") + "@x.it")}}}, "5.00"),
            "store"),
      404, "unknown_member");
  EXPECT_EQ(client().get("/v1/members/lookup?type=card&value=" + other, admin()).status, 404);
}

TEST_F(Identity, IdentifiersOfTwoMembersAreAConflictNamingBothAndChangeNothing) {
  const auto a_mail = unique("a") + "@example.com", b_card = number("7000");
  const auto a = enrol(email(a_mail));
  const auto b = enrol(card(b_card), "store");
  const auto spare = number("8000");
  auto r = event(
      [&] {
        auto p = purchase({{"identifiers", {email(a_mail), card(b_card), card(spare)}}}, "50.00");
        p["link"] = true;
        return p;
      }(),
      "store");
  expect_problem(r, 409, "identifiers_conflict");
  auto members = r.json()["members"];
  EXPECT_EQ(members.size(), 2u);
  EXPECT_NE(std::find(members.begin(), members.end(), a), members.end()) << r.body;
  EXPECT_NE(std::find(members.begin(), members.end(), b), members.end()) << r.body;
  // Nothing changed: no points, no link, no event.
  EXPECT_EQ(member(a)["points"]["available"], 0);
  EXPECT_EQ(member(b)["points"]["available"], 0);
  EXPECT_EQ(client().get("/v1/members/lookup?type=card&value=" + spare, admin()).status, 404);
  // The same on member creation.
  auto created = client().post_json(
      "/v1/members", {{"identifiers", {email(a_mail), card(b_card)}}, {"link", true}}, admin());
  expect_problem(created, 409, "identifiers_conflict");
}

TEST_F(Identity, MemberCreationFindsTheOwnerAndLinksWithLink) {
  const auto mail = unique("c") + "@example.com", c = number("9000");
  const auto id = enrol(email(mail));
  auto without =
      client().post_json("/v1/members", {{"identifiers", {email(mail), card(c)}}}, keys_["store"]);
  expect_problem(without, 409, "identifier_taken");
  auto with = client().post_json(
      "/v1/members", {{"identifiers", {email(mail), card(c)}}, {"link", true}}, keys_["store"]);
  ASSERT_EQ(with.status, 200) << with.body;
  EXPECT_EQ(with.json()["id"], id);
  EXPECT_EQ(identifier_values(id), (std::vector<std::string>{mail, c}));
}

TEST_F(Identity, ALinkCodeFromTheAppIdentifiesTheMemberAtTheTillOnce) {
  const auto mail = unique("d") + "@example.com";
  const auto id = enrol(email(mail), "app");
  const auto token = token_for(id);
  auto minted = client().post_json("/v1/members/" + id + "/link-codes", json::object(), token);
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string code = minted.json()["code"];
  EXPECT_EQ(code.size(), 9u) << code;  // XXXX-XXXX
  const auto trail =
      client().get("/v1/admin/audit?action=link_code.created&target=" + id, admin()).json();
  ASSERT_EQ(trail["items"].size(), 1u) << trail.dump();
  EXPECT_EQ(trail["items"][0]["actor"], "member:" + id);
  EXPECT_EQ(trail.dump().find(code), std::string::npos) << "the code is a bearer secret";
  // A token cannot ask for another member's code.
  const auto other = enrol(email(unique("e") + "@example.com"));
  expect_problem(client().post_json("/v1/members/" + other + "/link-codes", json::object(), token),
                 403, "forbidden");

  // The till types it (lower case, no dash) with the new card: the member is identified and
  // the card linked.
  std::string typed;
  for (char ch : code)
    if (ch != '-') typed += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const auto new_card = number("4100");
  auto paid =
      event(purchase({{"link_code", typed}, {"identifiers", {card(new_card)}}}, "30.00"), "store");
  ASSERT_EQ(paid.status, 201) << paid.body;
  EXPECT_EQ(paid.json()["member_id"], id);
  EXPECT_EQ(identifier_values(id), (std::vector<std::string>{mail, new_card}));
  // Used: a clear 409, and the second purchase is not applied.
  auto reused = event(purchase({{"link_code", code}}, "30.00"), "store");
  expect_problem(reused, 409, "link_code_used");
  EXPECT_EQ(member(id)["points"]["available"], 30);
  expect_problem(event(purchase({{"link_code", "ZZZZ-ZZZZ"}}, "1.00"), "store"), 404,
                 "unknown_link_code");

  // A code whose event is refused after the code was checked and used (a basket code that
  // does not exist is refused by the decision) stays unused: the transaction rolled back.
  auto second = client().post_json("/v1/members/" + id + "/link-codes", json::object(), token);
  const std::string code2 = second.json()["code"];
  auto with_bad_coupon = purchase({{"link_code", code2}}, "2.00");
  with_bad_coupon["coupons"] = {"WELCOME5-22222222222"};
  expect_problem(event(with_bad_coupon, "store"), 404, "unknown_coupon");
  auto accepted = event(purchase({{"link_code", code2}}, "2.00"), "store");
  EXPECT_EQ(accepted.status, 201) << accepted.body;

  // A code with an identifier of another member: a conflict, and the code stays unused.
  auto third = client().post_json("/v1/members/" + id + "/link-codes", json::object(), token);
  const std::string code3 = third.json()["code"];
  const auto others_card = number("4200");
  ASSERT_EQ(event(purchase({{"identifier", card(others_card)}}, "1.00"), "store").status, 404);
  const auto stranger = enrol(card(others_card), "store");
  expect_problem(
      event(purchase({{"link_code", code3}, {"identifiers", {card(others_card)}}}, "1.00"),
            "store"),
      409, "identifiers_conflict");
  EXPECT_EQ(event(purchase({{"link_code", code3}}, "1.00"), "store").status, 201);
  EXPECT_NE(stranger, id);

  // Bad shapes are 422 and change nothing.
  expect_problem(
      client().post_json("/v1/members/" + id + "/link-codes", {{"ttl_seconds", 5}}, token), 422,
      "validation_failed");
  expect_problem(event(purchase({{"link_code", code}, {"id", id}}, "1.00"), "store"), 422,
                 "validation_failed");
}

TEST_F(Identity, AnAdminUnlinksAnIdentifierButNotTheLastOne) {
  const auto mail = unique("f") + "@example.com", c = number("4300");
  const auto id = enrol(email(mail));
  ASSERT_EQ(
      client().post_json("/v1/members/" + id + "/identifiers", card(c), keys_["store"]).status,
      201);
  const auto path = "/v1/members/" + id + "/identifiers/card/" + c;
  expect_problem(
      client().request("DELETE", path, "", {{"Authorization", "Bearer " + keys_["store"]}}), 403,
      "forbidden");
  auto removed = client().request("DELETE", path, "", {{"Authorization", "Bearer " + admin()}});
  EXPECT_EQ(removed.status, 204) << removed.body;
  EXPECT_EQ(identifier_values(id), (std::vector<std::string>{mail}));
  EXPECT_FALSE(entry(timeline(id), "identifier.unlinked").is_null());
  expect_problem(client().request("DELETE", path, "", {{"Authorization", "Bearer " + admin()}}),
                 404, "unknown_identifier");
  expect_problem(client().request("DELETE", "/v1/members/" + id + "/identifiers/email/" + mail, "",
                                  {{"Authorization", "Bearer " + admin()}}),
                 409, "last_identifier");
}

TEST_F(Identity, AMergePreviewShowsWhatMovesAndTheMergeKeepsTierQualification) {
  // The web member earned 60, the duplicate from the till 50: apart both below silver (100).
  const auto web = enrol(email(unique("g") + "@example.com"));
  const auto dup_card = number("4400");
  const auto dup = enrol(card(dup_card), "store");
  ASSERT_EQ(event(purchase({{"id", web}}, "60.00"), "web").status, 201);
  ASSERT_EQ(event(purchase({{"id", dup}}, "50.00"), "store").status, 201);
  EXPECT_EQ(member(web)["tier"], "member");

  auto preview = client().post_json("/v1/members/" + web + "/merge",
                                    {{"from", dup}, {"dry_run", true}}, admin());
  ASSERT_EQ(preview.status, 200) << preview.body;
  const auto p = preview.json();
  EXPECT_EQ(p["dry_run"], true);
  EXPECT_EQ(p["moves"]["points"]["available"], 50);
  EXPECT_EQ(p["moves"]["lots"], 1);
  EXPECT_EQ(p["moves"]["events"], 2) << "the signup and the purchase";
  EXPECT_EQ(p["moves"]["identifiers"][0]["value"], dup_card);
  EXPECT_EQ(p["tier"]["before"], "member");
  EXPECT_EQ(p["tier"]["after"], "silver");
  // Nothing moved.
  EXPECT_EQ(member(dup)["points"]["available"], 50);
  EXPECT_EQ(member(web)["tier"], "member");

  auto merged = client().post_json("/v1/members/" + web + "/merge", {{"from", dup}}, admin());
  ASSERT_EQ(merged.status, 200) << merged.body;
  EXPECT_EQ(merged.json()["tier"], "silver");
  EXPECT_EQ(merged.json()["points"]["available"], 110);
  EXPECT_EQ(client().get("/v1/members/" + dup, admin()).status, 410);
  EXPECT_FALSE(entry(timeline(web), "tier.changed").is_null());
  // The wallet's progress counts both members' event points (none needed above silver).
  auto wallet = client().get("/v1/members/" + web + "/wallet", admin()).json();
  EXPECT_EQ(wallet["tier"]["id"], "silver");

  // Refunding the duplicate's purchase after the merge takes its points back from the survivor.
  std::string dup_event;
  for (const auto& e : timeline(web))
    if (e["type"] == "purchase" && e["channel"] == "store") dup_event = e["data"]["event_id"];
  ASSERT_FALSE(dup_event.empty());
  auto refund = event({{"type", "refund"},
                       {"original_event_id", dup_event},
                       {"total", "50.00"},
                       {"currency", "EUR"}},
                      "store");
  ASSERT_EQ(refund.status, 201) << refund.body;
  EXPECT_EQ(refund.json()["points"]["available"], 60);
}

}  // namespace

namespace {

TEST_F(Identity, ConcurrentTillsUseALinkCodeOnceAndEnrolOneMember) {
  const auto id = enrol(email(unique("j") + "@example.com"), "app");
  const auto token = token_for(id);
  const std::string code =
      client().post_json("/v1/members/" + id + "/link-codes", json::object(), token).json()["code"];
  std::vector<std::future<int>> racing;
  for (int i = 0; i < 8; ++i) {
    racing.push_back(std::async(std::launch::async, [&, i] {
      return event(purchase({{"link_code", code},
                             {"identifiers", {card(number("46" + std::to_string(i)))}}},
                            "5.00"),
                   "store")
          .status;
    }));
  }
  int applied = 0, used = 0;
  for (auto& f : racing) {
    const int status = f.get();
    applied += status == 201;
    used += status == 409;
  }
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(used, 7);
  EXPECT_EQ(member(id)["points"]["available"], 5);
  EXPECT_EQ(identifier_values(id).size(), 2u) << "one card linked, by the event that used the code";

  // Eight tills enrolling the same new customer (card and email) at once: one member.
  const auto c = number("4700"), m = unique("k") + "@example.com";
  std::vector<std::future<std::string>> enrolling;
  for (int i = 0; i < 8; ++i) {
    enrolling.push_back(std::async(std::launch::async, [&] {
      auto r = event({{"type", "signup"},
                      {"member", {{"identifiers", {card(c), email(m)}}}},
                      {"enroll", true}},
                     "store");
      EXPECT_EQ(r.status, 201) << r.body;
      return r.json().value("member_id", "");
    }));
  }
  std::set<std::string> members;
  for (auto& f : enrolling) members.insert(f.get());
  EXPECT_EQ(members.size(), 1u);
}

TEST_F(Identity, AnIdentifierListedTwiceIsRefused) {
  const auto c = number("4500");
  auto r =
      event({{"type", "signup"},
             {"member", {{"identifiers", {card(c), card(c.substr(0, 4) + " " + c.substr(4))}}}},
             {"enroll", true}},
            "store");
  expect_problem(r, 422, "validation_failed");
  EXPECT_NE(r.body.find("member.identifiers[1]"), std::string::npos) << r.body;
  EXPECT_EQ(client().get("/v1/members/lookup?type=card&value=" + c, admin()).status, 404);
}

TEST_F(Identity, ASignupCarriesTheProfileAndABadOneChangesNothing) {
  const auto mail = unique("h") + "@example.com";
  auto r = event({{"type", "signup"},
                  {"member", {{"identifier", email(mail)}}},
                  {"enroll", true},
                  {"profile",
                   {{"name", "Anna Verdi"},
                    {"display_name", "Anna"},
                    {"birthday", "1991-05-04"},
                    {"attributes", {{"newsletter", true}}}}}},
                 "web");
  ASSERT_EQ(r.status, 201) << r.body;
  // The sign-up's own rules see the profile it carries.
  EXPECT_EQ(r.json()["points"]["available"], 7) << r.body;
  const std::string id = r.json()["member_id"];
  const auto profile = member(id)["profile"];
  EXPECT_EQ(profile["name"], "Anna Verdi");
  EXPECT_EQ(profile["display_name"], "Anna");
  EXPECT_EQ(profile["birthday"], "1991-05-04");
  EXPECT_EQ(profile["attributes"]["newsletter"], true);
  const auto updated = entry(timeline(id), "profile.updated");
  ASSERT_FALSE(updated.is_null());
  EXPECT_EQ(updated["channel"], "web");

  const auto other = unique("i") + "@example.com";
  auto bad = event({{"type", "signup"},
                    {"member", {{"identifier", email(other)}}},
                    {"enroll", true},
                    {"profile", {{"birthday", "1991-02-30"}, {"email", "not-an-address"}}}},
                   "web");
  expect_problem(bad, 422, "validation_failed");
  EXPECT_NE(bad.body.find("profile.birthday"), std::string::npos) << bad.body;
  EXPECT_NE(bad.body.find("profile.email"), std::string::npos) << bad.body;
  EXPECT_EQ(client().get("/v1/members/lookup?type=email&value=" + other, admin()).status, 404);
}

}  // namespace
