#!/usr/bin/env bash
# Installs every Debian package Circolo needs to build, test and run. Idempotent: packages
# already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  clang-14 libclang-rt-14-dev
  libboost1.81-dev libboost-url1.81-dev
  libsoci-dev libsoci-postgresql4.0 libpq-dev
  nlohmann-json3-dev libsimdjson-dev libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev libicu-dev libcli11-dev libspdlog-dev libfmt-dev libhowardhinnant-date-dev
  postgresql-15 postgresql-client-15 postgresql-15-auto-failover pg-auto-failover-cli
  clang-format curl jq tzdata python3
  chromium  # the e2e tests open the pages of the CLI's --html in it, headless
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node.js and npm (for the OpenAPI checks and the TypeScript SDK's tests, not for the server):
# a machine that has them (Debian's or NodeSource's) keeps its own; else Debian's.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
echo "circolo: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
