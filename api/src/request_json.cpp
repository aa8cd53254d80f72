// Request JSON → the language's records (event, member, attributes, money): the parse stage
// the event, simulate and coupon routes share.
#include "circolo/api/request_json.hpp"

#include <charconv>
#include <cstdint>
#include <limits>

#include "circolo/engine/money.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

// A JSON integer that fits a long long: nlohmann reads 2^63 and beyond as unsigned, which
// get<long long>() would wrap to a negative number.
bool fits_long_long(const json& v) {
  return v.is_number_integer() &&
         (!v.is_number_unsigned() ||
          v.get<std::uint64_t>() <=
              static_cast<std::uint64_t>(std::numeric_limits<long long>::max()));
}

// A money field: "84.50" or 84.5, exactly, with at most the currency's digits.
std::optional<rules::Decimal> money(const json& v, int digits, const std::string& field,
                                    std::vector<FieldError>& errors) {
  std::string text;
  if (v.is_string()) {
    text = v.get<std::string>();
  } else if (v.is_number_integer()) {
    text = v.dump();  // exact, and unsigned beyond 2^63 is not wrapped negative
  } else if (v.is_number_float()) {
    // The shortest text that reads back as the same double is the decimal the client wrote,
    // as long as it has at most 15 significant digits.
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v.get<double>());
    text.assign(buffer, end);
    std::size_t significant = 0;
    for (char c : text) significant += (c >= '0' && c <= '9') ? 1 : 0;
    if (ec != std::errc{} || text.find_first_of("eE") != std::string::npos || significant > 15) {
      errors.push_back({field, "send this amount as a decimal string, as in \"84.50\""});
      return std::nullopt;
    }
  } else {
    errors.push_back({field, "must be an amount: a decimal string such as \"84.50\" or a number"});
    return std::nullopt;
  }
  const auto parsed = engine::parse_money(text, digits);
  if (!parsed.value) {
    errors.push_back({field, std::string(engine::describe(parsed.error))});
    return std::nullopt;
  }
  return rules::Decimal{parsed.value->minor, digits};
}

}  // namespace

std::optional<rules::Decimal> parse_money_field(const json& value, int currency_digits,
                                                const std::string& field,
                                                std::vector<FieldError>& errors) {
  return money(value, currency_digits, field, errors);
}

namespace {

rules::Attributes attributes_impl(const json& v, const std::string& field,
                                  std::vector<FieldError>& errors) {
  rules::Attributes out;
  if (v.is_null()) return out;
  if (!v.is_object() || v.size() > 50) {
    errors.push_back({field, "must be an object of at most 50 entries"});
    return out;
  }
  for (const auto& [key, value] : v.items()) {
    if (value.is_boolean())
      out[key] = value.get<bool>();
    else if (fits_long_long(value))
      out[key] = static_cast<std::int64_t>(value.get<long long>());
    else if (value.is_number_integer())
      errors.push_back({field + "." + key, "is a whole number beyond 9223372036854775807"});
    else if (value.is_string())
      out[key] = value.get<std::string>();
    else if (value.is_number_float()) {
      std::vector<FieldError> local;
      if (auto d = money(value, 6, field + "." + key, local)) out[key] = *d;
      for (auto& e : local) errors.push_back(std::move(e));
    } else if (!value.is_null()) {
      errors.push_back({field + "." + key, "must be a string, number, boolean or null"});
    }
  }
  return out;
}

std::string string_field(const json& body, const char* name, std::vector<FieldError>& errors,
                         bool required, const std::string& fallback = "") {
  if (!body.contains(name) || body[name].is_null()) {
    if (required) errors.push_back({name, "is required"});
    return fallback;
  }
  if (!body[name].is_string() || body[name].get<std::string>().empty() ||
      body[name].get<std::string>().size() > 200) {
    errors.push_back({name, "must be a string of 1 to 200 characters"});
    return fallback;
  }
  return body[name].get<std::string>();
}

}  // namespace

rules::Attributes parse_attributes_json(const json& value, const std::string& field,
                                        std::vector<FieldError>& errors) {
  return attributes_impl(value, field, errors);
}

rules::Event parse_event_json(const json& body, int digits, const std::string& currency,
                              engine::TimePoint now, const std::string& default_channel) {
  if (!body.is_object()) throw_validation({{"event", "must be a JSON object"}});
  std::vector<FieldError> errors;
  rules::Event e;
  e.type = string_field(body, "type", errors, true);
  e.channel = string_field(body, "channel", errors, false, default_channel);
  if (body.contains("store") && !body["store"].is_null())
    e.store = string_field(body, "store", errors, false);
  e.time = now;
  if (body.contains("occurred_at")) {
    const auto& t = body["occurred_at"];
    auto parsed = t.is_string() ? engine::parse_rfc3339(t.get<std::string>()) : std::nullopt;
    if (!parsed)
      errors.push_back({"occurred_at", "must be an RFC 3339 time with an offset"});
    else
      e.time = *parsed;
  }
  if (body.contains("currency") &&
      (!body["currency"].is_string() || body["currency"].get<std::string>() != currency)) {
    errors.push_back({"currency", "must be the program currency, " + currency});
  }
  if (body.contains("total")) {
    if (auto t = money(body["total"], digits, "total", errors)) {
      if (t->mantissa < 0) errors.push_back({"total", "must not be negative"});
      e.total = *t;
    }
  }
  if (body.contains("items")) {
    const auto& items = body["items"];
    if (!items.is_array() || items.size() > 1000) {
      errors.push_back({"items", "must be a list of at most 1000 items"});
    } else {
      for (std::size_t i = 0; i < items.size(); ++i) {
        const auto& it = items[i];
        const std::string p = "items[" + std::to_string(i) + "]";
        if (!it.is_object()) {
          errors.push_back({p, "must be an object"});
          continue;
        }
        rules::Item item;
        for (const auto& [name, value] : it.items()) {
          if (name != "sku" && name != "category" && name != "brand" && name != "quantity" &&
              name != "price" && name != "attributes")
            errors.push_back({p + "." + name, "is not a known field of an item"});
        }
        for (const auto& [name, slot] :
             {std::pair{"sku", &item.sku}, std::pair{"category", &item.category},
              std::pair{"brand", &item.brand}}) {
          if (it.contains(name) && !it[name].is_null()) {
            if (!it[name].is_string())
              errors.push_back({p + "." + name, "must be a string"});
            else
              *slot = it[name].get<std::string>();
          }
        }
        if (it.contains("quantity")) {
          if (!it["quantity"].is_number_integer() || it["quantity"].get<long long>() < 1 ||
              it["quantity"].get<long long>() > 1'000'000)
            errors.push_back({p + ".quantity", "must be a whole number from 1 to 1000000"});
          else
            item.quantity = it["quantity"].get<long long>();
        }
        if (it.contains("price")) {
          if (auto price = money(it["price"], digits, p + ".price", errors)) {
            if (price->mantissa < 0) errors.push_back({p + ".price", "must not be negative"});
            item.price = *price;
          }
        }
        item.attributes =
            attributes_impl(it.value("attributes", json()), p + ".attributes", errors);
        e.items.push_back(std::move(item));
      }
    }
  }
  if (body.contains("coupons")) {
    if (!body["coupons"].is_array())
      errors.push_back({"coupons", "must be a list of codes"});
    else
      for (const auto& c : body["coupons"]) {
        if (c.is_string())
          e.coupons.push_back(c.get<std::string>());
        else
          errors.push_back({"coupons", "must be a list of codes"});
      }
  }
  e.attributes = attributes_impl(body.value("attributes", json()), "attributes", errors);
  if (!errors.empty()) throw_validation(std::move(errors));
  return e;
}

rules::MemberSnapshot parse_member_json(const json& body, engine::TimePoint now) {
  if (!body.is_object()) throw_validation({{"member", "must be a JSON object"}});
  std::vector<FieldError> errors;
  rules::MemberSnapshot m;
  m.id = body.value("id", "mem_simulated");
  m.joined = now;
  if (body.contains("tier")) m.tier = string_field(body, "tier", errors, false);
  for (const auto& [name, slot] : {std::pair{"tags", &m.tags}, std::pair{"badges", &m.badges}}) {
    if (!body.contains(name)) continue;
    if (!body[name].is_array())
      errors.push_back({std::string("member.") + name, "must be a list of strings"});
    else
      for (const auto& v : body[name]) {
        if (v.is_string()) slot->push_back(v.get<std::string>());
      }
  }
  for (const auto& [name, slot] :
       {std::pair{"points", &m.points}, std::pair{"lifetime_points", &m.lifetime_points},
        std::pair{"purchases", &m.purchases}}) {
    if (!body.contains(name)) continue;
    if (!fits_long_long(body[name]))
      errors.push_back({std::string("member.") + name, "must be a whole number"});
    else
      *slot = body[name].get<long long>();
  }
  if (body.contains("multiplier")) {
    std::vector<FieldError> local;
    if (auto d = money(body["multiplier"], 6, "member.multiplier", local)) m.multiplier = *d;
    for (auto& e : local) errors.push_back(std::move(e));
  }
  if (body.contains("joined")) {
    auto t = body["joined"].is_string() ? engine::parse_rfc3339(body["joined"].get<std::string>())
                                        : std::nullopt;
    if (!t)
      errors.push_back({"member.joined", "must be an RFC 3339 time"});
    else
      m.joined = *t;
  }
  if (body.contains("birthday") && !body["birthday"].is_null()) {
    const auto text = body["birthday"].is_string() ? body["birthday"].get<std::string>() : "";
    const auto t = engine::parse_rfc3339(text + "T00:00:00Z");
    if (text.size() != 10 || !t)
      errors.push_back({"member.birthday", "must be a date YYYY-MM-DD"});
    else
      m.birthday = rules::Date{std::stoi(text.substr(0, 4)), std::stoi(text.substr(5, 2)),
                               std::stoi(text.substr(8, 2))};
  }
  m.attributes = attributes_impl(body.value("attributes", json()), "member.attributes", errors);
  if (!errors.empty()) throw_validation(std::move(errors));
  return m;
}

}  // namespace circolo::api
