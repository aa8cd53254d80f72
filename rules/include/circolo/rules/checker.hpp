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

// Names, types, references between declarations, duplicate ids, and settings that contradict
// each other or can never take effect. Reports everything it finds (up to limits.max_errors).
CheckResult check(const ProgramFile& file, const Limits& limits = {});

}  // namespace circolo::rules
