// circolo: marketing's tool. This first part works offline through the rules library:
//   circolo program check FILE...      errors with file:line:column, the line and a caret
//   circolo program fmt FILE... [--check]
// Exit codes: 0 success, 1 the files have errors (or are not formatted, with --check),
// 2 bad usage or unreadable files.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "circolo/rules/evaluate.hpp"
#include "circolo/rules/format.hpp"
#include "circolo/rules/parser.hpp"

namespace {

using namespace circolo::rules;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int check(const std::vector<std::string>& files, bool json_output) {
  int status = 0;
  nlohmann::json report = nlohmann::json::array();
  const bool color = !json_output && isatty(STDERR_FILENO) && std::getenv("NO_COLOR") == nullptr;
  for (const auto& path : files) {
    const auto text = read_file(path);
    if (!text) {
      std::cerr << "circolo: cannot read " << path << "\n";
      return 2;
    }
    const Source source{path, *text};
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
    const auto text = read_file(path);
    if (!text) {
      std::cerr << "circolo: cannot read " << path << "\n";
      return 2;
    }
    const Source source{path, *text};
    const auto parsed = parse(source);
    if (!parsed.diagnostics.empty()) {
      // Only a file that parses can be formatted; say why not.
      std::cerr << render_all(source, parsed.diagnostics, isatty(STDERR_FILENO));
      status = 1;
      continue;
    }
    const auto formatted = format(parsed.file);
    if (formatted == *text) continue;
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"circolo: configure and run a Circolo loyalty program"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "circolo 0.1.0");
  auto* program =
      app.add_subcommand("program", "check, format and (with a server) apply program files");
  program->require_subcommand(1);

  std::vector<std::string> check_files;
  bool json_output = false;
  auto* check_cmd = program->add_subcommand(
      "check", "check program files offline\n  example: circolo program check loyalty.rules");
  check_cmd->add_option("files", check_files, "*.rules files")
      ->required()
      ->check(CLI::ExistingFile);
  check_cmd->add_flag("--json", json_output, "machine-readable output");

  std::vector<std::string> fmt_files;
  bool fmt_check = false;
  auto* fmt_cmd = program->add_subcommand("fmt",
                                          "rewrite program files in canonical form\n  example: "
                                          "circolo program fmt --check loyalty.rules");
  fmt_cmd->add_option("files", fmt_files, "*.rules files")->required()->check(CLI::ExistingFile);
  fmt_cmd->add_flag("--check", fmt_check, "only report files that are not formatted (exit 1)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (check_cmd->parsed()) return check(check_files, json_output);
  if (fmt_cmd->parsed()) return fmt(fmt_files, fmt_check);
  return 2;
}
