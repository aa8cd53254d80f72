// "Did you mean": the closest command to a misspelt one.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace circolo::cli {

// Optimal string alignment distance (Damerau-Levenshtein where no substring is edited twice):
// insertions, deletions, substitutions and swaps of neighbours, ignoring ASCII case.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` if it is close enough to be a likely typo (a third of the
// word's letters, at least one), or the only one it begins (three letters or more).
std::optional<std::string> closest(std::string_view word,
                                   const std::vector<std::string>& candidates);

// When the command line names a command that does not exist where it stands (argv as main got
// it, after a failed parse): the error to print, suggesting the closest command of that level.
std::optional<std::string> unknown_command(const CLI::App& app, int argc, const char* const* argv);

}  // namespace circolo::cli
