#include "circolo/api/auth.hpp"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace circolo::api {

namespace {

template <std::size_t N>
std::array<unsigned char, N> random_bytes() {
  std::array<unsigned char, N> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(N)) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  return bytes;
}

}  // namespace

// Writes `bytes` BITS at a time (6 for base64url, 5 for base32) with `alphabet`, no padding.
template <int Bits, std::size_t N>
void append_encoded(std::string& out, const std::array<unsigned char, N>& bytes,
                    const char* alphabet) {
  constexpr unsigned kMask = (1u << Bits) - 1;
  unsigned buffer = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= Bits) {
      bits -= Bits;
      out.push_back(alphabet[(buffer >> bits) & kMask]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(buffer << (Bits - bits)) & kMask]);
}

std::string new_key_secret() {
  std::string out = "ck_";
  append_encoded<6>(out, random_bytes<32>(),
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
  return out;
}

std::string new_id(std::string_view prefix) {
  std::string out(prefix);
  out.push_back('_');
  append_encoded<5>(out, random_bytes<16>(), "abcdefghijklmnopqrstuvwxyz234567");
  return out;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    const char c = authorization[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c) != kScheme[i]) return std::nullopt;
  }
  auto token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.size() > 512) return std::nullopt;
  return token;
}

bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool acceptable_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  for (char c : key) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace circolo::api
