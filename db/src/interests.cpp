#include "circolo/db/interests.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

#include "circolo/db/time.hpp"

namespace circolo::db::interests {

namespace {

using nlohmann::json;

// Six decimals: scores under 1e-4 are pruned, so each keeps at least three significant digits,
// and a score is 8 characters rather than 11 (every event rewrites the profile with the member).
json scores(const std::map<std::string, double>& m) {
  json out = json::object();
  for (const auto& [k, v] : m) out[k] = std::round(v * 1e6) / 1e6;
  return out;
}

void read_scores(const json& in, const char* name, std::map<std::string, double>& out) {
  if (!in.contains(name) || !in[name].is_object()) return;
  for (const auto& [k, v] : in[name].items())
    if (v.is_number()) out[k] = v.get<double>();
}

}  // namespace

std::string to_text(const engine::interests::Profile& p) {
  json spend = json::object();
  for (const auto& [day, minor] : p.spend) spend[std::to_string(day)] = minor;
  return json{
      {"as_of", to_micros(p.as_of)},
      {"categories", scores(p.categories)},
      {"brands", scores(p.brands)},
      {"products", scores(p.products)},
      {"channels", scores(p.channels)},
      {"stores", scores(p.stores)},
      {"last_purchase", p.last_purchase ? json(to_micros(*p.last_purchase)) : json(nullptr)},
      {"spend", spend}}
      .dump();
}

engine::interests::Profile from_text(const std::optional<std::string>& stored) {
  engine::interests::Profile p;
  if (!stored) return p;
  const auto in = json::parse(*stored, nullptr, false);
  if (!in.is_object()) return p;
  if (in.contains("as_of") && in["as_of"].is_number_integer())
    p.as_of = from_micros(in["as_of"].get<long long>());
  read_scores(in, "categories", p.categories);
  read_scores(in, "brands", p.brands);
  read_scores(in, "products", p.products);
  read_scores(in, "channels", p.channels);
  read_scores(in, "stores", p.stores);
  if (in.contains("last_purchase") && in["last_purchase"].is_number_integer())
    p.last_purchase = from_micros(in["last_purchase"].get<long long>());
  if (in.contains("spend") && in["spend"].is_object()) {
    for (const auto& [day, minor] : in["spend"].items()) {
      if (!minor.is_number_integer()) continue;
      try {
        p.spend[std::stoll(day)] = minor.get<long long>();
      } catch (const std::exception&) {
      }
    }
  }
  return p;
}

}  // namespace circolo::db::interests
