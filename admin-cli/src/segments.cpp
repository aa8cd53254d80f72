// segments list|show|members|upload, members segments: who is in which segment, lists uploaded
// and exported as CSV.
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "http.hpp"

namespace circolo::cli {

namespace {

std::string text(const json& v) {
  return v.is_null() ? std::string("-") : v.is_string() ? v.get<std::string>() : v.dump();
}

void print_run(const json& run) {
  if (run.is_null()) return;
  std::cout << "last run: " << run["reason"].get<std::string>() << ", "
            << run["done"].get<long long>() << "/" << run["total"].get<long long>() << " members, "
            << run["entered"].get<long long>() << " entered, " << run["left"].get<long long>()
            << " left, "
            << (run["finished_at"].is_null() ? std::string("running")
                                             : "finished " + run["finished_at"].get<std::string>())
            << "\n";
}

int list(const Online& o) {
  int code = 0;
  auto result = call(o, "GET", "/v1/segments", nullptr, code);
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  for (const auto& s : (*result)["segments"]) {
    std::cout << s["id"].get<std::string>() << "  " << s["members"].get<long long>() << " members  "
              << s["kind"].get<std::string>()
              << (s["evaluated"] == true ? "" : " (being evaluated)") << "  "
              << s["name"].get<std::string>() << "\n";
  }
  if ((*result)["segments"].empty()) std::cout << "(the program declares no segments)\n";
  print_run((*result)["run"]);
  return 0;
}

int show(const Online& o, const std::string& id) {
  int code = 0;
  auto result = call(o, "GET", "/v1/segments/" + percent_encode(id), nullptr, code);
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  const auto& s = *result;
  std::cout << s["id"].get<std::string>() << ": " << s["name"].get<std::string>() << "\n"
            << "kind: " << s["kind"].get<std::string>() << "\n"
            << "when: " << text(s["condition"]) << "\n"
            << "members: " << s["members"].get<long long>()
            << (s["evaluated"] == true ? "" : " (being evaluated)") << "\n";
  print_run(s["run"]);
  return 0;
}

// Pages through the members (JSON), or writes the CSV export to a file or standard output.
int members(const Online& o, const std::string& id, bool csv, const std::string& out, int limit,
            const std::string& cursor) {
  const std::string target = "/v1/segments/" + percent_encode(id) + "/members";
  if (csv) {
    try {
      Client client(o.url, o.key);
      const auto answer = client.request("GET", target, "", "", "application/json", "text/csv");
      if (answer.status >= 400) {
        std::cerr << describe_refusal(answer);
        return answer.status >= 500 ? 3 : 1;
      }
      if (out.empty() || out == "-") {
        std::cout << answer.body;
        return 0;
      }
      std::ofstream file(out, std::ios::binary);
      file << answer.body;
      if (!file) {
        std::cerr << "error: cannot write " << out << "\n";
        return 2;
      }
      std::cerr << "wrote " << out << "\n";
      return 0;
    } catch (const ConnectionError& e) {
      std::cerr << "error: " << e.what() << "\n";
      return 3;
    }
  }
  int code = 0;
  auto result = call(o, "GET",
                     target + "?limit=" + std::to_string(limit) +
                         (cursor.empty() ? "" : "&cursor=" + percent_encode(cursor)),
                     nullptr, code);
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  for (const auto& m : (*result)["members"])
    std::cout << m["id"].get<std::string>() << "  " << text(m["name"]) << "\n";
  if (!(*result)["next_cursor"].is_null()) std::cout << "(more: --csv for all of them)\n";
  return 0;
}

int upload(const Online& o, const std::string& id, const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::cerr << "error: cannot read " << path << "\n";
    return 2;
  }
  std::stringstream body;
  body << file.rdbuf();
  try {
    Client client(o.url, o.key);
    const auto answer = client.request("PUT", "/v1/segments/" + percent_encode(id) + "/members",
                                       body.str(), "", "text/csv");
    if (answer.status >= 400) {
      std::cerr << describe_refusal(answer);
      return answer.status >= 500 ? 3 : 1;
    }
    const auto r = json::parse(answer.body);
    if (o.json_output) {
      std::cout << r.dump(2) << "\n";
      return 0;
    }
    std::cout << id << ": " << r["members"].get<long long>() << " members ("
              << r["entered"].get<long long>() << " entered, " << r["left"].get<long long>()
              << " left)\n";
    for (const auto& u : r["unknown"])
      std::cout << path << ":" << u["line"].get<long long>() << ": no member "
                << u["value"].get<std::string>() << "\n";
    if (r["unknown_count"].get<long long>() > static_cast<long long>(r["unknown"].size()))
      std::cout << "(" << r["unknown_count"].get<long long>() << " unknown in all)\n";
    return 0;
  } catch (const ConnectionError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 3;
  }
}

int member_segments(const Online& o, const std::string& id) {
  int code = 0;
  auto result = call(o, "GET", "/v1/members/" + percent_encode(id) + "/segments", nullptr, code);
  if (!result) return code;
  if (o.json_output) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  for (const auto& s : (*result)["segments"])
    std::cout << s["id"].get<std::string>() << "  " << s["name"].get<std::string>() << "\n";
  if ((*result)["segments"].empty()) std::cout << "(in no segment)\n";
  return 0;
}

}  // namespace

void register_segments(CLI::App& app, Context& ctx) {
  struct State {
    std::string id, file, out, cursor;
    bool csv = false;
    int limit = 100;
  };
  auto s = std::make_shared<State>();
  auto* cmd = app.add_subcommand("segments", "segments of the program: members, counts, lists");
  cmd->require_subcommand(1);
  auto* list_cmd = cmd->add_subcommand(
      "list",
      "every segment with its members and the job's last run\n  example: circolo "
      "segments list");
  ctx.add_online(list_cmd, [](const Online& o) { return list(o); });
  auto* show_cmd = cmd->add_subcommand(
      "show",
      "one segment: its condition and members\n  example: circolo segments show "
      "lapsed-gold");
  show_cmd->add_option("id", s->id, "the segment id")->required();
  ctx.add_online(show_cmd, [s](const Online& o) { return show(o, s->id); });
  auto* members_cmd = cmd->add_subcommand(
      "members",
      "a segment's members; --csv exports all of them (id, name, email, phone)\n  "
      "example: circolo segments members lapsed-gold --csv --out lapsed.csv");
  members_cmd->add_option("id", s->id, "the segment id")->required();
  members_cmd->add_flag("--csv", s->csv, "every member, as CSV");
  members_cmd->add_option("--out", s->out, "write the CSV to this file (default: standard output)");
  members_cmd->add_option("--limit", s->limit, "members shown (1-1000)")
      ->check(CLI::Range(1, 1000));
  members_cmd->add_option("--cursor", s->cursor, "the page after this member (as printed)");
  ctx.add_online(members_cmd, [s](const Online& o) {
    return members(o, s->id, s->csv, s->out, s->limit, s->cursor);
  });
  auto* upload_cmd = cmd->add_subcommand(
      "upload",
      "replace a static segment's list: a CSV of member ids (mem_...) or "
      "identifiers (type,value)\n  example: circolo segments upload press press.csv");
  upload_cmd->add_option("id", s->id, "the static segment's id")->required();
  upload_cmd->add_option("file", s->file, "the CSV file")->required();
  ctx.add_online(upload_cmd, [s](const Online& o) { return upload(o, s->id, s->file); });

  auto* members_group = app.get_subcommand("members");
  auto* member_segments_cmd = members_group->add_subcommand(
      "segments", "the segments a member is in\n  example: circolo members segments mem_...");
  member_segments_cmd->add_option("id", s->id, "the member id")->required();
  ctx.add_online(member_segments_cmd, [s](const Online& o) { return member_segments(o, s->id); });
}

}  // namespace circolo::cli
