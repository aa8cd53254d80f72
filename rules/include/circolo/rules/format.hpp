#pragma once

#include <string>

#include "circolo/rules/ast.hpp"

namespace circolo::rules {

// The canonical text of a program: declarations in the order program, tiers, coupons,
// rewards, challenges, campaigns (each kind in file order), two-space indentation, one setting
// per line, minimal parentheses, numbers without '_'. parse(format(p)) is the same program.
std::string format(const ProgramFile& file);
std::string format(const Expr& expr);
std::string format_decimal(const Decimal& d);

}  // namespace circolo::rules
