#!/usr/bin/env bash
# The house's rooms, checked: engine/ and rules/ are pure (nothing from db/, api/, SOCI, libpq,
# Asio or Beast), and db/ knows nothing of api/. Prints every offending include; exits 1 if any.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
status=0
check() {  # check DIRS... -- PATTERN WHY
  local dirs=() pattern why
  while [[ $1 != -- ]]; do dirs+=("$1"); shift; done
  pattern=$2 why=$3
  local found
  found=$(grep -rnE --include='*.cpp' --include='*.hpp' --include='*.h' "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" "${dirs[@]}" || true)
  if [[ -n $found ]]; then
    echo "check-layers: $why:" >&2
    echo "$found" >&2
    status=1
  fi
}
check engine rules -- 'circolo/db/|circolo/api/|soci|libpq|postgresql/|boost/asio|boost/beast' \
  "engine/ and rules/ are pure: no database, no HTTP"
check db -- 'circolo/api/|boost/beast' "db/ does not know the HTTP layer"
# The engine's libraries link nothing but each other (CMake): no SOCI, no Asio.
if grep -vE '^[[:space:]]*#' engine/CMakeLists.txt rules/CMakeLists.txt |
  grep -E 'SOCI|circolo_asio|circolo::db|circolo::api|Boost' >&2; then
  echo "check-layers: engine/ or rules/ link a library of another layer" >&2
  status=1
fi
[[ $status == 0 ]] && echo "check-layers: engine/ and rules/ are pure, db/ knows no api/"
exit $status
