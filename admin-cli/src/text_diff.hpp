// A unified diff of two texts, line by line (Myers' algorithm), as `diff -u` prints it.
#pragma once

#include <string>

namespace circolo::cli {

// Empty when the texts are equal. Otherwise "--- OLD_NAME" and "+++ NEW_NAME", then hunks
// "@@ -l,n +l,n @@" with `context` unchanged lines around each change ("\ No newline at end of
// file" after a last line that has none).
std::string unified_diff(const std::string& before, const std::string& after,
                         const std::string& old_name, const std::string& new_name, int context = 3);

}  // namespace circolo::cli
