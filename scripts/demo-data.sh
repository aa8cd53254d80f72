#!/usr/bin/env bash
# demo-data.sh URL ADMIN_KEY: applies the demo program (examples/demo.rules) unless a program is
# active, and creates the two demo members (idempotent: run it again and nothing changes).
# Used by run.sh on the first run and by the README tour's test.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
url=${1:?usage: demo-data.sh URL ADMIN_KEY}
key=${2:?usage: demo-data.sh URL ADMIN_KEY}
auth=(-H "Authorization: Bearer $key" -H "Content-Type: application/json")
if ! curl -sf "${auth[@]}" "$url/v1/admin/program" >/dev/null; then
  jq -n --rawfile source "$root/examples/demo.rules" '{source: $source}' |
    curl -s --fail-with-body "${auth[@]}" -H "Idempotency-Key: demo-program" -d @- \
      "$url/v1/admin/program" >/dev/null
  echo "circolo: applied the demo program (examples/demo.rules)" >&2
fi
curl -s --fail-with-body "${auth[@]}" -H "Idempotency-Key: demo-member-giulia" "$url/v1/members" -d \
  '{"identifiers":[{"type":"card","value":"4000123412341234"},{"type":"email","value":"giulia@example.com"}],"profile":{"name":"Giulia Rossi"}}' >/dev/null
curl -s --fail-with-body "${auth[@]}" -H "Idempotency-Key: demo-member-marco" "$url/v1/members" -d \
  '{"identifiers":[{"type":"card","value":"4000999988887777"},{"type":"app","value":"marco-app-1"}],"profile":{"name":"Marco Bianchi"}}' >/dev/null
echo "circolo: the demo members exist (cards 4000123412341234 and 4000999988887777)" >&2
