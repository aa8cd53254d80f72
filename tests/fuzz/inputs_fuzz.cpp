// libFuzzer target over what clients type into requests, below the JSON: identifiers (Unicode
// normalisation), money amounts, coupon codes and member tokens. The first byte picks the
// function, the rest is its input. Any input must give an answer or a refusal, never a crash, a
// hang or a sanitizer report, and what is accepted must be stable: normalising again changes
// nothing, an amount formats to text that parses to the same amount, a token signed from what
// was read reads back the same.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "circolo/api/member_tokens.hpp"
#include "circolo/engine/coupons.hpp"
#include "circolo/engine/digest.hpp"
#include "circolo/engine/identity.hpp"
#include "circolo/engine/money.hpp"
#include "circolo/engine/unicode.hpp"

using namespace circolo;

namespace {

void identifier(std::string_view type, std::string_view value) {
  const auto first = engine::normalize_identifier(type, value);
  const auto* id = std::get_if<engine::Identifier>(&first);
  if (!id) return;
  if (!engine::unicode::valid_utf8(id->value)) std::abort();
  const auto again = engine::normalize_identifier(id->type, id->value);
  const auto* same = std::get_if<engine::Identifier>(&again);
  if (!same || !(*same == *id)) std::abort();
}

void money(std::string_view text, int digits) {
  const auto parsed = engine::parse_money(text, digits);
  if (!parsed.value) return;
  const auto text_again = engine::format_money(*parsed.value);
  const auto again = engine::parse_money(text_again, digits);
  if (!again.value || again.value->minor != parsed.value->minor) std::abort();
}

void coupon(std::string_view text) {
  const auto code = engine::coupons::normalise_code(text);
  if (engine::coupons::normalise_code(code) != code) std::abort();
  if (engine::coupons::check_shape(code) == engine::coupons::CodeShape::ok)
    (void)engine::coupons::code_number(code);
}

void token(std::string_view text) {
  const std::string secret = "fuzz-secret";
  // Signed here, so that the parsing after the signature check is reached.
  const std::string body(text);
  const auto read =
      api::read_member_token(body + "." + engine::hmac_sha256_hex(secret, body), secret);
  if (!read) return;
  const auto signed_again = api::sign_member_token(*read, secret);
  const auto reread = api::read_member_token(signed_again, secret);
  if (!reread || reread->member_id != read->member_id ||
      reread->issuer_key_id != read->issuer_key_id || reread->generation != read->generation ||
      reread->expires_at != read->expires_at)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 6) {
    case 0: {
      const auto bar = input.find('|');
      identifier(bar == std::string_view::npos ? "card" : input.substr(0, bar),
                 bar == std::string_view::npos ? input : input.substr(bar + 1));
      break;
    }
    case 1:
      identifier(data[0] & 8 ? "email" : "phone", input);
      break;
    case 2:
      money(input, data[0] % 4);
      break;
    case 3:
      coupon(input);
      break;
    case 4:
      token(input);
      break;
    case 5:
      (void)engine::unicode::nfkc(input);
      break;
  }
  return 0;
}
