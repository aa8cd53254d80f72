// What the coupon and reward routes read from a body (pure): apart from the lookups in
// coupon_requests.cpp so that the request validators link without the database.
#include <algorithm>

#include "circolo/api/members.hpp"
#include "circolo/api/request_json.hpp"
#include "coupon_requests.hpp"

namespace circolo::api::coupon_requests {

using nlohmann::json;

std::optional<MemberRef> parse_member_ref(const json& body, std::vector<FieldError>& errors,
                                          const std::optional<std::string>& fallback) {
  if (!body.contains("member") && fallback) return MemberRef{fallback, std::nullopt};
  if (!body.contains("member")) {
    errors.push_back({"member", "is required: a member id or {\"identifier\":{...}}"});
    return std::nullopt;
  }
  const auto& m = body["member"];
  MemberRef ref;
  if (m.is_string() && !m.get<std::string>().empty() && m.get<std::string>().size() <= 100) {
    ref.id = m.get<std::string>();
  } else if (m.is_object() && m.size() == 1 && m.contains("id") && m["id"].is_string() &&
             !m["id"].get<std::string>().empty() && m["id"].get<std::string>().size() <= 100) {
    ref.id = m["id"].get<std::string>();
  } else if (m.is_object() && m.size() == 1 && m.contains("identifier")) {
    ref.identifier = parse_identifier_field(m["identifier"], "member.identifier", errors);
    if (!ref.identifier) return std::nullopt;
  } else {
    errors.push_back({"member", "must be a member id, {\"id\":...} or {\"identifier\":{...}}"});
    return std::nullopt;
  }
  return ref;
}

std::optional<std::string> code_field(const json& body, std::vector<FieldError>& errors) {
  if (!body.contains("code") || !body["code"].is_string() ||
      body["code"].get<std::string>().empty() || body["code"].get<std::string>().size() > 64) {
    errors.push_back({"code", "is required: the coupon code"});
    return std::nullopt;
  }
  return body["code"].get<std::string>();
}

void only_fields(const json& body, std::initializer_list<const char*> known,
                 std::vector<FieldError>& errors) {
  if (!body.is_object()) throw_validation({{"", "the body must be a JSON object"}});
  for (const auto& item : body.items()) {
    const std::string& field = item.key();
    if (std::find_if(known.begin(), known.end(), [&](const char* k) { return field == k; }) ==
        known.end())
      errors.push_back({field, "is not a known field"});
  }
}

UseInput parse_use(const json& body, int digits, bool total_required, bool with_order,
                   const std::optional<std::string>& member_fallback) {
  std::vector<FieldError> errors;
  if (with_order)
    only_fields(body, {"code", "member", "total", "channel", "order_id", "currency"}, errors);
  else
    only_fields(body, {"code", "member", "total", "channel", "currency"}, errors);
  UseInput in;
  in.body = body;
  if (auto c = code_field(body, errors)) in.code = *c;
  if (auto m = parse_member_ref(body, errors, member_fallback)) in.member = *m;
  if (body.contains("total")) {
    if (auto t = parse_money_field(body["total"], digits, "total", errors)) {
      if (t->mantissa < 0)
        errors.push_back({"total", "must not be negative"});
      else
        in.total_minor = t->mantissa;
    }
  } else if (total_required) {
    errors.push_back({"total", "is required: the basket total, before the discount"});
  }
  if (with_order && body.contains("order_id")) {
    if (!body["order_id"].is_string() || body["order_id"].get<std::string>().empty() ||
        body["order_id"].get<std::string>().size() > 100)
      errors.push_back({"order_id", "must be a text of 1 to 100 characters"});
    else
      in.order_id = body["order_id"].get<std::string>();
  }
  if (!errors.empty()) throw_validation(std::move(errors));
  return in;
}

void check_currency(const json& body, const rules::CompiledProgram& program) {
  if (body.contains("currency") &&
      (!body["currency"].is_string() || body["currency"].get<std::string>() != program.currency()))
    throw_validation({{"currency", "must be the program's currency, " + program.currency()}});
}

std::string stock_counter(const std::string& reward) {
  return "stock:" + reward;
}

}  // namespace circolo::api::coupon_requests
