// POST /v1/events: the thin handler; the stages live beside it (parse.cpp, run.cpp).
#include "circolo/api/app.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/api/events.hpp"
#include "circolo/api/link_codes.hpp"
#include "circolo/api/problem.hpp"

namespace circolo::api {

namespace {
const Access kStaff = Access::only({Role::admin, Role::touchpoint});
}  // namespace

void register_event_routes(App& app, ProgramStore& store, const EventPolicy& policy) {
  auto& s = app.services();
  app.router().add(
      {http::verb::post, "/v1/events", kStaff,
       [&s, &store, policy](Request& request) -> asio::awaitable<Response> {
         // The version this event started with is the one it finishes on.
         const auto active = store.for_request();
         if (!active || !active->program)
           throw ApiError(http::status::conflict, "no_program",
                          "no program is active: apply one before sending events");
         const auto now = s.clock.now();
         auto incoming = parse_incoming_event(request.json_body(), *active->program, now,
                                              request.caller(), policy);
         if (incoming.link_code)
           incoming.link_code_digest = link_code_digest(s.member_token_secret, *incoming.link_code);
         EventContext context;
         context.event_id = new_id("ev");
         context.api_key_id = request.caller().key_id;
         context.now = now;
         // A day more than the window: another instance's clock (clock_skew), a window
         // being changed across instances, a day ending at a DST change.
         context.limits_from =
             now - policy.offline_window - policy.clock_skew - std::chrono::hours(24);
         context.program_version = active->version;
         context.program = active->program.get();
         context.paused = &active->paused;
         // A retry (a counter moved past a cap, a deadlock) locks the counters before
         // deciding.
         auto attempts = std::make_shared<int>(0);
         // The member's read goes with BEGIN and the Idempotency-Key claim, and
         // locks only if that claim is fresh (a refund's member comes from its
         // purchase).
         db::Prefetch ahead;
         if (!incoming.original_event_id) {
           db::events::ClaimOf claim{idempotency_scope(request),
                                     std::string(request.header("Idempotency-Key"))};
           ahead = member_read_ahead(incoming, context, claim).read;
         }
         auto response = co_await transact_prefetched(
             s, request, std::move(ahead),
             [&, active, attempts](soci::session& sql, db::Batch& batch,
                                   const std::vector<db::Row>* prefetched) {
               EventContext attempt = context;
               attempt.lock_counters_first = (*attempts)++ > 0;
               return json_response(http::status::created,
                                    run_event(sql, incoming, attempt, batch, prefetched));
             });
         if (response.status == http::status::created) s.metrics.count_event(incoming.event.type);
         co_return response;
       },
       /*idempotency_required=*/true});
}

}  // namespace circolo::api
