#!/usr/bin/env bash
# hardening_check.sh [--fortify] BINARY...: each binary is a PIE with full RELRO (BIND_NOW), a
# non-executable stack and stack protector; with --fortify (optimised builds) it also calls
# FORTIFY's checked functions. Exit 1 with what is missing.
set -euo pipefail
fortify=0
if [ "${1:-}" = "--fortify" ]; then fortify=1; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--fortify] BINARY..." >&2; exit 2; }
status=0
for binary in "$@"; do
  missing=()
  header=$(readelf -hW "$binary")
  program=$(readelf -lW "$binary")
  dynamic=$(readelf -dW "$binary")
  symbols=$(readelf --dyn-syms -W "$binary")
  grep -q 'Type:[[:space:]]*DYN' <<<"$header" || missing+=("PIE")
  grep -q 'GNU_RELRO' <<<"$program" || missing+=("RELRO")
  grep -Eq 'BIND_NOW|FLAGS_1.*NOW' <<<"$dynamic" || missing+=("BIND_NOW (full RELRO)")
  if grep -E 'GNU_STACK' <<<"$program" | grep -q 'RWE'; then missing+=("non-executable stack"); fi
  grep -q '__stack_chk_fail' <<<"$symbols" || missing+=("stack protector")
  if [ $fortify = 1 ] && ! grep -Eq '__[a-z_]+_chk(@|$| )' <<<"$(grep -v __stack_chk_fail <<<"$symbols")"; then
    missing+=("FORTIFY")
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    echo "$binary: not hardened: missing ${missing[*]}" >&2
    status=1
  else
    echo "$binary: hardened (PIE, full RELRO, NX stack, stack protector$([ $fortify = 1 ] && echo ', FORTIFY'))"
  fi
done
exit $status
