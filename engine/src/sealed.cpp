#include "circolo/engine/sealed.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <vector>

namespace circolo::engine {

namespace {

constexpr std::string_view kPrefix = "v1:";
constexpr int kNonceBytes = 12;
constexpr int kTagBytes = 16;

using Cipher = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string base64(const std::vector<unsigned char>& data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// Strict: padded, no blanks. Empty on anything else.
std::vector<unsigned char> unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return {};
  std::vector<unsigned char> out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), bytes(text), static_cast<int>(text.size()));
  if (n < 0) return {};
  std::size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

}  // namespace

SecretsKey SecretsKey::from_hex(std::string_view text) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  if (text.size() != 2 * kBytes)
    throw std::invalid_argument("the secrets key must be 64 hex digits (32 random bytes), got " +
                                std::to_string(text.size()) + " characters");
  SecretsKey key;
  for (std::size_t i = 0; i < kBytes; ++i) {
    const int high = hex_digit(text[2 * i]), low = hex_digit(text[2 * i + 1]);
    if (high < 0 || low < 0)
      throw std::invalid_argument("the secrets key must be 64 hex digits (32 random bytes)");
    key.bytes_[i] = static_cast<unsigned char>(high * 16 + low);
  }
  return key;
}

SecretsKey::~SecretsKey() {
  OPENSSL_cleanse(bytes_.data(), bytes_.size());
}

std::string SecretsKey::seal(std::string_view plaintext, std::string_view purpose) const {
  std::vector<unsigned char> out(kNonceBytes + plaintext.size() + kTagBytes);
  unsigned char* const nonce = out.data();
  unsigned char* const ciphertext = nonce + kNonceBytes;
  unsigned char* const tag = ciphertext + plaintext.size();
  const auto require = [](int result) {
    if (result != 1) throw std::runtime_error("sealing a secret failed");
  };
  require(RAND_bytes(nonce, kNonceBytes));
  Cipher ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  require(ctx ? 1 : 0);
  int n = 0;
  require(EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr));
  require(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr));
  require(EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, bytes_.data(), nonce));
  require(
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, bytes(purpose), static_cast<int>(purpose.size())));
  require(EVP_EncryptUpdate(ctx.get(), ciphertext, &n, bytes(plaintext),
                            static_cast<int>(plaintext.size())));
  require(EVP_EncryptFinal_ex(ctx.get(), ciphertext + n, &n));
  require(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, tag));
  return std::string(kPrefix) + base64(out);
}

std::string SecretsKey::open(std::string_view stored, std::string_view purpose) const {
  if (!is_sealed(stored)) throw SealError("not a sealed value (no v1: prefix)");
  auto data = unbase64(stored.substr(kPrefix.size()));
  if (data.size() < static_cast<std::size_t>(kNonceBytes + kTagBytes))
    throw SealError("a sealed value that is not base64 of nonce, ciphertext and tag");
  const std::size_t length = data.size() - kNonceBytes - kTagBytes;
  const unsigned char* const nonce = data.data();
  const unsigned char* const ciphertext = nonce + kNonceBytes;
  unsigned char* const tag = data.data() + kNonceBytes + length;
  std::string plain(length, '\0');
  auto* const out = reinterpret_cast<unsigned char*>(plain.data());
  const int aad_size = static_cast<int>(purpose.size());
  Cipher ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int n = 0;
  // The tag is checked by the final step: nothing opens unless every step succeeds.
  const bool ok =
      ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, bytes_.data(), nonce) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, bytes(purpose), aad_size) == 1 &&
      EVP_DecryptUpdate(ctx.get(), out, &n, ciphertext, static_cast<int>(length)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), out + n, &n) == 1;
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    throw SealError(
        "a sealed value does not open with this key (another key, altered, or moved from another "
        "row)");
  }
  return plain;
}

bool is_sealed(std::string_view stored) {
  return stored.substr(0, kPrefix.size()) == kPrefix;
}

std::string webhook_secret_purpose(std::string_view endpoint_id) {
  return "webhook:" + std::string(endpoint_id);
}

std::string server_secret_purpose(std::string_view name) {
  return "server_secret:" + std::string(name);
}

}  // namespace circolo::engine
