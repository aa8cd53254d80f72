// Secrets at rest: sealed values open only with their key, unaltered, for their purpose.
#include <gtest/gtest.h>

#include <stdexcept>

#include "circolo/engine/sealed.hpp"

using circolo::engine::is_sealed;
using circolo::engine::SealError;
using circolo::engine::SecretsKey;

namespace {

const auto kKey =
    SecretsKey::from_hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
const auto kOtherKey =
    SecretsKey::from_hex("ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100");

TEST(Sealed, RoundTrip) {
  for (const std::string& plain :
       {std::string("whsec-0123456789abcdef"), std::string(), std::string(300, 'x')}) {
    const auto sealed = kKey.seal(plain, "webhook:whk_1");
    EXPECT_TRUE(is_sealed(sealed)) << sealed;
    if (!plain.empty()) EXPECT_EQ(sealed.find(plain), std::string::npos);
    EXPECT_EQ(kKey.open(sealed, "webhook:whk_1"), plain);
  }
}

TEST(Sealed, EverySealingTakesAFreshNonce) {
  EXPECT_NE(kKey.seal("same", "p"), kKey.seal("same", "p"));
}

TEST(Sealed, AnotherKeyDoesNotOpen) {
  EXPECT_THROW(kOtherKey.open(kKey.seal("secret", "p"), "p"), SealError);
}

TEST(Sealed, AnAlteredValueDoesNotOpen) {
  const auto sealed = kKey.seal("a secret value", "p");
  for (std::size_t i = 3; i < sealed.size() - 2; ++i) {  // the last ones may be padding bits
    auto altered = sealed;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    EXPECT_THROW(kKey.open(altered, "p"), SealError) << "character " << i;
  }
  EXPECT_THROW(kKey.open(sealed.substr(0, sealed.size() - 4), "p"), SealError) << "truncated";
  EXPECT_THROW(kKey.open("v1:", "p"), SealError);
  EXPECT_THROW(kKey.open("v1:not base64!", "p"), SealError);
  EXPECT_THROW(kKey.open("plaintext", "p"), SealError);
}

TEST(Sealed, AValueSealedForAnotherRowDoesNotOpen) {
  const auto sealed = kKey.seal("secret", "webhook:whk_1");
  EXPECT_THROW(kKey.open(sealed, "webhook:whk_2"), SealError);
  EXPECT_THROW(kKey.open(sealed, "server_secret:member_tokens"), SealError);
}

TEST(Sealed, KeysAre64HexDigits) {
  EXPECT_NO_THROW(
      SecretsKey::from_hex("  00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n"));
  EXPECT_THROW(SecretsKey::from_hex(""), std::invalid_argument);
  EXPECT_THROW(SecretsKey::from_hex("0011"), std::invalid_argument);
  EXPECT_THROW(
      SecretsKey::from_hex("g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
      std::invalid_argument);
  EXPECT_THROW(
      SecretsKey::from_hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00"),
      std::invalid_argument);
}

TEST(Sealed, PlaintextOfOlderVersionsIsRecognised) {
  EXPECT_FALSE(is_sealed("ck_abc"));
  EXPECT_FALSE(is_sealed(""));
  EXPECT_TRUE(is_sealed(kKey.seal("x", "p")));
}

}  // namespace
