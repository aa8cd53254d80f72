#pragma once

#include <array>
#include <stdexcept>
#include <string>
#include <string_view>

// Secrets kept at rest (webhook secrets, the token-signing key): AES-256-GCM under a key from the
// server's configuration, which is never stored beside them. Each value gets a random 12-byte
// nonce and is stored as "v1:" + base64(nonce | ciphertext | 16-byte tag). The purpose ("what
// value, of which row") is authenticated with it, so a sealed value moved to another row or to
// another use does not open.
namespace circolo::engine {

// A stored value that does not open: another key, altered, or sealed for another purpose.
struct SealError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class SecretsKey {
 public:
  static constexpr std::size_t kBytes = 32;

  // 64 hex digits (32 random bytes, as `openssl rand -hex 32` prints them); blanks around them
  // (a file's final newline) are ignored. Throws std::invalid_argument otherwise.
  static SecretsKey from_hex(std::string_view text);

  SecretsKey(const SecretsKey&) = default;
  SecretsKey& operator=(const SecretsKey&) = default;
  ~SecretsKey();  // wipes the key's bytes

  std::string seal(std::string_view plaintext, std::string_view purpose) const;
  // Throws SealError when `stored` is not a value this key sealed for `purpose`.
  std::string open(std::string_view stored, std::string_view purpose) const;

 private:
  SecretsKey() = default;
  std::array<unsigned char, kBytes> bytes_{};
};

// Whether a stored value is sealed ("v1:"); anything else is plaintext of an older version.
bool is_sealed(std::string_view stored);

// The purposes sealed values are bound to.
std::string webhook_secret_purpose(std::string_view endpoint_id);
std::string server_secret_purpose(std::string_view name);

}  // namespace circolo::engine
