#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace circolo::engine {

// One way to recognise a member on a touchpoint: a loyalty card, an email, a phone, an app or
// web account, or a retailer's own kind.
struct Identifier {
  std::string type;
  std::string value;
  friend bool operator==(const Identifier&, const Identifier&) = default;
};

struct IdentifierError {
  std::string field;  // "type" or "value"
  std::string message;
};

// Normalises so that the same person is found whatever the touchpoint typed: values are trimmed;
// emails lower-cased; phones reduced to their digits (a leading + kept); cards upper-cased with
// blanks and dashes removed. Types are 1..32 of [a-z0-9_-]; values 1..256 characters after
// normalising, without control characters.
std::variant<Identifier, IdentifierError> normalize_identifier(std::string_view type,
                                                               std::string_view value);

}  // namespace circolo::engine
