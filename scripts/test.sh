#!/usr/bin/env bash
# The test command: installs what is missing, builds Debug with AddressSanitizer and UBSan,
# starts a throwaway PostgreSQL in a temporary folder, runs every test with ctest, stops the
# database, and exits non-zero on any failure. .ci/run calls exactly this.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install-deps.sh"
# The layers first: a pure engine that includes the database fails in a second, not after a build.
"$root/scripts/check-layers.sh"

# The API contract: docs/openapi.yaml must pass a real linter (Redocly CLI) before anything is
# built; after the tests, every answer they received is validated against it (below).
"$root/scripts/npm-ci.sh" "$root/tests/contract"
(cd "$root/tests/contract" && npm run --silent lint &&
  if ! out=$(npm test --silent 2>&1); then echo "$out"; exit 1; fi)

build="$root/build/test"
# clang: GCC 12 miscompiles some coroutine code (temporaries destroyed twice); see README.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCIRCOLO_SANITIZE=ON -DCIRCOLO_WERROR=ON -DCIRCOLO_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)"

# The rules front end, what clients type below the JSON (identifiers, amounts, coupon codes,
# member tokens), and the request validators and paging cursors, under libFuzzer (ASan + UBSan)
# for a bounded time each, from the kept corpora in tests/fuzz; what they discover goes to a
# temporary folder. A crash fails the run.
fuzz="$root/build/fuzz"
cmake -S "$root" -B "$fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCIRCOLO_FUZZ=ON >/dev/null
cmake --build "$fuzz" -j"$(nproc)" --target rules_fuzz inputs_fuzz requests_fuzz
# run_fuzzer TARGET SECONDS CORPUS WHAT
run_fuzzer() {
  local corpus
  corpus=$(mktemp -d /tmp/circolo-fuzz.XXXXXX)
  echo "circolo: fuzzing $4 for $2 s"
  if ! (cd "$corpus" && "$fuzz/$1" -max_total_time="$2" -rss_limit_mb=4096 \
    -print_final_stats=1 "$corpus" "$3" >"$corpus.log" 2>&1); then
    tail -60 "$corpus.log"
    echo "circolo: the fuzzer found a failure; the input is in $corpus (crash-*)" >&2
    exit 1
  fi
  grep -E "^(Done|stat::number_of_executed_units)" "$corpus.log" || true
  rm -rf "$corpus" "$corpus.log"
}
run_fuzzer rules_fuzz "${CIRCOLO_FUZZ_SECONDS:-60}" "$root/tests/fuzz/corpus" "the rules front end"
run_fuzzer inputs_fuzz "${CIRCOLO_FUZZ_INPUTS_SECONDS:-30}" "$root/tests/fuzz/inputs_corpus" \
  "identifiers, amounts, coupon codes and member tokens"
run_fuzzer requests_fuzz "${CIRCOLO_FUZZ_REQUESTS_SECONDS:-30}" "$root/tests/fuzz/requests_corpus" \
  "the request validators and cursors"

. "$root/scripts/pg.sh"
pg_throwaway
export CIRCOLO_TEST_PG="host=127.0.0.1 port=$PG_TMP_PORT user=circolo"
export CIRCOLO_TEST_PG_RESTART="bash -c '. \"$root/scripts/pg.sh\" && pg_restart \"$PG_TMP_DIR\"'"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"

contract_log=$(mktemp -d /tmp/circolo-contract.XXXXXX)
export CIRCOLO_CONTRACT_LOG="$contract_log"
ctest --test-dir "$build" --output-on-failure --timeout 900
# Every answer the end-to-end tests received, against its operation's documented statuses,
# headers and schemas (JSON Schema 2020-12 with Ajv): a change that drifts from the file fails.
node "$root/tests/contract/check-responses.mjs" "$contract_log"
rm -rf "$contract_log"
