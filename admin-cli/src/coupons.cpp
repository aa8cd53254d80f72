// coupons generate|show: the codes of the program's coupon templates.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.hpp"

namespace circolo::cli {
namespace {

// Codes go to stdout one a line (or to --out), the summary to stderr, so that
// `circolo coupons generate COFFEE --count 5000 > codes.txt` gives a clean file. Large runs go in
// batches of 100,000 (each stored in one transaction), with a progress bar on a terminal.
int coupons_generate(const Online& o, const std::string& coupon, long long count,
                     const std::string& member, const std::string& prefix,
                     const std::string& out_file) {
  constexpr long long kBatch = 100'000;
  std::ofstream file;
  if (!out_file.empty() && !o.json_output) {
    file.open(out_file);
    if (!file) {
      std::cerr << "error: cannot write " << out_file << "\n";
      return 2;
    }
  }
  std::ostream& out = out_file.empty() ? std::cout : file;
  const bool bar = ::isatty(2) && count > kBatch && !o.json_output;
  const std::string run =
      "gen-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  json all{
      {"coupon", coupon}, {"count", 0}, {"generations", json::array()}, {"codes", json::array()}};
  long long done = 0;
  std::string expires_at;
  for (int batch = 0; done < count; ++batch) {
    json body{{"count", std::min(kBatch, count - done)}};
    if (!member.empty()) body["member"] = member;
    if (!prefix.empty()) body["prefix"] = prefix;
    int code = 0;
    auto result = call(o, "POST", "/v1/admin/coupons/" + percent_encode(coupon) + "/codes", body,
                       code, run + "-" + std::to_string(batch));
    if (!result) {
      if (done > 0)
        std::cerr << (bar ? "\n" : "") << done << " of " << count
                  << " codes were stored and written before this failure\n";
      return code;
    }
    for (const auto& c : (*result)["codes"]) {
      if (o.json_output)
        all["codes"].push_back(c);
      else
        out << c.get<std::string>() << "\n";
    }
    done += (*result)["count"].get<long long>();
    expires_at = (*result)["expires_at"].get<std::string>();
    all["generations"].push_back((*result)["generation_id"]);
    all["count"] = done;
    all["expires_at"] = expires_at;
    if (bar) {
      const int width = 40, filled = static_cast<int>(width * done / count);
      std::cerr << "\r[" << std::string(static_cast<std::size_t>(filled), '#')
                << std::string(static_cast<std::size_t>(width - filled), '.') << "] " << done << "/"
                << count << std::flush;
    }
  }
  if (bar) std::cerr << "\n";
  if (o.json_output) {
    std::cout << all.dump(2) << "\n";
    return 0;
  }
  out.flush();
  std::cerr << done << " codes of " << coupon << ", expiring " << expires_at << " (generation"
            << (all["generations"].size() > 1 ? "s " : " ")
            << all["generations"][0].get<std::string>()
            << (all["generations"].size() > 1 ? "..." : "") << ")"
            << (out_file.empty() ? "" : ", written to " + out_file) << "\n";
  return 0;
}

int coupons_show(const Online& o, const std::string& coupon_code) {
  int code = 0;
  auto result =
      call(o, "GET", "/v1/admin/coupons/codes/" + percent_encode(coupon_code), nullptr, code);
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  const auto& r = *result;
  const auto& t = r["terms"];
  std::cout << r["code"].get<std::string>() << "  (" << r["coupon"].get<std::string>() << ": "
            << r["name"].get<std::string>() << ")\n  discount: "
            << (t.contains("discount") ? t["discount"].get<std::string>()
                                       : t["discount_percent"].get<std::string>() + "%")
            << (t.contains("max_discount") ? ", at most " + t["max_discount"].get<std::string>()
                                           : "")
            << (t.contains("min_total") ? ", from a total of " + t["min_total"].get<std::string>()
                                        : "")
            << "\n  channels: ";
  if (t["channels"].empty()) std::cout << "all";
  for (std::size_t i = 0; i < t["channels"].size(); ++i)
    std::cout << (i ? ", " : "") << t["channels"][i].get<std::string>();
  std::cout << "\n  member: "
            << (r["member_id"].is_null() ? "unassigned" : r["member_id"].get<std::string>())
            << "\n  issued: " << r["issued_at"].get<std::string>() << " ("
            << r["source"].get<std::string>()
            << ")\n  expires: " << r["expires_at"].get<std::string>()
            << (r["expired"].get<bool>() ? " (expired)" : "") << "\n  uses: " << r["uses"] << " of "
            << r["uses_allowed"] << "\n";
  for (const auto& h : r["reservations"]) {
    std::cout << "  reserved by " << h["member_id"].get<std::string>() << " until "
              << h["expires_at"].get<std::string>() << "\n";
  }
  for (const auto& x : r["redemptions"]) {
    std::cout << "  redeemed " << x["redeemed_at"].get<std::string>() << " by "
              << x["member_id"].get<std::string>() << " on " << x["channel"].get<std::string>()
              << ", discount " << x["discount"].get<std::string>() << " of "
              << x["total"].get<std::string>()
              << (x["order_id"].is_null() ? "" : ", order " + x["order_id"].get<std::string>())
              << (x["rolled_back_at"].is_null()
                      ? ""
                      : " (rolled back " + x["rolled_back_at"].get<std::string>() + ")")
              << "  [" << x["redemption_id"].get<std::string>() << "]\n";
  }
  return 0;
}

}  // namespace

void register_coupons(CLI::App& app, Context& ctx) {
  struct State {
    std::string coupon_template, coupon_member, coupon_prefix, coupon_out, coupon_code;
    long long coupon_count = 0;
  };
  auto s = std::make_shared<State>();
  auto* coupons_cmd = app.add_subcommand("coupons", "coupon codes");
  coupons_cmd->require_subcommand(1);
  auto* coupons_generate_cmd = coupons_cmd->add_subcommand(
      "generate",
      "codes of a coupon template, unassigned (flyers) or for a member\n"
      "  example: circolo coupons generate COFFEE --count 5000 --prefix XMAS > codes.txt");
  coupons_generate_cmd->add_option("coupon", s->coupon_template, "the coupon template's id")
      ->required();
  coupons_generate_cmd->add_option("--count", s->coupon_count, "how many (at most 1000000)")
      ->required()
      ->check(CLI::Range(1LL, 1'000'000LL));
  coupons_generate_cmd->add_option("--member", s->coupon_member, "issue them to this member");
  coupons_generate_cmd->add_option("--prefix", s->coupon_prefix,
                                   "code prefix (default: the template's id)");
  coupons_generate_cmd->add_option("--out", s->coupon_out, "write the codes to this file");
  ctx.add_online(coupons_generate_cmd, [s](const Online& o) {
    return coupons_generate(o, s->coupon_template, s->coupon_count, s->coupon_member,
                            s->coupon_prefix, s->coupon_out);
  });
  auto* coupons_show_cmd =
      coupons_cmd->add_subcommand("show",
                                  "a code: terms, owner, uses, reservations, redemptions\n"
                                  "  example: circolo coupons show COFFEE-7XK2P9QHMR4");
  coupons_show_cmd->add_option("code", s->coupon_code, "the code (any case)")->required();
  ctx.add_online(coupons_show_cmd,
                 [s](const Online& o) { return coupons_show(o, s->coupon_code); });
}

}  // namespace circolo::cli
