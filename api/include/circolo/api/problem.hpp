#pragma once

#include <boost/beast/http/status.hpp>

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace circolo::api {

struct FieldError {
  std::string field;  // JSON pointer-ish path: "items[2].price"
  std::string message;
};

// A refusal the client can act on, rendered as application/problem+json (RFC 9457). `detail`
// is client-visible: never put internal error text here; log that separately.
class ApiError : public std::runtime_error {
 public:
  ApiError(boost::beast::http::status status, std::string code, std::string detail,
           std::vector<FieldError> errors = {},
           nlohmann::json extensions = nlohmann::json::object())
      : std::runtime_error(detail),
        status_(status),
        code_(std::move(code)),
        detail_(std::move(detail)),
        errors_(std::move(errors)),
        extensions_(std::move(extensions)) {}

  boost::beast::http::status status() const { return status_; }
  const std::string& code() const { return code_; }
  const std::string& detail() const { return detail_; }
  const std::vector<FieldError>& errors() const { return errors_; }
  // Extra members of the problem document, e.g. "merged_into" of a 410.
  const nlohmann::json& extensions() const { return extensions_; }

 private:
  boost::beast::http::status status_;
  std::string code_;
  std::string detail_;
  std::vector<FieldError> errors_;
  nlohmann::json extensions_;
};

// Renders a problem document. `request_id` lets support find the matching log line.
std::string problem_body(boost::beast::http::status status, const std::string& code,
                         const std::string& detail, const std::vector<FieldError>& errors,
                         const std::string& request_id,
                         const nlohmann::json& extensions = nlohmann::json::object());

// 422 validation_failed with the given field errors.
[[noreturn]] void throw_validation(std::vector<FieldError> errors);

}  // namespace circolo::api
