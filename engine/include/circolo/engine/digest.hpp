#pragma once

#include <string>
#include <string_view>

namespace circolo::engine {

// Deterministic digests (OpenSSL underneath), as lower-case hex.
std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Compares without an early exit, so timing says nothing about where two secrets differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace circolo::engine
