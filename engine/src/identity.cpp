#include "circolo/engine/identity.hpp"

#include <algorithm>

#include "circolo/engine/unicode.hpp"

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
  // One spelling for what reads the same: a card typed with full-width digits, or an email in
  // another Unicode form, is the same identifier (NFKC); invisible characters are refused.
  const auto normal = unicode::nfkc(value);
  if (!normal.text) return IdentifierError{"value", normal.error};
  const auto raw = trim(*normal.text);
  if (std::any_of(raw.begin(), raw.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return IdentifierError{"value", "must not contain control characters"};
  }
  if (id.type == "email") {
    id.value = unicode::fold_case(raw);
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
    // Card numbers are digits (NFKC has made full-width and other compatibility digits ASCII):
    // a letter that looks like a digit (O for 0, l for 1) or any other character would make a
    // second card out of the same plastic.
    for (char c : raw) {
      if (c >= '0' && c <= '9')
        id.value.push_back(c);
      else if (c != ' ' && c != '-')
        return IdentifierError{"value",
                               "a card number has only digits (blanks and dashes are ignored)"};
    }
    if (id.value.size() < 4 || id.value.size() > 32)
      return IdentifierError{"value", "a card number has 4 to 32 digits"};
  } else {
    id.value = std::string(raw);
  }
  if (id.value.empty()) return IdentifierError{"value", "is empty"};
  if (id.value.size() > 256) return IdentifierError{"value", "is longer than 256 characters"};
  return id;
}

}  // namespace circolo::engine

namespace circolo::engine::identity {

Resolution resolve(const std::vector<Named>& named, const std::optional<std::string>& by_code,
                   bool link, bool enrol) {
  Resolution out;
  std::vector<std::string> owners;
  if (by_code) owners.push_back(*by_code);
  std::vector<Identifier> unowned;
  for (const auto& n : named) {
    if (n.owner)
      owners.push_back(*n.owner);
    else if (std::find(unowned.begin(), unowned.end(), n.identifier) == unowned.end())
      unowned.push_back(n.identifier);
  }
  std::sort(owners.begin(), owners.end());
  owners.erase(std::unique(owners.begin(), owners.end()), owners.end());
  if (owners.size() > 1) {
    out.kind = Resolution::Kind::conflict;
    out.conflicting = std::move(owners);
    return out;
  }
  if (owners.size() == 1) {
    out.kind = Resolution::Kind::member;
    out.member_id = owners.front();
    if (link || by_code) out.to_link = std::move(unowned);
    return out;
  }
  out.kind = enrol ? Resolution::Kind::enrol : Resolution::Kind::unknown;
  if (enrol) out.to_link = std::move(unowned);
  return out;
}

std::string conflict_detail(const std::vector<std::string>& members) {
  std::string names;
  for (const auto& id : members) names += (names.empty() ? "" : ", ") + id;
  return "the identifiers given belong to different members (" + names +
         "): merge them first, or send the identifiers of one";
}

LinkCodeRefusal check_link_code(const std::optional<LinkCode>& code,
                                std::chrono::sys_time<std::chrono::microseconds> now) {
  if (!code) return LinkCodeRefusal::unknown;
  if (code->used) return LinkCodeRefusal::used;
  if (now >= code->expires_at) return LinkCodeRefusal::expired;
  return LinkCodeRefusal::none;
}

}  // namespace circolo::engine::identity
