// completion bash: a completion script made from the command tree itself.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "commands.hpp"

namespace circolo::cli {
namespace {

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

void register_completion(CLI::App& app, Context& ctx) {
  auto shell = std::make_shared<std::string>();
  auto* completion_cmd = app.add_subcommand(
      "completion",
      "print a shell completion script\n  example: eval \"$(circolo completion bash)\"");
  completion_cmd->add_option("shell", *shell, "the shell")
      ->required()
      ->check(CLI::IsMember({"bash"}));
  // `shell` is captured to outlive the parse (only bash is accepted, so it is not read).
  ctx.add_offline(completion_cmd, [&app, shell](const Online&) {
    std::cout << bash_completion(app);
    return 0;
  });
}

}  // namespace circolo::cli
