#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <stdexcept>
#include <string>

namespace circolo::cli {

struct HttpAnswer {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Cannot reach the server, or the URL is not one we can use.
struct ConnectionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A small blocking HTTP/1.1 client for the admin API (Beast), with the key as a bearer token.
class Client {
 public:
  Client(std::string url, std::string key);
  HttpAnswer request(const std::string& method, const std::string& target,
                     const std::string& body = "", const std::string& idempotency_key = "",
                     const std::string& content_type = "application/json",
                     const std::string& accept = "") const;
  const std::string& url() const { return url_; }
  // Opens the WebSocket at `target` and calls `on_message` with every text message until the
  // server closes it (returns its close reason, or throws ConnectionError). A refusal before
  // the upgrade comes back as `refusal` (and false).
  bool stream(const std::string& target, const std::function<void(const std::string&)>& on_message,
              HttpAnswer& refusal) const;

 private:
  std::string url_, host_, port_, base_path_, key_;
};

// "error: the key is not valid or was revoked (unauthenticated)" and field errors, from a
// problem+json answer; a short fallback for anything else.
std::string describe_refusal(const HttpAnswer& answer);

}  // namespace circolo::cli
