#include "circolo/engine/identity.hpp"

#include <algorithm>

namespace circolo::engine {

namespace {

std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}
char upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c;
}

}  // namespace

std::variant<Identifier, IdentifierError> normalize_identifier(std::string_view type,
                                                               std::string_view value) {
  Identifier id;
  for (char c : trim(type)) id.type.push_back(lower(c));
  if (id.type.empty() || id.type.size() > 32 ||
      !std::all_of(id.type.begin(), id.type.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      })) {
    return IdentifierError{
        "type",
        "must be 1 to 32 characters of a-z, 0-9, '_' or '-' (card, email, phone, app, web...)"};
  }
  const auto raw = trim(value);
  if (std::any_of(raw.begin(), raw.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return IdentifierError{"value", "must not contain control characters"};
  }
  if (id.type == "email") {
    for (char c : raw) id.value.push_back(lower(c));
    const auto at = id.value.find('@');
    if (at == std::string::npos || at == 0 || at + 1 >= id.value.size() ||
        id.value.find('@', at + 1) != std::string::npos ||
        id.value.find(' ') != std::string::npos) {
      return IdentifierError{"value", "is not an email address"};
    }
  } else if (id.type == "phone") {
    for (char c : raw) {
      if (c >= '0' && c <= '9')
        id.value.push_back(c);
      else if (c == '+' && id.value.empty())
        id.value.push_back(c);
      else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')' && c != '/') {
        return IdentifierError{
            "value", "a phone number has digits, an optional leading '+', blanks, dashes and dots"};
      }
    }
    const auto digits =
        std::count_if(id.value.begin(), id.value.end(), [](char c) { return c != '+'; });
    if (digits < 5 || digits > 20)
      return IdentifierError{"value", "a phone number has 5 to 20 digits"};
  } else if (id.type == "card") {
    for (char c : raw) {
      if (c != ' ' && c != '-') id.value.push_back(upper(c));
    }
  } else {
    id.value = std::string(raw);
  }
  if (id.value.empty()) return IdentifierError{"value", "is empty"};
  if (id.value.size() > 256) return IdentifierError{"value", "is longer than 256 characters"};
  return id;
}

}  // namespace circolo::engine
