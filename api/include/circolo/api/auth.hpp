#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace circolo::api {

// A fresh API key secret: "ck_" and 256 random bits (OpenSSL CSPRNG) in base64url.
std::string new_key_secret();

// An opaque id: prefix, '_', 128 random bits in lower-case base32 ("key_3f...").
std::string new_id(std::string_view prefix);

// The token of "Authorization: Bearer <token>" (scheme case-insensitive), or nullopt.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// An X-Request-Id from the client is echoed only if short and of safe characters.
bool acceptable_request_id(std::string_view id);

// Idempotency-Key: 1..255 visible ASCII characters.
bool acceptable_idempotency_key(std::string_view key);

}  // namespace circolo::api
