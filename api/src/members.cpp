#include "circolo/api/members.hpp"
#include "circolo/api/referrals.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>

#include "circolo/api/http.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/engine/referrals.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;
using Points = engine::ledger::Points;
constexpr Points kMaxPoints = 1'000'000'000'000;  // far beyond any program, far below overflow

void unknown_fields(const json& body, std::initializer_list<const char*> known,
                    std::vector<FieldError>& errors, const std::string& prefix = "") {
  for (const auto& [field, value] : body.items()) {
    bool ok = false;
    for (const char* k : known) ok = ok || field == k;
    if (!ok) errors.push_back({prefix + field, "is not a known field"});
  }
}

void require_object(const json& body) {
  if (!body.is_object()) throw_validation({{"", "the body must be a JSON object"}});
}

std::optional<Points> points_field(const json& body, const char* field, bool allow_negative,
                                   std::vector<FieldError>& errors) {
  if (!body.contains(field)) {
    errors.push_back({field, "is required"});
    return std::nullopt;
  }
  const auto& v = body[field];
  if (!v.is_number_integer()) {
    errors.push_back({field, "must be a whole number of points"});
    return std::nullopt;
  }
  // 2^63 and beyond arrive unsigned: get<long long>() would wrap them to negative points.
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxPoints)) {
    errors.push_back({field, "is out of range"});
    return std::nullopt;
  }
  const auto points = v.get<long long>();
  if (points == 0 || (!allow_negative && points < 0)) {
    errors.push_back({field, allow_negative ? "must not be 0" : "must be positive"});
    return std::nullopt;
  }
  if (points > kMaxPoints || points < -kMaxPoints) {
    errors.push_back({field, "is out of range"});
    return std::nullopt;
  }
  return points;
}

std::optional<std::string> text_field(const json& body, const char* field, std::size_t max,
                                      bool required, std::vector<FieldError>& errors) {
  if (!body.contains(field) || body[field].is_null()) {
    if (required) errors.push_back({field, "is required"});
    return std::nullopt;
  }
  if (!body[field].is_string()) {
    errors.push_back({field, "must be a string"});
    return std::nullopt;
  }
  auto value = body[field].get<std::string>();
  if (required && value.empty()) {
    errors.push_back({field, "must not be empty"});
    return std::nullopt;
  }
  if (value.size() > max) {
    errors.push_back({field, "is longer than " + std::to_string(max) + " characters"});
    return std::nullopt;
  }
  return value;
}

std::optional<engine::Identifier> identifier_from(const json& item, const std::string& prefix,
                                                  std::vector<FieldError>& errors) {
  if (!item.is_object()) {
    errors.push_back({prefix, "must be an object {\"type\",\"value\"}"});
    return std::nullopt;
  }
  unknown_fields(item, {"type", "value"}, errors, prefix + ".");
  if (!item.contains("type") || !item["type"].is_string()) {
    errors.push_back({prefix + ".type", "is required: card, email, phone, app, web or your own"});
    return std::nullopt;
  }
  if (!item.contains("value") || !item["value"].is_string()) {
    errors.push_back({prefix + ".value", "is required"});
    return std::nullopt;
  }
  auto r = engine::normalize_identifier(item["type"].get<std::string>(),
                                        item["value"].get<std::string>());
  if (auto* e = std::get_if<engine::IdentifierError>(&r)) {
    errors.push_back({prefix + "." + e->field, e->message});
    return std::nullopt;
  }
  return std::get<engine::Identifier>(r);
}

bool valid_date(const std::string& s, engine::TimePoint now) {
  using namespace std::chrono;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  int y = 0, m = 0, d = 0;
  auto num = [&](int from, int len, int& out) {
    auto [p, ec] = std::from_chars(s.data() + from, s.data() + from + len, out);
    return ec == std::errc{} && p == s.data() + from + len;
  };
  if (!num(0, 4, y) || !num(5, 2, m) || !num(8, 2, d)) return false;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
  return ymd.ok() && y >= 1900 && sys_days{ymd} <= floor<days>(now);
}

}  // namespace

std::optional<std::string> parse_referral_code(const json& body, std::vector<FieldError>& errors) {
  if (!body.contains("referral_code")) return std::nullopt;
  const auto& code = body["referral_code"];
  if (!code.is_string()) {
    errors.push_back({"referral_code", "must be a string: a member's referral code"});
    return std::nullopt;
  }
  auto normal = engine::referrals::normalize_code(code.get<std::string>());
  if (!normal)
    errors.push_back({"referral_code", "is not shaped like a referral code (as in K7M2-QX9P)"});
  return normal;
}

NewMember parse_new_member(const json& body, engine::TimePoint now) {
  require_object(body);
  std::vector<FieldError> errors;
  NewMember out;
  unknown_fields(body, {"identifiers", "profile", "link", "referral_code"}, errors);
  out.referral_code = parse_referral_code(body, errors);
  if (body.contains("link")) {
    if (!body["link"].is_boolean())
      errors.push_back({"link", "must be true or false"});
    else
      out.link = body["link"].get<bool>();
  }
  // A member is found by its identifiers: one nobody can name could never be found again.
  if (!body.contains("identifiers") ||
      (body["identifiers"].is_array() && body["identifiers"].empty())) {
    errors.push_back({"identifiers",
                      "at least one identifier is required (card, email, phone, app...), as in "
                      "[{\"type\":\"email\",\"value\":\"anna@example.com\"}]"});
  } else {
    const auto& list = body["identifiers"];
    if (!list.is_array() || list.size() > 20) {
      errors.push_back({"identifiers", "must be a list of 1 to 20 {\"type\",\"value\"}"});
    } else {
      for (std::size_t i = 0; i < list.size(); ++i) {
        auto id = identifier_from(list[i], "identifiers[" + std::to_string(i) + "]", errors);
        if (!id) continue;
        if (std::find(out.identifiers.begin(), out.identifiers.end(), *id) !=
            out.identifiers.end()) {
          errors.push_back({"identifiers[" + std::to_string(i) + "]", "is listed twice"});
          continue;
        }
        out.identifiers.push_back(*id);
      }
    }
  }
  if (body.contains("profile") && !body["profile"].is_null()) {
    // The same checks as a PATCH, applied to an empty profile.
    try {
      apply_profile_patch(out.profile, parse_profile_patch(body["profile"], now));
    } catch (const ApiError& e) {
      for (const auto& f : e.errors())
        errors.push_back({f.field.empty() ? "profile" : "profile." + f.field, f.message});
    }
  }
  if (!errors.empty()) throw_validation(std::move(errors));
  return out;
}

namespace {

constexpr std::size_t kMaxAttributes = 50;

// Characters, not bytes (the body was valid UTF-8 when parsed).
std::size_t utf8_length(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

bool has_control(const std::string& s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// local@domain: a dot-atom local part of up to 64 characters, a domain of labels (letters,
// digits, inner dashes) with a top-level label of two letters or more; 254 characters at most.
bool email_syntax(const std::string& e) {
  const auto at = e.find('@');
  if (e.size() > 254 || at == std::string::npos || at == 0 || at > 64) return false;
  const std::string local = e.substr(0, at), domain = e.substr(at + 1);
  const std::string_view specials = "!#$%&'*+/=?^_`{|}~-.";
  for (char c : local) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) ||
                    specials.find(c) != std::string_view::npos ||
                    static_cast<unsigned char>(c) >= 0x80;  // internationalised addresses
    if (!ok) return false;
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string::npos)
    return false;
  std::vector<std::string> labels;
  std::size_t from = 0;
  for (std::size_t dot; (dot = domain.find('.', from)) != std::string::npos; from = dot + 1)
    labels.push_back(domain.substr(from, dot - from));
  labels.push_back(domain.substr(from));
  if (labels.size() < 2) return false;
  for (const auto& l : labels) {
    if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
    for (char c : l) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' &&
          static_cast<unsigned char>(c) < 0x80)
        return false;
    }
  }
  const auto& top = labels.back();
  return top.size() >= 2 &&
         std::none_of(top.begin(), top.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A text field of the patch: left out, null (clear) or a string checked by `check`, which
// returns the value to store or adds an error.
template <typename Check>
ProfilePatch::Field patch_text(const json& body, const char* field, std::vector<FieldError>& errors,
                               Check check) {
  if (!body.contains(field)) return std::nullopt;
  const auto& v = body[field];
  if (v.is_null()) return std::optional<std::string>();
  if (!v.is_string()) {
    errors.push_back({field, "must be a string, or null to clear it"});
    return std::nullopt;
  }
  auto value = check(v.get<std::string>());
  if (!value) return std::nullopt;
  return std::optional<std::string>(std::move(*value));
}

// A name: 1..max characters, no control characters.
auto name_check(const char* field, std::size_t max, std::vector<FieldError>& errors) {
  return [field, max, &errors](const std::string& v) -> std::optional<std::string> {
    if (v.empty()) {
      errors.push_back({field, "must not be empty (null clears it)"});
    } else if (utf8_length(v) > max) {
      errors.push_back({field, "is longer than " + std::to_string(max) + " characters"});
    } else if (has_control(v)) {
      errors.push_back({field, "must not contain control characters"});
    } else {
      return v;
    }
    return std::nullopt;
  };
}

}  // namespace

ProfilePatch parse_profile_patch(const json& body, engine::TimePoint now) {
  if (!body.is_object()) throw_validation({{"", "must be a JSON object"}});
  std::vector<FieldError> errors;
  unknown_fields(body, {"name", "display_name", "email", "phone", "birthday", "attributes"},
                 errors);
  ProfilePatch out;
  out.name = patch_text(body, "name", errors, name_check("name", 200, errors));
  out.display_name =
      patch_text(body, "display_name", errors, name_check("display_name", 64, errors));
  out.email = patch_text(body, "email", errors, [&](const std::string& v) {
    auto n = engine::normalize_identifier("email", v);
    auto* id = std::get_if<engine::Identifier>(&n);
    if (!id || !email_syntax(id->value)) {
      errors.push_back({"email", "is not an email address (name@example.com)"});
      return std::optional<std::string>();
    }
    return std::optional<std::string>(id->value);
  });
  out.phone = patch_text(body, "phone", errors, [&](const std::string& v) {
    auto n = engine::normalize_identifier("phone", v);
    auto* id = std::get_if<engine::Identifier>(&n);
    const auto digits =
        id ? std::count_if(id->value.begin(), id->value.end(), [](char c) { return c != '+'; }) : 0;
    if (!id || digits < 6 || digits > 20) {
      errors.push_back({"phone",
                        "must be 6 to 20 digits with an optional leading '+' (blanks, dashes, "
                        "dots and brackets are dropped)"});
      return std::optional<std::string>();
    }
    return std::optional<std::string>(id->value);
  });
  out.birthday = patch_text(body, "birthday", errors, [&](const std::string& v) {
    if (valid_date(v, now)) return std::optional<std::string>(v);
    errors.push_back(
        {"birthday", "must be a real date YYYY-MM-DD from 1900-01-01 to today, or null"});
    return std::optional<std::string>();
  });
  if (body.contains("attributes")) {
    const auto& a = body["attributes"];
    if (a.is_null()) {
      out.attributes = json(nullptr);
    } else if (!a.is_object() || a.size() > kMaxAttributes) {
      errors.push_back({"attributes",
                        "must be an object of at most 50 entries (null removes "
                        "them all)"});
    } else {
      bool ok = true;
      for (const auto& [key, value] : a.items()) {
        if (key.empty() || utf8_length(key) > 64 || has_control(key) || value.is_structured() ||
            (value.is_string() && utf8_length(value.get<std::string>()) > 1000)) {
          errors.push_back({"attributes." + key,
                            "must be a string (up to 1000), number, boolean or null (removes it) "
                            "under a name of 1 to 64 characters"});
          ok = false;
        }
      }
      if (ok) out.attributes = a;
    }
  }
  if (!errors.empty()) throw_validation(std::move(errors));
  return out;
}

std::vector<std::string> apply_profile_patch(db::Profile& profile, const ProfilePatch& patch) {
  std::vector<std::string> changed;
  auto set = [&](std::optional<std::string>& field, const ProfilePatch::Field& to,
                 const char* name) {
    if (to && *to != field) {
      field = *to;
      changed.push_back(name);
    }
  };
  set(profile.name, patch.name, "name");
  set(profile.display_name, patch.display_name, "display_name");
  set(profile.email, patch.email, "email");
  set(profile.phone, patch.phone, "phone");
  set(profile.birthday, patch.birthday, "birthday");
  if (patch.attributes) {
    json merged = profile.attributes.is_object() ? profile.attributes : json::object();
    if (patch.attributes->is_null()) {
      merged = json::object();
    } else {
      for (const auto& [key, value] : patch.attributes->items()) {
        if (value.is_null())
          merged.erase(key);
        else
          merged[key] = value;
      }
    }
    if (merged.size() > kMaxAttributes)
      throw_validation({{"attributes", "would hold more than 50 entries; remove some with null"}});
    if (merged != profile.attributes) {
      profile.attributes = std::move(merged);
      changed.push_back("attributes");
    }
  }
  return changed;
}

std::vector<FieldError> member_patch_refusals(const db::Profile& current,
                                              const ProfilePatch& patch) {
  std::vector<FieldError> refused;
  const char* contact =
      "is a contact detail: the touchpoint changes it with its own key, after checking it";
  if (patch.email && *patch.email != current.email) refused.push_back({"email", contact});
  if (patch.phone && *patch.phone != current.phone) refused.push_back({"phone", contact});
  if (patch.birthday && current.birthday && *patch.birthday != current.birthday)
    refused.push_back(
        {"birthday", "is set already: a member gives it once; staff correct it with their key"});
  return refused;
}

std::optional<engine::Identifier> parse_identifier_field(const json& value,
                                                         const std::string& field,
                                                         std::vector<FieldError>& errors) {
  return identifier_from(value, field, errors);
}

engine::Identifier parse_identifier_body(const json& body) {
  require_object(body);
  std::vector<FieldError> errors;
  auto id = identifier_from(body, "", errors);
  for (auto& e : errors) {
    if (!e.field.empty() && e.field.front() == '.') e.field.erase(0, 1);
  }
  if (!errors.empty() || !id) throw_validation(std::move(errors));
  return *id;
}

SpendRequest parse_spend(const json& body) {
  require_object(body);
  std::vector<FieldError> errors;
  unknown_fields(body, {"points", "reason"}, errors);
  SpendRequest out;
  if (auto p = points_field(body, "points", false, errors)) out.points = *p;
  out.reason = text_field(body, "reason", 200, false, errors);
  if (!errors.empty()) throw_validation(std::move(errors));
  return out;
}

AdjustRequest parse_adjust(const json& body, engine::TimePoint now) {
  require_object(body);
  std::vector<FieldError> errors;
  unknown_fields(body, {"points", "reason", "expires_at"}, errors);
  AdjustRequest out;
  if (auto p = points_field(body, "points", true, errors)) out.points = *p;
  if (auto r = text_field(body, "reason", 200, true, errors)) out.reason = *r;
  // "expires_at": null asks for points that never expire (left out: the program's lifetime).
  out.never_expires = body.contains("expires_at") && body["expires_at"].is_null();
  if (auto e = text_field(body, "expires_at", 64, false, errors)) {
    out.expires_at = engine::parse_rfc3339(*e);
    if (!out.expires_at)
      errors.push_back({"expires_at", "must be an RFC 3339 time"});
    else if (*out.expires_at <= now)
      errors.push_back({"expires_at", "must be in the future"});
    else if (out.points < 0)
      errors.push_back({"expires_at", "applies to positive adjustments only"});
  }
  if (!errors.empty()) throw_validation(std::move(errors));
  return out;
}

TransferRequest parse_transfer(const json& body) {
  require_object(body);
  std::vector<FieldError> errors;
  unknown_fields(body, {"to", "points"}, errors);
  TransferRequest out;
  if (auto to = text_field(body, "to", 64, true, errors)) out.to = *to;
  if (auto p = points_field(body, "points", false, errors)) out.points = *p;
  if (!errors.empty()) throw_validation(std::move(errors));
  return out;
}

long long parse_link_code_request(const json& body) {
  require_object(body);
  std::vector<FieldError> errors;
  unknown_fields(body, {"ttl_seconds"}, errors);
  long long ttl = 300;
  if (body.contains("ttl_seconds")) {
    const auto& v = body["ttl_seconds"];
    if (!v.is_number_integer() || v.get<long long>() < 30 || v.get<long long>() > 900)
      errors.push_back({"ttl_seconds", "must be a whole number from 30 to 900"});
    else
      ttl = v.get<long long>();
  }
  if (!errors.empty()) throw_validation(std::move(errors));
  return ttl;
}

MergeRequest parse_merge(const json& body) {
  require_object(body);
  std::vector<FieldError> errors;
  unknown_fields(body, {"from", "dry_run"}, errors);
  auto from = text_field(body, "from", 64, true, errors);
  MergeRequest out;
  if (body.contains("dry_run")) {
    if (!body["dry_run"].is_boolean())
      errors.push_back({"dry_run", "must be true or false"});
    else
      out.dry_run = body["dry_run"].get<bool>();
  }
  if (!errors.empty() || !from) throw_validation(std::move(errors));
  out.from = *from;
  return out;
}

long long parse_whole_query(const std::optional<std::string>& text, std::string_view name,
                            long long low, long long high, long long fallback) {
  if (!text) return fallback;
  long long value = 0;
  auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc{} || p != text->data() + text->size() || value < low || value > high) {
    throw ApiError(http::status::bad_request, "invalid_query",
                   std::string(name) + " must be a whole number from " + std::to_string(low) +
                       " to " + std::to_string(high));
  }
  return value;
}

int parse_limit(const std::optional<std::string>& text) {
  return static_cast<int>(parse_whole_query(text, "limit", 1, 200, 50));
}

std::optional<long long> parse_ledger_cursor(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  long long id = 0;
  auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), id);
  if (ec != std::errc{} || p != text->data() + text->size() || id <= 0) {
    throw ApiError(http::status::bad_request, "invalid_cursor",
                   "cursor is not one this server gave out");
  }
  return id;
}

std::optional<db::TimelineCursor> parse_timeline_cursor(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  const auto dot = text->find('.');
  // Both numbers whole and in range: an empty or overflowing part leaves its value 0 with the
  // end pointer where it would be, which must not pass for a position.
  const auto number = [](const char* from, const char* to, long long& out) {
    const auto [end, ec] = std::from_chars(from, to, out);
    return ec == std::errc{} && end == to;
  };
  long long micros = 0, id = 0;
  const bool ok = dot != std::string::npos && number(text->data(), text->data() + dot, micros) &&
                  number(text->data() + dot + 1, text->data() + text->size(), id) && id > 0;
  if (!ok)
    throw ApiError(http::status::bad_request, "invalid_cursor",
                   "cursor is not one this server gave out");
  return db::TimelineCursor{engine::TimePoint{std::chrono::microseconds{micros}}, id};
}

std::string timeline_cursor(const db::TimelineEntry& last) {
  return std::to_string(last.occurred_at.time_since_epoch().count()) + "." +
         std::to_string(last.id);
}

namespace {

json optional_json(const std::optional<std::string>& v) {
  return v ? json(*v) : json(nullptr);
}

}  // namespace

json member_json(const db::Member& m, const std::vector<engine::Identifier>& identifiers,
                 const engine::ledger::Balances& points) {
  json ids = json::array();
  for (const auto& i : identifiers) ids.push_back({{"type", i.type}, {"value", i.value}});
  return {
      {"id", m.id},
      {"tier", optional_json(m.tier)},
      {"points", {{"available", points.available}, {"pending", points.pending}}},
      {"identifiers", ids},
      {"profile",
       {{"name", optional_json(m.profile.name)},
        {"display_name", optional_json(m.profile.display_name)},
        {"email", optional_json(m.profile.email)},
        {"phone", optional_json(m.profile.phone)},
        {"birthday", optional_json(m.profile.birthday)},
        {"attributes", m.profile.attributes}}},
      {"tags", m.tags},
      {"joined_at", engine::format_rfc3339(m.joined_at)},
      {"erased_at", m.erased_at ? json(engine::format_rfc3339(*m.erased_at)) : json(nullptr)},
  };
}

json ledger_entry_json(const db::points::LedgerEntry& e) {
  return {
      {"id", std::to_string(e.id)},
      {"kind", e.kind},
      {"points", e.points},
      {"balance_after", e.balance_after},
      {"campaign", optional_json(e.campaign)},
      {"rule", optional_json(e.rule)},
      {"event_id", optional_json(e.event_id)},
      {"at", engine::format_rfc3339(e.at)},
      {"expires_at", e.expires_at ? json(engine::format_rfc3339(*e.expires_at)) : json(nullptr)},
      {"reason", optional_json(e.reason)},
      {"counterparty", optional_json(e.counterparty)},
  };
}

json timeline_entry_json(const db::TimelineEntry& e) {
  return {
      {"id", std::to_string(e.id)},
      {"type", e.type},
      {"channel", optional_json(e.channel)},
      {"occurred_at", engine::format_rfc3339(e.occurred_at)},
      {"recorded_at", engine::format_rfc3339(e.recorded_at)},
      {"data", e.data},
      {"effects", e.effects},
  };
}

json wallet_json(const std::vector<engine::ledger::Lot>& lots, engine::TimePoint now,
                 engine::TimePoint horizon) {
  const auto balances = engine::ledger::balances(lots, now);
  json expiring = json::array();
  for (const auto& e : engine::ledger::expiring(lots, now, horizon)) {
    expiring.push_back({{"points", e.points}, {"at", engine::format_rfc3339(e.at)}});
  }
  return {
      {"points",
       {{"available", balances.available}, {"pending", balances.pending}, {"expiring", expiring}}},
      {"tier", nullptr},
      {"coupons", json::array()},
      {"challenges", json::array()},
      {"badges", json::array()},
  };
}

void throw_insufficient(const engine::ledger::SpendDecision& refused) {
  throw ApiError(http::status::conflict, "insufficient_points",
                 std::to_string(refused.asked) + " points asked, " +
                     std::to_string(refused.available) + " available",
                 {}, {{"available", refused.available}});
}

}  // namespace circolo::api
