#pragma once

#include <string>

#include "circolo/rules/ast.hpp"

namespace circolo::rules {

// The canonical text of a program: declarations in the order program, tiers, coupons,
// rewards, challenges, referral, campaigns, events, segments (each kind in file order), two-space
// indentation, one setting per line, minimal parentheses, numbers without '_'.
// parse(format(p)) is the same program.
std::string format(const ProgramFile& file);
std::string format(const Expr& expr);
// One declaration, as format(file) writes it.
std::string format(const ProgramDecl& d);
std::string format(const TierDecl& d);
std::string format(const CouponDecl& d);
std::string format(const RewardDecl& d);
std::string format(const ChallengeDecl& d);
std::string format(const ReferralDecl& d);
std::string format(const CampaignDecl& d);
std::string format(const EventDecl& d);
std::string format(const SegmentDecl& d);
std::string format_decimal(const Decimal& d);

// The canonical text of a file that keeps its comments: comment lines between declarations stay
// above the declaration that follows them (and move with it), comments after the last one stay at
// the end. A comment the canonical layout cannot place (inside a block, or after code on a line)
// is returned as a diagnostic instead, so that formatting never loses a word.
struct FormatResult {
  std::string text;
  std::vector<Diagnostic> dropped;  // when not empty, `text` is not to be written
};
FormatResult format_keeping_comments(const Source& source, const ProgramFile& file);

}  // namespace circolo::rules
