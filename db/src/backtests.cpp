// Backtests: stored events as the replay takes them, streamed from one snapshot; the job rows.
#include "circolo/db/backtests.hpp"

#include <simdjson.h>

#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

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

std::optional<engine::TimePoint> time_of(const Value& v) {
  if (!v) return std::nullopt;
  return from_micros(to_int(v));
}

// The events before `until` in recorded order, streamed along the events_recorded index (no
// sort: the database works at the pace the backtest reads).
const std::string kRecordedCursor =
    "declare circolo_recorded no scroll cursor for select e.id, e.member_id, e.type, e.channel, "
    "e.store, e.order_id, " +
    timestamptz_to_micros("e.occurred_at") + ", " + timestamptz_to_micros("e.recorded_at") +
    ", e.api_key_id, e.original_event_id, cast(e.body as text), cast(e.effects as text), "
    "e.type = 'purchase' and exists (select 1 from events r where r.original_event_id = e.id "
    "and r.recorded_at < " +
    micros_to_timestamptz("$1::bigint") + ") from events e where e.recorded_at < " +
    micros_to_timestamptz("$1::bigint") + " order by e.recorded_at, e.id";
const std::string kFetchRecorded =
    "fetch forward " + std::to_string(kPage) + " from circolo_recorded";

namespace sj = simdjson::ondemand;

// Reads stored events' documents in place (simdjson's on-demand parser: no tree is built, and
// only the members the replay needs are looked at).
class RecordedReader {
 public:
  explicit RecordedReader(int digits) : digits_(digits) {}

  engine::backtest::Recorded read(const RawRows& rows, int row) {
    engine::backtest::Recorded r;
    r.event_id = rows.at(row, 0);
    r.member_id = rows.at(row, 1);
    r.event.type = rows.at(row, 2);
    r.event.channel = rows.at(row, 3);
    r.event.store = rows.value(row, 4);
    r.order_id = rows.value(row, 5);
    r.event.time = from_micros(number(rows.at(row, 6)));
    r.recorded_at = from_micros(number(rows.at(row, 7)));
    r.api_key_id = rows.at(row, 8);
    r.original_event_id = rows.value(row, 9);
    r.refunded_later = rows.at(row, 12) == "t";
    try {
      read_body(r, rows.at(row, 10));
      read_effects(r, rows.at(row, 11));
    } catch (const std::exception& e) {  // simdjson's, or the attributes' nlohmann parse
      throw std::runtime_error("stored event " + r.event_id + " could not be read: " + e.what());
    }
    return r;
  }

 private:
  static long long number(std::string_view text) { return std::stoll(std::string(text)); }

  std::int64_t minor_of(sj::value v) {
    if (v.type() != sj::json_type::string) return 0;
    const auto parsed = engine::parse_money(std::string_view(v.get_string()), digits_);
    return parsed.value ? parsed.value->minor : 0;
  }
  static std::string string_of(sj::value v) {
    return v.type() == sj::json_type::string ? std::string(std::string_view(v.get_string()))
                                             : std::string();
  }
  static long long integer_of(sj::value v, long long otherwise) {
    std::int64_t n = 0;
    if (v.type() != sj::json_type::number || v.get_int64().get(n)) return otherwise;  // 2.5, 1e30
    return n;
  }

  // The padding simdjson reads past the end of a document, in a buffer kept between rows.
  simdjson::padded_string_view padded(std::string_view text) {
    buffer_.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    buffer_.assign(text.data(), text.size());
    return simdjson::padded_string_view(buffer_.data(), buffer_.size(), buffer_.capacity());
  }

  void read_body(engine::backtest::Recorded& r, std::string_view body) {
    auto doc = parser_.iterate(padded(body));
    const bool refund = r.event.type == "refund";
    auto& e = r.event;
    for (auto field : doc.get_object()) {
      const std::string_view key = field.unescaped_key();
      sj::value v = field.value();
      if (key == "total") {
        r.total_minor = minor_of(v);
        e.total = e.subtotal = rules::Decimal{*r.total_minor, digits_};
      } else if (key == "items" && v.type() == sj::json_type::array) {
        for (sj::value item : v.get_array()) read_item(r, item.get_object(), refund);
      } else if (key == "coupons" && v.type() == sj::json_type::array) {
        for (sj::value code : v.get_array())
          if (code.type() == sj::json_type::string) e.coupons.push_back(string_of(code));
      } else if (key == "attributes" && v.type() == sj::json_type::object) {
        sj::object attributes = v.get_object();
        const std::string_view raw = attributes.raw_json();
        e.attributes = event::attributes_of(json::parse(raw));
      }
    }
    // A refund of items is asked by its items (what it gave back follows from them).
    if (refund && !r.refund_items.empty()) r.total_minor.reset();
  }

  void read_item(engine::backtest::Recorded& r, sj::object item, bool refund) {
    rules::Item i;
    i.quantity = 1;
    i.price = rules::Decimal{0, digits_};
    for (auto field : item) {
      const std::string_view key = field.unescaped_key();
      sj::value v = field.value();
      if (key == "sku")
        i.sku = string_of(v);
      else if (key == "category")
        i.category = string_of(v);
      else if (key == "brand")
        i.brand = string_of(v);
      else if (key == "quantity")
        i.quantity = integer_of(v, 1);
      else if (key == "price")
        i.price = rules::Decimal{minor_of(v), digits_};
    }
    if (refund)
      r.refund_items.push_back({std::move(i.sku), i.quantity, 0});
    else
      r.event.items.push_back(std::move(i));
  }

  // What the recorded version did, as the figures count it; and what each basket code took off.
  void read_effects(engine::backtest::Recorded& r, std::string_view effects) {
    auto doc = parser_.iterate(padded(effects));
    for (sj::value effect : doc.get_array()) {
      engine::backtest::CountedEffect c;
      std::string type, code;
      std::int64_t discount = 0;
      for (auto field : effect.get_object()) {
        const std::string_view key = field.unescaped_key();
        sj::value v = field.value();
        if (key == "type")
          type = string_of(v);
        else if (key == "campaign")
          c.campaign = string_of(v);
        else if (key == "rule")
          c.rule = string_of(v);
        else if (key == "points")
          c.points = integer_of(v, 0);
        else if (key == "code")
          code = string_of(v);
        else if (key == "discount")
          discount = minor_of(v);
      }
      if (type == "points_awarded")
        c.kind = engine::backtest::CountedEffect::Kind::points;
      else if (type == "coupon_issued")
        c.kind = engine::backtest::CountedEffect::Kind::coupon;
      if (c.campaign.empty()) c.rule.clear();
      if (c.kind != engine::backtest::CountedEffect::Kind::points) c.points = 0;
      if (type == "coupon_redeemed") r.coupon_discounts[code] = discount;
      r.effects.push_back(std::move(c));
    }
  }

  sj::parser parser_;
  std::string buffer_;
  int digits_;
};

// Pages handed from the reading thread to the replaying one: at most a few ahead, so memory
// stays bounded when the replay is the slower side.
class Pages {
 public:
  bool push(std::vector<engine::backtest::Recorded> page) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return closed_ || pages_.size() < kAhead; });
    if (closed_) return false;
    pages_.push_back(std::move(page));
    changed_.notify_all();
    return true;
  }
  std::optional<std::vector<engine::backtest::Recorded>> pop() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return closed_ || !pages_.empty(); });
    if (pages_.empty()) return std::nullopt;
    auto page = std::move(pages_.front());
    pages_.pop_front();
    changed_.notify_all();
    return page;
  }
  // No more pages: the replay takes what is queued (finished) or stops (abandon).
  void close(bool abandon) {
    std::lock_guard lock(mutex_);
    closed_ = true;
    if (abandon) pages_.clear();
    changed_.notify_all();
  }

 private:
  static constexpr std::size_t kAhead = 4;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::vector<engine::backtest::Recorded>> pages_;
  bool closed_ = false;
};

// A backtest takes the CPU live events leave: its threads run at the kernel's idle priority
// (SCHED_IDLE), so a busy instance slows the backtest, not its events. Threads of their own, as
// an unprivileged thread cannot take its priority back.
void at_idle_priority() {
  sched_param none{};
  // 0: this thread (Linux). Refused (a seccomp profile, say), it runs at the normal priority.
  (void)sched_setscheduler(0, SCHED_IDLE, &none);
}

// One run, on the calling thread (reading) and one more (replaying).
bool replay_here(soci::session& sql, engine::backtest::Replay& replay, engine::TimePoint until,
                 const std::function<void(long long, long long)>& progress,
                 const std::function<bool()>& cancelled, const std::function<bool()>& live) {
  // One snapshot for the whole run: events committed meanwhile are not seen, and a page never
  // sees the table differently from the one before.
  soci::transaction tx(sql);
  sql << "set transaction isolation level repeatable read, read only";
  sql << "set local enable_sort = off";  // the index's order, even for a planner that would sort
  const long long total = events::recorded_before(sql, until);
  progress(0, total);
  fetch_unprepared(sql, kRecordedCursor, {std::to_string(to_micros(until))});

  // This thread reads and parses pages; another replays them (the decision is the other half of
  // the work), so the two halves take a core each.
  Pages pages;
  std::atomic<long long> done{0};
  std::exception_ptr failure;
  std::thread replaying([&] {
    at_idle_priority();
    try {
      while (auto page = pages.pop()) {
        for (auto& recorded : *page) replay.add(std::move(recorded));
        done += static_cast<long long>(page->size());
      }
    } catch (...) {
      failure = std::current_exception();
      pages.close(true);
    }
  });
  const auto stop = [&](bool abandon) {
    pages.close(abandon);
    if (replaying.joinable()) replaying.join();
  };
  bool finished = false;
  try {
    RecordedReader reader(replay.currency_digits());
    for (;;) {
      if (cancelled()) break;
      const auto asked = std::chrono::steady_clock::now();
      const auto rows = fetch_raw(sql, kFetchRecorded);
      const auto took = std::chrono::steady_clock::now() - asked;
      std::vector<engine::backtest::Recorded> page;
      page.reserve(static_cast<std::size_t>(rows.rows()));
      for (int i = 0; i < rows.rows(); ++i) page.push_back(reader.read(rows, i));
      if (!pages.push(std::move(page))) break;  // the replay failed
      progress(done, total);
      if (rows.rows() < kPage) {
        finished = true;
        break;
      }
      if (live && live()) {
        // At most a second, in slices that notice a cancel (its snapshot stays open meanwhile).
        const auto rest =
            std::min<std::chrono::steady_clock::duration>(took * 19, std::chrono::seconds(1));
        const auto until_then = std::chrono::steady_clock::now() + rest;
        while (std::chrono::steady_clock::now() < until_then && !cancelled())
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  } catch (...) {
    stop(true);
    throw;
  }
  stop(!finished);
  if (failure) std::rethrow_exception(failure);
  if (!finished) return false;
  progress(done, total);
  tx.commit();
  return true;
}

}  // namespace

bool replay(soci::session& sql, engine::backtest::Replay& replay, engine::TimePoint until,
            const std::function<void(long long, long long)>& progress,
            const std::function<bool()>& cancelled, const std::function<bool()>& live) {
  bool finished = false;
  std::exception_ptr failure;
  std::thread reading([&] {
    at_idle_priority();
    try {
      finished = replay_here(sql, replay, until, progress, cancelled, live);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  reading.join();
  if (failure) std::rethrow_exception(failure);
  return finished;
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
