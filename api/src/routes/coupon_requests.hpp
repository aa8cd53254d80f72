#pragma once
// What the coupon and reward routes share: reading who uses a code, where and for which
// basket, from a request (parse only; the decision is engine::coupons').
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/api/http.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/engine/identity.hpp"

namespace circolo::api::coupon_requests {

// The active program, or 409 no_program.
std::shared_ptr<const ProgramStore::Active> active_program(const ProgramStore& store);

// "member": "mem_..." or {"id":"..."} or {"identifier":{"type","value"}}. Left out, it is
// `fallback` when there is one (a member token's own member: the app need not repeat it).
struct MemberRef {
  std::optional<std::string> id;
  std::optional<engine::Identifier> identifier;
};
std::optional<MemberRef> parse_member_ref(const nlohmann::json& body,
                                          std::vector<FieldError>& errors,
                                          const std::optional<std::string>& fallback = {});

// The member's id, or 404 unknown_member / 410 member_merged; a member token reaches its own
// member only.
std::string resolve_member(soci::session& sql, const Request& request, const MemberRef& ref);

// Where the coupon is used: a touchpoint key's channel; for a member token, the channel of the
// touchpoint that minted it; an admin names it in "channel".
std::string use_channel(soci::session& sql, const Request& request, const nlohmann::json& body);

std::optional<std::string> code_field(const nlohmann::json& body, std::vector<FieldError>& errors);

// Every field of the body must be one of `known` (else an error for it).
void only_fields(const nlohmann::json& body, std::initializer_list<const char*> known,
                 std::vector<FieldError>& errors);

struct UseInput {
  std::string code;
  MemberRef member;
  long long total_minor = 0;
  std::optional<std::string> order_id;
  nlohmann::json body;
};
// A validate/redeem body; throws 422 validation_failed with every bad field. `member` defaults
// to `member_fallback` (see parse_member_ref).
UseInput parse_use(const nlohmann::json& body, int digits, bool total_required, bool with_order,
                   const std::optional<std::string>& member_fallback = {});

// "currency", when given, must be the program's.
void check_currency(const nlohmann::json& body, const rules::CompiledProgram& program);

// The counter a reward's stock is taken from.
std::string stock_counter(const std::string& reward);

}  // namespace circolo::api::coupon_requests
