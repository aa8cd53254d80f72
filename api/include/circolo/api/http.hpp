#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/url/url_view.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>

#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include "circolo/engine/clock.hpp"

namespace circolo::api {

namespace http = boost::beast::http;

enum class Role { admin, touchpoint, member };
const char* role_name(Role r);

// Who is calling, once the Authorization header has been checked.
struct Principal {
  std::string key_id;  // idempotency scope and audit
  Role role = Role::admin;
  std::optional<std::string> channel;           // touchpoint keys
  std::optional<std::string> member_id;         // member tokens
  std::optional<std::string> issuer_key_id;     // member tokens: the touchpoint key that minted it
  std::optional<engine::TimePoint> expires_at;  // member tokens
};

// A member token reaches its own member only (403 otherwise); checked before any lookup, so a
// token learns nothing about other members.
void check_scope(const Principal& caller, const std::string& member_id);

struct Response {
  http::status status = http::status::ok;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // What an idempotent replay answers instead of `body` (for responses holding a secret that
  // must not be stored, such as a new API key).
  std::optional<std::string> replay_body;
};

Response json_response(http::status status, const nlohmann::json& body);
Response empty_response(http::status status);

struct Request {
  const http::request<http::string_body>& raw;
  std::string request_id;
  std::string route;  // the matched pattern, e.g. "/v1/admin/keys/{id}"
  std::vector<std::pair<std::string, std::string>> path_params;
  boost::urls::url_view target;
  std::optional<Principal> principal;
  std::string client_address;  // as seen, or as a trusted proxy forwarded it ("-": unknown)

  const std::string& param(std::string_view name) const;
  std::optional<std::string> query(std::string_view name) const;
  std::string_view header(http::field f) const;
  std::string_view header(std::string_view name) const;
  // The body as JSON: 400 malformed_json (also deeper than 64 levels), 415 if not JSON.
  nlohmann::json json_body() const;
  const Principal& caller() const { return *principal; }
};

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

inline constexpr std::size_t kMaxJsonDepth = 64;

// Parses JSON with the API's nesting limit; throws ApiError 400 malformed_json.
nlohmann::json parse_json_limited(std::string_view text);

}  // namespace circolo::api
