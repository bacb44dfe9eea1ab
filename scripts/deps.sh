#!/bin/sh
# Installs the Debian 12 packages vaultd needs to build and test, when any
# is missing. As root it runs apt-get; otherwise it prints the command.
# The tests use systemd's tools (systemd-analyze, systemd-socket-activate),
# not systemd as PID 1.
set -eu
pkgs="build-essential pkg-config libsodium-dev liblmdb-dev libsystemd-dev libseccomp-dev
libjansson-dev libcmocka-dev python3 python3-pytest python3-nacl util-linux mount lmdb-utils
systemd"
# `deps.sh fuzz`: also what libFuzzer builds need.
[ "${1:-}" = fuzz ] && pkgs="$pkgs clang libclang-rt-14-dev"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; run: sudo apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
