#!/usr/bin/env bash
# Installs a Node package folder's dependencies exactly as its package-lock.json says (npm ci),
# only when node_modules is missing or older than the lock file. Needs Node.js 20.19+ (Redocly
# CLI's floor); says so clearly rather than failing deep inside npm.
set -euo pipefail
dir=${1:?usage: npm-ci.sh <folder with package-lock.json>}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "circolo: node and npm are needed for $dir (scripts/install-deps.sh installs them)" >&2
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "circolo: Node.js 20.19 or newer is needed for $dir; this machine has $(node --version)" >&2
  exit 1
fi
stamp="$dir/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
