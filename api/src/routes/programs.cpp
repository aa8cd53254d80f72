// The program: POST/GET /v1/admin/program, versions, campaign pause/resume, and simulate.
#include "circolo/api/programs.hpp"

#include <charconv>

#include <spdlog/spdlog.h>

#include "circolo/api/app.hpp"
#include "circolo/api/events.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/points.hpp"
#include "circolo/db/programs.hpp"
#include "circolo/engine/money.hpp"
#include "circolo/rules/diff.hpp"
#include "circolo/rules/parser.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

const Access kAdmin = Access::only({Role::admin});

// A money field: "84.50" or 84.5, exactly, with at most the currency's digits.
std::optional<rules::Decimal> money(const json& v, int digits, const std::string& field,
                                    std::vector<FieldError>& errors) {
  std::string text;
  if (v.is_string()) {
    text = v.get<std::string>();
  } else if (v.is_number_integer()) {
    text = std::to_string(v.get<long long>());
  } else if (v.is_number_float()) {
    // The shortest text that reads back as the same double is the decimal the client wrote,
    // as long as it has at most 15 significant digits.
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v.get<double>());
    text.assign(buffer, end);
    std::size_t significant = 0;
    for (char c : text) significant += (c >= '0' && c <= '9') ? 1 : 0;
    if (ec != std::errc{} || text.find_first_of("eE") != std::string::npos || significant > 15) {
      errors.push_back({field, "send this amount as a decimal string, as in \"84.50\""});
      return std::nullopt;
    }
  } else {
    errors.push_back({field, "must be an amount: a decimal string such as \"84.50\" or a number"});
    return std::nullopt;
  }
  const auto parsed = engine::parse_money(text, digits);
  if (!parsed.value) {
    errors.push_back({field, std::string(engine::describe(parsed.error))});
    return std::nullopt;
  }
  return rules::Decimal{parsed.value->minor, digits};
}

}  // namespace

std::optional<rules::Decimal> parse_money_field(const json& value, int currency_digits,
                                                const std::string& field,
                                                std::vector<FieldError>& errors) {
  return money(value, currency_digits, field, errors);
}

namespace {

rules::Attributes attributes_impl(const json& v, const std::string& field,
                                  std::vector<FieldError>& errors) {
  rules::Attributes out;
  if (v.is_null()) return out;
  if (!v.is_object() || v.size() > 50) {
    errors.push_back({field, "must be an object of at most 50 entries"});
    return out;
  }
  for (const auto& [key, value] : v.items()) {
    if (value.is_boolean())
      out[key] = value.get<bool>();
    else if (value.is_number_integer())
      out[key] = static_cast<std::int64_t>(value.get<long long>());
    else if (value.is_string())
      out[key] = value.get<std::string>();
    else if (value.is_number_float()) {
      std::vector<FieldError> local;
      if (auto d = money(value, 6, field + "." + key, local)) out[key] = *d;
      for (auto& e : local) errors.push_back(std::move(e));
    } else if (!value.is_null()) {
      errors.push_back({field + "." + key, "must be a string, number, boolean or null"});
    }
  }
  return out;
}

std::string string_field(const json& body, const char* name, std::vector<FieldError>& errors,
                         bool required, const std::string& fallback = "") {
  if (!body.contains(name) || body[name].is_null()) {
    if (required) errors.push_back({name, "is required"});
    return fallback;
  }
  if (!body[name].is_string() || body[name].get<std::string>().empty() ||
      body[name].get<std::string>().size() > 200) {
    errors.push_back({name, "must be a string of 1 to 200 characters"});
    return fallback;
  }
  return body[name].get<std::string>();
}

}  // namespace

namespace {

// 422 program_invalid: a problem document whose errors carry line and column, not fields.
Response program_invalid(const Request& request, const std::vector<rules::Diagnostic>& diagnostics,
                         const std::string& detail) {
  Response response = json_response(http::status::unprocessable_entity,
                                    {{"type", "https://circolo.dev/problems/program_invalid"},
                                     {"title", "Unprocessable Entity"},
                                     {"status", 422},
                                     {"code", "program_invalid"},
                                     {"detail", detail},
                                     {"errors", diagnostics_json(diagnostics)},
                                     {"request_id", request.request_id}});
  response.content_type = "application/problem+json";
  return response;
}

}  // namespace

rules::Attributes parse_attributes_json(const json& value, const std::string& field,
                                        std::vector<FieldError>& errors) {
  return attributes_impl(value, field, errors);
}

std::shared_ptr<const ProgramStore::Active> ProgramStore::current() const {
  std::lock_guard lock(mutex_);
  return active_;
}

bool ProgramStore::set(std::shared_ptr<const Active> active) {
  std::lock_guard lock(mutex_);
  // Reloads run concurrently (a notification, the backstop poll, the apply itself): a slower one
  // must not put an older version back.
  if (active_ && active && active->revision < active_->revision) return false;
  active_ = std::move(active);
  return true;
}

rules::Event parse_event_json(const json& body, int digits, const std::string& currency,
                              engine::TimePoint now, const std::string& default_channel) {
  if (!body.is_object()) throw_validation({{"event", "must be a JSON object"}});
  std::vector<FieldError> errors;
  rules::Event e;
  e.type = string_field(body, "type", errors, true);
  e.channel = string_field(body, "channel", errors, false, default_channel);
  if (body.contains("store") && !body["store"].is_null())
    e.store = string_field(body, "store", errors, false);
  e.time = now;
  if (body.contains("occurred_at")) {
    const auto& t = body["occurred_at"];
    auto parsed = t.is_string() ? engine::parse_rfc3339(t.get<std::string>()) : std::nullopt;
    if (!parsed)
      errors.push_back({"occurred_at", "must be an RFC 3339 time with an offset"});
    else
      e.time = *parsed;
  }
  if (body.contains("currency") &&
      (!body["currency"].is_string() || body["currency"].get<std::string>() != currency)) {
    errors.push_back({"currency", "must be the program currency, " + currency});
  }
  if (body.contains("total")) {
    if (auto t = money(body["total"], digits, "total", errors)) {
      if (t->mantissa < 0) errors.push_back({"total", "must not be negative"});
      e.total = *t;
    }
  }
  if (body.contains("items")) {
    const auto& items = body["items"];
    if (!items.is_array() || items.size() > 1000) {
      errors.push_back({"items", "must be a list of at most 1000 items"});
    } else {
      for (std::size_t i = 0; i < items.size(); ++i) {
        const auto& it = items[i];
        const std::string p = "items[" + std::to_string(i) + "]";
        if (!it.is_object()) {
          errors.push_back({p, "must be an object"});
          continue;
        }
        rules::Item item;
        for (const auto& [name, value] : it.items()) {
          if (name != "sku" && name != "category" && name != "brand" && name != "quantity" &&
              name != "price" && name != "attributes")
            errors.push_back({p + "." + name, "is not a known field of an item"});
        }
        for (const auto& [name, slot] :
             {std::pair{"sku", &item.sku}, std::pair{"category", &item.category},
              std::pair{"brand", &item.brand}}) {
          if (it.contains(name) && !it[name].is_null()) {
            if (!it[name].is_string())
              errors.push_back({p + "." + name, "must be a string"});
            else
              *slot = it[name].get<std::string>();
          }
        }
        if (it.contains("quantity")) {
          if (!it["quantity"].is_number_integer() || it["quantity"].get<long long>() < 1 ||
              it["quantity"].get<long long>() > 1'000'000)
            errors.push_back({p + ".quantity", "must be a whole number from 1 to 1000000"});
          else
            item.quantity = it["quantity"].get<long long>();
        }
        if (it.contains("price")) {
          if (auto price = money(it["price"], digits, p + ".price", errors)) {
            if (price->mantissa < 0) errors.push_back({p + ".price", "must not be negative"});
            item.price = *price;
          }
        }
        item.attributes =
            attributes_impl(it.value("attributes", json()), p + ".attributes", errors);
        e.items.push_back(std::move(item));
      }
    }
  }
  if (body.contains("coupons")) {
    if (!body["coupons"].is_array())
      errors.push_back({"coupons", "must be a list of codes"});
    else
      for (const auto& c : body["coupons"]) {
        if (c.is_string())
          e.coupons.push_back(c.get<std::string>());
        else
          errors.push_back({"coupons", "must be a list of codes"});
      }
  }
  e.attributes = attributes_impl(body.value("attributes", json()), "attributes", errors);
  if (!errors.empty()) throw_validation(std::move(errors));
  return e;
}

rules::MemberSnapshot parse_member_json(const json& body, engine::TimePoint now) {
  if (!body.is_object()) throw_validation({{"member", "must be a JSON object"}});
  std::vector<FieldError> errors;
  rules::MemberSnapshot m;
  m.id = body.value("id", "mem_simulated");
  m.joined = now;
  if (body.contains("tier")) m.tier = string_field(body, "tier", errors, false);
  for (const auto& [name, slot] : {std::pair{"tags", &m.tags}, std::pair{"badges", &m.badges}}) {
    if (!body.contains(name)) continue;
    if (!body[name].is_array())
      errors.push_back({std::string("member.") + name, "must be a list of strings"});
    else
      for (const auto& v : body[name]) {
        if (v.is_string()) slot->push_back(v.get<std::string>());
      }
  }
  for (const auto& [name, slot] :
       {std::pair{"points", &m.points}, std::pair{"lifetime_points", &m.lifetime_points},
        std::pair{"purchases", &m.purchases}}) {
    if (!body.contains(name)) continue;
    if (!body[name].is_number_integer())
      errors.push_back({std::string("member.") + name, "must be a whole number"});
    else
      *slot = body[name].get<long long>();
  }
  if (body.contains("multiplier")) {
    std::vector<FieldError> local;
    if (auto d = money(body["multiplier"], 6, "member.multiplier", local)) m.multiplier = *d;
    for (auto& e : local) errors.push_back(std::move(e));
  }
  if (body.contains("joined")) {
    auto t = body["joined"].is_string() ? engine::parse_rfc3339(body["joined"].get<std::string>())
                                        : std::nullopt;
    if (!t)
      errors.push_back({"member.joined", "must be an RFC 3339 time"});
    else
      m.joined = *t;
  }
  if (body.contains("birthday") && !body["birthday"].is_null()) {
    const auto text = body["birthday"].is_string() ? body["birthday"].get<std::string>() : "";
    const auto t = engine::parse_rfc3339(text + "T00:00:00Z");
    if (text.size() != 10 || !t)
      errors.push_back({"member.birthday", "must be a date YYYY-MM-DD"});
    else
      m.birthday = rules::Date{std::stoi(text.substr(0, 4)), std::stoi(text.substr(5, 2)),
                               std::stoi(text.substr(8, 2))};
  }
  m.attributes = attributes_impl(body.value("attributes", json()), "member.attributes", errors);
  if (!errors.empty()) throw_validation(std::move(errors));
  return m;
}

static json rule_effect_json(const rules::Effect& e, int digits);

json effect_json(const rules::Effect& e, int digits) {
  auto out = rule_effect_json(e, digits);
  if (!e.challenge.empty()) {
    // The reward of completing a challenge: no campaign or rule made it.
    out.erase("campaign");
    out.erase("rule");
    out["challenge"] = e.challenge;
  }
  return out;
}

static json rule_effect_json(const rules::Effect& e, int digits) {
  (void)digits;
  switch (e.kind) {
    case rules::EffectKind::award:
      return {{"type", "points_awarded"},
              {"campaign", e.campaign},
              {"rule", e.rule},
              {"points", e.points},
              {"pending_until",
               e.pending_until ? json(engine::format_rfc3339(*e.pending_until)) : json(nullptr)},
              {"expires_at",
               e.expires_at ? json(engine::format_rfc3339(*e.expires_at)) : json(nullptr)}};
    case rules::EffectKind::issue_coupon:
      return {{"type", "coupon_issued"},
              {"campaign", e.campaign},
              {"rule", e.rule},
              {"coupon", e.target}};
    case rules::EffectKind::progress_challenge:
      return {{"type", "challenge_progress"},
              {"campaign", e.campaign},
              {"rule", e.rule},
              {"challenge", e.target},
              {"by", e.points}};
    case rules::EffectKind::grant_badge:
      return {{"type", "badge_granted"},
              {"campaign", e.campaign},
              {"rule", e.rule},
              {"badge", e.target}};
    case rules::EffectKind::tag:
      return {{"type", "tag_added"}, {"campaign", e.campaign}, {"rule", e.rule}, {"tag", e.target}};
    case rules::EffectKind::untag:
      return {
          {"type", "tag_removed"}, {"campaign", e.campaign}, {"rule", e.rule}, {"tag", e.target}};
    case rules::EffectKind::notify:
      return {{"type", "notification"},
              {"campaign", e.campaign},
              {"rule", e.rule},
              {"message", e.message}};
  }
  return json::object();
}

json diagnostics_json(const std::vector<rules::Diagnostic>& ds) {
  json out = json::array();
  for (const auto& d : ds) {
    json item{{"line", d.range.begin.line},
              {"column", d.range.begin.column},
              {"severity", d.severity == rules::Severity::error ? "error" : "warning"},
              {"message", d.message}};
    if (!d.suggestion.empty()) item["suggestion"] = d.suggestion;
    out.push_back(std::move(item));
  }
  return out;
}

asio::awaitable<bool> refresh_program(Services& services, ProgramStore& store) {
  struct Read {
    db::programs::State state;
    std::optional<db::programs::Version> full;
    std::vector<std::string> paused;
  };
  const auto current = store.current();
  const long long have = current ? current->version : 0;
  auto read = co_await services.db.run([have](soci::session& sql) {
    Read r;
    // The revision first: what is read after it is at least as new, never older.
    r.state = db::programs::state(sql);
    if (r.state.version && *r.state.version != have) r.full = db::programs::active(sql);
    r.paused = db::programs::paused(sql);
    return r;
  });
  const std::set<std::string> paused(read.paused.begin(), read.paused.end());
  const auto& version = read.state.version;
  if (!version) co_return false;
  if (current && *version == current->version && current->paused == paused &&
      current->revision >= read.state.revision)
    co_return false;
  auto next = std::make_shared<ProgramStore::Active>();
  // The version number comes with the source it was read with (a newer apply may have come
  // between the two reads).
  next->version = read.full ? read.full->version : *version;
  next->revision = read.state.revision;
  next->paused = paused;
  if (current && current->version == next->version) {
    next->program = current->program;
  } else if (read.full) {
    auto compiled = rules::compile(
        {"program-v" + std::to_string(read.full->version) + ".rules", read.full->source});
    if (!compiled.program) co_return false;  // stored versions were checked on apply
    next->program = compiled.program;
  } else {
    co_return false;
  }
  co_return store.set(std::move(next));
}

namespace {

// After a committed change this instance picks it up at once; if that read fails, the change
// stands all the same (the notification or the backstop poll reloads it): never answer an
// error for a change that was committed, or the client's retry would apply it twice.
asio::awaitable<void> refresh_after_commit(Services& s, ProgramStore& store) {
  try {
    co_await refresh_program(s, store);
  } catch (const std::exception& e) {
    spdlog::warn("reloading the program after a change failed: {}", e.what());
  }
}

}  // namespace

std::optional<std::string> entry_tier(const rules::CompiledProgram& program) {
  const auto& tiers = program.tiers();
  if (tiers.empty() || tiers.front().threshold > 0) return std::nullopt;
  return tiers.front().id;
}

json tier_json(const ProgramStore& store, const std::optional<std::string>& tier) {
  if (!tier) return nullptr;
  json out{{"id", *tier}, {"name", *tier}, {"progress", nullptr}};
  if (const auto active = store.current(); active && active->program) {
    for (const auto& t : active->program->tiers()) {
      if (t.id == *tier) out["name"] = t.name;
    }
  }
  return out;
}

void register_program_routes(App& app, ProgramStore& store) {
  auto& s = app.services();
  auto& r = app.router();

  r.add({http::verb::post, "/v1/admin/program", kAdmin,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const auto body = request.json_body();
           std::vector<FieldError> errors;
           if (!body.is_object()) throw_validation({{"", "the body must be a JSON object"}});
           for (const auto& [field, value] : body.items()) {
             if (field != "source" && field != "dry_run")
               errors.push_back({field, "is not a known field"});
           }
           if (!body.contains("source") || !body["source"].is_string())
             errors.push_back({"source", "is required: the program text"});
           if (body.contains("dry_run") && !body["dry_run"].is_boolean())
             errors.push_back({"dry_run", "must be true or false"});
           if (!errors.empty()) throw_validation(std::move(errors));
           const std::string source = body["source"].get<std::string>();
           const bool dry_run = body.value("dry_run", false);
           auto compiled = rules::compile({"program.rules", source});
           if (!compiled.program) {
             co_return program_invalid(request, compiled.diagnostics,
                                       "the program has errors; nothing was applied");
           }
           const auto now = s.clock.now();
           const std::string by = request.caller().key_id;
           const auto warnings = diagnostics_json(compiled.diagnostics);
           auto response = co_await transact(s, request, [&](soci::session& sql) {
             const auto active = db::programs::active(sql);
             std::vector<rules::Change> changes;
             if (active) {
               const auto previous = rules::parse({"active.rules", active->source});
               changes = rules::diff(previous.file, compiled.program->file());
             } else {
               changes = rules::diff(rules::ProgramFile{}, compiled.program->file());
             }
             json list = json::array();
             for (const auto& c : changes) {
               list.push_back({{"change", c.kind == rules::Change::Kind::created   ? "created"
                                          : c.kind == rules::Change::Kind::changed ? "changed"
                                                                                   : "removed"},
                               {"object", c.object},
                               {"id", c.id},
                               {"before", c.before},
                               {"after", c.after}});
             }
             json out{{"dry_run", dry_run},
                      {"changes", list},
                      {"warnings", warnings},
                      {"active_version", active ? json(active->version) : json(nullptr)}};
             if (dry_run) {
               out["version"] = nullptr;
               return json_response(http::status::ok, out);
             }
             out["version"] = db::programs::apply(sql, source, by, now);
             return json_response(http::status::created, out);
           });
           if (!dry_run && response.status == http::status::created)
             co_await refresh_after_commit(s, store);
           co_return response;
         }});

  r.add({http::verb::get, "/v1/admin/program", kAdmin, [&s](Request&) -> asio::awaitable<Response> {
           auto active =
               co_await s.db.run([](soci::session& sql) { return db::programs::active(sql); });
           if (!active)
             throw ApiError(http::status::not_found, "no_program",
                            "no program has been applied yet");
           co_return json_response(http::status::ok,
                                   {{"version", active->version},
                                    {"source", active->source},
                                    {"created_by", active->created_by},
                                    {"created_at", engine::format_rfc3339(active->created_at)}});
         }});

  r.add({http::verb::get, "/v1/admin/program/versions", kAdmin,
         [&s](Request& request) -> asio::awaitable<Response> {
           const int limit = parse_limit(request.query("limit"));
           const auto before = parse_ledger_cursor(request.query("cursor"));
           auto versions = co_await s.db.run([before, limit](soci::session& sql) {
             return db::programs::list(sql, before, limit);
           });
           json items = json::array();
           for (const auto& v : versions) {
             items.push_back({{"version", v.version},
                              {"created_by", v.created_by},
                              {"created_at", engine::format_rfc3339(v.created_at)}});
           }
           const bool more = static_cast<int>(versions.size()) == limit;
           co_return json_response(
               http::status::ok,
               {{"items", items},
                {"next_cursor",
                 more ? json(std::to_string(versions.back().version)) : json(nullptr)}});
         }});

  r.add({http::verb::get, "/v1/admin/program/versions/{version}", kAdmin,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string text = request.param("version");
           long long number = 0;
           const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
           if (ec != std::errc{} || end != text.data() + text.size() || number < 1)
             throw ApiError(http::status::not_found, "unknown_version", "no version " + text);
           auto version = co_await s.db.run(
               [number](soci::session& sql) { return db::programs::find(sql, number); });
           if (!version)
             throw ApiError(http::status::not_found, "unknown_version", "no version " + text);
           co_return json_response(http::status::ok,
                                   {{"version", version->version},
                                    {"source", version->source},
                                    {"created_by", version->created_by},
                                    {"created_at", engine::format_rfc3339(version->created_at)}});
         }});

  for (const bool pause : {true, false}) {
    r.add({http::verb::post,
           pause ? "/v1/admin/campaigns/{id}/pause" : "/v1/admin/campaigns/{id}/resume", kAdmin,
           [&s, &store, pause](Request& request) -> asio::awaitable<Response> {
             const std::string id = request.param("id");
             const auto active = store.current();
             bool known = false;
             if (active && active->program) {
               for (const auto& c : active->program->file().campaigns) known = known || c.id == id;
             }
             if (!known)
               throw ApiError(http::status::not_found, "unknown_campaign",
                              "the active program has no campaign " + id);
             const auto now = s.clock.now();
             const std::string by = request.caller().key_id;
             auto response = co_await transact(s, request, [&](soci::session& sql) {
               if (pause)
                 db::programs::pause(sql, id, by, now);
               else
                 db::programs::resume(sql, id);
               return json_response(http::status::ok, {{"campaign", id}, {"paused", pause}});
             });
             co_await refresh_after_commit(s, store);
             co_return response;
           }});
  }

  r.add({http::verb::post, "/v1/admin/simulate", kAdmin,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const auto body = request.json_body();
           if (!body.is_object()) throw_validation({{"", "the body must be a JSON object"}});
           std::vector<FieldError> errors;
           for (const auto& [field, value] : body.items()) {
             if (field != "source" && field != "event" && field != "member" &&
                 field != "member_id" && field != "channel")
               errors.push_back({field, "is not a known field"});
           }
           if (!body.contains("event")) errors.push_back({"event", "is required"});
           if (body.contains("member") && body.contains("member_id"))
             errors.push_back({"member", "give either member or member_id"});
           if (!errors.empty()) throw_validation(std::move(errors));
           std::shared_ptr<const rules::CompiledProgram> program;
           std::set<std::string> paused;
           if (body.contains("source")) {
             if (!body["source"].is_string())
               throw_validation({{"source", "must be the program text"}});
             auto compiled = rules::compile({"draft.rules", body["source"].get<std::string>()});
             if (!compiled.program) {
               co_return program_invalid(request, compiled.diagnostics,
                                         "the draft program has errors");
             }
             program = compiled.program;
           } else {
             const auto active = store.current();
             if (!active || !active->program)
               throw ApiError(http::status::conflict, "no_program",
                              "no program is active; send a draft as source");
             program = active->program;
             paused = active->paused;
           }
           const auto now = s.clock.now();
           const std::string channel = body.value("channel", std::string("store"));
           auto event = parse_event_json(body["event"], program->currency_digits(),
                                         program->currency(), now, channel);
           rules::MemberSnapshot member;
           if (body.contains("member_id")) {
             if (!body["member_id"].is_string())
               throw_validation({{"member_id", "must be a member id"}});
             const std::string id = body["member_id"].get<std::string>();
             member = co_await s.db.run([id, now, program](soci::session& sql) {
               auto found = db::members::find(sql, id);
               if (!found)
                 throw ApiError(http::status::not_found, "unknown_member", "no member " + id);
               if (found->merged_into)
                 throw ApiError(http::status::gone, "member_merged", "member " + id + " was merged",
                                {}, {{"merged_into", *found->merged_into}});
               // As an event would see it (the same description of the member).
               if (!found->tier) found->tier = entry_tier(*program);
               return member_snapshot(*found, *program,
                                      db::points::balances(sql, id, now).available);
             });
           } else if (body.contains("member")) {
             member = parse_member_json(body["member"], now);
           } else {
             member.id = "mem_simulated";
             member.joined = now;
           }
           // Limits and budgets as they stand: the counters of the rules that would fire, read
           // without locks (a new or inline member has used no per-member limit yet).
           const auto evaluation =
               co_await s.db.run([&event, &member, &paused, program](soci::session& sql) {
                 rules::Counters counters;
                 counters.paused = paused;
                 std::set<std::string> known;
                 return evaluate_knowing_counters(*program, event, member, counters, known, true,
                                                  [&sql](const std::vector<std::string>& keys) {
                                                    return db::events::read_counters(sql, keys);
                                                  });
               });
           json effects = json::array(), trace = json::array();
           for (const auto& e : evaluation.effects)
             effects.push_back(effect_json(e, program->currency_digits()));
           for (const auto& t : evaluation.trace) {
             trace.push_back({{"campaign", t.campaign},
                              {"rule", t.rule},
                              {"fired", t.fired},
                              {"reason", t.reason},
                              {"detail", t.detail}});
           }
           co_return json_response(http::status::ok, {{"effects", effects}, {"trace", trace}});
         }});
}

}  // namespace circolo::api
