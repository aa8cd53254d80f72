// circolo: marketing's tool.
//   offline, through the rules library:  program check FILE..., program fmt FILE... [--check]
//   against a server (--url/CIRCOLO_URL, --key/CIRCOLO_KEY): program plan|apply|show|versions,
//   simulate, keys create|list|revoke
// Exit codes: 0 success; 1 the files have errors (or are not formatted), or the server refused
// (its problem+json explained); 2 bad usage or unreadable files; 3 the server cannot be reached
// or failed.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "circolo/rules/evaluate.hpp"
#include "circolo/rules/format.hpp"
#include "circolo/rules/parser.hpp"
#include "http.hpp"

namespace {

using namespace circolo::rules;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Reads a program file, or says why not (the caller exits with 2).
std::optional<Source> load(const std::string& path) {
  auto text = read_file(path);
  if (!text) {
    std::cerr << "circolo: cannot read " << path << "\n";
    return std::nullopt;
  }
  return Source{path, std::move(*text)};
}

// `name = "value"` lines (a TOML subset; # comments). A missing file is fine unless it was
// asked for; anything else wrong is reported with its line and nullopt (exit 2).
std::optional<std::map<std::string, std::string>> read_config(const std::string& path,
                                                              bool required) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  if (!in) {
    if (!required) return out;
    std::cerr << "circolo: cannot read the config file " << path << "\n";
    return std::nullopt;
  }
  static const std::regex line_re(
      R"re(^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"\\]*)"\s*(#.*)?$)re");
  static const std::regex blank_re(R"re(^\s*(#.*)?$)re");
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::smatch m;
    if (std::regex_match(line, m, line_re)) {
      if (m[1] != "url" && m[1] != "key") {
        std::cerr << path << ":" << number << ": unknown setting '" << m[1]
                  << "' (url and key are known)\n";
        return std::nullopt;
      }
      out[m[1]] = m[2];
    } else if (!std::regex_match(line, blank_re)) {
      std::cerr << path << ":" << number << ": expected name = \"value\"\n";
      return std::nullopt;
    }
  }
  return out;
}

bool use_color() {
  return isatty(STDERR_FILENO) && std::getenv("NO_COLOR") == nullptr;
}

int check(const std::vector<std::string>& files, bool json_output) {
  int status = 0;
  nlohmann::json report = nlohmann::json::array();
  const bool color = !json_output && use_color();
  for (const auto& path : files) {
    const auto loaded = load(path);
    if (!loaded) return 2;
    const Source& source = *loaded;
    const auto result = compile(source);
    std::size_t errors = 0, warnings = 0;
    nlohmann::json items = nlohmann::json::array();
    for (const auto& d : result.diagnostics) {
      (d.severity == Severity::error ? errors : warnings) += 1;
      items.push_back({{"line", d.range.begin.line},
                       {"column", d.range.begin.column},
                       {"severity", d.severity == Severity::error ? "error" : "warning"},
                       {"message", d.message},
                       {"suggestion", d.suggestion}});
    }
    if (json_output) {
      report.push_back({{"file", path}, {"ok", result.program != nullptr}, {"diagnostics", items}});
    } else {
      std::cerr << render_all(source, result.diagnostics, color);
      if (result.program) {
        std::cout << path << ": ok"
                  << (warnings ? " (" + std::to_string(warnings) + " warnings)" : "") << "\n";
      } else {
        std::cerr << path << ": " << errors << (errors == 1 ? " error" : " errors") << "\n";
      }
    }
    if (!result.program) status = 1;
  }
  if (json_output) std::cout << report.dump(2) << "\n";
  return status;
}

int fmt(const std::vector<std::string>& files, bool check_only) {
  int status = 0;
  for (const auto& path : files) {
    const auto loaded = load(path);
    if (!loaded) return 2;
    const Source& source = *loaded;
    const auto parsed = parse(source);
    if (!parsed.diagnostics.empty()) {
      // Only a file that parses can be formatted; say why not.
      std::cerr << render_all(source, parsed.diagnostics, use_color());
      status = 1;
      continue;
    }
    const auto result = format_keeping_comments(source, parsed.file);
    if (!result.dropped.empty()) {
      // Never lose a comment: say where they are and leave the file as it is.
      std::cerr << render_all(source, result.dropped, use_color());
      status = 1;
      continue;
    }
    const auto& formatted = result.text;
    if (formatted == source.text) continue;
    if (check_only) {
      std::cout << path << ": not formatted\n";
      status = 1;
      continue;
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << formatted;
    if (!out) {
      std::cerr << "circolo: cannot write " << path << "\n";
      return 2;
    }
    std::cout << path << ": formatted\n";
  }
  return status;
}

using nlohmann::json;

struct Online {
  std::string url = "http://127.0.0.1:8080";
  std::string key;
  bool json_output = false;
};

// Sends a request; on a refusal prints the server's explanation and returns nullopt with the
// exit code set.
std::optional<json> call(const Online& o, const std::string& method, const std::string& target,
                         const json& body, int& exit_code,
                         const std::string& idempotency_key = "") {
  try {
    circolo::cli::Client client(o.url, o.key);
    const auto answer =
        client.request(method, target, body.is_null() ? "" : body.dump(), idempotency_key);
    if (answer.status >= 500) {
      std::cerr << circolo::cli::describe_refusal(answer);
      exit_code = 3;
      return std::nullopt;
    }
    if (answer.status >= 400) {
      std::cerr << circolo::cli::describe_refusal(answer);
      exit_code = 1;
      return std::nullopt;
    }
    if (answer.body.empty()) return json::object();
    auto parsed = json::parse(answer.body, nullptr, false);
    if (parsed.is_discarded()) {
      std::cerr << "error: the server answered something that is not JSON\n";
      exit_code = 3;
      return std::nullopt;
    }
    return parsed;
  } catch (const circolo::cli::ConnectionError& e) {
    std::cerr << "error: " << e.what() << "\n";
    exit_code = 3;
    return std::nullopt;
  }
}

void print_plan(const json& plan) {
  const auto& changes = plan["changes"];
  if (changes.empty()) {
    std::cout << "No changes.\n";
    return;
  }
  for (const auto& c : changes) {
    const std::string kind = c["change"];
    const char* mark = kind == "created" ? "+" : kind == "removed" ? "-" : "~";
    std::cout << "  " << mark << " " << c["object"].get<std::string>()
              << (c["id"].get<std::string>().empty() ? ""
                                                     : " \"" + c["id"].get<std::string>() + "\"")
              << "  (" << kind << ")\n";
  }
  std::size_t created = 0, changed = 0, removed = 0;
  for (const auto& c : changes) {
    const std::string k = c["change"];
    (k == "created" ? created : k == "changed" ? changed : removed) += 1;
  }
  std::cout << created << " to create, " << changed << " to change, " << removed << " to remove.\n";
}

int program_online(const Online& o, const std::string& action, const std::string& file, bool yes) {
  int code = 0;
  if (action == "show") {
    auto active = call(o, "GET", "/v1/admin/program", nullptr, code);
    if (!active) return code;
    if (o.json_output)
      std::cout << active->dump(2) << "\n";
    else
      std::cout << "# version " << (*active)["version"] << ", applied "
                << (*active)["created_at"].get<std::string>() << " by "
                << (*active)["created_by"].get<std::string>() << "\n"
                << (*active)["source"].get<std::string>();
    return 0;
  }
  if (action == "versions") {
    auto list = call(o, "GET", "/v1/admin/program/versions?limit=200", nullptr, code);
    if (!list) return code;
    if (o.json_output) {
      std::cout << list->dump(2) << "\n";
      return 0;
    }
    std::printf("%-8s  %-27s  %s\n", "VERSION", "APPLIED AT", "BY");
    for (const auto& v : (*list)["items"]) {
      std::printf("%-8lld  %-27s  %s\n", v["version"].get<long long>(),
                  v["created_at"].get<std::string>().c_str(),
                  v["created_by"].get<std::string>().c_str());
    }
    return 0;
  }
  // rollback: the source of an earlier version, applied again as a new version.
  std::optional<Source> loaded;
  std::string earlier;
  const std::string* source = nullptr;
  if (action == "rollback") {
    auto version = call(o, "GET", "/v1/admin/program/versions/" + file, nullptr, code);
    if (!version) return code;
    earlier = (*version)["source"].get<std::string>();
    source = &earlier;
  } else {
    loaded = load(file);
    if (!loaded) return 2;
    source = &loaded->text;
  }
  auto plan = call(o, "POST", "/v1/admin/program", {{"source", *source}, {"dry_run", true}}, code);
  if (!plan) return code;
  if (o.json_output && (action == "plan" || (*plan)["changes"].empty())) {
    std::cout << plan->dump(2) << "\n";
    return 0;
  }
  if (!o.json_output) print_plan(*plan);  // --json prints only the applied version's answer
  if (action == "plan" || (*plan)["changes"].empty()) return 0;
  if (!yes) {
    if (!isatty(STDIN_FILENO)) {
      std::cerr << "circolo: not applied: confirm with --yes when not at a terminal\n";
      return 2;
    }
    std::cout << "Apply these changes? [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      std::cout << "Not applied.\n";
      return 0;
    }
  }
  auto applied = call(o, "POST", "/v1/admin/program", {{"source", *source}}, code);
  if (!applied) return code;
  if (o.json_output)
    std::cout << applied->dump(2) << "\n";
  else
    std::cout << "Applied as version " << (*applied)["version"] << ".\n";
  return 0;
}

int simulate(const Online& o, const std::string& file, bool active, const std::string& event_file,
             const std::string& member) {
  json body;
  if (!active) {
    const auto loaded = load(file);
    if (!loaded) return 2;
    const std::string* source = &loaded->text;
    body["source"] = *source;
  }
  const auto event_text = read_file(event_file);
  const auto event = event_text ? json::parse(*event_text, nullptr, false) : json();
  if (!event_text || event.is_discarded()) {
    std::cerr << "circolo: " << event_file << " is not a readable JSON event\n";
    return 2;
  }
  body["event"] = event;
  if (!member.empty()) {
    if (auto m = read_file(member)) {
      const auto parsed = json::parse(*m, nullptr, false);
      if (parsed.is_discarded()) {
        std::cerr << "circolo: " << member << " is not valid JSON\n";
        return 2;
      }
      body["member"] = parsed;
    } else {
      body["member_id"] = member;
    }
  }
  int code = 0;
  auto result = call(o, "POST", "/v1/admin/simulate", body, code);
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  std::cout << "Effects:\n";
  if ((*result)["effects"].empty()) std::cout << "  (none)\n";
  for (const auto& e : (*result)["effects"]) {
    std::string what = e["type"].get<std::string>();
    if (e.contains("points")) what += " " + std::to_string(e["points"].get<long long>());
    for (const char* k : {"coupon", "badge", "tag", "challenge", "message"}) {
      if (e.contains(k)) what += " " + e[k].dump();
    }
    std::cout << "  " << what << "  [" << e["campaign"].get<std::string>() << "/"
              << e["rule"].get<std::string>() << "]\n";
  }
  std::cout << "Trace:\n";
  for (const auto& t : (*result)["trace"]) {
    std::cout << "  " << (t["fired"].get<bool>() ? "fired   " : "skipped ")
              << t["campaign"].get<std::string>() << "/" << t["rule"].get<std::string>();
    if (!t["fired"].get<bool>())
      std::cout << ": " << t["reason"].get<std::string>() << " — "
                << t["detail"].get<std::string>();
    std::cout << "\n";
  }
  return 0;
}

int keys(const Online& o, const std::string& action, const std::string& role,
         const std::string& channel, const std::string& name, const std::string& id) {
  int code = 0;
  if (action == "create") {
    json body{{"role", role}, {"name", name}};
    if (!channel.empty()) body["channel"] = channel;
    auto key = call(o, "POST", "/v1/admin/keys", body, code);
    if (!key) return code;
    if (o.json_output)
      std::cout << key->dump(2) << "\n";
    else
      std::cout << "Created " << (*key)["id"].get<std::string>() << ". The key, shown once:\n  "
                << (*key)["key"].get<std::string>() << "\n";
    return 0;
  }
  if (action == "revoke") {
    if (!call(o, "DELETE", "/v1/admin/keys/" + id, nullptr, code)) return code;
    std::cout << "Revoked " << id << ".\n";
    return 0;
  }
  auto list = call(o, "GET", "/v1/admin/keys", nullptr, code);
  if (!list) return code;
  if (o.json_output) {
    std::cout << list->dump(2) << "\n";
    return 0;
  }
  std::printf("%-32s  %-10s  %-8s  %-8s  %s\n", "ID", "ROLE", "CHANNEL", "STATE", "NAME");
  for (const auto& k : (*list)["items"]) {
    std::printf("%-32s  %-10s  %-8s  %-8s  %s\n", k["id"].get<std::string>().c_str(),
                k["role"].get<std::string>().c_str(),
                k["channel"].is_null() ? "-" : k["channel"].get<std::string>().c_str(),
                k["revoked_at"].is_null() ? "active" : "revoked",
                k["name"].get<std::string>().c_str());
  }
  return 0;
}

int campaign(const Online& o, const std::string& action, const std::string& id) {
  int code = 0;
  auto result = call(o, "POST", "/v1/admin/campaigns/" + id + "/" + action, json::object(), code);
  if (!result) return code;
  if (o.json_output)
    std::cout << result->dump(2) << "\n";
  else
    std::cout << "Campaign " << id << (action == "pause" ? " paused" : " resumed") << ".\n";
  return 0;
}

std::string percent_encode(const std::string& v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// A progress or goal value: a count (number) or an amount (decimal string).
std::string text_of(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

int members(const Online& o, const std::string& action, const std::string& id,
            const std::string& by_type, const std::string& by_value, long long points,
            const std::string& reason, const std::string& from) {
  int code = 0;
  std::optional<json> result;
  const std::string member = "/v1/members/" + percent_encode(id);
  if (action == "find") {
    result =
        call(o, "GET", "/v1/members/lookup?type=" + by_type + "&value=" + percent_encode(by_value),
             nullptr, code);
  } else if (action == "show") {
    result = call(o, "GET", member, nullptr, code);
    if (result) {
      auto wallet = call(o, "GET", member + "/wallet", nullptr, code);
      if (!wallet) return code;
      (*result)["wallet"] = *wallet;
    }
  } else if (action == "history") {
    result = call(o, "GET", member + "/timeline?limit=50", nullptr, code);
  } else if (action == "adjust") {
    result =
        call(o, "POST", member + "/points/adjust", {{"points", points}, {"reason", reason}}, code);
  } else {
    result = call(o, "POST", member + "/merge", {{"from", from}}, code);
  }
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  const auto& r = *result;
  if (action == "history") {
    for (const auto& e : r["items"]) {
      std::cout << e["occurred_at"].get<std::string>() << "  " << e["type"].get<std::string>()
                << "  " << (e["channel"].is_null() ? "-" : e["channel"].get<std::string>()) << "  "
                << e["data"].dump() << "\n";
    }
  } else if (action == "adjust") {
    std::cout << "Adjusted by " << r["points"] << "; balance " << r["balance_after"] << ".\n";
  } else {
    // A nameless member's line is its id alone, with no trailing blanks.
    std::cout << r["id"].get<std::string>()
              << (r["profile"]["name"].is_null() ? ""
                                                 : "  " + r["profile"]["name"].get<std::string>())
              << "\n  tier: " << (r["tier"].is_null() ? "-" : r["tier"].get<std::string>())
              << "\n  points: " << r["points"]["available"] << " available, "
              << r["points"]["pending"] << " pending\n";
    for (const auto& i : r["identifiers"]) {
      std::cout << "  " << i["type"].get<std::string>() << ": " << i["value"].get<std::string>()
                << "\n";
    }
    if (r.contains("wallet")) {
      for (const auto& e : r["wallet"]["points"]["expiring"]) {
        std::cout << "  expiring: " << e["points"] << " at " << e["at"].get<std::string>() << "\n";
      }
      for (const auto& c : r["wallet"].value("coupons", json::array())) {
        std::cout << "  coupon: " << c["code"].get<std::string>() << "  "
                  << c["name"].get<std::string>() << "  until "
                  << c["expires_at"].get<std::string>() << "  " << c["uses_left"]
                  << " use(s) left\n";
      }
      const auto& tier = r["wallet"]["tier"];
      if (tier.is_object() && tier["progress"].is_object()) {
        std::cout << "  next tier: " << tier["progress"]["next_tier"].get<std::string>() << " ("
                  << tier["progress"]["points"] << " qualifying points, "
                  << tier["progress"]["needed"] << " more needed)\n";
      }
      for (const auto& c : r["wallet"].value("challenges", json::array())) {
        std::cout << "  challenge: " << c["id"].get<std::string>() << "  "
                  << c["name"].get<std::string>() << "  " << text_of(c["progress"]) << "/"
                  << text_of(c["goal"]);
        if (c.value("completed", false))
          std::cout << "  completed"
                    << (c.value("completions", 0) > 1
                            ? " " + std::to_string(c.value("completions", 0)) + " times"
                            : std::string());
        std::cout << "\n";
      }
      for (const auto& b : r["wallet"].value("badges", json::array())) {
        std::cout << "  badge: " << b["badge"].get<std::string>() << "  since "
                  << b["granted_at"].get<std::string>() << "\n";
      }
    }
  }
  return 0;
}

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

int webhooks(const Online& o, const std::string& action, const std::string& id,
             const std::string& url, const std::string& events, const std::string& secret,
             const std::string& status, const std::string& seq) {
  int code = 0;
  std::optional<json> result;
  if (action == "add") {
    json types = json::array();
    std::stringstream list(events);
    for (std::string t; std::getline(list, t, ',');)
      if (!t.empty()) types.push_back(t);
    result = call(o, "POST", "/v1/admin/webhooks",
                  {{"url", url}, {"events", types}, {"secret", secret}}, code);
  } else if (action == "list") {
    result = call(o, "GET", "/v1/admin/webhooks", nullptr, code);
  } else if (action == "deliveries") {
    result = call(o, "GET",
                  "/v1/admin/webhooks/" + percent_encode(id) + "/deliveries" +
                      (status.empty() ? "" : "?status=" + percent_encode(status)),
                  nullptr, code);
  } else {
    result = call(o, "POST",
                  "/v1/admin/webhooks/" + percent_encode(id) + "/deliveries/" +
                      percent_encode(seq) + "/redrive",
                  json::object(), code);
  }
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  const auto& r = *result;
  if (action == "add") {
    std::cout << "Webhook " << r["id"].get<std::string>() << " delivers " << r["events"].dump()
              << " to " << r["url"].get<std::string>() << " from now on.\n";
  } else if (action == "list") {
    std::printf("%-30s  %-8s  %6s  %s\n", "ID", "STATE", "LAG", "URL  EVENTS");
    for (const auto& w : r["items"]) {
      std::printf("%-30s  %-8s  %6lld  ", w["id"].get<std::string>().c_str(),
                  w["disabled_at"].is_null() ? "active" : "disabled", w["lag"].get<long long>());
      std::cout << w["url"].get<std::string>() << "  " << w["events"].dump()
                << (w["failures"].get<int>() > 0
                        ? "  failing (" + std::to_string(w["failures"].get<int>()) + " attempts)"
                        : "")
                << "\n";
    }
  } else if (action == "deliveries") {
    std::printf("%8s  %-20s  %-9s  %8s  %s\n", "SEQ", "TYPE", "STATUS", "ATTEMPTS", "LAST ANSWER");
    for (const auto& d : r["items"]) {
      std::printf("%8lld  %-20s  %-9s  %8d", d["seq"].get<long long>(),
                  d["event_type"].get<std::string>().c_str(),
                  d["status"].get<std::string>().c_str(), d["attempts"].get<int>());
      std::cout << (d["last_status_code"].is_null()
                        ? ""
                        : "  HTTP " + std::to_string(d["last_status_code"].get<int>()))
                << (d["last_error"].is_null() ? "" : "  " + d["last_error"].get<std::string>())
                << "\n";
    }
  } else {
    std::cout << "Event " << seq << " will be delivered again to " << id << ".\n";
  }
  return 0;
}

void print_event(const json& e, bool json_output) {
  if (json_output) {
    std::cout << e.dump() << "\n";
  } else {
    std::printf("%8lld  %-27s  %-20s  %-30s  %s\n", e["seq"].get<long long>(),
                e["at"].get<std::string>().c_str(), e["type"].get<std::string>().c_str(),
                e["member_id"].is_null() ? "-" : e["member_id"].get<std::string>().c_str(),
                e["data"].dump().c_str());
  }
  std::cout.flush();
}

// Recent outgoing events (the feed), and with --follow the new ones live over the WebSocket.
int events_tail(const Online& o, const std::string& member, const std::string& types,
                std::optional<long long> after, bool follow) {
  int code = 0;
  std::string filter;
  if (!member.empty()) filter += "&member=" + percent_encode(member);
  if (!types.empty()) filter += "&types=" + percent_encode(types);
  if (!after) {
    auto latest = call(o, "GET", "/v1/feed?limit=1&after=999999999999999", nullptr, code);
    if (!latest) return code;
    after = std::max(0LL, (*latest)["last_seq"].get<long long>() - 20);
  }
  for (;;) {
    auto page = call(o, "GET", "/v1/feed?limit=200&after=" + std::to_string(*after) + filter,
                     nullptr, code);
    if (!page) return code;
    for (const auto& e : (*page)["items"]) print_event(e, o.json_output);
    after = (*page)["next_after"].get<long long>();
    if ((*page)["items"].size() < 200) break;
  }
  if (!follow) return 0;
  try {
    circolo::cli::Client client(o.url, o.key);
    circolo::cli::HttpAnswer refusal;
    const bool streamed = client.stream(
        "/v1/stream?after=" + std::to_string(*after) + filter,
        [&](const std::string& message) {
          const auto e = json::parse(message, nullptr, false);
          if (!e.is_discarded()) print_event(e, o.json_output);
        },
        refusal);
    if (!streamed) {
      std::cerr << circolo::cli::describe_refusal(refusal);
      return refusal.status >= 500 ? 3 : 1;
    }
    std::cerr << "the server closed the event stream\n";
    return 3;
  } catch (const circolo::cli::ConnectionError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 3;
  }
}

// POST /v1/admin/tiers/review: lower the tiers members no longer reach (all, or one).
int tiers_review(const Online& o, const std::string& member) {
  int code = 0;
  auto r =
      call(o, "POST",
           "/v1/admin/tiers/review" + (member.empty() ? "" : "?member=" + percent_encode(member)),
           json::object(), code);
  if (!r) return code;
  if (o.json_output) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  std::cout << "Reviewed " << (*r)["members"] << " member(s) above the entry tier; "
            << (*r)["lowered"] << " moved down to the tier their qualifying points reach.\n";
  return 0;
}

// GET /v1/leaderboards/points as a table, with a member's own rank if asked.
int leaderboard(const Online& o, const std::string& period, int limit, const std::string& member) {
  int code = 0;
  std::string target = "/v1/leaderboards/points?period=" + percent_encode(period) +
                       "&limit=" + std::to_string(limit);
  if (!member.empty()) target += "&member=" + percent_encode(member);
  auto r = call(o, "GET", target, nullptr, code);
  if (!r) return code;
  if (o.json_output) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  const auto& b = *r;
  std::cout << "Points earned, " << period;
  if (b["from"].is_string())
    std::cout << " (" << b["from"].get<std::string>() << " to " << b["until"].get<std::string>()
              << ")";
  std::cout << "\n";
  std::printf("%5s  %-30s  %-24s  %10s\n", "RANK", "MEMBER", "NAME", "POINTS");
  for (const auto& e : b["entries"]) {
    std::printf("%5lld  %-30s  %-24s  %10lld\n", e["rank"].get<long long>(),
                e["member_id"].get<std::string>().c_str(),
                e["name"].is_string() ? e["name"].get<std::string>().c_str() : "-",
                e["points"].get<long long>());
  }
  if (b["member"].is_object()) {
    std::cout << b["member"]["member_id"].get<std::string>() << " is number " << b["member"]["rank"]
              << " with " << b["member"]["points"] << " points.\n";
  }
  return 0;
}

int report_liability(const Online& o) {
  int code = 0;
  auto report = call(o, "GET", "/v1/admin/reports/liability", nullptr, code);
  if (!report) return code;
  if (o.json_output) {
    std::cout << report->dump(2) << "\n";
    return 0;
  }
  const auto& r = *report;
  std::cout << "Outstanding points as of " << r["as_of"].get<std::string>() << "\n";
  std::printf("%-16s  %10s  %12s  %12s  %12s\n", "TIER", "MEMBERS", "AVAILABLE", "PENDING",
              "OUTSTANDING");
  auto line = [](const std::string& name, const json& row) {
    std::printf("%-16s  %10lld  %12lld  %12lld  %12lld\n", name.c_str(),
                row["members"].get<long long>(), row["available"].get<long long>(),
                row["pending"].get<long long>(), row["outstanding"].get<long long>());
  };
  for (const auto& row : r["by_tier"])
    line(row["tier"].is_null() ? "(no tier)" : row["tier"].get<std::string>(), row);
  line("total", r["total"]);
  return 0;
}

// A bash completion script made from the command tree itself, so it never falls behind.
void collect(CLI::App* app, const std::string& path, const std::string& global,
             std::vector<std::pair<std::string, std::string>>& words,
             std::vector<std::pair<std::string, std::string>>& subs) {
  std::string all, names;
  std::vector<CLI::App*> scopes{app};
  for (auto* sub : app->get_subcommands({})) {
    if (sub->get_name().empty()) {  // an option group: its options belong to this command
      scopes.push_back(sub);
      continue;
    }
    names += (names.empty() ? "" : " ") + sub->get_name();
    collect(sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), global, words,
            subs);
  }
  all = names;
  // The command's own options, then the global ones (they work after the command too).
  std::set<std::string> seen;
  for (auto* scope : scopes) {
    for (const auto* opt : scope->get_options()) {
      for (const auto& l : opt->get_lnames()) {
        if (seen.insert(l).second) all += (all.empty() ? "--" : " --") + l;
      }
    }
  }
  if (!path.empty()) {
    std::istringstream names_in(global);
    for (std::string g; names_in >> g;) {
      if (seen.insert(g.substr(2)).second) all += " " + g;
    }
  }
  words.emplace_back(path, all);
  subs.emplace_back(path, names);
}

std::string bash_completion(CLI::App& app) {
  std::vector<std::pair<std::string, std::string>> words, subs;
  std::string global;
  for (const auto* opt : app.get_options()) {
    for (const auto& l : opt->get_lnames()) {
      if (l != "help" && l != "version") global += " --" + l;
    }
  }
  collect(&app, "", global, words, subs);
  auto cases = [](const std::vector<std::pair<std::string, std::string>>& table) {
    std::string out;
    for (const auto& [path, list] : table)
      out += "    \"" + path + "\") echo \"" + list + "\" ;;\n";
    return out;
  };
  return "# bash completion for circolo: eval \"$(circolo completion bash)\"\n"
         "_circolo_subs() {\n  case \"$1\" in\n" +
         cases(subs) +
         "  esac\n}\n"
         "_circolo_words() {\n  case \"$1\" in\n" +
         cases(words) +
         "  esac\n}\n"
         "_circolo() {\n"
         "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" path=\"\" w i\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    w=\"${COMP_WORDS[i]}\"\n"
         "    case \" $(_circolo_subs \"$path\") \" in *\" $w \"*) path=\"${path:+$path }$w\" ;; "
         "esac\n"
         "  done\n"
         "  COMPREPLY=($(compgen -W \"$(_circolo_words \"$path\")\" -- \"$cur\"))\n"
         "  if [ ${#COMPREPLY[@]} -eq 0 ]; then\n"
         "    compopt -o filenames 2>/dev/null\n"
         "    mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
         "  fi\n"
         "}\n"
         "complete -F _circolo circolo\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"circolo: configure and run a Circolo loyalty program"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "circolo 0.1.0");
  app.fallthrough();  // --url, --key, --json also after the command
  auto* program =
      app.add_subcommand("program", "check, format and (with a server) apply program files");
  program->require_subcommand(1);

  std::vector<std::string> check_files;
  auto* check_cmd = program->add_subcommand(
      "check", "check program files offline\n  example: circolo program check loyalty.rules");
  check_cmd->add_option("files", check_files, "*.rules files")
      ->required()
      ->check(CLI::ExistingFile);

  std::vector<std::string> fmt_files;
  bool fmt_check = false;
  auto* fmt_cmd = program->add_subcommand("fmt",
                                          "rewrite program files in canonical form\n  example: "
                                          "circolo program fmt --check loyalty.rules");
  fmt_cmd->add_option("files", fmt_files, "*.rules files")->required()->check(CLI::ExistingFile);
  fmt_cmd->add_flag("--check", fmt_check, "only report files that are not formatted (exit 1)");

  // A config file for the server and key (TOML: url = "...", key = "..."): flags and
  // CIRCOLO_* variables win over it.
  std::string config_home;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    config_home = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home)
    config_home = std::string(home) + "/.config";
  std::string config_file;
  auto* config_opt = app.add_option("--config", config_file,
                                    "a file with url = \"...\" and key = \"...\" lines (default: "
                                    "$XDG_CONFIG_HOME/circolo/config.toml, if it exists)");
  Online online;
  auto* url_opt = app.add_option("--url", online.url, "the server, as http://host:port")
                      ->envname("CIRCOLO_URL")
                      ->capture_default_str();
  auto* key_opt = app.add_option("--key", online.key, "an admin API key")->envname("CIRCOLO_KEY");
  app.add_flag("--json", online.json_output, "machine-readable output");

  std::string program_file;
  bool yes = false;
  auto* plan_cmd = program->add_subcommand(
      "plan", "what applying FILE would change\n  example: circolo program plan loyalty.rules");
  plan_cmd->add_option("file", program_file, "the program file")
      ->required()
      ->check(CLI::ExistingFile);
  auto* apply_cmd = program->add_subcommand(
      "apply",
      "show the plan and apply FILE\n  example: circolo program apply --yes loyalty.rules");
  apply_cmd->add_option("file", program_file, "the program file")
      ->required()
      ->check(CLI::ExistingFile);
  apply_cmd->add_flag("--yes", yes, "apply without asking");
  auto* show_cmd = program->add_subcommand(
      "show", "the active program's source\n  example: circolo program show");
  auto* versions_cmd =
      program->add_subcommand("versions", "applied versions\n  example: circolo program versions");
  std::string rollback_version;
  auto* rollback_cmd = program->add_subcommand(
      "rollback",
      "apply an earlier version's source again (as a new version), showing the plan first\n"
      "  example: circolo program rollback 3");
  rollback_cmd->add_option("version", rollback_version, "the version to go back to")
      ->required()
      ->check(CLI::PositiveNumber);
  rollback_cmd->add_flag("--yes", yes, "apply without asking");

  std::string sim_file, sim_event, sim_member;
  bool sim_active = false;
  auto* sim_cmd =
      app.add_subcommand("simulate",
                         "effects and trace of an event, writing nothing\n  example: circolo "
                         "simulate loyalty.rules --event purchase.json --member mem_123");
  sim_cmd->add_option("file", sim_file, "a draft program (or --active)");
  sim_cmd->add_flag("--active", sim_active, "use the active program");
  sim_cmd->add_option("--event", sim_event, "the event, a JSON file")->required();
  sim_cmd->add_option("--member", sim_member, "a member id, or a JSON file with member fields");

  std::string key_role, key_channel, key_name, key_id;
  auto* keys_cmd = app.add_subcommand("keys", "API keys");
  keys_cmd->require_subcommand(1);
  auto* key_create = keys_cmd->add_subcommand("create",
                                              "create a key\n  example: circolo keys create --role "
                                              "touchpoint --channel store --name \"POS Milano\"");
  key_create->add_option("--role", key_role, "admin or touchpoint")->required();
  key_create->add_option("--channel", key_channel, "store, app, web... (touchpoint keys)");
  key_create->add_option("--name", key_name, "who uses it")->required();
  auto* key_list = keys_cmd->add_subcommand("list", "list keys\n  example: circolo keys list");
  std::string campaign_id;
  auto* campaign_cmd =
      app.add_subcommand("campaign", "pause or resume a campaign of the active program");
  campaign_cmd->require_subcommand(1);
  auto* campaign_pause =
      campaign_cmd->add_subcommand("pause", "example: circolo campaign pause weekend-double");
  campaign_pause->add_option("id", campaign_id, "the campaign id")->required();
  auto* campaign_resume =
      campaign_cmd->add_subcommand("resume", "example: circolo campaign resume weekend-double");
  campaign_resume->add_option("id", campaign_id, "the campaign id")->required();

  std::string member_id, card, email, phone, reason, from;
  long long adjust_points = 0;
  auto* members_cmd = app.add_subcommand("members", "find and look after members");
  members_cmd->require_subcommand(1);
  auto* member_find = members_cmd->add_subcommand(
      "find", "by an identifier\n  example: circolo members find --card 4000123412341234");
  auto* by = member_find->add_option_group("identifier");
  by->add_option("--card", card, "loyalty card");
  by->add_option("--email", email, "email");
  by->add_option("--phone", phone, "phone");
  by->require_option(1);
  auto* member_show = members_cmd->add_subcommand(
      "show", "profile and wallet\n  example: circolo members show mem_...");
  member_show->add_option("id", member_id, "the member id")->required();
  auto* member_history = members_cmd->add_subcommand(
      "history", "the member's journey\n  example: circolo members history mem_...");
  member_history->add_option("id", member_id, "the member id")->required();
  auto* member_adjust =
      members_cmd->add_subcommand("adjust",
                                  "add or remove points\n  example: circolo members adjust mem_... "
                                  "-50 --reason \"duplicate receipt\"");
  member_adjust->add_option("id", member_id, "the member id")->required();
  member_adjust->add_option("points", adjust_points, "points, + or -")->required();
  member_adjust->add_option("--reason", reason, "why (kept in the ledger)")->required();
  auto* member_merge = members_cmd->add_subcommand(
      "merge",
      "merge a duplicate into a member\n  example: circolo members merge mem_keep mem_duplicate");
  member_merge->add_option("into", member_id, "the member that stays")->required();
  member_merge->add_option("from", from, "the duplicate")->required();

  auto* key_revoke =
      keys_cmd->add_subcommand("revoke", "revoke a key\n  example: circolo keys revoke key_abc");
  key_revoke->add_option("id", key_id, "the key's id")->required();

  auto* report_cmd = app.add_subcommand("report", "reports for finance and operations");
  report_cmd->require_subcommand(1);
  auto* liability_cmd =
      report_cmd->add_subcommand("liability",
                                 "outstanding points (available and pending) in total and by tier\n"
                                 "  example: circolo report liability");

  std::string review_member;
  auto* tiers_cmd = app.add_subcommand("tiers", "member tiers");
  tiers_cmd->require_subcommand(1);
  auto* tiers_review_cmd = tiers_cmd->add_subcommand(
      "review",
      "move members whose qualifying points fell below their tier down now (events only raise\n"
      "tiers; the server also reviews once a day)\n"
      "  example: circolo tiers review --member mem_abc");
  tiers_review_cmd->add_option("--member", review_member, "review this member only");

  std::string board_period = "month", board_member;
  int board_limit = 10;
  auto* leaderboard_cmd = app.add_subcommand(
      "leaderboard",
      "points earned in the current day, week, month or year, ranked (ties share a rank)\n"
      "  example: circolo leaderboard --period week --limit 20 --member mem_abc");
  leaderboard_cmd->add_option("--period", board_period, "day, week, month, year or all")
      ->check(CLI::IsMember({"day", "week", "month", "year", "all"}))
      ->capture_default_str();
  leaderboard_cmd->add_option("--limit", board_limit, "how many entries")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  leaderboard_cmd->add_option("--member", board_member, "also show this member's rank");

  std::string coupon_template, coupon_member, coupon_prefix, coupon_out, coupon_code;
  long long coupon_count = 0;
  auto* coupons_cmd = app.add_subcommand("coupons", "coupon codes");
  coupons_cmd->require_subcommand(1);
  auto* coupons_generate_cmd = coupons_cmd->add_subcommand(
      "generate",
      "codes of a coupon template, unassigned (flyers) or for a member\n"
      "  example: circolo coupons generate COFFEE --count 5000 --prefix XMAS > codes.txt");
  coupons_generate_cmd->add_option("coupon", coupon_template, "the coupon template's id")
      ->required();
  coupons_generate_cmd->add_option("--count", coupon_count, "how many (at most 1000000)")
      ->required()
      ->check(CLI::Range(1LL, 1'000'000LL));
  coupons_generate_cmd->add_option("--member", coupon_member, "issue them to this member");
  coupons_generate_cmd->add_option("--prefix", coupon_prefix,
                                   "code prefix (default: the template's id)");
  coupons_generate_cmd->add_option("--out", coupon_out, "write the codes to this file");
  auto* coupons_show_cmd =
      coupons_cmd->add_subcommand("show",
                                  "a code: terms, owner, uses, reservations, redemptions\n"
                                  "  example: circolo coupons show COFFEE-7XK2P9QHMR4");
  coupons_show_cmd->add_option("code", coupon_code, "the code (any case)")->required();

  std::string hook_id, hook_url, hook_events, hook_secret, hook_status, hook_seq;
  auto* webhooks_cmd = app.add_subcommand("webhooks", "endpoints that receive outgoing events");
  webhooks_cmd->require_subcommand(1);
  auto* webhook_add = webhooks_cmd->add_subcommand(
      "add",
      "register an endpoint\n  example: circolo webhooks add https://crm.example/hooks "
      "--events points.earned,tier.changed --secret \"$HOOK_SECRET\"");
  webhook_add->add_option("url", hook_url, "where events are POSTed")->required();
  webhook_add->add_option("--events", hook_events, "event types, comma separated")->required();
  webhook_add->add_option("--secret", hook_secret, "HMAC key of Circolo-Signature (16+ characters)")
      ->required();
  auto* webhook_list = webhooks_cmd->add_subcommand(
      "list", "endpoints, lag and failures\n  example: circolo webhooks list");
  auto* webhook_deliveries = webhooks_cmd->add_subcommand(
      "deliveries",
      "attempts per event, newest first\n  example: circolo webhooks deliveries "
      "whk_... --status dead");
  webhook_deliveries->add_option("id", hook_id, "the webhook id")->required();
  webhook_deliveries->add_option("--status", hook_status, "delivered, failing, dead or redrive");
  auto* webhook_redrive = webhooks_cmd->add_subcommand(
      "redrive", "deliver a dead letter again\n  example: circolo webhooks redrive whk_... 1234");
  webhook_redrive->add_option("id", hook_id, "the webhook id")->required();
  webhook_redrive->add_option("seq", hook_seq, "the event's seq")->required();

  std::string tail_member, tail_types;
  long long tail_after = -1;
  bool tail_follow = false;
  auto* events_cmd = app.add_subcommand("events", "outgoing events");
  events_cmd->require_subcommand(1);
  auto* events_tail_cmd =
      events_cmd->add_subcommand("tail",
                                 "recent outgoing events; --follow keeps printing new ones\n"
                                 "  example: circolo events tail --member mem_... --follow");
  events_tail_cmd->add_option("--member", tail_member, "one member's events");
  events_tail_cmd->add_option("--types", tail_types, "types, comma separated");
  events_tail_cmd->add_option("--after", tail_after, "from this seq (default: the last 20)")
      ->check(CLI::Range(0LL, std::numeric_limits<long long>::max()));
  events_tail_cmd->add_flag("-f,--follow", tail_follow, "keep following (Ctrl-C stops)");

  std::string shell;
  auto* completion_cmd = app.add_subcommand(
      "completion",
      "print a shell completion script\n  example: eval \"$(circolo completion bash)\"");
  completion_cmd->add_option("shell", shell, "the shell")
      ->required()
      ->check(CLI::IsMember({"bash"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (completion_cmd->parsed()) {
    std::cout << bash_completion(app);
    return 0;
  }
  if (check_cmd->parsed()) return check(check_files, online.json_output);
  if (fmt_cmd->parsed()) return fmt(fmt_files, fmt_check);
  // Online commands: the config file fills in what neither a flag nor a CIRCOLO_* variable gave.
  if (config_opt->count() == 0 && !config_home.empty())
    config_file = config_home + "/circolo/config.toml";
  if (!config_file.empty()) {
    const bool named = config_opt->count() > 0;
    auto settings = read_config(config_file, named);
    if (!settings && named) return 2;
    if (!settings) {
      std::cerr << "circolo: ignoring " << config_file << " (see above)\n";
      settings.emplace();
    }
    if (url_opt->count() == 0 && settings->count("url")) online.url = settings->at("url");
    if (key_opt->count() == 0 && settings->count("key")) online.key = settings->at("key");
  }
  if (plan_cmd->parsed()) return program_online(online, "plan", program_file, yes);
  if (apply_cmd->parsed()) return program_online(online, "apply", program_file, yes);
  if (show_cmd->parsed()) return program_online(online, "show", "", yes);
  if (versions_cmd->parsed()) return program_online(online, "versions", "", yes);
  if (rollback_cmd->parsed()) return program_online(online, "rollback", rollback_version, yes);
  if (sim_cmd->parsed()) {
    if (sim_active == !sim_file.empty()) {
      std::cerr << "circolo: give a draft program file or --active (one of them)\n";
      return 2;
    }
    return simulate(online, sim_file, sim_active, sim_event, sim_member);
  }
  if (campaign_pause->parsed()) return campaign(online, "pause", campaign_id);
  if (campaign_resume->parsed()) return campaign(online, "resume", campaign_id);
  if (member_find->parsed()) {
    const std::string type = !card.empty() ? "card" : !email.empty() ? "email" : "phone";
    return members(online, "find", "", type,
                   !card.empty()    ? card
                   : !email.empty() ? email
                                    : phone,
                   0, "", "");
  }
  if (member_show->parsed()) return members(online, "show", member_id, "", "", 0, "", "");
  if (member_history->parsed()) return members(online, "history", member_id, "", "", 0, "", "");
  if (member_adjust->parsed())
    return members(online, "adjust", member_id, "", "", adjust_points, reason, "");
  if (member_merge->parsed()) return members(online, "merge", member_id, "", "", 0, "", from);
  if (liability_cmd->parsed()) return report_liability(online);
  if (tiers_review_cmd->parsed()) return tiers_review(online, review_member);
  if (leaderboard_cmd->parsed())
    return leaderboard(online, board_period, board_limit, board_member);
  if (coupons_generate_cmd->parsed())
    return coupons_generate(online, coupon_template, coupon_count, coupon_member, coupon_prefix,
                            coupon_out);
  if (coupons_show_cmd->parsed()) return coupons_show(online, coupon_code);
  if (webhook_add->parsed())
    return webhooks(online, "add", "", hook_url, hook_events, hook_secret, "", "");
  if (webhook_list->parsed()) return webhooks(online, "list", "", "", "", "", "", "");
  if (webhook_deliveries->parsed())
    return webhooks(online, "deliveries", hook_id, "", "", "", hook_status, "");
  if (webhook_redrive->parsed())
    return webhooks(online, "redrive", hook_id, "", "", "", "", hook_seq);
  if (events_tail_cmd->parsed())
    return events_tail(online, tail_member, tail_types,
                       tail_after >= 0 ? std::optional<long long>(tail_after) : std::nullopt,
                       tail_follow);
  if (key_create->parsed()) return keys(online, "create", key_role, key_channel, key_name, "");
  if (key_list->parsed()) return keys(online, "list", "", "", "", "");
  if (key_revoke->parsed()) return keys(online, "revoke", "", "", "", key_id);
  return 2;
}
