// libFuzzer target over the whole rules front end and the evaluator. Any input must give
// diagnostics, never a crash, a hang or a sanitizer report; a program that parses cleanly must
// format to text that parses to the same program.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "circolo/rules/evaluate.hpp"
#include "circolo/rules/format.hpp"
#include "circolo/rules/parser.hpp"

using namespace circolo::rules;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Limits limits;
  limits.max_source_bytes = 64 * 1024;
  const Source source{"fuzz.rules", std::string(reinterpret_cast<const char*>(data), size)};
  const auto parsed = parse(source, limits);
  if (parsed.diagnostics.empty()) {
    const auto text = format(parsed.file);
    const auto again = parse({"formatted", text}, limits);
    if (!again.diagnostics.empty() || !same(parsed.file, again.file) || format(again.file) != text)
      std::abort();
    // Formatting that keeps comments either keeps them all or refuses; its text is the same
    // program.
    const auto kept = format_keeping_comments(source, parsed.file);
    if (kept.dropped.empty()) {
      const auto reparsed = parse({"kept", kept.text}, limits);
      if (!reparsed.diagnostics.empty() || !same(parsed.file, reparsed.file)) std::abort();
    }
  }
  const auto compiled = compile(source, limits);
  for (const auto& d : compiled.diagnostics) (void)render(source, d);
  if (compiled.program) {
    Event event;
    event.type = "purchase";
    event.channel = "store";
    event.time = *circolo::engine::parse_rfc3339("2026-12-05T10:15:00+01:00");
    event.total = {8450, 2};
    event.items = {{"A", "shoes", "x", 1, {5990, 2}, {}}, {"B", "socks", "y", 2, {1230, 2}, {}}};
    event.attributes["gift"] = true;
    MemberSnapshot member;
    member.id = "mem_fuzz";
    member.tags = {"vip"};
    (void)compiled.program->evaluate(event, member, {});
  }
  return 0;
}
