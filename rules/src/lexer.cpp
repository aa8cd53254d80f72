#include "circolo/rules/lexer.hpp"

#include <algorithm>
#include <array>
#include <chrono>

namespace circolo::rules {

namespace {

constexpr std::array<std::string_view, 85> kKeywords{
    "program",    "tier",       "coupon",   "reward",       "challenge",     "campaign",
    "rule",       "name",       "currency", "timezone",     "points_expire", "threshold",
    "window",     "multiplier", "discount", "max_discount", "min_total",     "valid",
    "uses",       "channels",   "cost",     "points",       "stock",         "on",
    "when",       "goal",       "within",   "active",       "from",          "until",
    "repeatable", "then",       "award",    "pending",      "expiring",      "in",
    "issue",      "progress",   "by",       "grant",        "badge",         "tag",
    "untag",      "member",     "notify",   "limit",        "per",           "day",
    "days",       "week",       "weeks",    "month",        "months",        "hour",
    "hours",      "and",        "or",       "not",          "true",          "false",
    "count",      "sum",        "distinct", "streak",       "reaches",       "purchase",
    "refund",     "visit",      "signup",   "event",        "priority",      "budget",
    "exclusive",  "where",      "referral", "qualify",      "hold",          "referrer",
    "experiment", "control",    "variant",  "interest",     "segment",       "audience",
    "static",
};

bool ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool ident_char(char c) {
  return ident_start(c) || (c >= '0' && c <= '9');
}
bool digit(char c) {
  return c >= '0' && c <= '9';
}

class Lexer {
 public:
  // `start` is where the text begins in the file (for a {expr} inside a string).
  Lexer(std::string_view text, Position start) : text_(text), pos_(start) {
    if (pos_.line == 0) pos_.line = 1;
    if (pos_.column == 0) pos_.column = 1;
  }

  std::vector<Token> run() {
    std::vector<Token> out;
    for (;;) {
      skip_blanks();
      Token t;
      t.range.begin = pos_;
      if (at_end()) {
        t.kind = TokenKind::end;
        t.range.end = pos_;
        out.push_back(std::move(t));
        return out;
      }
      const char c = peek();
      if (ident_start(c)) {
        while (!at_end() && ident_char(peek())) t.text.push_back(advance());
        t.kind = is_keyword(t.text) ? TokenKind::keyword : TokenKind::identifier;
      } else if (digit(c)) {
        number(t);
      } else if (c == '"') {
        string(t);
      } else {
        punct(t);
      }
      t.range.end = pos_;
      out.push_back(std::move(t));
    }
  }

 private:
  bool at_end() const { return index_ >= text_.size(); }
  char peek(std::size_t ahead = 0) const {
    return index_ + ahead < text_.size() ? text_[index_ + ahead] : '\0';
  }
  char advance() {
    const char c = text_[index_++];
    ++pos_.offset;
    if (c == '\n') {
      ++pos_.line;
      pos_.column = 1;
    } else {
      ++pos_.column;
    }
    return c;
  }

  void skip_blanks() {
    while (!at_end()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        advance();
      } else if (c == '#') {
        Comment comment;
        comment.at = pos_;
        while (!at_end() && peek() != '\n') comment.text.push_back(advance());
        if (comments_ != nullptr) comments_->push_back(std::move(comment));
      } else {
        return;
      }
    }
  }

  void fail(Token& t, std::string message) {
    t.kind = TokenKind::error;
    t.text = std::move(message);
  }

  void number(Token& t) {
    // A date: NNNN-NN-NN.
    if (digit(peek(1)) && digit(peek(2)) && digit(peek(3)) && peek(4) == '-' && digit(peek(5)) &&
        digit(peek(6)) && peek(7) == '-' && digit(peek(8)) && digit(peek(9)) &&
        !ident_char(peek(10))) {
      std::string s;
      for (int i = 0; i < 10; ++i) s.push_back(advance());
      t.kind = TokenKind::date;
      t.year = std::stoi(s.substr(0, 4));
      t.month = std::stoi(s.substr(5, 2));
      t.day = std::stoi(s.substr(8, 2));
      t.text = s;
      const std::chrono::year_month_day ymd{std::chrono::year{t.year},
                                            std::chrono::month{unsigned(t.month)},
                                            std::chrono::day{unsigned(t.day)}};
      if (!ymd.ok()) fail(t, "'" + s + "' is not a calendar date");
      return;
    }
    std::int64_t value = 0;
    bool overflow = false;
    bool last_underscore = false;
    auto take_digits = [&](int& count) {
      while (!at_end() && (digit(peek()) || peek() == '_')) {
        const char c = advance();
        t.text.push_back(c);
        if (c == '_') {
          last_underscore = true;
          continue;
        }
        last_underscore = false;
        if (value > (INT64_MAX - (c - '0')) / 10)
          overflow = true;
        else
          value = value * 10 + (c - '0');
        ++count;
      }
    };
    int integer_digits = 0, fraction_digits = 0;
    take_digits(integer_digits);
    bool underscores_ok = !last_underscore && t.text.find("__") == std::string::npos;
    if (peek() == '.' && digit(peek(1))) {
      t.text.push_back(advance());
      take_digits(fraction_digits);
      underscores_ok = underscores_ok && !last_underscore && t.text.find("._") == std::string::npos;
    }
    if (ident_char(peek())) {
      // "12days" or "3x": a number runs into a name.
      while (!at_end() && ident_char(peek())) t.text.push_back(advance());
      fail(t, "'" + t.text + "' is not a number; put a space between a number and a word");
      return;
    }
    if (!underscores_ok) {
      fail(t, "'" + t.text + "': '_' may only separate digits, as in 1_000_000");
      return;
    }
    if (overflow || fraction_digits > 18) {
      fail(t, "'" + t.text + "' is too large (numbers are 64-bit)");
      return;
    }
    t.integer = value;
    t.scale = fraction_digits;
    t.kind = fraction_digits > 0 ? TokenKind::decimal : TokenKind::integer;
    if (peek() == '%') {
      t.text.push_back(advance());
      t.kind = TokenKind::percent;
    }
  }

  void string(Token& t) {
    advance();  // opening quote
    const auto raw_start = index_;
    std::string value;
    while (!at_end() && peek() != '"' && peek() != '\n') {
      char c = advance();
      if (c != '\\') {
        // Raw control characters would not survive formatting, storage or JSON: escape them.
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) {
          fail(t, "a control character in a string; write \\n, \\t or \\u{XXXX}");
          continue;
        }
        value.push_back(c);
        continue;
      }
      if (at_end()) break;
      const char e = advance();
      switch (e) {
        case '"':
          value.push_back('"');
          break;
        case '\\':
          value.push_back('\\');
          break;
        case 'n':
          value.push_back('\n');
          break;
        case 't':
          value.push_back('\t');
          break;
        case '{':
          value.push_back('{');
          break;  // a literal brace in notify text
        case '}':
          value.push_back('}');
          break;
        case 'u': {
          if (peek() != '{') {
            fail(t, "\\u needs braces: \\u{1F600}");
            break;
          }
          advance();
          std::uint32_t code = 0;
          int n = 0;
          while (!at_end() && peek() != '}' && n < 7) {
            const char h = advance();
            const int v = digit(h)                 ? h - '0'
                          : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                          : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                                   : -1;
            if (v < 0) {
              n = 99;
              break;
            }
            code = code * 16 + static_cast<std::uint32_t>(v);
            ++n;
          }
          if (peek() != '}' || n == 0 || n > 6 || code == 0 || code > 0x10FFFF ||
              (code >= 0xD800 && code <= 0xDFFF)) {
            fail(t, "\\u{...} takes 1 to 6 hex digits of a Unicode scalar value other than 0");
            break;
          }
          advance();
          append_utf8(value, code);
          break;
        }
        default:
          fail(t, std::string("unknown escape \\") + e + "; use \\\" \\\\ \\n \\t \\u{XXXX}");
      }
    }
    if (at_end() || peek() != '"') {
      fail(t, "this string is not closed with \" on the same line");
      return;
    }
    t.raw = std::string(text_.substr(raw_start, index_ - raw_start));
    advance();
    if (t.kind == TokenKind::error) return;
    t.kind = TokenKind::string;
    t.text = std::move(value);
  }

  static void append_utf8(std::string& out, std::uint32_t c) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }

  void punct(Token& t) {
    const char c = advance();
    t.kind = TokenKind::punct;
    t.text = std::string(1, c);
    switch (c) {
      case '{':
      case '}':
      case '(':
      case ')':
      case '[':
      case ']':
      case ',':
      case '.':
      case '+':
      case '-':
      case '*':
      case '/':
      case '%':
        return;
      case '=':
        if (peek() == '=') {
          t.text.push_back(advance());
          return;
        }
        fail(t, "'=' alone means nothing here; compare with '=='");
        return;
      case '!':
        if (peek() == '=') {
          t.text.push_back(advance());
          return;
        }
        fail(t, "'!' alone means nothing here; use 'not' or '!='");
        return;
      case '<':
      case '>':
        if (peek() == '=') t.text.push_back(advance());
        return;
      default: {
        // Skip the rest of a UTF-8 sequence so that the error names one character.
        while (!at_end() && (static_cast<unsigned char>(peek()) & 0xC0) == 0x80)
          t.text.push_back(advance());
        fail(t, "unexpected character '" + t.text + "'");
      }
    }
  }

  std::string_view text_;
  std::size_t index_ = 0;

 public:
  std::vector<Comment>* comments_ = nullptr;

 private:
  Position pos_;
};

}  // namespace

bool is_keyword(std::string_view word) {
  return std::find(kKeywords.begin(), kKeywords.end(), word) != kKeywords.end();
}

std::vector<Comment> comments(std::string_view text) {
  std::vector<Comment> out;
  Lexer lexer(text, {});
  lexer.comments_ = &out;
  lexer.run();
  return out;
}

std::vector<Token> lex(std::string_view text, Position start) {
  return Lexer(text, start).run();
}

}  // namespace circolo::rules
