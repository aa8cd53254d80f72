#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "circolo/api/http.hpp"

namespace circolo::api {

// Who may call a route. `none` is for operations endpoints (health, metrics).
struct Access {
  bool authenticated = true;
  std::vector<Role> roles;  // empty with authenticated: any valid caller

  static Access open() { return {false, {}}; }
  static Access only(std::vector<Role> roles) { return {true, std::move(roles)}; }
  bool allows(Role r) const;
};

struct Route {
  http::verb method;
  std::string pattern;  // "/v1/members/{id}/wallet"
  Access access;
  Handler handler;
  bool idempotency_required = false;
};

// Matches method and path with {param} segments. Literal segments win over parameters, so
// "/v1/members/lookup" is not taken for "/v1/members/{id}".
class Router {
 public:
  void add(Route route);

  struct Match {
    enum class Kind { found, no_path, no_method } kind = Kind::no_path;
    const Route* route = nullptr;
    std::vector<std::pair<std::string, std::string>> params;
    std::string allow;  // for 405: "GET, POST"
  };

  // `segments` are the decoded path segments of the request target.
  Match match(http::verb method, const std::vector<std::string>& segments) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Compiled {
    std::vector<std::string> segments;  // "{id}" kept as is
  };
  // Number of literal segments that agree, or -1 if the pattern does not fit.
  static int score(const Compiled& pattern, const std::vector<std::string>& segments);

  std::vector<Route> routes_;
  std::vector<Compiled> compiled_;
};

std::vector<std::string> split_pattern(std::string_view pattern);

}  // namespace circolo::api
