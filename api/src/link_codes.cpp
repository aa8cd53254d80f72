#include "circolo/api/link_codes.hpp"

#include <openssl/rand.h>

#include <stdexcept>

#include "circolo/engine/digest.hpp"

namespace circolo::api {

namespace {

constexpr std::string_view kSymbols = "23456789ABCDEFGHJKMNPQRSTVWXY";
constexpr std::size_t kLength = 8;

}  // namespace

std::string new_link_code() {
  std::string code;
  while (code.size() < kLength) {
    unsigned char byte = 0;
    if (RAND_bytes(&byte, 1) != 1) throw std::runtime_error("OpenSSL RAND_bytes failed");
    // Rejection sampling keeps every symbol equally likely (29 does not divide 256).
    if (byte >= 256 - 256 % kSymbols.size()) continue;
    code += kSymbols[byte % kSymbols.size()];
  }
  return code.substr(0, 4) + "-" + code.substr(4);
}

std::string link_code_digest(std::string_view secret, std::string_view code) {
  std::string canonical;
  for (const char c : code) {
    if (c == ' ' || c == '-' || c == '\t') continue;
    canonical += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
  }
  return engine::hmac_sha256_hex(secret, "link-code:" + canonical);
}

}  // namespace circolo::api
