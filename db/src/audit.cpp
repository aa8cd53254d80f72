#include "circolo/db/audit.hpp"

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::audit {

namespace {

const std::string kAppend =
    "insert into audit_log (at, actor, role, address, action, target, detail) values (" +
    micros_to_timestamptz("$1::bigint") + ", $2, $3, $4, $5, $6, $7::jsonb)";

// Each filter is skipped when its parameter is NULL; newest first, from the index on id.
const std::string kPage =
    "select id, " + timestamptz_to_micros("at") +
    ", actor, role, address, action, target, detail::text from audit_log where ($1::bigint is "
    "null or id < $1::bigint) and ($2::text is null or actor = $2) and ($3::text is null or "
    "action = $3) and ($4::text is null or target = $4) and ($5::bigint is null or at >= " +
    micros_to_timestamptz("$5::bigint") + ") and ($6::bigint is null or at < " +
    micros_to_timestamptz("$6::bigint") + ") order by id desc limit $7::int";

Value micros(const std::optional<engine::TimePoint>& t) {
  return t ? Value(std::to_string(to_micros(*t))) : Value();
}

}  // namespace

void append(soci::session& sql, const Entry& e) {
  fetch(sql, kAppend,
        {std::to_string(to_micros(e.at)), e.actor, e.role, e.address, e.action, e.target,
         e.detail.dump()});
}

std::vector<Entry> page(soci::session& sql, const Query& q) {
  std::vector<Entry> out;
  const auto rows = fetch(sql, kPage,
                          {q.before ? Value(std::to_string(*q.before)) : Value(), q.actor, q.action,
                           q.target, micros(q.from), micros(q.until), std::to_string(q.limit)});
  for (const auto& row : rows) {
    Entry e;
    e.id = to_int(row[0]);
    e.at = from_micros(to_int(row[1]));
    e.actor = *row[2];
    e.role = *row[3];
    e.address = row[4];
    e.action = *row[5];
    e.target = row[6];
    e.detail = nlohmann::json::parse(row[7].value_or("{}"));
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace circolo::db::audit
