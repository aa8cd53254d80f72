#pragma once

#include <optional>
#include <string>
#include <string_view>

// Text as people type it on any device: one spelling for what reads the same. Pure (ICU).
namespace circolo::engine::unicode {

// Well-formed UTF-8: no stray or overlong bytes, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view text);

// Why a text cannot be an identifier, or its NFKC form: full-width digits become digits, a
// compatibility character its plain one, composed and decomposed accents one form. Refused:
// invalid UTF-8, and invisible format characters (zero-width spaces and joiners, soft hyphens,
// bidirectional controls: Unicode category Cf), which would make two identifiers that look the
// same differ.
struct Normalised {
  std::optional<std::string> text;
  std::string error;  // when !text
};
Normalised nfkc(std::string_view text);

// Case folded for comparison ("ÉMILE" and "émile" alike); `text` is valid UTF-8.
std::string fold_case(std::string_view text);

}  // namespace circolo::engine::unicode
