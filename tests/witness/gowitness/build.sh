#!/bin/sh
# Builds gowitness (main.go beside this file) offline, in GOPATH mode, from
# Debian's golang-go and golang-golang-x-mod-dev only (tests/gobuild.sh).
# Everything goes under OUTDIR (default: a new temporary directory); the
# program's path is printed last.
#
#   tests/witness/gowitness/build.sh [OUTDIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec sh "$here/../../gobuild.sh" "$here" gowitness "$@"
