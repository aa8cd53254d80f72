#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "circolo/rules/source.hpp"

namespace circolo::rules {

enum class TokenKind {
  identifier,
  keyword,
  string,   // text: the decoded value; raw: as written, without quotes (for interpolation)
  integer,  // integer
  decimal,  // integer = mantissa, scale = fractional digits ("20.50" = 2050, 2)
  percent,  // like decimal: "10%" = 10, 0; "2.5%" = 25, 1
  date,     // year, month, day
  punct,    // text: { } ( ) [ ] , . == != < <= > >= + - * / %
  end,
  error,  // text: the message
};

struct Token {
  TokenKind kind = TokenKind::end;
  std::string text;
  std::string raw;
  std::int64_t integer = 0;
  int scale = 0;
  int year = 0, month = 0, day = 0;
  Range range;
};

bool is_keyword(std::string_view word);

// Lexes the whole text. Errors become error tokens (the parser reports them), so lexing
// never stops early; the last token is `end`.
struct Comment {
  Position at;       // where the '#' is
  std::string text;  // from '#' to the end of the line
};
// The comments of a text, in order (the formatter keeps those it can place).
std::vector<Comment> comments(std::string_view text);

// `start` is the position of text[0] in its file (lexing a {expr} of a string starts mid-file).
std::vector<Token> lex(std::string_view text, Position start = {});

}  // namespace circolo::rules
