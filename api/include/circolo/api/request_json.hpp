#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "circolo/api/problem.hpp"
#include "circolo/engine/clock.hpp"
#include "circolo/rules/evaluate.hpp"

namespace circolo::api {

// Request JSON → the language's event and member records; throws ApiError 422 with every bad
// field. Money is exact: a decimal string, or a JSON number of at most 15 significant digits.
rules::Event parse_event_json(const nlohmann::json& body, int currency_digits,
                              const std::string& currency, engine::TimePoint now,
                              const std::string& default_channel);
// `attributes` objects (events, items, members): scalars by type, decimals exactly.
rules::Attributes parse_attributes_json(const nlohmann::json& value, const std::string& field,
                                        std::vector<FieldError>& errors);
// A money field ("84.50" or 84.5) parsed exactly with at most the currency's digits; nullopt
// after adding the field's error.
std::optional<rules::Decimal> parse_money_field(const nlohmann::json& value, int currency_digits,
                                                const std::string& field,
                                                std::vector<FieldError>& errors);
rules::MemberSnapshot parse_member_json(const nlohmann::json& body, engine::TimePoint now);

}  // namespace circolo::api
