#!/usr/bin/env bash
# get-immudb.sh - builds the reference immudb 1.9.5 server and its immuadmin/immuclient tools into
# build/ref/ for the interoperability tests (tests/e2e/test_interop_*.py). Nothing of immudb is
# committed: the Go toolchain fetches module github.com/codenotary/immudb v1.9.5 into its module cache.
# Idempotent: when the three binaries exist and report 1.9.5 it only looks and exits.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1.9.5
OUT=${IMMUDB_REF_DIR:-build/ref}
TOOLS=(immudb immuadmin immuclient)

have_all() {
    local t
    for t in "${TOOLS[@]}"; do
        [ -x "$OUT/$t" ] || return 1
    done
    # the stamp says which version (and which tools) the directory holds
    [ "$(cat "$OUT/.version" 2>/dev/null)" = "$VERSION" ]
}
if have_all; then
    echo "get-immudb: immudb $VERSION present in $OUT"
    exit 0
fi

# Go: from apt (golang) when missing; immudb 1.9.5 needs go >= 1.17
if ! command -v go >/dev/null 2>&1; then
    for d in /usr/local/go/bin /usr/lib/go/bin; do
        [ -x "$d/go" ] && { export PATH="$d:$PATH"; break; }
    done
fi
if ! command -v go >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "get-immudb: installing Go (golang) with apt-get"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends golang ca-certificates git
fi

mkdir -p "$OUT"
out_abs=$(cd "$OUT" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sealdb-get-immudb.XXXXXX")
trap 'rm -rf "$work"' EXIT

# `go install module@version` asks the proxy for the module's version list, which some proxies
# refuse; a throw-away module that requires immudb at the exact version avoids that query. Its
# replace lines are those of immudb v1.9.5's own go.mod (replace directives of a dependency do
# not apply to the main module, and without them the build picks incompatible versions).
cat >"$work/go.mod" <<EOF
module sealdb.local/immudbref

go 1.17

require github.com/codenotary/immudb v$VERSION

replace github.com/takama/daemon v0.12.0 => github.com/codenotary/daemon v0.0.0-20200507161650-3d4bcb5230f4

replace github.com/spf13/afero => github.com/spf13/afero v1.5.1
EOF
cat >"$work/tools.go" <<'EOF'
//go:build tools

// Package immudbref only pins the immudb commands so that `go mod tidy` keeps their dependencies.
package immudbref

import (
	_ "github.com/codenotary/immudb/cmd/immuadmin"
	_ "github.com/codenotary/immudb/cmd/immuclient"
	_ "github.com/codenotary/immudb/cmd/immudb"
)
EOF

export GOFLAGS="-mod=mod -buildvcs=false"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
(
    cd "$work"
    echo "get-immudb: resolving github.com/codenotary/immudb v$VERSION (go $(go env GOVERSION))"
    go mod tidy -compat=1.17 >/dev/null 2>"$work/tidy.log" || { cat "$work/tidy.log" >&2; exit 1; }
    for t in "${TOOLS[@]}"; do
        echo "get-immudb: building $t"
        go build -trimpath -ldflags "-s -w -X github.com/codenotary/immudb/cmd/version.Version=$VERSION" \
            -o "$out_abs/$t" "github.com/codenotary/immudb/cmd/$t"
    done
)
echo "$VERSION" >"$OUT/.version"
echo "get-immudb: immudb $VERSION built into $OUT"
