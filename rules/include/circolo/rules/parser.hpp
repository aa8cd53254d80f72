#pragma once

#include <vector>

#include "circolo/rules/ast.hpp"
#include "circolo/rules/source.hpp"

namespace circolo::rules {

struct ParseResult {
  ProgramFile file;
  std::vector<Diagnostic> diagnostics;  // syntax errors; the file holds what could be parsed
};

ParseResult parse(const Source& source, const Limits& limits = {});

}  // namespace circolo::rules
