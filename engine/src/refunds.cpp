#include "circolo/engine/refunds.hpp"

#include <algorithm>
#include <map>

namespace circolo::engine::refunds {

namespace {

// floor(a * b / c) for non-negative a, b and positive c, without overflow.
std::int64_t scale(std::int64_t a, std::int64_t b, std::int64_t c) {
  return static_cast<std::int64_t>(static_cast<__int128>(a) * b / c);
}

// The points due back once `refunded_after` of what was paid has been refunded.
Points points_for(const Purchase& p, std::int64_t refunded_after) {
  const std::int64_t paid = p.paid_minor();
  if (paid <= 0) return p.awarded - p.reversed;
  const Points due = refunded_after >= paid ? p.awarded : scale(p.awarded, refunded_after, paid);
  return due > p.reversed ? due - p.reversed : 0;
}

}  // namespace

Decision refund_amount(const Purchase& purchase, std::int64_t amount_minor) {
  Decision d;
  if (amount_minor <= 0) {
    d.refusal = Refusal::nothing_to_refund;
  } else if (amount_minor > purchase.paid_minor() - purchase.refunded_minor) {
    d.refusal = Refusal::exceeds_purchase;
  } else {
    d.amount_minor = amount_minor;
    d.points = points_for(purchase, purchase.refunded_minor + amount_minor);
    d.completes = purchase.refunded_minor + amount_minor == purchase.paid_minor();
  }
  return d;
}

Decision refund_items(const Purchase& purchase, std::span<const Line> items) {
  Decision d;
  if (items.empty()) {
    d.refusal = Refusal::nothing_to_refund;
    return d;
  }
  // What is still returnable of each line, after earlier refunds (taken from the first lines).
  std::vector<std::int64_t> left;
  left.reserve(purchase.lines.size());
  std::map<std::string, std::int64_t> earlier;
  for (const auto& r : purchase.refunded_lines) earlier[r.sku] += r.quantity;
  // Line amounts in 128 bits: quantities and prices are checked one by one, not their products.
  __int128 lines_total = 0;
  std::int64_t left_quantity = 0;
  for (const auto& line : purchase.lines) {
    auto& gone = earlier[line.sku];
    const auto taken = std::min(gone, line.quantity);
    gone -= taken;
    left.push_back(line.quantity - taken);
    lines_total += static_cast<__int128>(line.quantity) * line.unit_price_minor;
    left_quantity += line.quantity - taken;
  }
  __int128 line_amount = 0;
  std::int64_t returned_quantity = 0;
  for (const auto& item : items) {
    if (item.quantity <= 0) {
      d.refusal = Refusal::nothing_to_refund;
      d.sku = item.sku;
      return d;
    }
    bool known = false;
    std::int64_t wanted = item.quantity;
    for (std::size_t i = 0; i < purchase.lines.size() && wanted > 0; ++i) {
      const auto& line = purchase.lines[i];
      if (line.sku != item.sku) continue;
      known = true;
      const auto take = std::min(wanted, left[i]);
      if (take == 0) continue;
      left[i] -= take;
      wanted -= take;
      line_amount += static_cast<__int128>(take) * line.unit_price_minor;
      returned_quantity += take;
      d.returned.push_back({line.sku, take, line.unit_price_minor});
    }
    known = known || std::any_of(purchase.lines.begin(), purchase.lines.end(),
                                 [&](const Line& l) { return l.sku == item.sku; });
    if (!known) {
      d.refusal = Refusal::unknown_item;
      d.sku = item.sku;
      return d;
    }
    if (wanted > 0) {
      d.refusal = Refusal::exceeds_quantity;
      d.sku = item.sku;
      return d;
    }
  }
  const std::int64_t paid = purchase.paid_minor();
  const std::int64_t remaining = std::max<std::int64_t>(paid - purchase.refunded_minor, 0);
  __int128 amount = line_amount;
  if (returned_quantity == left_quantity) {
    amount = remaining;  // the last items: whatever is left of what was paid, exactly
  } else if (lines_total > 0 && lines_total != paid) {
    amount = line_amount * paid / lines_total;
  }
  if (amount > remaining) amount = remaining;
  if (amount < 0) amount = 0;
  d.amount_minor = static_cast<std::int64_t>(amount);
  d.points = points_for(purchase, purchase.refunded_minor + d.amount_minor);
  d.completes = returned_quantity == left_quantity || (paid > 0 && d.amount_minor == remaining);
  return d;
}

}  // namespace circolo::engine::refunds
