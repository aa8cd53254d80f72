// Members and identity, points: /v1/members/... and POST /v1/admin/points/expire.
#include "circolo/api/members.hpp"
#include "circolo/api/app.hpp"
#include "circolo/api/audit.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/api/coupons.hpp"
#include "circolo/api/gamification.hpp"
#include "circolo/api/link_codes.hpp"
#include "circolo/api/member_tokens.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/api/referrals.hpp"
#include "circolo/db/api_keys.hpp"
#include "circolo/db/coupons.hpp"
#include "circolo/db/gamification.hpp"
#include "circolo/db/member_tokens.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/points.hpp"
#include "circolo/db/privacy.hpp"
#include "circolo/db/query.hpp"
#include "circolo/db/referrals.hpp"
#include "circolo/engine/event/decide.hpp"

namespace circolo::api {

db::Member require_member(soci::session& sql, const std::string& id) {
  auto member = db::members::find(sql, id);
  if (!member) throw ApiError(http::status::not_found, "unknown_member", "no member " + id);
  if (member->merged_into) {
    throw ApiError(http::status::gone, "member_merged",
                   "member " + id + " was merged into " + *member->merged_into, {},
                   {{"merged_into", *member->merged_into}});
  }
  return *member;
}

namespace {

using nlohmann::json;

const Access kStaff = Access::only({Role::admin, Role::touchpoint});
const Access kAdmin = Access::only({Role::admin});
const Access kAnyone = Access::only({Role::admin, Role::touchpoint, Role::member});

std::string channel_of(const Request& request) {
  const auto& p = request.caller();
  return p.channel.value_or(role_name(p.role));
}

// Locks and loads: every change of a member's points holds its row lock.
db::Member lock_member(soci::session& sql, const std::string& id) {
  db::members::lock(sql, id);
  return require_member(sql, id);
}

// The tier a member is shown in: one without a tier yet (enrolled before any program) stands in
// the active program's entry tier, where its first event finds it.
std::optional<std::string> shown_tier(const db::Member& m, const ProgramStore& store) {
  if (const auto active = store.for_request(); !m.tier && active && active->program)
    return engine::event::entry_tier(*active->program);
  return m.tier;
}

json member_body(soci::session& sql, db::Member m, engine::TimePoint now,
                 const ProgramStore& store) {
  m.tier = shown_tier(m, store);
  const auto lots = db::points::active_lots(sql, m.id);
  return member_json(m, db::members::identifiers(sql, m.id), engine::ledger::balances(lots, now));
}

void record(soci::session& sql, const Request& request, const std::string& member_id,
            const std::string& type, engine::TimePoint now, json data,
            json effects = json::array()) {
  db::TimelineEntry entry;
  entry.member_id = member_id;
  entry.type = type;
  entry.channel = channel_of(request);
  entry.occurred_at = now;
  entry.recorded_at = now;
  entry.data = data;
  entry.effects = std::move(effects);
  db::members::timeline_append(sql, entry);
  // What staff (or a member's own token) did to a member is in the audit trail too; what the
  // program did as a consequence (a tier change) is in the timeline only.
  // Personal data stays out of it (identifier values, staff notes that may name the member): the
  // trail is append-only and outlives an erasure of the member's data.
  if (data.contains("identifiers") && data["identifiers"].is_array()) {
    json types = json::array();
    for (const auto& i : data["identifiers"]) types.push_back(i.value("type", ""));
    data["identifiers"] = types;
  }
  if (data.contains("identifier") && data["identifier"].is_object())
    data["identifier"] = {{"type", data["identifier"].value("type", "")}};
  data.erase("reason");
  if (type != "tier.changed") audit(sql, request, now, type, member_id, std::move(data));
}

json identifier_json(const engine::Identifier& i) {
  return {{"type", i.type}, {"value", i.value}};
}

db::members::LinkedBy linked_by(const Request& request) {
  return {channel_of(request), request.caller().key_id, std::nullopt};
}

ApiError identifiers_conflict(const std::vector<std::string>& members) {
  return ApiError(http::status::conflict, "identifiers_conflict",
                  engine::identity::conflict_detail(members),
                  {{"identifiers", "belong to different members"}}, {{"members", members}});
}

// The start of each tier's qualifying window now, in the program's tier order.
std::vector<engine::TimePoint> tier_windows(const rules::CompiledProgram& program,
                                            engine::TimePoint now) {
  std::vector<engine::TimePoint> since;
  for (const auto& t : program.tiers()) since.push_back(program.window_start(t.window, now));
  return since;
}

std::vector<engine::ledger::Points> qualifying_of(soci::session& sql, const std::string& id,
                                                  const std::vector<engine::TimePoint>& windows) {
  const auto points = db::gamification::qualifying_points(sql, id, windows);
  return {points.begin(), points.end()};
}

// What merging `from` into `survivor` would move, and the survivor's tier after it: both
// members' event points count in each tier's window, as they will once merged.
json merge_preview(soci::session& sql, const db::Member& survivor, const std::string& from,
                   const rules::CompiledProgram* program, engine::TimePoint now) {
  const auto moves = db::members::merge_preview(sql, from);
  const auto balances = engine::ledger::balances(db::points::active_lots(sql, from), now);
  json identifiers = json::array();
  for (const auto& i : db::members::identifiers(sql, from))
    identifiers.push_back(identifier_json(i));
  auto after = survivor.tier;
  if (program) {
    const auto windows = tier_windows(*program, now);
    auto q = qualifying_of(sql, survivor.id, windows);
    const auto theirs = qualifying_of(sql, from, windows);
    for (std::size_t i = 0; i < q.size() && i < theirs.size(); ++i) q[i] += theirs[i];
    if (const auto raised = engine::event::raised_tier(*program, survivor.tier, q)) after = *raised;
  }
  const auto tier = [](const std::optional<std::string>& t) {
    return t ? json(*t) : json(nullptr);
  };
  return {{"dry_run", true},
          {"into", survivor.id},
          {"from", from},
          {"moves",
           {{"points", {{"available", balances.available}, {"pending", balances.pending}}},
            {"lots", moves.lots},
            {"coupons", moves.coupons},
            {"badges", moves.badges},
            {"challenges", moves.challenges},
            {"identifiers", identifiers},
            {"events", moves.events}}},
          {"tier", {{"before", tier(survivor.tier)}, {"after", tier(after)}}}};
}

}  // namespace

asio::awaitable<ExpiryReport> expire_due_points(Services& services) {
  ExpiryReport report;
  constexpr int kBatch = 100;
  for (;;) {
    const auto now = services.clock.now();
    auto due = co_await services.db.run(
        [now](soci::session& sql) { return db::points::members_with_due_lots(sql, now, kBatch); });
    std::size_t expired_here = 0;
    for (const auto& member_id : due) {
      auto entries = co_await services.db.run([member_id, now](soci::session& sql) {
        soci::transaction tx(sql);
        db::members::lock(sql, member_id);
        auto written = db::points::expire_member(sql, member_id, now);
        tx.commit();
        return written;
      });
      if (!entries.empty()) ++report.members;
      for (const auto& e : entries) {
        ++report.lots;
        report.points += -e.points;
      }
      expired_here += entries.size();
    }
    // Another instance may have taken this batch; stop when a round finds nothing to do.
    if (due.size() < static_cast<std::size_t>(kBatch) || expired_here == 0) break;
  }
  co_return report;
}

void register_member_routes(App& app, const ProgramStore& store) {
  auto& s = app.services();
  auto& r = app.router();

  r.add({http::verb::post, "/v1/members", kStaff,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const auto now = s.clock.now();
           const auto input = parse_new_member(request.json_body(), now);
           db::Member member;
           member.id = new_id("mem");
           member.profile = input.profile;
           member.joined_at = now;
           // A new member starts in the program's entry tier (threshold 0), if it has one.
           if (const auto active = store.for_request(); active && active->program)
             member.tier = engine::event::entry_tier(*active->program);
           co_return co_await transact(s, request, [&](soci::session& sql) {
             // Identifiers known already: one member (found, the others linked with `link`), or
             // several (a conflict); none: a new member.
             const auto owners = db::members::owners(sql, input.identifiers);
             std::vector<engine::identity::Named> named;
             for (std::size_t i = 0; i < owners.size(); ++i)
               named.push_back({input.identifiers[i], owners[i]});
             const auto found = engine::identity::resolve(named, std::nullopt, input.link, true);
             using Kind = engine::identity::Resolution::Kind;
             if (found.kind == Kind::conflict) throw identifiers_conflict(found.conflicting);
             if (found.kind == Kind::member && input.link) {
               const auto existing = lock_member(sql, found.member_id);
               for (const auto& i : found.to_link) {
                 if (db::members::link_recorded(sql, existing.id, i, linked_by(request), now) !=
                     db::members::LinkResult::linked)
                   throw db::RetryTransaction("identifier linked concurrently");
               }
               if (input.referral_code)
                 start_referral(sql, *input.referral_code, existing.id, false, channel_of(request),
                                request.caller().key_id, std::nullopt, now);
               return json_response(http::status::ok, member_body(sql, existing, now, store));
             }
             if (auto taken = db::members::insert(sql, member, input.identifiers, now)) {
               // Find or create racing another: decide again, which now finds the member.
               if (input.link) throw db::RetryTransaction("identifier enrolled concurrently");
               throw ApiError(
                   http::status::conflict, "identifier_taken",
                   taken->type + " " + taken->value + " already belongs to another member", {},
                   {{"identifier", identifier_json(*taken)}});
             }
             json ids = json::array();
             for (const auto& i : input.identifiers) ids.push_back(identifier_json(i));
             record(sql, request, member.id, "member.enrolled", now, {{"identifiers", ids}});
             if (input.referral_code)
               start_referral(sql, *input.referral_code, member.id, true, channel_of(request),
                              request.caller().key_id, std::nullopt, now);
             auto response =
                 json_response(http::status::created, member_body(sql, member, now, store));
             response.headers.emplace_back("Location", "/v1/members/" + member.id);
             return response;
           });
         }});

  r.add({http::verb::get, "/v1/members/lookup", kStaff,
         [&app, &s, &store](Request& request) -> asio::awaitable<Response> {
           // A till looks up one customer at a time; a leaked key listing them is slowed down.
           if (request.caller().role == Role::touchpoint)
             app.throttle("lookups:" + request.caller().key_id,
                          app.rate_limits().touchpoint_lookups, "member lookups");
           const auto type = request.query("type"), value = request.query("value");
           if (!type || !value) {
             throw ApiError(http::status::bad_request, "invalid_query",
                            "give ?type=card|email|phone|...&value=...");
           }
           auto normalized = engine::normalize_identifier(*type, *value);
           if (auto* e = std::get_if<engine::IdentifierError>(&normalized)) {
             throw ApiError(http::status::bad_request, "invalid_query",
                            e->field + " " + e->message);
           }
           const auto identifier = std::get<engine::Identifier>(normalized);
           const auto now = s.clock.now();
           co_return co_await s.db.run([&](soci::session& sql) {
             const auto id = db::members::find_by_identifier(sql, identifier);
             if (!id) {
               throw ApiError(http::status::not_found, "unknown_member",
                              "no member has " + identifier.type + " " + identifier.value);
             }
             audit_admin_read(sql, request, now, *id, "lookup");
             return json_response(http::status::ok,
                                  member_body(sql, require_member(sql, *id), now, store));
           });
         }});

  r.add({http::verb::get, "/v1/members/{id}", kAnyone,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           const auto now = s.clock.now();
           co_return co_await s.db.run([&](soci::session& sql) {
             auto body = member_body(sql, require_member(sql, id), now, store);
             audit_admin_read(sql, request, now, id, "profile");
             return json_response(http::status::ok, body);
           });
         }});

  // A JSON merge patch of the profile (api::parse_profile_patch). A member token changes its
  // own member's, except contact details and a birthday already given (member_patch_refusals).
  r.add({http::verb::patch, "/v1/members/{id}", kAnyone,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           const auto now = s.clock.now();
           const auto patch = parse_profile_patch(request.json_body(), now);
           co_return co_await transact(s, request, [&](soci::session& sql) {
             auto member = lock_member(sql, id);
             const auto& caller = request.caller();
             const bool by_member = caller.role == Role::member;
             if (by_member) {
               auto refused = member_patch_refusals(member.profile, patch);
               if (!refused.empty()) {
                 std::string names;
                 for (const auto& f : refused) names += (names.empty() ? "" : ", ") + f.field;
                 throw ApiError(http::status::forbidden, "forbidden",
                                "a member token may not change " + names, std::move(refused));
               }
             }
             const auto changed = apply_profile_patch(member.profile, patch);
             if (!changed.empty()) {
               db::members::update_profile(sql, id, member.profile);
               audit(sql, request, now, "profile.updated", id, {{"fields", changed}});
               // Who changed it: the key, or the key that minted the member's token (and its
               // channel: the member's app).
               db::TimelineEntry entry;
               entry.member_id = id;
               entry.type = "profile.updated";
               entry.channel = by_member && caller.issuer_key_id
                                   ? db::api_keys::channel_of(sql, *caller.issuer_key_id)
                                   : caller.channel;
               if (!entry.channel) entry.channel = role_name(caller.role);
               entry.occurred_at = entry.recorded_at = now;
               entry.data = {{"fields", changed},
                             {"key", by_member ? caller.issuer_key_id.value_or("") : caller.key_id},
                             {"by_member", by_member}};
               db::members::timeline_append(sql, entry);
             }
             return json_response(http::status::ok, member_body(sql, member, now, store));
           });
         }});

  r.add({http::verb::post, "/v1/members/{id}/identifiers", kStaff,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           const auto identifier = parse_identifier_body(request.json_body());
           const auto now = s.clock.now();
           co_return co_await transact(s, request, [&](soci::session& sql) {
             const auto member = lock_member(sql, id);
             const auto result =
                 db::members::link_recorded(sql, id, identifier, linked_by(request), now);
             if (result == db::members::LinkResult::taken) {
               throw ApiError(
                   http::status::conflict, "identifier_taken",
                   identifier.type + " " + identifier.value + " already belongs to another member",
                   {}, {{"identifier", identifier_json(identifier)}});
             }
             if (result == db::members::LinkResult::linked)
               audit(sql, request, now, "identifier.linked", id, {{"type", identifier.type}});
             return json_response(result == db::members::LinkResult::linked ? http::status::created
                                                                            : http::status::ok,
                                  member_body(sql, member, now, store));
           });
         }});

  // The right to erasure: the member's personal data goes (profile, identifiers, link codes,
  // tokens; who it was in its timeline and recorded events), the member stays, anonymous, so that
  // its ledger, the liabilities and the reports keep their sums. Its identifiers are free again.
  r.add({http::verb::post, "/v1/members/{id}/erase", kAdmin,
         [&app, &s, &store](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           const auto now = s.clock.now();
           std::vector<std::string> erased;
           auto response = co_await transact(s, request, [&](soci::session& sql) {
             lock_member(sql, id);
             erased = db::members::erase(sql, id, now);
             audit(sql, request, now, "member.erased", id, {{"members", erased.size()}});
             return json_response(http::status::ok,
                                  member_body(sql, require_member(sql, id), now, store));
           });
           for (const auto& e : erased) app.forget_member_tokens(e);
           co_return response;
         }});

  // The right of access: everything held about the member, machine-readable, for the member's
  // own token or an admin (a till has no business with it). Reading it is recorded.
  r.add({http::verb::get, "/v1/members/{id}/export", kAnyone,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           if (request.caller().role == Role::touchpoint)
             throw ApiError(http::status::forbidden, "forbidden",
                            "a member's data export is for the member's own token or an admin");
           const auto now = s.clock.now();
           co_return co_await s.db.run([&](soci::session& sql) {
             require_member(sql, id);
             auto data = db::privacy::export_member(sql, id);
             // The member's own copy: what staff wrote about it and where staff worked from
             // stay with the business (members see no staff notes anywhere).
             if (request.caller().role == Role::member) {
               for (auto& e : data["ledger_entries"]) e.erase("reason");
               for (auto& e : data["member_timeline"])
                 if (e.contains("data") && e["data"].is_object()) e["data"].erase("reason");
               for (auto& e : data["audit_log"]) e.erase("address");
             }
             {
               soci::transaction tx(sql);
               audit(sql, request, now, "member.exported", id);
               tx.commit();
             }
             return json_response(http::status::ok, {{"member_id", id},
                                                     {"exported_at", engine::format_rfc3339(now)},
                                                     {"data", std::move(data)}});
           });
         }});

  // An admin takes back an identifier linked by mistake (a card typed into the wrong member).
  r.add(
      {http::verb::delete_, "/v1/members/{id}/identifiers/{type}/{value}", kAdmin,
       [&s](Request& request) -> asio::awaitable<Response> {
         const std::string id = request.param("id");
         auto normalized =
             engine::normalize_identifier(request.param("type"), request.param("value"));
         if (auto* e = std::get_if<engine::IdentifierError>(&normalized))
           throw_validation({{e->field, e->message}});
         const auto identifier = std::get<engine::Identifier>(normalized);
         const auto now = s.clock.now();
         co_return co_await transact(s, request, [&](soci::session& sql) {
           lock_member(sql, id);
           const auto held = db::members::identifiers(sql, id);
           if (std::find(held.begin(), held.end(), identifier) == held.end())
             throw ApiError(http::status::not_found, "unknown_identifier",
                            "member " + id + " has no " + identifier.type + " " + identifier.value);
           if (held.size() == 1)
             throw ApiError(http::status::conflict, "last_identifier",
                            "a member keeps at least one identifier: link another first");
           db::members::unlink(sql, id, identifier);
           record(sql, request, id, "identifier.unlinked", now,
                  {{"identifier", identifier_json(identifier)}, {"key", request.caller().key_id}});
           return empty_response(http::status::no_content);
         });
       }});

  r.add({http::verb::post, "/v1/members/{id}/merge", kAdmin,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const std::string into = request.param("id");
           const auto merge = parse_merge(request.json_body());
           const std::string& from = merge.from;
           if (from == into) throw_validation({{"from", "a member cannot be merged into itself"}});
           const auto now = s.clock.now();
           const auto active = store.for_request();
           const rules::CompiledProgram* program =
               active && active->program ? active->program.get() : nullptr;
           co_return co_await transact(s, request, [&](soci::session& sql) {
             db::members::lock_pair(sql, into, from);
             auto survivor = require_member(sql, into);
             auto merged = db::members::find(sql, from);
             if (!merged)
               throw ApiError(http::status::not_found, "unknown_member", "no member " + from);
             if (merged->merged_into == into && !merge.dry_run) {
               // Merged already (a retry without Idempotency-Key): nothing more to move.
               return json_response(http::status::ok, member_body(sql, survivor, now, store));
             }
             require_member(sql, from);
             if (merge.dry_run)
               return json_response(http::status::ok,
                                    merge_preview(sql, survivor, from, program, now));
             const auto moved = db::members::merge(sql, into, from, now);
             record(sql, request, into, "member.merged", now, {{"from", from}, {"points", moved}});
             // A referral still open for either is refused: the referee was the referrer, or
             // someone who had been a member before.
             db::referrals::after_merge(sql, into, from, now);
             // What the merged member earned through events now qualifies the survivor.
             if (program) {
               const auto before = survivor.tier;
               const auto q = qualifying_of(sql, into, tier_windows(*program, now));
               if (const auto to = engine::event::raised_tier(*program, survivor.tier, q)) {
                 db::gamification::set_tier(sql, into, *to);
                 const json data{{"from", before ? json(*before) : json(nullptr)},
                                 {"to", *to},
                                 {"reason", "merge"}};
                 db::points::publish(sql, "tier.changed", into, now, data);
                 record(sql, request, into, "tier.changed", now, data);
                 survivor.tier = *to;
               }
             }
             return json_response(http::status::ok, member_body(sql, survivor, now, store));
           });
         }});

  // A one-time code for the member's app to show at a till: the till sends it as
  // {"member":{"link_code":"..."}} (with identifiers to link, such as a new card).
  r.add({http::verb::post, "/v1/members/{id}/link-codes", kAnyone,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           const auto ttl = parse_link_code_request(
               request.raw.body().empty() ? json::object() : request.json_body());
           const auto now = s.clock.now();
           co_return co_await transact(s, request, [&](soci::session& sql) {
             require_member(sql, id);
             const auto expires_at = now + std::chrono::seconds(ttl);
             for (int attempt = 0; attempt < 5; ++attempt) {
               const auto code = new_link_code();
               if (db::members::create_link_code(sql, link_code_digest(s.member_token_secret, code),
                                                 id, now, expires_at, request.caller().key_id)) {
                 audit(sql, request, now, "link_code.created", id,
                       {{"expires_at", engine::format_rfc3339(expires_at)}});
                 return json_response(http::status::created,
                                      {{"code", code},
                                       {"member_id", id},
                                       {"expires_at", engine::format_rfc3339(expires_at)}});
               }
             }
             throw std::runtime_error("no free link code after 5 draws");
           });
         }});

  r.add({http::verb::post, "/v1/members/{id}/tokens", kStaff,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           long long ttl = 900;
           if (!request.raw.body().empty()) {
             const auto body = request.json_body();
             std::vector<FieldError> errors;
             if (!body.is_object()) throw_validation({{"", "the body must be a JSON object"}});
             for (const auto& [field, value] : body.items()) {
               if (field != "ttl_seconds") errors.push_back({field, "is not a known field"});
             }
             if (body.contains("ttl_seconds")) {
               if (!body["ttl_seconds"].is_number_integer() ||
                   body["ttl_seconds"].get<long long>() < 60 ||
                   body["ttl_seconds"].get<long long>() > kMemberTokenMaxLifetime.count()) {
                 errors.push_back(
                     {"ttl_seconds", "must be a whole number from 60 to " +
                                         std::to_string(kMemberTokenMaxLifetime.count())});
               } else {
                 ttl = body["ttl_seconds"].get<long long>();
               }
             }
             if (!errors.empty()) throw_validation(std::move(errors));
           }
           const auto generation = co_await s.db.run([&](soci::session& sql) {
             require_member(sql, id);
             // A touchpoint's backend mints tokens for its own customers: a member its channel
             // never served (no enrolment, event or identifier there) is not its to act for.
             const auto& caller = request.caller();
             if (caller.role == Role::touchpoint &&
                 !db::member_tokens::served_on(sql, id, caller.channel.value_or("")))
               throw ApiError(http::status::forbidden, "forbidden",
                              "the " + caller.channel.value_or("") +
                                  " channel has not served member " + id +
                                  ": a touchpoint mints tokens for members it enrolled, identified "
                                  "or linked an identifier of (or an admin does)");
             audit(sql, request, s.clock.now(), "token.minted", id, {{"ttl_seconds", ttl}});
             return db::member_tokens::generation(sql, id);
           });
           const auto expires = std::chrono::time_point_cast<std::chrono::seconds>(s.clock.now()) +
                                std::chrono::seconds(ttl);
           const MemberToken token{id, expires, request.caller().key_id, generation};
           co_return json_response(http::status::created,
                                   {{"token", sign_member_token(token, s.member_token_secret)},
                                    {"member_id", id},
                                    {"expires_at", engine::format_rfc3339(expires)}});
         }});

  // Every token of the member minted so far stops working ("sign out everywhere"): the member's
  // app (its own token), a touchpoint or an admin.
  r.add({http::verb::delete_, "/v1/members/{id}/tokens", kAnyone,
         [&app, &s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           co_await s.db.run([&](soci::session& sql) {
             soci::transaction tx(sql);
             require_member(sql, id);
             db::member_tokens::revoke_all(sql, id);
             audit(sql, request, s.clock.now(), "tokens.revoked", id);
             tx.commit();
           });
           app.forget_member_tokens(id);
           co_return empty_response(http::status::no_content);
         }});

  r.add({http::verb::get, "/v1/members/{id}/wallet", kAnyone,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           const long long days = parse_whole_query(request.query("expiring_within_days"),
                                                    "expiring_within_days", 1, 366, 30);
           const auto now = s.clock.now();
           co_return co_await s.db.run([&](soci::session& sql) {
             const auto member = require_member(sql, id);
             const auto lots = db::points::active_lots(sql, id);
             auto wallet = wallet_json(lots, now, now + std::chrono::hours(24 * days));
             const auto tier = shown_tier(member, store);
             const auto active = store.for_request();
             if (active && active->program) {
               // Tier with the progress to the next one, challenges of the active program.
               wallet["tier"] = tier_progress_json(sql, *active->program, tier, id, now);
               wallet["challenges"] = member_challenges_json(sql, *active->program, id, now);
             } else {
               wallet["tier"] = tier_json(store, tier);
             }
             wallet["badges"] = badges_json(sql, id);
             // The codes it can still use, soonest expiring first.
             json coupons = json::array();
             for (const auto& c : db::coupons::usable_of(sql, id, now))
               coupons.push_back(coupon_json(c));
             wallet["coupons"] = coupons;
             audit_admin_read(sql, request, now, id, "wallet");
             return json_response(http::status::ok, wallet);
           });
         }});

  r.add({http::verb::get, "/v1/members/{id}/ledger", kAnyone,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           const int limit = parse_limit(request.query("limit"));
           const auto before = parse_ledger_cursor(request.query("cursor"));
           co_return co_await s.db.run([&](soci::session& sql) {
             require_member(sql, id);
             audit_admin_read(sql, request, s.clock.now(), id, "ledger");
             const auto entries = db::points::ledger_page(sql, id, before, limit);
             // The free text staff wrote is theirs: a member sees what happened, not the note.
             const bool as_member = request.caller().role == Role::member;
             json items = json::array();
             for (const auto& e : entries) {
               items.push_back(ledger_entry_json(e));
               if (as_member) items.back()["reason"] = nullptr;
             }
             const bool more = static_cast<int>(entries.size()) == limit;
             return json_response(
                 http::status::ok,
                 {{"items", items},
                  {"next_cursor", more ? json(std::to_string(entries.back().id)) : json(nullptr)}});
           });
         }});

  r.add({http::verb::get, "/v1/members/{id}/timeline", kAnyone,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           const int limit = parse_limit(request.query("limit"));
           const auto after = parse_timeline_cursor(request.query("cursor"));
           co_return co_await s.db.run([&](soci::session& sql) {
             require_member(sql, id);
             audit_admin_read(sql, request, s.clock.now(), id, "timeline");
             const auto entries = db::members::timeline_page(sql, id, after, limit);
             const bool as_member = request.caller().role == Role::member;
             json items = json::array();
             for (const auto& e : entries) {
               items.push_back(timeline_entry_json(e));
               auto& data = items.back()["data"];
               if (as_member && data.is_object() && data.contains("reason"))
                 data["reason"] = nullptr;
             }
             const bool more = static_cast<int>(entries.size()) == limit;
             return json_response(
                 http::status::ok,
                 {{"items", items},
                  {"next_cursor", more ? json(timeline_cursor(entries.back())) : json(nullptr)}});
           });
         }});

  r.add({http::verb::post, "/v1/members/{id}/points/spend", kStaff,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           const auto input = parse_spend(request.json_body());
           const auto now = s.clock.now();
           co_return co_await transact(s, request, [&](soci::session& sql) {
             lock_member(sql, id);
             const auto entry = take_points(
                 sql, id, {input.points, "spend", input.reason, std::nullopt, std::nullopt}, now);
             record(sql, request, id, "points.spent", now,
                    {{"points", input.points},
                     {"reason", input.reason ? json(*input.reason) : json(nullptr)}},
                    json::array({{{"type", "points_spent"}, {"points", input.points}}}));
             return json_response(http::status::created, ledger_entry_json(entry));
           });
         },
         /*idempotency_required=*/true});

  r.add({http::verb::post, "/v1/members/{id}/points/adjust", kAdmin,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           const auto now = s.clock.now();
           auto input = parse_adjust(request.json_body(), now);
           // Points added by hand expire like earned ones (the program's points_expire) unless
           // the adjustment says otherwise.
           if (input.points > 0 && !input.expires_at && !input.never_expires) {
             if (const auto active = store.for_request(); active && active->program)
               input.expires_at = active->program->default_expiry(now);
           }
           co_return co_await transact(s, request, [&](soci::session& sql) {
             lock_member(sql, id);
             db::points::LedgerEntry entry;
             if (input.points > 0) {
               db::points::Award award;
               award.points = input.points;
               award.kind = "adjust";
               award.reason = input.reason;
               award.expires_at = input.expires_at;
               entry = db::points::earn(sql, id, award, now);
             } else {
               entry = take_points(
                   sql, id, {-input.points, "adjust", input.reason, std::nullopt, std::nullopt},
                   now);
             }
             record(sql, request, id, "points.adjusted", now,
                    {{"points", input.points}, {"reason", input.reason}},
                    json::array({{{"type", "points_adjusted"}, {"points", input.points}}}));
             return json_response(http::status::created, ledger_entry_json(entry));
           });
         }});

  // Points leave a member only with its consent: its own token (the app), or an admin. A
  // touchpoint key serves many members and must not move one's points to another.
  r.add({http::verb::post, "/v1/members/{id}/points/transfer", kAnyone,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string from = request.param("id");
           if (request.caller().role == Role::touchpoint)
             throw ApiError(http::status::forbidden, "forbidden",
                            "a transfer needs the giving member's own token (or an admin key)");
           check_scope(request.caller(), from);
           const auto input = parse_transfer(request.json_body());
           if (input.to == from)
             throw_validation({{"to", "points cannot be transferred to the same member"}});
           const auto now = s.clock.now();
           co_return co_await transact(s, request, [&](soci::session& sql) {
             db::members::lock_pair(sql, from, input.to);
             require_member(sql, from);
             require_member(sql, input.to);
             const auto decided = engine::ledger::decide_spend(db::points::active_lots(sql, from),
                                                               input.points, now);
             if (decided.refused()) throw_insufficient(decided);
             const auto moved =
                 db::points::apply_transfer(sql, from, input.to, input.points, *decided.draws, now);
             record(sql, request, from, "points.transferred", now,
                    {{"points", -input.points}, {"to", input.to}});
             record(sql, request, input.to, "points.transferred", now,
                    {{"points", input.points}, {"from", from}});
             return json_response(http::status::created, {{"from", ledger_entry_json(moved.out)},
                                                          {"to", ledger_entry_json(moved.in)}});
           });
         }});

  r.add({http::verb::post, "/v1/admin/points/expire", kAdmin,
         [&s](Request&) -> asio::awaitable<Response> {
           const auto report = co_await expire_due_points(s);
           co_return json_response(
               http::status::ok,
               {{"members", report.members}, {"lots", report.lots}, {"points", report.points}});
         }});
}

}  // namespace circolo::api
