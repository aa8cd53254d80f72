#include "circolo/api/router.hpp"

#include <gtest/gtest.h>

using namespace circolo::api;

namespace {

Handler noop() {
  return [](Request&) -> boost::asio::awaitable<Response> { co_return Response{}; };
}

Router sample() {
  Router r;
  r.add({http::verb::post, "/v1/members", Access::only({Role::admin}), noop()});
  r.add({http::verb::get, "/v1/members/{id}", {}, noop()});
  r.add({http::verb::get, "/v1/members/lookup", {}, noop()});
  r.add({http::verb::get, "/v1/members/{id}/wallet", {}, noop()});
  r.add({http::verb::post, "/v1/members/{id}/points/spend", {}, noop()});
  r.add({http::verb::delete_, "/v1/admin/keys/{id}", {}, noop()});
  return r;
}

}  // namespace

TEST(Router, MatchesLiteralsAndParameters) {
  auto r = sample();
  auto m = r.match(http::verb::get, {"v1", "members", "mem_42", "wallet"});
  ASSERT_EQ(m.kind, Router::Match::Kind::found);
  EXPECT_EQ(m.route->pattern, "/v1/members/{id}/wallet");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].first, "id");
  EXPECT_EQ(m.params[0].second, "mem_42");
}

TEST(Router, LiteralSegmentBeatsParameter) {
  auto r = sample();
  auto m = r.match(http::verb::get, {"v1", "members", "lookup"});
  ASSERT_EQ(m.kind, Router::Match::Kind::found);
  EXPECT_EQ(m.route->pattern, "/v1/members/lookup");
  m = r.match(http::verb::get, {"v1", "members", "lookups"});
  EXPECT_EQ(m.route->pattern, "/v1/members/{id}");
}

TEST(Router, UnknownPathIsNoPath) {
  auto r = sample();
  EXPECT_EQ(r.match(http::verb::get, {"v1", "nothing"}).kind, Router::Match::Kind::no_path);
  EXPECT_EQ(r.match(http::verb::get, {"v1", "members", "a", "b", "c", "d"}).kind,
            Router::Match::Kind::no_path);
  EXPECT_EQ(r.match(http::verb::get, {}).kind, Router::Match::Kind::no_path);
}

TEST(Router, WrongMethodListsAllowedOnes) {
  auto r = sample();
  auto m = r.match(http::verb::put, {"v1", "members"});
  EXPECT_EQ(m.kind, Router::Match::Kind::no_method);
  EXPECT_EQ(m.allow, "POST");
  m = r.match(http::verb::post, {"v1", "admin", "keys", "key_1"});
  EXPECT_EQ(m.kind, Router::Match::Kind::no_method);
  EXPECT_EQ(m.allow, "DELETE");
}

TEST(Router, RefusesDuplicateRoutes) {
  Router r;
  r.add({http::verb::get, "/a/{x}", {}, noop()});
  EXPECT_THROW(r.add({http::verb::get, "/a/{y}", {}, noop()}), std::logic_error);
  EXPECT_NO_THROW(r.add({http::verb::post, "/a/{y}", {}, noop()}));
}

TEST(Router, AccessRules) {
  EXPECT_TRUE(Access::only({Role::admin}).allows(Role::admin));
  EXPECT_FALSE(Access::only({Role::admin}).allows(Role::touchpoint));
  EXPECT_TRUE(Access{}.allows(Role::member));
  EXPECT_FALSE(Access::open().authenticated);
}

TEST(Router, SplitPattern) {
  EXPECT_EQ(split_pattern("/v1/members/{id}"), (std::vector<std::string>{"v1", "members", "{id}"}));
  EXPECT_EQ(split_pattern("/healthz"), (std::vector<std::string>{"healthz"}));
  EXPECT_TRUE(split_pattern("/").empty());
}
