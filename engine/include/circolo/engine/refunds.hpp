#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "circolo/engine/ledger.hpp"

// Refunds: how much of a purchase a refund gives back, and how many of the points the purchase
// earned it takes back. Amounts are minor units of the program currency. What a purchase can
// give back is what the customer paid: its receipt total less the discounts of its basket's
// coupons (the amount its points were earned on).
namespace circolo::engine::refunds {

using ledger::Points;

struct Line {
  std::string sku;
  std::int64_t quantity = 0;
  std::int64_t unit_price_minor = 0;
};

struct Purchase {
  std::int64_t total_minor = 0;     // the receipt total sent
  std::int64_t discount_minor = 0;  // what the basket's coupons took off it
  std::vector<Line> lines;
  std::int64_t refunded_minor = 0;   // by earlier refunds
  std::vector<Line> refunded_lines;  // quantities returned by earlier refunds (prices ignored)
  Points awarded = 0;                // points the purchase (and what it triggered) earned
  Points reversed = 0;               // points earlier refunds took back (or tried to)

  // What the customer paid: all that refunds of the purchase can give back.
  std::int64_t paid_minor() const {
    return std::max<std::int64_t>(total_minor - discount_minor, 0);
  }
};

enum class Refusal {
  none,
  nothing_to_refund,  // amount 0, or no items
  exceeds_purchase,   // more than what is left of what was paid
  unknown_item,       // a sku the purchase did not have
  exceeds_quantity,   // more of a sku than bought (less what earlier refunds returned)
};

struct Decision {
  Refusal refusal = Refusal::none;
  std::string sku;                // the item a refusal is about
  std::int64_t amount_minor = 0;  // what this refund gives back
  Points points = 0;              // points to take back now
  std::vector<Line> returned;     // the lines returned (items refunds), with original prices
  // Nothing of the purchase is left after this refund: all it paid refunded, or every item it
  // had returned (also when the items cost nothing).
  bool completes = false;
};

// A refund of an amount (what is given back to the customer, at most what is left of what was
// paid): the points taken back are the awarded points times the share of the paid total
// refunded so far, less what earlier refunds took, so that refunds adding up to the paid total
// take back exactly what was earned, whatever the rounding on the way.
Decision refund_amount(const Purchase& purchase, std::int64_t amount_minor);

// A refund of items: each is priced as it was bought (the purchase's own lines, first lines
// first); when what was paid differs from the lines (the basket's coupons, or a discount already
// in the receipt total), the amount is scaled to what was paid (rounded down), and returning
// everything refunds exactly what is left.
Decision refund_items(const Purchase& purchase, std::span<const Line> items);

}  // namespace circolo::engine::refunds
