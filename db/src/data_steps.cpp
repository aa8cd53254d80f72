#include "circolo/db/data_steps.hpp"

#include <variant>

#include "circolo/db/query.hpp"
#include "circolo/engine/identity.hpp"

namespace circolo::db::data_steps {

namespace {

const std::string kClaim =
    "insert into circolo_data_steps (name, done_at) values ($1, now()) on conflict do nothing "
    "returning 1";
const std::string kBatch =
    "select type, value from member_identifiers where (type, value) > ($1, $2) order by type, "
    "value limit 5000";
const std::string kTaken = "select 1 from member_identifiers where type = $1 and value = $2";
const std::string kRewrite =
    "update member_identifiers set value = $3 where type = $1 and value = $2";

}  // namespace

IdentifierForms normalise_identifiers(soci::session& sql) {
  IdentifierForms out;
  soci::transaction tx(sql);
  if (fetch(sql, kClaim, {std::string("identifiers_nfkc_digit_cards")}).empty()) return out;
  out.ran = true;
  std::string type, value;  // keyset: the last row read
  for (;;) {
    const auto rows = fetch(sql, kBatch, {type, value});
    for (const auto& row : rows) {
      type = *row[0];
      value = *row[1];
      ++out.checked;
      const auto normal = engine::normalize_identifier(type, value);
      const auto* id = std::get_if<engine::Identifier>(&normal);
      if (!id) {
        ++out.invalid;
      } else if (id->type != type) {
        ++out.invalid;  // a type that was never valid: left for staff to unlink
      } else if (id->value != value) {
        if (!fetch(sql, kTaken, {type, id->value}).empty()) {
          ++out.clashes;
        } else {
          fetch(sql, kRewrite, {type, value, id->value});
          ++out.rewritten;
        }
      }
    }
    if (rows.size() < 5000) break;
  }
  tx.commit();
  return out;
}

}  // namespace circolo::db::data_steps
