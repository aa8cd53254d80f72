#include "circolo/engine/unicode.hpp"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

namespace circolo::engine::unicode {

bool valid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const std::uint8_t*>(text.data());
  const auto length = static_cast<std::int32_t>(text.size());
  if (text.size() > static_cast<std::size_t>(INT32_MAX)) return false;
  for (std::int32_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(s, i, length, c);  // c < 0 for ill-formed sequences (overlong, surrogates, > 10FFFF)
    if (c < 0) return false;
  }
  return true;
}

Normalised nfkc(std::string_view text) {
  if (!valid_utf8(text)) return {std::nullopt, "is not valid UTF-8"};
  UErrorCode status = U_ZERO_ERROR;
  const auto* normalizer = icu::Normalizer2::getNFKCInstance(status);
  if (U_FAILURE(status)) return {std::nullopt, "cannot be normalised"};
  const auto input = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  const auto normal = normalizer->normalize(input, status);
  if (U_FAILURE(status)) return {std::nullopt, "cannot be normalised"};
  for (std::int32_t i = 0; i < normal.length();) {
    const UChar32 c = normal.char32At(i);
    if (u_charType(c) == U_FORMAT_CHAR)
      return {std::nullopt,
              "must not contain invisible format characters (zero-width spaces, bidirectional "
              "controls)"};
    // C1 controls and line or paragraph separators: invisible, and they break lines in logs.
    const auto type = u_charType(c);
    if ((type == U_CONTROL_CHAR && c >= 0x80) || type == U_LINE_SEPARATOR ||
        type == U_PARAGRAPH_SEPARATOR)
      return {std::nullopt, "must not contain control characters or line separators"};
    i = normal.moveIndex32(i, 1);
  }
  std::string out;
  normal.toUTF8String(out);
  return {std::move(out), ""};
}

std::string fold_case(std::string_view text) {
  // NFKC_Casefold: folded and normalised in one, so that folding again, or normalising again,
  // changes nothing (case folding alone can leave text that NFKC would change).
  UErrorCode status = U_ZERO_ERROR;
  const auto* folder = icu::Normalizer2::getNFKCCasefoldInstance(status);
  if (U_FAILURE(status)) return std::string(text);
  const auto input = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  const auto folded = folder->normalize(input, status);
  if (U_FAILURE(status)) return std::string(text);
  std::string out;
  folded.toUTF8String(out);
  return out;
}

}  // namespace circolo::engine::unicode
