#!/bin/sh
# Builds gotlog (main.go beside this file) offline, in GOPATH mode, from
# Debian's golang-go and golang-golang-x-mod-dev only (tests/gobuild.sh).
#
#   tests/merkle/gotlog/build.sh [OUTDIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec sh "$here/../../gobuild.sh" "$here" gotlog "$@"
