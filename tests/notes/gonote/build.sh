#!/bin/sh
# Builds gonote (main.go beside this file) offline, in GOPATH mode, from
# Debian's golang-go and golang-golang-x-mod-dev only, as
# tests/conformance/build.sh builds the varlink client. Everything goes
# under OUTDIR (default: a new temporary directory); the program's path is
# printed last.
#
#   tests/notes/gonote/build.sh [OUTDIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
note_src=/usr/share/gocode/src/golang.org/x/mod/sumdb/note

out=${1:-}
[ -n "$out" ] || out=$(mktemp -d /tmp/vaultd-gonote-build.XXXXXX)
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: no 'go' command: install Debian's golang-go (make deps-check does)" >&2
    exit 3
fi
if [ ! -f "$note_src/note.go" ]; then
    echo "build.sh: no $note_src: install Debian's golang-golang-x-mod-dev (make deps-check does)" >&2
    exit 3
fi

# GOPATH mode, nothing fetched: only the Debian-packaged sources.
export GO111MODULE=off GOPROXY=off GOFLAGS= GOENV=off GOTOOLCHAIN=local CGO_ENABLED=0
export GOPATH="$out/gopath:/usr/share/gocode" GOCACHE="$out/gocache"

src="$out/gopath/src/gonote"
rm -rf "$src"
mkdir -p "$src" "$out/bin"
cp "$here"/*.go "$src/"
go vet gonote
go build -o "$out/bin/gonote" gonote
echo "$out/bin/gonote"
