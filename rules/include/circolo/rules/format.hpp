#pragma once

#include <string>

#include "circolo/rules/ast.hpp"

namespace circolo::rules {

// The canonical text of a program: declarations in the order program, tiers, coupons,
// rewards, challenges, campaigns (each kind in file order), two-space indentation, one setting
// per line, minimal parentheses, numbers without '_'. parse(format(p)) is the same program.
std::string format(const ProgramFile& file);
std::string format(const Expr& expr);
// One declaration, as format(file) writes it.
std::string format(const ProgramDecl& d);
std::string format(const TierDecl& d);
std::string format(const CouponDecl& d);
std::string format(const RewardDecl& d);
std::string format(const ChallengeDecl& d);
std::string format(const CampaignDecl& d);
std::string format_decimal(const Decimal& d);

}  // namespace circolo::rules
