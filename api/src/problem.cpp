#include "circolo/api/problem.hpp"

#include <nlohmann/json.hpp>

namespace circolo::api {

std::string problem_body(boost::beast::http::status status, const std::string& code,
                         const std::string& detail, const std::vector<FieldError>& errors,
                         const std::string& request_id, const nlohmann::json& extensions) {
  nlohmann::json body{
      {"type", "https://circolo.dev/problems/" + code},
      {"title", std::string(boost::beast::http::obsolete_reason(status))},
      {"status", static_cast<int>(status)},
      {"detail", detail},
      {"code", code},
  };
  if (!errors.empty()) {
    auto& list = body["errors"] = nlohmann::json::array();
    for (const auto& e : errors) list.push_back({{"field", e.field}, {"message", e.message}});
  }
  if (!request_id.empty()) body["request_id"] = request_id;
  for (const auto& [key, value] : extensions.items()) {
    if (!body.contains(key)) body[key] = value;
  }
  // Replace, don't throw, on invalid UTF-8 echoed from the client.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void throw_validation(std::vector<FieldError> errors) {
  std::string detail = errors.size() == 1 ? errors.front().field + ": " + errors.front().message
                                          : std::to_string(errors.size()) + " fields are invalid";
  throw ApiError(boost::beast::http::status::unprocessable_entity, "validation_failed", detail,
                 std::move(errors));
}

}  // namespace circolo::api
