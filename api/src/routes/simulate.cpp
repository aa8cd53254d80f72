// POST /v1/admin/simulate: what an event would do now, decided by the same engine::event::decide
// as POST /v1/events, with nothing written (a stored member is read without its lock, counters
// as they stand, a purchase's basket codes read as they stand: their discounts and refusals are
// the event's, none is redeemed).
#include "circolo/api/app.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/api/events.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/request_json.hpp"
#include "circolo/db/event.hpp"
#include "circolo/engine/money.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

const Access kAdmin = Access::only({Role::admin});

// An inline member, as an event would see it: its tier must be one of the program's and brings
// the tier's multiplier (a `multiplier` sent with it must agree).
engine::event::MemberState inline_member(const json& body, const rules::CompiledProgram& program,
                                         engine::TimePoint now) {
  const auto m = parse_member_json(body, now);
  engine::event::MemberState state;
  state.member.id = m.id;
  if (!m.tier.empty()) state.member.tier = m.tier;
  if (state.member.tier && engine::event::tier_rank(program, state.member.tier) < 0) {
    std::string tiers;
    json ids = json::array();
    for (const auto& t : program.tiers()) {
      tiers += (tiers.empty() ? "" : ", ") + t.id;
      ids.push_back(t.id);
    }
    const std::string detail =
        "the program has no tier \"" + m.tier + "\"" +
        (tiers.empty() ? std::string(" (it has no tiers)") : "; its tiers: " + tiers);
    throw ApiError(http::status::unprocessable_entity, "unknown_tier", detail,
                   {{"member.tier", detail}}, {{"tiers", ids}});
  }
  rules::Decimal multiplier{1, 0};
  for (const auto& t : program.tiers()) {
    if (state.member.tier && t.id == *state.member.tier) multiplier = t.multiplier;
  }
  // Equal decimals at any scales: 1.25 and 1.250000.
  const auto same = [](rules::Decimal a, rules::Decimal b) {
    while (a.scale < b.scale) a = {a.mantissa * 10, a.scale + 1};
    while (b.scale < a.scale) b = {b.mantissa * 10, b.scale + 1};
    return a.mantissa == b.mantissa;
  };
  if (body.contains("multiplier") && !same(m.multiplier, multiplier))
    throw_validation(
        {{"member.multiplier", "comes from the member's tier: " +
                                   engine::format_money({multiplier.mantissa, multiplier.scale})}});
  state.member.tags = m.tags;
  state.member.joined = m.joined;
  state.member.purchases = m.purchases;
  state.member.lifetime_points = m.lifetime_points;
  state.member.birthday = m.birthday;
  state.member.attributes = m.attributes;
  state.badges = m.badges;
  state.balances.available = m.points;
  return state;
}

}  // namespace

void register_simulate_route(App& app, ProgramStore& store) {
  auto& s = app.services();
  app.router().add(
      {http::verb::post, "/v1/admin/simulate", kAdmin,
       [&s, &store](Request& request) -> asio::awaitable<Response> {
         const auto body = request.json_body();
         if (!body.is_object()) throw_validation({{"", "the body must be a JSON object"}});
         std::vector<FieldError> errors;
         for (const auto& [field, value] : body.items()) {
           if (field != "source" && field != "event" && field != "member" && field != "member_id" &&
               field != "channel")
             errors.push_back({field, "is not a known field"});
         }
         if (!body.contains("event")) errors.push_back({"event", "is required"});
         if (body.contains("member") && body.contains("member_id"))
           errors.push_back({"member", "give either member or member_id"});
         if (!errors.empty()) throw_validation(std::move(errors));
         std::shared_ptr<const rules::CompiledProgram> program;
         std::set<std::string> paused;
         long long version = 0;
         if (body.contains("source")) {
           if (!body["source"].is_string())
             throw_validation({{"source", "must be the program text"}});
           auto compiled = rules::compile({"draft.rules", body["source"].get<std::string>()});
           if (!compiled.program)
             co_return program_invalid(request, compiled.diagnostics,
                                       "the draft program has errors");
           program = compiled.program;
         } else {
           const auto active = store.for_request();
           if (!active || !active->program)
             throw ApiError(http::status::conflict, "no_program",
                            "no program is active; send a draft as source");
           program = active->program;
           paused = active->paused;
           version = active->version;
         }
         const auto now = s.clock.now();
         const std::string channel = body.value("channel", std::string("store"));
         engine::event::Request req;
         req.event_id = "ev_simulated";
         req.api_key_id = request.caller().key_id;
         req.now = now;
         req.program_version = version;
         req.event = parse_event_json(body["event"], program->currency_digits(),
                                      program->currency(), now, channel);
         if (body["event"].is_object() && body["event"].contains("total"))
           req.total_minor = req.event.total.mantissa;
         for (auto& code : req.event.coupons) code = engine::coupons::normalise_code(code);
         req.paused = std::move(paused);
         req.with_trace = true;
         req.redeem_coupons = false;
         req.new_id = [](std::string_view prefix) { return std::string(prefix) + "_simulated"; };
         std::optional<std::string> member_id;
         engine::event::Inputs inputs;
         if (body.contains("member_id")) {
           if (!body["member_id"].is_string())
             throw_validation({{"member_id", "must be a member id"}});
           member_id = body["member_id"].get<std::string>();
         } else if (body.contains("member")) {
           inputs.member = inline_member(body["member"], *program, now);
         } else {
           inputs.member.member.id = "mem_simulated";
           inputs.member.member.joined = now;
         }
         // The stored member as an event would read it, and limits and budgets as they stand:
         // the counters of the rules that would fire, read without locks (a new or inline
         // member has used no per-member limit yet).
         auto decision = co_await s.db.run([&, program](soci::session& sql) {
           std::map<std::string, std::optional<std::int64_t>> primed;  // read with the member
           if (member_id) {
             const auto read =
                 db::event::member_read(*program, member_id, std::nullopt, now, std::nullopt,
                                        /*lock=*/false);
             const auto found = db::events::member_state(
                 sql, read, db::fetch(sql, *read.read.query, read.read.params));
             if (!found)
               throw ApiError(http::status::not_found, "unknown_member", "no member " + *member_id);
             if (found->member.merged_into)
               throw ApiError(http::status::gone, "member_merged",
                              "member " + *member_id + " was merged", {},
                              {{"merged_into", *found->member.merged_into}});
             inputs.member = db::event::domain_state(*found);
             if (found->counters) primed = *found->counters;
           }
           // What the basket's codes would take off (event.total is what would be paid).
           if (req.event.type == "purchase" && !req.event.coupons.empty())
             inputs.coupons = db::event::basket_as_it_stands(sql, req.event.coupons,
                                                             inputs.member.member.id, now);
           db::event::ReadCounters counters(sql, primed);
           return engine::event::decide(*program, req, inputs, counters);
         });
         if (auto* refusal = std::get_if<engine::event::Refusal>(&decision))
           throw_refusal(*refusal);
         const auto& plan = std::get<engine::event::Plan>(decision);
         json trace = json::array();
         for (const auto& t : plan.trace) {
           trace.push_back({{"campaign", t.campaign},
                            {"rule", t.rule},
                            {"fired", t.fired},
                            {"reason", t.reason},
                            {"detail", t.detail}});
         }
         co_return json_response(
             http::status::ok,
             {{"effects", plan.effects},
              {"points",
               {{"available", plan.balances.available}, {"pending", plan.balances.pending}}},
              {"tier", plan.tier ? json(*plan.tier) : json(nullptr)},
              {"trace", trace}});
       }});
}

}  // namespace circolo::api
