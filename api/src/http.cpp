#include "circolo/api/http.hpp"

#include <boost/url/params_view.hpp>

#include "circolo/api/problem.hpp"

namespace circolo::api {

const char* role_name(Role r) {
  switch (r) {
    case Role::admin:
      return "admin";
    case Role::touchpoint:
      return "touchpoint";
    case Role::member:
      return "member";
  }
  return "unknown";
}

Response json_response(http::status status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response empty_response(http::status status) {
  Response r;
  r.status = status;
  r.content_type.clear();
  return r;
}

const std::string& Request::param(std::string_view name) const {
  for (const auto& [key, value] : path_params) {
    if (key == name) return value;
  }
  throw std::logic_error("route has no parameter " + std::string(name));
}

std::optional<std::string> Request::query(std::string_view name) const {
  auto params = target.params();
  auto it = params.find(name);
  if (it == params.end()) return std::nullopt;
  // `?period=month&period=week` asks two things: refused rather than silently taking one.
  if (params.count(name) > 1) {
    throw ApiError(http::status::bad_request, "invalid_query",
                   "query parameter " + std::string(name) + " given more than once");
  }
  return (*it).value;
}

std::string_view Request::header(http::field f) const {
  auto it = raw.find(f);
  return it == raw.end() ? std::string_view{} : std::string_view(it->value());
}

std::string_view Request::header(std::string_view name) const {
  auto it = raw.find(name);
  return it == raw.end() ? std::string_view{} : std::string_view(it->value());
}

nlohmann::json parse_json_limited(std::string_view text) {
  // `depth` counts the containers around the one that starts, so the 65th level starts at 64.
  auto depth_guard = [](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    const bool opens = event == nlohmann::json::parse_event_t::object_start ||
                       event == nlohmann::json::parse_event_t::array_start;
    if (opens && depth >= static_cast<int>(kMaxJsonDepth)) {
      throw ApiError(http::status::bad_request, "malformed_json",
                     "JSON nesting is deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    // PostgreSQL text and jsonb cannot hold U+0000: refuse it here rather than fail later.
    if ((event == nlohmann::json::parse_event_t::value ||
         event == nlohmann::json::parse_event_t::key) &&
        parsed.is_string() &&
        parsed.get_ref<const std::string&>().find('\0') != std::string::npos) {
      throw ApiError(http::status::bad_request, "malformed_json",
                     "strings must not contain the character U+0000");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text, depth_guard);
  } catch (const nlohmann::json::exception& e) {
    // A syntax error, or a number beyond a double (out_of_range, "1e999"): the client's to fix.
    // nlohmann's message names the byte offset and what it expected; no internals in it.
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    throw ApiError(http::status::bad_request, "malformed_json",
                   "the body is not valid JSON: " + what);
  }
}

nlohmann::json Request::json_body() const {
  const auto content_type = header(http::field::content_type);
  if (!content_type.empty()) {
    const auto media = content_type.substr(0, content_type.find(';'));
    if (media != "application/json" && !media.ends_with("+json")) {
      throw ApiError(http::status::unsupported_media_type, "unsupported_media_type",
                     "send the body as application/json");
    }
  }
  if (raw.body().empty()) {
    throw ApiError(http::status::bad_request, "malformed_json", "the request needs a JSON body");
  }
  return parse_json_limited(raw.body());
}

void check_scope(const Principal& caller, const std::string& member_id) {
  if (caller.role == Role::member && caller.member_id != member_id)
    throw ApiError(http::status::forbidden, "forbidden",
                   "a member token may only act for its own member");
}

}  // namespace circolo::api
