// The next best offer: GET /v1/members/{id}/offers, and the background rebuild of the
// recommendation model it draws on.
#include "circolo/api/offers.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "circolo/api/app.hpp"
#include "circolo/api/audit.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/db/offers.hpp"
#include "circolo/engine/challenges.hpp"
#include "circolo/engine/consent.hpp"
#include "circolo/engine/money.hpp"
#include "circolo/engine/offers.hpp"
#include "coupon_requests.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;
namespace offers = engine::offers;

const Access kAnyone = Access::only({Role::admin, Role::touchpoint, Role::member});
constexpr std::size_t kMaxBasketCategories = 20, kMaxCategoryLength = 100;
// Members read per page while the model is rebuilt.
constexpr int kModelPage = 10000;

using coupon_requests::stock_counter;

// The categories a campaign's rule conditions reward: `category == "shoes"`, `category in
// ["shoes", "bags"]` (inside any(event.items, ...)) and `member.affinity("category", "shoes")`.
// What a person reading the campaign would say it is about; the program is not evaluated.
void categories_in(const rules::Expr& e, std::set<std::string>& out) {
  const auto is_category = [](const rules::Expr& x) {
    return (x.kind == rules::ExprKind::name || x.kind == rules::ExprKind::field) &&
           x.text == "category";
  };
  if (e.kind == rules::ExprKind::binary && e.args.size() == 2 &&
      (e.text == "==" || e.text == "in")) {
    for (int side = 0; side < 2; ++side) {
      if (!is_category(*e.args[side])) continue;
      const auto& other = *e.args[1 - side];
      if (other.kind == rules::ExprKind::string) out.insert(other.text);
      if (other.kind == rules::ExprKind::list)
        for (const auto& x : other.args)
          if (x->kind == rules::ExprKind::string) out.insert(x->text);
    }
  }
  if (e.kind == rules::ExprKind::call && e.text == "affinity") {
    for (std::size_t i = 0; i + 1 < e.args.size(); ++i)
      if (e.args[i]->kind == rules::ExprKind::string && e.args[i]->text == "category" &&
          e.args[i + 1]->kind == rules::ExprKind::string)
        out.insert(e.args[i + 1]->text);
  }
  for (const auto& a : e.args)
    if (a) categories_in(*a, out);
}

std::vector<offers::Campaign> campaigns_of(const ProgramStore::Active& active) {
  const auto& program = *active.program;
  std::vector<offers::Campaign> out;
  for (const auto& c : program.campaigns()) {
    offers::Campaign o{c.id, c.name, c.from, c.until, active.paused.contains(c.id), {}, {}, {}};
    for (const auto& decl : program.file().campaigns) {
      if (decl.id != c.id) continue;
      o.channels = decl.channels;
      o.audience = decl.audience;
      std::set<std::string> categories;
      for (const auto& rule : decl.rules)
        if (rule.when) categories_in(*rule.when, categories);
      o.categories.assign(categories.begin(), categories.end());
    }
    out.push_back(std::move(o));
  }
  return out;
}

// Progress toward each challenge's goal now, as GET /v1/members/{id}/challenges shows it.
std::vector<offers::Challenge> challenges_of(
    const rules::CompiledProgram& program,
    const std::map<std::string, db::gamification::ChallengeState>& states, engine::TimePoint now) {
  std::vector<offers::Challenge> out;
  for (const auto& c : program.challenges()) {
    const bool active = (!c.from || *c.from <= now) && (!c.until || now < *c.until);
    if (!active) continue;
    offers::Challenge o{c.id, c.name, 0, c.goal.target, c.scale, false};
    if (const auto it = states.find(c.id); it != states.end()) {
      o.done = it->second.completions > 0 && !c.repeatable;
      if (it->second.digest == c.digest) {
        const auto window =
            c.within ? std::optional(program.window_start(*c.within, now)) : std::nullopt;
        const auto unit = c.streak_unit;
        o.progress = engine::challenges::evaluate(c.goal, it->second.contributions, window, now,
                                                  [&program, unit](engine::TimePoint t) {
                                                    return program.period_index(unit, t);
                                                  })
                         .value;
      }
    }
    out.push_back(std::move(o));
  }
  return out;
}

// ?categories=shoes,socks: the basket's categories, as the till knows them (comma-separated,
// as every list in a query).
std::vector<std::string> basket_categories(const Request& request) {
  std::vector<std::string> out;
  const auto text = request.query("categories");
  if (!text) return out;
  std::string_view rest = *text;
  while (true) {
    const auto comma = rest.find(',');
    const auto one = rest.substr(0, comma);
    if (one.empty() || one.size() > kMaxCategoryLength || out.size() == kMaxBasketCategories)
      throw ApiError(http::status::bad_request, "invalid_query",
                     "categories must be 1 to 20 comma-separated names of 1 to 100 characters");
    if (std::find(out.begin(), out.end(), one) == out.end()) out.emplace_back(one);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

// ?total=84.50: the basket's total in the program's currency.
std::optional<std::int64_t> basket_total(const Request& request, int digits) {
  const auto text = request.query("total");
  if (!text) return std::nullopt;
  const auto parsed = engine::parse_money(*text, digits);
  if (!parsed.value || parsed.value->minor < 0)
    throw ApiError(http::status::bad_request, "invalid_query",
                   "total must be an amount such as 84.50, not negative");
  return parsed.value->minor;
}

struct Loaded {
  db::Member member;
  db::offers::MemberSide side;
};

}  // namespace

asio::awaitable<std::size_t> rebuild_recommendations(Services& s, RecommendationStore& store) {
  auto model = std::make_shared<engine::recommend::CoOccurrence>();
  std::string after;
  while (true) {
    // One page per database call, counted on the database thread that read it (an I/O thread
    // never spends the counting time); the model is only touched by this loop, one page at a
    // time. The connection goes back to the pool in between.
    const auto read = co_await s.db.run([&after, &model](soci::session& sql) {
      auto page = db::offers::member_categories(sql, after, kModelPage);
      for (auto& bought : page.members) model->add_member(std::move(bought));
      after = page.last_id;
      return page.members.size();
    });
    if (read < static_cast<std::size_t>(kModelPage)) break;
  }
  const auto members = model->members();
  store.set(std::move(model));
  co_return members;
}

void register_offer_routes(App& app, const ProgramStore& programs,
                           const RecommendationStore& models) {
  auto& s = app.services();
  // The POS at checkout and the member's app: what the member can act on now, with the reason.
  app.router().add(
      {http::verb::get, "/v1/members/{id}/offers", kAnyone,
       [&s, &programs, &models](Request& request) -> asio::awaitable<Response> {
         const std::string id = request.param("id");
         check_scope(request.caller(), id);
         const auto limit = parse_whole_query(request.query("limit"), "limit", 1, 20, 5);
         const auto active = programs.for_request();
         const auto program = active ? active->program : nullptr;
         const int digits = program ? program->currency_digits() : 2;
         offers::Input in;
         in.limit = static_cast<std::size_t>(limit);
         in.basket_categories = basket_categories(request);
         in.basket_total_minor = basket_total(request, digits);
         in.channel =
             request.caller().role == Role::touchpoint ? request.caller().channel : std::nullopt;
         in.now = s.clock.now();
         std::vector<std::string> challenge_ids, counters;
         if (program) {
           for (const auto& c : program->challenges()) challenge_ids.push_back(c.id);
           for (const auto& r : program->rewards())
             if (r.stock) counters.push_back(stock_counter(r.id));
         }
         const auto now = in.now;
         auto loaded = co_await s.db.run([&](soci::session& sql) {
           auto member = require_member(sql, id);
           auto side = db::offers::load(sql, id, challenge_ids, counters, now);
           audit_admin_read(sql, request, now, id, "offers");
           return Loaded{std::move(member), std::move(side)};
         });

         in.points_available = loaded.side.points.available;
         in.profiling = loaded.member.consents.granted(engine::consent::Purpose::profiling);
         in.segments = loaded.member.segments;
         if (in.profiling) in.interests = loaded.member.interests;
         const auto model = models.get();
         in.model = model.get();
         for (auto& c : loaded.side.coupons)
           in.coupons.push_back({c.code, c.coupon, c.name, c.digits, c.terms, c.expires_at});
         if (program) {
           for (const auto& r : program->rewards()) {
             offers::Reward o{r.id, r.name, r.cost, std::nullopt, {}};
             if (r.stock) {
               const auto it = loaded.side.counters.find(stock_counter(r.id));
               o.remaining = *r.stock - (it == loaded.side.counters.end() ? 0 : it->second);
             }
             if (const auto t = program->coupon_templates().find(r.coupon);
                 t != program->coupon_templates().end())
               o.channels = t->second.terms.channels;
             in.rewards.push_back(std::move(o));
           }
           in.challenges = challenges_of(*program, loaded.side.challenges, now);
           in.campaigns = campaigns_of(*active);
         }

         json items = json::array();
         for (const auto& o : offers::rank(in)) {
           items.push_back({{"kind", std::string(offers::name(o.kind))},
                            {"id", o.id},
                            {"title", o.title},
                            {"reason", o.reason},
                            {"score", std::round(o.score * 1e4) / 1e4}});
         }
         co_return json_response(http::status::ok,
                                 {{"member_id", loaded.member.id},
                                  {"profiling", in.profiling},
                                  {"channel", in.channel ? json(*in.channel) : json(nullptr)},
                                  {"items", items}});
       }});
}

}  // namespace circolo::api
