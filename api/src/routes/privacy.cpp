// A member's consent per purpose and channel: GET and PATCH /v1/members/{id}/consents.
#include "circolo/api/privacy.hpp"
#include "circolo/api/app.hpp"
#include "circolo/api/audit.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/db/api_keys.hpp"
#include "circolo/db/audit.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/privacy.hpp"
#include "circolo/engine/consent.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;
namespace consent = engine::consent;

const Access kAnyone = Access::only({Role::admin, Role::touchpoint, Role::member});

// {"marketing_email": true, "leaderboards": false}: each a known purpose with a boolean.
std::map<std::string, bool> parse_consent_patch(const json& body) {
  if (!body.is_object()) throw_validation({{"", "must be an object of purposes: true or false"}});
  if (body.empty()) throw_validation({{"", "name at least one purpose"}});
  std::vector<FieldError> errors;
  std::map<std::string, bool> out;
  for (const auto& [purpose, granted] : body.items()) {
    if (!consent::parse(purpose)) {
      errors.push_back({purpose,
                        "unknown purpose: marketing_email, marketing_sms, marketing_push, "
                        "profiling or leaderboards"});
    } else if (!granted.is_boolean()) {
      errors.push_back({purpose, "must be true or false"});
    } else {
      out[purpose] = granted.get<bool>();
    }
  }
  if (!errors.empty()) throw_validation(std::move(errors));
  return out;
}

// Every purpose, in a fixed order: granted now, whether that is only the default, and the
// record of the member's (or staff's) last word on it.
json consents_body(soci::session& sql, const db::Member& member) {
  const auto records = db::privacy::latest_consents(sql, member.id);
  json list = json::array();
  for (const auto p : consent::kPurposes) {
    const std::string name(consent::name(p));
    json entry{{"purpose", name},
               {"granted", member.consents.granted(p)},
               {"default", !member.consents.given.contains(name)},
               {"recorded_at", nullptr},
               {"source", nullptr}};
    for (const auto& r : records) {
      if (r.purpose != name || !member.consents.given.contains(name)) continue;
      entry["recorded_at"] = engine::format_rfc3339(r.recorded_at);
      entry["source"] = r.source;
    }
    list.push_back(std::move(entry));
  }
  return {{"member_id", member.id}, {"consents", std::move(list)}};
}

// Who gave the consent: the member through its app or web shop (the channel of the key that
// minted its token), staff at a touchpoint, or an admin.
std::string source_of(soci::session& sql, const Principal& caller) {
  switch (caller.role) {
    case Role::member:
      return "member:" + (caller.issuer_key_id
                              ? db::api_keys::channel_of(sql, *caller.issuer_key_id)
                              : std::nullopt)
                             .value_or("app");
    case Role::touchpoint:
      return "staff:" + caller.channel.value_or("touchpoint");
    default:
      return "admin";
  }
}

}  // namespace

asio::awaitable<std::size_t> erase_inactive_members(App& app, std::chrono::days inactive) {
  auto& s = app.services();
  constexpr int kBatch = 100;
  std::size_t erased = 0;
  std::string after;
  for (;;) {
    const auto now = s.clock.now();
    const auto cutoff = now - inactive;
    const auto due = co_await s.db.run([&](soci::session& sql) {
      return db::privacy::inactive_members(sql, cutoff, after, kBatch);
    });
    for (const auto& id : due) {
      const auto gone = co_await s.db.run([&](soci::session& sql) {
        soci::transaction tx(sql);
        db::members::lock(sql, id);
        // An event may have come in since the list was read.
        if (!db::privacy::inactive_since(sql, id, cutoff)) return std::vector<std::string>{};
        auto ids = db::members::erase(sql, id, now);
        db::audit::append(sql, {0,
                                now,
                                "retention",
                                "system",
                                std::nullopt,
                                "member.erased",
                                id,
                                {{"reason", "inactive"}, {"inactive_days", inactive.count()}}});
        tx.commit();
        return ids;
      });
      if (!gone.empty()) ++erased;
      for (const auto& e : gone) app.forget_member_tokens(e);
    }
    if (due.size() < static_cast<std::size_t>(kBatch)) break;
    after = due.back();
  }
  co_return erased;
}

void register_privacy_routes(App& app) {
  auto& s = app.services();
  auto& r = app.router();

  r.add({http::verb::get, "/v1/members/{id}/consents", kAnyone,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           co_return co_await s.db.run([&](soci::session& sql) {
             auto body = consents_body(sql, require_member(sql, id));
             audit_admin_read(sql, request, s.clock.now(), id, "consents");
             return json_response(http::status::ok, body);
           });
         }});

  // The member's app or web shop, or staff recording what the customer said at the till: only
  // what changes is recorded (in the member's consent history, its timeline and the audit trail).
  r.add({http::verb::patch, "/v1/members/{id}/consents", kAnyone,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           const auto asked = parse_consent_patch(request.json_body());
           const auto now = s.clock.now();
           co_return co_await transact(s, request, [&](soci::session& sql) {
             db::members::lock(sql, id);
             auto member = require_member(sql, id);
             const auto changes = consent::changes(member.consents, asked);
             if (!changes.empty()) {
               const auto& caller = request.caller();
               const auto source = source_of(sql, caller);
               const auto key = caller.role == Role::member ? caller.issuer_key_id
                                                            : std::optional(caller.key_id);
               db::privacy::record_consents(sql, id, changes, source, key, now);
               for (const auto& [purpose, granted] : changes)
                 member.consents.given[purpose] = granted;
               audit(sql, request, now, "consent.changed", id, {{"consents", changes}});
               db::TimelineEntry entry;
               entry.member_id = id;
               entry.type = "consent.changed";
               entry.channel = caller.channel.value_or(role_name(caller.role));
               entry.occurred_at = entry.recorded_at = now;
               entry.data = {{"consents", changes}, {"source", source}};
               db::members::timeline_append(sql, entry);
             }
             return json_response(http::status::ok, consents_body(sql, member));
           });
         }});
}

}  // namespace circolo::api
