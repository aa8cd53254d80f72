#include "circolo/api/members.hpp"

#include <charconv>

#include "circolo/api/http.hpp"
#include "circolo/api/problem.hpp"

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

NewMember parse_new_member(const json& body, engine::TimePoint now) {
  require_object(body);
  std::vector<FieldError> errors;
  NewMember out;
  unknown_fields(body, {"identifiers", "profile"}, errors);
  if (body.contains("identifiers")) {
    const auto& list = body["identifiers"];
    if (!list.is_array() || list.size() > 20) {
      errors.push_back({"identifiers", "must be a list of at most 20 {\"type\",\"value\"}"});
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
    const auto& p = body["profile"];
    if (!p.is_object()) {
      errors.push_back({"profile", "must be an object"});
    } else {
      std::vector<FieldError> profile_errors;
      unknown_fields(p, {"name", "email", "phone", "birthday", "attributes"}, profile_errors);
      out.profile.name = text_field(p, "name", 200, false, profile_errors);
      if (auto email = text_field(p, "email", 256, false, profile_errors)) {
        auto n = engine::normalize_identifier("email", *email);
        if (auto* e = std::get_if<engine::IdentifierError>(&n))
          profile_errors.push_back({"email", e->message});
        else
          out.profile.email = std::get<engine::Identifier>(n).value;
      }
      if (auto phone = text_field(p, "phone", 64, false, profile_errors)) {
        auto n = engine::normalize_identifier("phone", *phone);
        if (auto* e = std::get_if<engine::IdentifierError>(&n))
          profile_errors.push_back({"phone", e->message});
        else
          out.profile.phone = std::get<engine::Identifier>(n).value;
      }
      if (auto birthday = text_field(p, "birthday", 10, false, profile_errors)) {
        if (valid_date(*birthday, now))
          out.profile.birthday = *birthday;
        else
          profile_errors.push_back({"birthday", "must be a past date YYYY-MM-DD"});
      }
      if (p.contains("attributes") && !p["attributes"].is_null()) {
        const auto& a = p["attributes"];
        if (!a.is_object() || a.size() > 50) {
          profile_errors.push_back({"attributes", "must be an object of at most 50 entries"});
        } else {
          for (const auto& [key, value] : a.items()) {
            if (key.empty() || key.size() > 64 || value.is_structured() ||
                (value.is_string() && value.get<std::string>().size() > 1000)) {
              profile_errors.push_back({"attributes." + key,
                                        "must be a string (up to 1000), number, boolean or null "
                                        "under a name of 1 to 64 characters"});
            }
          }
          out.profile.attributes = a;
        }
      }
      for (auto& e : profile_errors) errors.push_back({"profile." + e.field, e.message});
    }
  }
  if (!errors.empty()) throw_validation(std::move(errors));
  return out;
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

std::string parse_merge(const json& body) {
  require_object(body);
  std::vector<FieldError> errors;
  unknown_fields(body, {"from"}, errors);
  auto from = text_field(body, "from", 64, true, errors);
  if (!errors.empty() || !from) throw_validation(std::move(errors));
  return *from;
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
  long long micros = 0, id = 0;
  const bool ok =
      dot != std::string::npos &&
      std::from_chars(text->data(), text->data() + dot, micros).ptr == text->data() + dot &&
      std::from_chars(text->data() + dot + 1, text->data() + text->size(), id).ptr ==
          text->data() + text->size() &&
      id > 0;
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
        {"email", optional_json(m.profile.email)},
        {"phone", optional_json(m.profile.phone)},
        {"birthday", optional_json(m.profile.birthday)},
        {"attributes", m.profile.attributes}}},
      {"tags", m.tags},
      {"joined_at", engine::format_rfc3339(m.joined_at)},
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

db::points::LedgerEntry take_points(soci::session& sql, const std::string& member_id,
                                    const db::points::Debit& debit, engine::TimePoint now) {
  const auto decided =
      engine::ledger::decide_spend(db::points::active_lots(sql, member_id), debit.points, now);
  if (decided.refused()) throw_insufficient(decided);
  return db::points::apply_spend(sql, member_id, debit, *decided.draws, now);
}

}  // namespace circolo::api
