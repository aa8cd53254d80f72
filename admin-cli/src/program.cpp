// program check|fmt offline (through the rules library), program plan|apply|show|versions|rollback
// and simulate against a server.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "circolo/rules/evaluate.hpp"
#include "circolo/rules/format.hpp"
#include "circolo/rules/parser.hpp"
#include "commands.hpp"
#include "http.hpp"
#include "plan.hpp"
#include "text_diff.hpp"

namespace circolo::cli {
int wait_for_segments(const Online& o, long long run_before, bool expect_run);

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
      // What `fmt` would change, as a unified diff (stdout); the verdict on stderr.
      std::cout << unified_diff(source.text, formatted, path, path + " (formatted)");
      std::cerr << path << ": not formatted (circolo program fmt " << path << " rewrites it)\n";
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

// The plan setting by setting, the counts, and a warning for each change that alters what
// members, their coupons or their balances already have.
PlanReport print_plan(const json& plan) {
  const auto& changes = plan["changes"];
  auto report = describe_plan(changes, plan.value("active_version", json()).is_null());
  if (changes.empty()) {
    std::cout << "No changes.\n";
    return report;
  }
  for (const auto& line : report.lines) std::cout << line << "\n";
  std::size_t created = 0, changed = 0, removed = 0;
  for (const auto& c : changes) {
    const std::string k = c["change"];
    (k == "created" ? created : k == "changed" ? changed : removed) += 1;
  }
  std::cout << created << " to create, " << changed << " to change, " << removed << " to remove.\n";
  for (const auto& a : report.alterations) std::cout << "WARNING: " << a.message << "\n";
  return report;
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
  // --json prints only the applied version's answer (or the plan, with what it alters).
  const auto report = o.json_output
                          ? describe_plan((*plan)["changes"], (*plan)["active_version"].is_null())
                          : print_plan(*plan);
  if (o.json_output && (action == "plan" || (*plan)["changes"].empty())) {
    json alterations = json::array();
    for (const auto& a : report.alterations)
      alterations.push_back({{"object", a.object}, {"id", a.id}, {"message", a.message}});
    (*plan)["alterations"] = alterations;
    std::cout << plan->dump(2) << "\n";
    return 0;
  }
  if (action == "plan" || (*plan)["changes"].empty()) return 0;
  const auto warned = report.alterations.size();
  if (!yes) {
    if (!isatty(STDIN_FILENO)) {
      if (warned)
        std::cerr << "circolo: not applied: " << warned
                  << (warned == 1 ? " change alters" : " changes alter")
                  << " existing members, coupons or balances (WARNING above); confirm with --yes "
                     "when not at a terminal\n";
      else
        std::cerr << "circolo: not applied: confirm with --yes when not at a terminal\n";
      return 2;
    }
    std::string answer;
    if (warned) {
      // Changes to what members already have are confirmed in full, not with a reflex "y".
      std::cout << "These changes alter existing members, coupons or balances (" << warned
                << " WARNING" << (warned == 1 ? "" : "s")
                << " above).\nType \"yes\" to apply: " << std::flush;
      std::getline(std::cin, answer);
      if (answer != "yes") {
        std::cout << "Not applied.\n";
        return 0;
      }
    } else {
      std::cout << "Apply these changes? [y/N] " << std::flush;
      std::getline(std::cin, answer);
      if (answer != "y" && answer != "Y" && answer != "yes") {
        std::cout << "Not applied.\n";
        return 0;
      }
    }
  }
  // Segments added (dynamic), changed or dropped: the server's job evaluates every member.
  bool segments_changed = false, expect_run = false;
  for (const auto& c : (*plan)["changes"]) {
    if (c["object"] != "segment") continue;
    segments_changed = true;
    const auto dynamic = [](const json& text) {
      return text.is_string() && text.get<std::string>().find("\n  when ") != std::string::npos;
    };
    if (c["change"] == "removed" || dynamic(c["before"]) || dynamic(c["after"])) expect_run = true;
  }
  long long run_before = 0;
  if (segments_changed && !o.json_output) {
    // The job's last run before this apply (none: no program yet, or no run ever).
    try {
      const auto answer = Client(o.url, o.key).request("GET", "/v1/segments");
      const auto list = json::parse(answer.body, nullptr, false);
      if (answer.status == 200 && list.is_object() && list["run"].is_object())
        run_before = list["run"]["id"].get<long long>();
    } catch (const ConnectionError&) {
    }
  }
  auto applied = call(o, "POST", "/v1/admin/program", {{"source", *source}}, code);
  if (!applied) return code;
  if (o.json_output) {
    std::cout << applied->dump(2) << "\n";
    return 0;
  }
  std::cout << "Applied as version " << (*applied)["version"] << ".\n";
  return segments_changed ? wait_for_segments(o, run_before, expect_run) : 0;
}

}  // namespace

// After a program adds, changes or drops segments, the segment job evaluates every member for
// them: shows its progress until it is done (the program is in use meanwhile; events keep their
// own members exact).
int wait_for_segments(const Online& o, long long run_before, bool expect_run) {
  long long shown = -1;
  for (int tick = 0; tick < 5 * 60 * 30; ++tick) {  // 30 minutes at most, every 200 ms
    int code = 0;
    auto list = call(o, "GET", "/v1/segments", nullptr, code);
    if (!list) return code;
    bool evaluated = true;
    for (const auto& seg : (*list)["segments"]) evaluated = evaluated && seg["evaluated"] == true;
    const auto& run = (*list)["run"];
    // This apply's run: one started after it (a plan that only adds static segments has none).
    const bool new_run = !run.is_null() && run["id"].get<long long>() > run_before;
    const bool running = new_run && run["finished_at"].is_null();
    if (evaluated && !running && (new_run || !expect_run)) {
      if (new_run)
        std::cout << "Segments evaluated: " << run["done"].get<long long>()
                  << (run["done"].get<long long>() == 1 ? " member, " : " members, ")
                  << run["entered"].get<long long>() << " entered, " << run["left"].get<long long>()
                  << " left.\n";
      return 0;
    }
    if (running && run["done"].get<long long>() != shown) {
      shown = run["done"].get<long long>();
      std::cout << "Evaluating segments: " << shown << "/" << run["total"].get<long long>()
                << " members\n"
                << std::flush;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::cerr << "circolo: the segments are still being evaluated; see circolo segments list\n";
  return 0;
}

namespace {

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
    // Challenge progress and tier changes come from the program's gamification,
    // not from a rule, so they carry no campaign/rule pair.
    if (e.contains("progress") && e.contains("goal"))
      what += " " + e["progress"].dump() + "/" + e["goal"].dump();
    if (e.contains("campaign") && e.contains("rule"))
      what += "  [" + e["campaign"].get<std::string>() + "/" + e["rule"].get<std::string>() + "]";
    std::cout << "  " << what << "\n";
  }
  if (result->contains("points") && (*result)["points"].is_object())
    std::cout << "Balance after: " << (*result)["points"].value("available", 0LL) << " available, "
              << (*result)["points"].value("pending", 0LL) << " pending"
              << (result->contains("tier") && (*result)["tier"].is_string()
                      ? ", tier " + (*result)["tier"].get<std::string>()
                      : std::string())
              << "\n";
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

}  // namespace

void register_program(CLI::App& app, Context& ctx) {
  struct State {
    std::vector<std::string> check_files, fmt_files;
    bool fmt_check = false;
    std::string program_file, rollback_version;
    bool yes = false;
    std::string sim_file, sim_event, sim_member;
    bool sim_active = false;
  };
  auto s = std::make_shared<State>();
  auto* program =
      app.add_subcommand("program", "check, format and (with a server) apply program files");
  program->require_subcommand(1);

  auto* check_cmd = program->add_subcommand(
      "check", "check program files offline\n  example: circolo program check loyalty.rules");
  check_cmd->add_option("files", s->check_files, "*.rules files")
      ->required()
      ->check(CLI::ExistingFile);
  ctx.add_offline(check_cmd, [s](const Online& o) { return check(s->check_files, o.json_output); });

  auto* fmt_cmd = program->add_subcommand("fmt",
                                          "rewrite program files in canonical form\n  example: "
                                          "circolo program fmt --check loyalty.rules");
  fmt_cmd->add_option("files", s->fmt_files, "*.rules files")->required()->check(CLI::ExistingFile);
  fmt_cmd->add_flag("--check", s->fmt_check, "only report files that are not formatted (exit 1)");
  ctx.add_offline(fmt_cmd, [s](const Online&) { return fmt(s->fmt_files, s->fmt_check); });

  auto* plan_cmd = program->add_subcommand(
      "plan", "what applying FILE would change\n  example: circolo program plan loyalty.rules");
  plan_cmd->add_option("file", s->program_file, "the program file")
      ->required()
      ->check(CLI::ExistingFile);
  ctx.add_online(plan_cmd, [s](const Online& o) {
    return program_online(o, "plan", s->program_file, s->yes);
  });
  auto* apply_cmd = program->add_subcommand(
      "apply",
      "show the plan and apply FILE\n  example: circolo program apply --yes loyalty.rules");
  apply_cmd->add_option("file", s->program_file, "the program file")
      ->required()
      ->check(CLI::ExistingFile);
  apply_cmd->add_flag("--yes", s->yes, "apply without asking");
  ctx.add_online(apply_cmd, [s](const Online& o) {
    return program_online(o, "apply", s->program_file, s->yes);
  });
  auto* show_cmd = program->add_subcommand(
      "show", "the active program's source\n  example: circolo program show");
  ctx.add_online(show_cmd, [s](const Online& o) { return program_online(o, "show", "", s->yes); });
  auto* versions_cmd =
      program->add_subcommand("versions", "applied versions\n  example: circolo program versions");
  ctx.add_online(versions_cmd,
                 [s](const Online& o) { return program_online(o, "versions", "", s->yes); });
  auto* rollback_cmd = program->add_subcommand(
      "rollback",
      "apply an earlier version's source again (as a new version), showing the plan first\n"
      "  example: circolo program rollback 3");
  rollback_cmd->add_option("version", s->rollback_version, "the version to go back to")
      ->required()
      ->check(CLI::PositiveNumber);
  rollback_cmd->add_flag("--yes", s->yes, "apply without asking");
  ctx.add_online(rollback_cmd, [s](const Online& o) {
    return program_online(o, "rollback", s->rollback_version, s->yes);
  });

  auto* sim_cmd =
      app.add_subcommand("simulate",
                         "effects and trace of an event, writing nothing\n  example: circolo "
                         "simulate loyalty.rules --event purchase.json --member mem_123");
  sim_cmd->add_option("file", s->sim_file, "a draft program (or --active)");
  sim_cmd->add_flag("--active", s->sim_active, "use the active program");
  sim_cmd->add_option("--event", s->sim_event, "the event, a JSON file")->required();
  sim_cmd->add_option("--member", s->sim_member, "a member id, or a JSON file with member fields");
  ctx.add_online(sim_cmd, [s](const Online& o) {
    if (s->sim_active == !s->sim_file.empty()) {
      std::cerr << "circolo: give a draft program file or --active (one of them)\n";
      return 2;
    }
    return simulate(o, s->sim_file, s->sim_active, s->sim_event, s->sim_member);
  });
}

}  // namespace circolo::cli
