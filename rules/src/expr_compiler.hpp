// Private to the rules library: the expression compiler, which turns checked expressions into
// functions of a Context. Names and fields are resolved here, once.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "circolo/rules/ast.hpp"
#include "value.hpp"

namespace circolo::rules::detail {

class ExprCompiler {
 public:
  // Runs after the checker: every name, field and call here is known to be valid.
  ExprCompiler() = default;

  // Conditions compile to predicates (expr_predicates.cpp). The common shapes of marketing rules
  // get direct code (a string field against a literal, a weekday against a set of days, any/all
  // over the items); everything else goes through the general value path with the same
  // semantics.
  Pred predicate(const Expr* e);

  std::size_t memo_slots() const { return memo_.size(); }

  // The general value path (expr_compiler.cpp): any expression to a function computing its value.
  Fn compile(const Expr* e);

 private:
  // The same condition in many rules ("weekday(event.time) in [sat, sun]" in hundreds of them)
  // is computed once per evaluation: conditions are pure, so the first answer stands. A runtime
  // error is not remembered, so every rule that meets it reports it.
  template <class F>
  Pred memoised(const Expr* e, F f);

  Fn name(const Expr* e);
  Fn field(const Expr* e);
  Fn binary(const Expr* e);
  Fn call(const Expr* e);

  std::map<std::string, std::size_t> memo_;
  bool element_scope_ = false;
};

}  // namespace circolo::rules::detail
