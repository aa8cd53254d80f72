#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "circolo/rules/ast.hpp"
#include "circolo/rules/source.hpp"

namespace circolo::rules {

enum class Type {
  error,
  integer,
  decimal,
  money,
  string,
  boolean,
  time,
  date,
  weekday,
  list,
  event,
  member,
  item,
  attributes,
  dyn
};

struct TypeInfo {
  Type type = Type::error;
  Type element = Type::error;  // for lists
  bool optional = false;       // a field that may be absent (member.birthday, attributes)
};
std::string type_name(const TypeInfo& t);

struct CheckResult {
  std::vector<Diagnostic> diagnostics;              // errors and warnings
  std::unordered_map<const Expr*, TypeInfo> types;  // every checked expression
  int currency_digits = 2;
  bool ok() const;
};

// The built-in or Circolo-made event type (purchase, refund, visit, signup,
// challenge_completed, tier_changed, referral_completed) that `name` is, exactly or as a case
// variant ("Visit"), or "": never a custom type that touchpoints may send.
std::string builtin_type_like(const std::string& name);

// Names, types, references between declarations, duplicate ids, and settings that contradict
// each other or can never take effect. Reports everything it finds (up to limits.max_errors).
CheckResult check(const ProgramFile& file, const Limits& limits = {});

}  // namespace circolo::rules
