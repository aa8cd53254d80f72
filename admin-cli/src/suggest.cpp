#include "suggest.hpp"

#include <algorithm>
#include <cctype>

namespace circolo::cli {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
  const std::size_t n = a.size(), m = b.size();
  // Three rows: the one before the previous is needed for swaps.
  std::vector<std::size_t> before(m + 1), previous(m + 1), current(m + 1);
  for (std::size_t j = 0; j <= m; ++j) previous[j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1]))
        current[j] = std::min(current[j], before[j - 2] + 1);
    }
    before.swap(previous);
    previous.swap(current);
  }
  return previous[m];
}

std::optional<std::string> closest(std::string_view word,
                                   const std::vector<std::string>& candidates) {
  const std::size_t allowed = std::max<std::size_t>(1, word.size() / 3);
  std::optional<std::string> best;
  std::size_t best_distance = allowed + 1;
  for (const auto& c : candidates) {
    const auto d = edit_distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  if (best) return best;
  if (word.size() < 3) return std::nullopt;
  std::vector<std::string> prefixed;
  for (const auto& c : candidates) {
    if (c.size() > word.size() && edit_distance(word, c.substr(0, word.size())) == 0)
      prefixed.push_back(c);
  }
  if (prefixed.size() == 1) return prefixed.front();
  return std::nullopt;
}

namespace {

const CLI::App* subcommand_named(const CLI::App& app, const std::string& name) {
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == name) return sub;
    const auto& aliases = sub->get_aliases();
    if (std::find(aliases.begin(), aliases.end(), name) != aliases.end()) return sub;
  }
  return nullptr;
}

// An option of this command or of one it belongs to (options fall through), or null.
const CLI::Option* option_named(const CLI::App* app, const std::string& name) {
  for (; app; app = app->get_parent()) {
    if (const auto* opt = app->get_option_no_throw(name)) return opt;
  }
  return nullptr;
}

}  // namespace

std::optional<std::string> unknown_command(const CLI::App& app, int argc, const char* const* argv) {
  const CLI::App* at = &app;
  std::string path = "circolo";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") return std::nullopt;
    if (arg.size() > 1 && arg[0] == '-') {
      if (arg.find('=') != std::string::npos) continue;
      const auto* opt = option_named(at, arg);
      if (opt && opt->get_items_expected_max() > 0) ++i;  // its value
      continue;
    }
    if (const auto* sub = subcommand_named(*at, arg)) {
      at = sub;
      path += " " + arg;  // as typed (an alias, say)
      continue;
    }
    // Not a command here: a misspelt one if this level takes commands and no plain arguments.
    std::vector<std::string> names;
    for (const auto* sub : at->get_subcommands([](const CLI::App*) { return true; })) {
      if (!sub->get_name().empty()) names.push_back(sub->get_name());
    }
    const bool takes_arguments =
        !at->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty();
    if (names.empty() || takes_arguments) return std::nullopt;
    std::string message = "circolo: unknown command \"" + arg + "\" for \"" + path + "\"";
    if (const auto suggestion = closest(arg, names)) {
      message += "; did you mean \"" + *suggestion + "\"?";
    } else {
      message += "; the commands are:";
      for (std::size_t k = 0; k < names.size(); ++k) message += (k ? ", " : " ") + names[k];
    }
    return message + "\n";
  }
  return std::nullopt;
}

}  // namespace circolo::cli
