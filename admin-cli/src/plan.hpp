// What a plan changes, setting by setting, and which of its changes alter what members, their
// coupons or their balances already have (those `apply` asks to confirm specifically).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace circolo::cli {

struct Alteration {
  std::string object, id;  // as in the plan's change
  std::string message;     // "tier \"gold\" threshold 1000 -> 1500: members may ..."
};

struct PlanReport {
  std::vector<std::string> lines;  // "  ~ tier \"gold\": threshold 1000 -> 1500", ...
  std::vector<Alteration> alterations;
};

// From the "changes" of POST /v1/admin/program (each with the canonical text before and after);
// `first`: there is no active program yet (nothing exists that a change could alter).
PlanReport describe_plan(const nlohmann::json& changes, bool first);

}  // namespace circolo::cli
