// Backtests: stored events as the replay takes them, streamed from one snapshot; the job rows.
#include "circolo/db/backtests.hpp"

#include "circolo/db/event.hpp"
#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"
#include "circolo/engine/money.hpp"

namespace circolo::db::backtests {

namespace {

using nlohmann::json;

constexpr int kPage = 5000;

const std::string kJobColumns =
    "id, status, source, created_by, " + timestamptz_to_micros("period_from") + ", " +
    timestamptz_to_micros("period_until") + ", " + timestamptz_to_micros("created_at") + ", " +
    timestamptz_to_micros("finished_at") +
    ", events_total, events_done, cast(result as text), error";
const std::string kCreate =
    "insert into backtests (id, status, source, created_by, period_from, period_until, "
    "created_at) values ($1, 'running', $2, $3, " +
    micros_to_timestamptz("$4::bigint") + ", " + micros_to_timestamptz("$5::bigint") + ", " +
    micros_to_timestamptz("$6::bigint") + ")";
const std::string kForget = "delete from backtests where status <> 'running' and finished_at < " +
                            micros_to_timestamptz("$1::bigint") + " - interval '30 days'";
const std::string kFind = "select " + kJobColumns + " from backtests where id = $1";
const std::string kFinish =
    "update backtests set status = $2, result = $3::jsonb, error = $4, events_done = $5, "
    "events_total = $6, finished_at = " +
    micros_to_timestamptz("$7::bigint") + " where id = $1 and status = 'running' returning id";

std::int64_t minor_of(const json& v, int digits) {
  if (!v.is_string()) return 0;
  const auto parsed = engine::parse_money(v.get<std::string>(), digits);
  return parsed.value ? parsed.value->minor : 0;
}

std::optional<engine::TimePoint> time_of(const Value& v) {
  if (!v) return std::nullopt;
  return from_micros(to_int(v));
}

}  // namespace

engine::backtest::Recorded recorded_of(const events::Event& stored, int digits) {
  engine::backtest::Recorded r;
  r.event_id = stored.id;
  r.member_id = stored.member_id;
  r.api_key_id = stored.api_key_id;
  r.recorded_at = stored.recorded_at;
  r.order_id = stored.order_id;
  r.original_event_id = stored.original_event_id;
  r.effects = stored.effects;
  const auto& body = stored.body;
  auto& e = r.event;
  e.type = stored.type;
  e.channel = stored.channel;
  e.store = stored.store;
  e.time = stored.occurred_at;
  if (body.contains("total")) {
    r.total_minor = minor_of(body["total"], digits);
    e.total = e.subtotal = rules::Decimal{*r.total_minor, digits};
  }
  const bool refund = stored.type == "refund";
  if (body.contains("items") && body["items"].is_array()) {
    for (const auto& item : body["items"]) {
      if (refund) {
        r.refund_items.push_back({item.value("sku", ""), item.value("quantity", 1LL), 0});
        continue;
      }
      rules::Item i;
      i.sku = item.value("sku", "");
      i.category = item.value("category", "");
      i.brand = item.value("brand", "");
      i.quantity = item.value("quantity", 1LL);
      i.price = rules::Decimal{minor_of(item.value("price", json()), digits), digits};
      e.items.push_back(std::move(i));
    }
  }
  // A refund of items is asked by its items (what it gave back follows from them).
  if (refund && !r.refund_items.empty()) r.total_minor.reset();
  if (body.contains("coupons") && body["coupons"].is_array()) {
    for (const auto& code : body["coupons"]) e.coupons.push_back(code.get<std::string>());
  }
  for (const auto& effect : stored.effects) {
    if (effect.value("type", "") == "coupon_redeemed")
      r.coupon_discounts[effect.value("code", "")] =
          minor_of(effect.value("discount", json()), digits);
  }
  e.attributes = event::attributes_of(body.value("attributes", json::object()));
  return r;
}

bool replay(soci::session& sql, engine::backtest::Replay& replay, engine::TimePoint until,
            const std::function<void(long long, long long)>& progress,
            const std::function<bool()>& cancelled) {
  // One snapshot for the whole run: events committed meanwhile are not seen, and a page never
  // sees the table differently from the one before.
  soci::transaction tx(sql);
  sql << "set transaction isolation level repeatable read, read only";
  const long long total = events::recorded_before(sql, until);
  progress(0, total);
  long long done = 0;
  events::open_recorded(sql, until);
  for (;;) {
    if (cancelled()) return false;
    const auto page = events::next_recorded(sql, kPage);
    for (const auto& stored : page) replay.add(recorded_of(stored, replay.currency_digits()));
    done += static_cast<long long>(page.size());
    progress(done, total);
    if (page.size() < static_cast<std::size_t>(kPage)) break;
  }
  tx.commit();
  return true;
}

void create(soci::session& sql, const Job& job) {
  const auto micros = [](engine::TimePoint t) { return std::to_string(to_micros(t)); };
  fetch(sql, kForget, {micros(job.created_at)});
  fetch(sql, kCreate,
        {job.id, job.source, job.created_by, micros(job.from), micros(job.until),
         micros(job.created_at)});
}

std::optional<Job> find(soci::session& sql, const std::string& id) {
  const auto rows = fetch(sql, kFind, {id});
  if (rows.empty()) return std::nullopt;
  const auto& r = rows.front();
  Job j;
  j.id = *r[0];
  j.status = *r[1];
  j.source = *r[2];
  j.created_by = *r[3];
  j.from = from_micros(to_int(r[4]));
  j.until = from_micros(to_int(r[5]));
  j.created_at = from_micros(to_int(r[6]));
  j.finished_at = time_of(r[7]);
  j.events_total = to_optional_int(r[8]);
  j.events_done = to_int(r[9]);
  if (r[10]) j.result = json::parse(*r[10]);
  j.error = r[11];
  return j;
}

bool finish(soci::session& sql, const std::string& id, const std::string& status,
            const std::optional<json>& result, const std::optional<std::string>& error,
            long long events_done, std::optional<long long> events_total, engine::TimePoint now) {
  return !fetch(sql, kFinish,
                {id, status, result ? Value(result->dump()) : Value(), error,
                 std::to_string(events_done),
                 events_total ? Value(std::to_string(*events_total)) : Value(),
                 std::to_string(to_micros(now))})
              .empty();
}

}  // namespace circolo::db::backtests
