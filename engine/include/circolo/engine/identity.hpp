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

#include <chrono>
#include <optional>
#include <vector>

namespace circolo::engine::identity {

// An identifier a touchpoint named, and the member that owns it (none if nobody does).
struct Named {
  Identifier identifier;
  std::optional<std::string> owner;
};

// What a request naming a member by several identifiers (and perhaps a link code) comes to.
struct Resolution {
  enum class Kind { member, enrol, unknown, conflict };
  Kind kind = Kind::unknown;
  std::string member_id;                 // Kind::member
  std::vector<std::string> conflicting;  // Kind::conflict: every owner, sorted
  std::vector<Identifier> to_link;       // unowned identifiers to link (or to enrol with)
};

// The rules of identity at a touchpoint:
// - the owners of the named identifiers, and the member a link code names, must be one member,
//   else it is a conflict (naming them all) and nothing changes;
// - that member is the one meant; identifiers nobody owns are linked to it when `link` (always
//   with a link code: the member proved who it is);
// - when nobody owns any and there is no code, `enrol` creates a member with all of them;
//   otherwise the member is unknown.
Resolution resolve(const std::vector<Named>& named, const std::optional<std::string>& by_code,
                   bool link, bool enrol);

// The explanation of a conflict, naming the members, as touchpoints show it.
std::string conflict_detail(const std::vector<std::string>& members);

// A one-time code the member's app shows and a till types or scans.
struct LinkCode {
  std::string member_id;
  std::chrono::sys_time<std::chrono::microseconds> expires_at;
  bool used = false;
};

enum class LinkCodeRefusal { none, unknown, expired, used };
LinkCodeRefusal check_link_code(const std::optional<LinkCode>& code,
                                std::chrono::sys_time<std::chrono::microseconds> now);

}  // namespace circolo::engine::identity
