#!/bin/sh
# Builds one Go test program (the *.go files of DIR, package main) offline,
# in GOPATH mode, from Debian's golang-go and golang-golang-x-mod-dev only
# (tests/conformance/build.sh does the same for the varlink client).
# Everything goes under OUTDIR (default: a new temporary directory); the
# program's path is printed last.
#
#   tests/gobuild.sh DIR NAME [OUTDIR]
set -eu
dir=$(cd "$1" && pwd)
name=$2
mod_src=/usr/share/gocode/src/golang.org/x/mod/sumdb

out=${3:-}
[ -n "$out" ] || out=$(mktemp -d "/tmp/vaultd-$name-build.XXXXXX")
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! command -v go >/dev/null 2>&1; then
    echo "gobuild.sh: no 'go' command: install Debian's golang-go (make deps-check does)" >&2
    exit 3
fi
if [ ! -f "$mod_src/note/note.go" ] || [ ! -f "$mod_src/tlog/tlog.go" ]; then
    echo "gobuild.sh: no $mod_src: install Debian's golang-golang-x-mod-dev (make deps-check does)" >&2
    exit 3
fi

# GOPATH mode, nothing fetched: only the Debian-packaged sources.
export GO111MODULE=off GOPROXY=off GOFLAGS= GOENV=off GOTOOLCHAIN=local CGO_ENABLED=0
export GOPATH="$out/gopath:/usr/share/gocode" GOCACHE="$out/gocache"

src="$out/gopath/src/$name"
rm -rf "$src"
mkdir -p "$src" "$out/bin"
cp "$dir"/*.go "$src/"
go vet "$name"
go build -o "$out/bin/$name" "$name"
echo "$out/bin/$name"
