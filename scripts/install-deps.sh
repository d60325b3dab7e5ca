#!/usr/bin/env bash
# install-deps.sh - installs what sealdb needs to build (and, with --test, to run its tests):
# Debian/Ubuntu packages via apt-get (through sudo when not root), Python test packages via pip.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PKGS=(build-essential pkg-config libssl-dev libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
            liblmdb-dev libmicrohttpd-dev libcrypt-dev libcjson-dev libsqlite3-dev)
TEST_PKGS=(clang libclang-rt-14-dev python3 python3-venv python3-pip curl)
PY_TEST_PKGS=(immudb-py==1.5.0 pytest h2==4.4.1)

want=("${BUILD_PKGS[@]}")
with_test=0
[ "${1:-}" = "--test" ] && { with_test=1; want+=("${TEST_PKGS[@]}"); }

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: this is not a Debian/Ubuntu system; install these packages (Debian names) by hand:" >&2
    echo "  ${want[*]}" >&2
    exit 1
fi

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# clang's runtime package is versioned; take the one matching the installed clang when possible
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
    # Python test environment in build/venv, so the system Python stays untouched.
    venv=build/venv
    if [ ! -x $venv/bin/pytest ] || ! $venv/bin/python -c 'import immudb, pytest, h2' 2>/dev/null; then
        python3 -m venv $venv
        $venv/bin/pip install -q --disable-pip-version-check "${PY_TEST_PKGS[@]}"
    fi
fi
echo "install-deps: all dependencies present"
