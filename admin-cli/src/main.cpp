// circolo: marketing's tool.
//   offline, through the rules library:  program check FILE..., program fmt FILE... [--check]
//   against a server (--url/CIRCOLO_URL, --key/CIRCOLO_KEY): program plan|apply|show|versions,
//   simulate, keys create|list|revoke
// Exit codes: 0 success; 1 the files have errors (or are not formatted), or the server refused
// (its problem+json explained); 2 bad usage or unreadable files; 3 the server cannot be reached
// or failed.
// One file a command group (commands.hpp); this one builds the app and runs the command given.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <string>

#include "commands.hpp"
#include "suggest.hpp"

namespace {

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

}  // namespace

int main(int argc, char** argv) {
  using namespace circolo::cli;
  CLI::App app{"circolo: configure and run a Circolo loyalty program"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "circolo 0.1.0");
  app.fallthrough();  // --url, --key, --json also after the command

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
  Context ctx;
  Online& online = ctx.online;
  auto* url_opt = app.add_option("--url", online.url, "the server, as http://host:port")
                      ->envname("CIRCOLO_URL")
                      ->capture_default_str();
  auto* key_opt = app.add_option("--key", online.key, "an admin API key")->envname("CIRCOLO_KEY");
  app.add_flag("--json", online.json_output, "machine-readable output");

  // In the order of --help.
  register_program(app, ctx);
  register_keys(app, ctx);
  register_campaign(app, ctx);
  register_members(app, ctx);
  register_reports(app, ctx);
  register_referrals(app, ctx);
  register_backtest(app, ctx);
  register_gamification(app, ctx);
  register_coupons(app, ctx);
  register_webhooks(app, ctx);
  register_audit(app, ctx);
  register_segments(app, ctx);
  register_completion(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // A misspelt command: say which one was meant rather than what CLI11 could not place.
    if (const auto unknown = unknown_command(app, argc, argv); unknown && e.get_exit_code() != 0) {
      std::cerr << *unknown;
      return 2;
    }
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  const auto command = std::find_if(ctx.commands.begin(), ctx.commands.end(),
                                    [](const Context::Command& c) { return c.app->parsed(); });
  if (command == ctx.commands.end()) return 2;
  if (!command->online) return command->run(online);
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
  return command->run(online);
}
