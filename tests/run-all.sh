#!/usr/bin/env bash
# run-all.sh - runs every test of sealdb (unit binaries, crash tests, end-to-end pytest) and prints
# one closing "N passed, N failed" line for the whole run. Called by `make test`.
set -uo pipefail
B=${B:-build}
passed=0; failed=0; failed_names=()

count() {   # parse "name: N passed, M failed" lines from a runner's output
    local line p f
    line=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
}

log=$(mktemp)
for t in "$B"/tests/test_*; do
    [ -x "$t" ] || continue
    "$t" >"$log" 2>&1; rc=$?
    cat "$log"
    count "$log"
    if [ $rc -ne 0 ] && ! grep -qE ' [1-9][0-9]* failed' "$log"; then
        failed=$((failed + 1)); echo "FAIL $(basename "$t"): exit $rc"
    fi
    [ $rc -ne 0 ] && failed_names+=("$(basename "$t")")
done

# crash tests: each program prints its own "name: N passed, M failed" line
for t in "$B"/tests/crash/*; do
    [ -x "$t" ] && [ "${t%.d}" = "$t" ] && [ "${t%.o}" = "$t" ] || continue
    "$t" >"$log" 2>&1; rc=$?
    cat "$log"; count "$log"
    if [ $rc -ne 0 ]; then failed_names+=("$(basename "$t")"); grep -qE ' [1-9][0-9]* failed' "$log" || failed=$((failed + 1)); fi
done

# end-to-end tests against the real binaries, with the official immudb-py SDK
if ls tests/e2e/test_*.py >/dev/null 2>&1 && [ -x "$B/sealdb" ]; then
    py=build/venv/bin/python
    if [ ! -x "$py" ] || ! "$py" -c 'import immudb, pytest, h2' 2>/dev/null; then
        echo "e2e: build/venv lacks immudb-py, pytest or h2: run scripts/install-deps.sh --test"
        failed=$((failed + 1)); failed_names+=("e2e (no venv)")
    else
        SEALDB_BIN="$B/sealdb" SEAL_BIN="$B/seal" "$py" -m pytest -q -p no:cacheprovider tests/e2e tests/attack >"$log" 2>&1; rc=$?
        cat "$log"
        p=$(grep -oE '[0-9]+ passed' "$log" | tail -n 1 | grep -oE '[0-9]+'); f=$(grep -oE '[0-9]+ (failed|error)' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
        passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
        if [ $rc -ne 0 ]; then failed_names+=("e2e"); [ "${f:-0}" -gt 0 ] || failed=$((failed + 1)); fi
    fi
fi
rm -f "$log"

[ ${#failed_names[@]} -gt 0 ] && echo "failing: ${failed_names[*]}"
echo "total: $passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
