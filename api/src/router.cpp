#include "circolo/api/router.hpp"

#include <algorithm>
#include <stdexcept>

namespace circolo::api {

namespace {

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

bool Access::allows(Role r) const {
  return roles.empty() || std::find(roles.begin(), roles.end(), r) != roles.end();
}

std::vector<std::string> split_pattern(std::string_view pattern) {
  std::vector<std::string> out;
  std::size_t start = 0;
  if (!pattern.empty() && pattern.front() == '/') start = 1;
  while (start <= pattern.size()) {
    const auto end = pattern.find('/', start);
    const auto piece =
        pattern.substr(start, end == std::string_view::npos ? pattern.size() - start : end - start);
    if (!piece.empty()) out.emplace_back(piece);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

void Router::add(Route route) {
  Compiled compiled{split_pattern(route.pattern)};
  auto shape = [](std::vector<std::string> segments) {
    for (auto& s : segments) {
      if (is_param(s)) s = "{}";
    }
    return segments;
  };
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].method == route.method &&
        shape(compiled_[i].segments) == shape(compiled.segments)) {
      throw std::logic_error("route registered twice: " + route.pattern);
    }
  }
  routes_.push_back(std::move(route));
  compiled_.push_back(std::move(compiled));
}

int Router::score(const Compiled& pattern, const std::vector<std::string>& segments) {
  if (pattern.segments.size() != segments.size()) return -1;
  int literal = 0;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (is_param(pattern.segments[i])) {
      if (segments[i].empty()) return -1;
      continue;
    }
    if (pattern.segments[i] != segments[i]) return -1;
    ++literal;
  }
  return literal;
}

Router::Match Router::match(http::verb method, const std::vector<std::string>& segments) const {
  Match result;
  int best = -1;
  int best_any_method = -1;
  std::vector<std::string> allowed;
  // First the best path shape regardless of method, then the methods of that shape.
  for (const auto& c : compiled_) best_any_method = std::max(best_any_method, score(c, segments));
  if (best_any_method < 0) return result;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const int s = score(compiled_[i], segments);
    if (s != best_any_method) continue;
    allowed.emplace_back(http::to_string(routes_[i].method));
    if (routes_[i].method == method && s > best) {
      best = s;
      result.route = &routes_[i];
    }
  }
  if (result.route == nullptr) {
    result.kind = Match::Kind::no_method;
    std::sort(allowed.begin(), allowed.end());
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    for (const auto& m : allowed) result.allow += (result.allow.empty() ? "" : ", ") + m;
    return result;
  }
  result.kind = Match::Kind::found;
  const auto& pattern = compiled_[static_cast<std::size_t>(result.route - routes_.data())].segments;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (is_param(pattern[i]))
      result.params.emplace_back(pattern[i].substr(1, pattern[i].size() - 2), segments[i]);
  }
  return result;
}

}  // namespace circolo::api
