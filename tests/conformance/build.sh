#!/bin/sh
# Builds the Go varlink conformance client offline, in GOPATH mode, from
# Debian's golang-go and golang-github-varlink-go-dev:
#   1. varlink-go-interface-generator from the package's own source;
#   2. Go bindings for every docs/*.varlink, made with it;
#   3. vaultd-conformance (this directory's *.go) against those bindings.
# Everything goes under OUTDIR (default: a new temporary directory); the
# program's path is printed last.
#
#   tests/conformance/build.sh [OUTDIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
varlink_src=/usr/share/gocode/src/github.com/varlink/go

out=${1:-}
[ -n "$out" ] || out=$(mktemp -d /tmp/vaultd-conformance-build.XXXXXX)
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: no 'go' command: install Debian's golang-go (make deps-check does)" >&2
    exit 3
fi
if [ ! -f "$varlink_src/varlink/connection.go" ] || [ ! -f "$varlink_src/cmd/varlink-go-interface-generator/main.go" ]; then
    echo "build.sh: no $varlink_src: install Debian's golang-github-varlink-go-dev (make deps-check does)" >&2
    exit 3
fi

# GOPATH mode, nothing fetched: only the Debian-packaged sources.
export GO111MODULE=off GOPROXY=off GOFLAGS= GOENV=off GOTOOLCHAIN=local CGO_ENABLED=0
export GOPATH="$out/gopath:/usr/share/gocode" GOCACHE="$out/gocache"

src="$out/gopath/src/vaultdconformance"
rm -rf "$src"
mkdir -p "$src/gen" "$out/bin"
go build -o "$out/bin/varlink-go-interface-generator" github.com/varlink/go/cmd/varlink-go-interface-generator

for f in "$repo"/docs/*.varlink; do
    name=$(basename "$f" .varlink)
    pkg=$(echo "$name" | tr -d .)
    mkdir -p "$src/gen/$pkg"
    cp "$f" "$src/gen/$pkg/$name.varlink"
    # The generator writes <package>.go beside its input.
    "$out/bin/varlink-go-interface-generator" "$src/gen/$pkg/$name.varlink"
done

cp "$here"/*.go "$src/"
go vet vaultdconformance
go build -o "$out/bin/vaultd-conformance" vaultdconformance
chmod -R a+rX "$out/bin"
echo "$out/bin/vaultd-conformance"
