// The audit trail: appended by the routes that change member data or configuration, read here.
#include "circolo/api/audit.hpp"

#include "circolo/api/app.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/db/audit.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;
const Access kAdmin = Access::only({Role::admin});

json entry_json(const db::audit::Entry& e) {
  return {{"id", std::to_string(e.id)},
          {"at", engine::format_rfc3339(e.at)},
          {"actor", e.actor},
          {"role", e.role},
          {"address", e.address ? json(*e.address) : json(nullptr)},
          {"action", e.action},
          {"target", e.target ? json(*e.target) : json(nullptr)},
          {"detail", e.detail}};
}

std::optional<engine::TimePoint> time_query(const Request& request, const char* name) {
  const auto text = request.query(name);
  if (!text) return std::nullopt;
  const auto t = engine::parse_rfc3339(*text);
  if (!t)
    throw ApiError(http::status::bad_request, "invalid_query",
                   std::string(name) + " must be an RFC 3339 time (2026-12-01T00:00:00Z)");
  return t;
}

}  // namespace

void audit_admin_read(soci::session& sql, const Request& request, engine::TimePoint at,
                      const std::string& member_id, const char* what) {
  if (request.caller().role == Role::admin)
    audit(sql, request, at, "member.viewed", member_id, {{"what", what}});
}

void audit(soci::session& sql, const Request& request, engine::TimePoint at,
           const std::string& action, const std::optional<std::string>& target, json detail) {
  const auto& caller = request.caller();
  db::audit::Entry e;
  e.at = at;
  e.actor = caller.key_id;
  e.role = role_name(caller.role);
  // A member's own device's address is personal data: staff's addresses only.
  if (request.client_address != "-" && caller.role != Role::member)
    e.address = request.client_address;
  e.action = action;
  e.target = target;
  e.detail = std::move(detail);
  if (caller.issuer_key_id) e.detail["token_minted_by"] = *caller.issuer_key_id;
  db::audit::append(sql, e);
}

void register_audit_routes(App& app) {
  auto& s = app.services();
  app.router().add(
      {http::verb::get, "/v1/admin/audit", kAdmin,
       [&s](Request& request) -> asio::awaitable<Response> {
         db::audit::Query q;
         q.limit = parse_limit(request.query("limit"));
         // An entry id, parsed as the ledger's cursors are (and fuzzed with them).
         q.before = parse_ledger_cursor(request.query("cursor"));
         q.actor = request.query("actor");
         q.action = request.query("action");
         q.target = request.query("target");
         q.from = time_query(request, "from");
         q.until = time_query(request, "until");
         co_return co_await s.db.run([q](soci::session& sql) {
           const auto entries = db::audit::page(sql, q);
           json items = json::array();
           for (const auto& e : entries) items.push_back(entry_json(e));
           const bool more = static_cast<int>(entries.size()) == q.limit;
           return json_response(
               http::status::ok,
               {{"items", items},
                {"next_cursor", more ? json(std::to_string(entries.back().id)) : json(nullptr)}});
         });
       }});
}

}  // namespace circolo::api
