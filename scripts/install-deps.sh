#!/usr/bin/env bash
# install-deps.sh - installs what sealdb needs to build (and, with --test, to run its tests):
# Debian/Ubuntu packages via apt-get (through sudo when not root), Python test packages via pip,
# and (--test) the reference immudb 1.9.5 built by scripts/get-immudb.sh.
# Idempotent: when everything is present it only looks (one dpkg-query, one python start), so
# `make run` and `make test` call it every time.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PKGS=(build-essential pkg-config libssl-dev libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
            libmicrohttpd-dev libcrypt-dev libcjson-dev libsqlite3-dev libpq-dev)
# systemd and man-db: `systemd-analyze verify` of the installed unit and its man page (install test);
# libfaketime: tests/e2e/test_truncate.py makes days-old data by running the server in the past;
# postgresql-15: the sealdb-cdc tests run a real PostgreSQL (binaries in /usr/lib/postgresql/15/bin);
# chromium, chromium-driver: the web console's browser tests (tests/e2e/test_console_browser.py, Selenium);
# nodejs: the console's verifier under Node's test runner (tests/js/)
TEST_PKGS=(clang python3 python3-venv python3-pip curl systemd man-db libfaketime postgresql-15
           chromium chromium-driver nodejs)
PY_TEST_PKGS=(immudb-py==1.5.0 pytest h2==4.4.1 selenium==4.51.0)

want=("${BUILD_PKGS[@]}")
with_test=0
[ "${1:-}" = "--test" ] && { with_test=1; want+=("${TEST_PKGS[@]}"); }

if [ $with_test = 1 ]; then
    # the fuzzers need clang's runtime of the same major version (Debian 12: clang 14)
    clang_major=14
    if command -v clang >/dev/null 2>&1; then
        v=$(clang -dumpversion 2>/dev/null || true)
        [ -n "${v%%.*}" ] && clang_major=${v%%.*}
    fi
    want+=("libclang-rt-${clang_major}-dev")
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: this is not a Debian/Ubuntu system; install these packages (Debian names) by hand:" >&2
    echo "  ${want[*]}" >&2
    exit 1
fi

declare -A have=()
while read -r name _ _ state; do
    [ "$state" = installed ] && have[$name]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${want[@]}" 2>/dev/null || true)
missing=()
for p in "${want[@]}"; do [ -n "${have[$p]:-}" ] || missing+=("$p"); done

if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    echo "install-deps: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ $with_test = 1 ]; then
    # Python test environment in build/venv, so the system Python stays untouched. Checked by
    # installed versions (importing immudb would cost half a second on every `make test`).
    venv=build/venv
    venv_ok() {
        [ -x $venv/bin/python ] && $venv/bin/python - "${PY_TEST_PKGS[@]}" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version
for spec in sys.argv[1:]:
    name, _, pin = spec.partition("==")
    try:
        v = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if pin and v != pin:
        sys.exit(1)
EOF
    }
    if ! venv_ok; then
        echo "install-deps: setting up $venv (${PY_TEST_PKGS[*]})"
        python3 -m venv $venv
        $venv/bin/pip install -q --disable-pip-version-check "${PY_TEST_PKGS[@]}"
        venv_ok || { echo "install-deps: $venv still lacks ${PY_TEST_PKGS[*]}" >&2; exit 1; }
    fi
    # the reference immudb 1.9.5 (and immuadmin) of the interoperability tests, in build/ref
    bash scripts/get-immudb.sh
fi
echo "install-deps: all dependencies present"
