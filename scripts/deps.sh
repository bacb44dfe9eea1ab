#!/bin/sh
# Installs the Debian 12 packages a make target needs, when any is missing.
# As root it runs apt-get; otherwise it prints the command to run.
#
#   deps.sh [build]  compile vaultd and vaultctl (make, make demo)
#   deps.sh check    also what `make check` runs: cmocka, pytest, the Go
#                    varlink conformance client, Go's signed-note package
#                    (the differential note test), man page lint, systemd
#                    tools, the time zones, and the real programs the audit
#                    report and CSV are checked in: Chromium (headless),
#                    poppler's pdftotext and LibreOffice Calc (no GUI)
#   deps.sh lint     clang-format, cppcheck, clang
#   deps.sh fuzz     clang and libFuzzer
#   deps.sh system   systemd-nspawn and the Debian packaging tools
#                    (make deb, make check-system)
#   deps.sh bench    what make bench runs besides vaultd: PostgreSQL 15 (the
#                    peer; its package holds initdb, pgcrypto and pgbench)
#
# .ci/run removes what `build` and `check` install, so that every CI run
# proves these lists complete on a bare machine.
set -eu
build="build-essential pkg-config libsodium-dev liblmdb-dev libsystemd-dev libseccomp-dev libunistring-dev
libjansson-dev python3"
check="$build libcmocka-dev python3-pytest python3-nacl util-linux mount lmdb-utils systemd
golang-go golang-github-varlink-go-dev golang-golang-x-mod-dev mandoc tzdata chromium poppler-utils libreoffice-calc-nogui"
[ $# -eq 0 ] && set -- build
pkgs=""
for set in "$@"; do
    case "$set" in
    build) pkgs="$pkgs $build" ;;
    check) pkgs="$pkgs $check" ;;
    clang) pkgs="$pkgs clang" ;;
    lint) pkgs="$pkgs $build clang clang-format cppcheck" ;;
    fuzz) pkgs="$pkgs $build clang libclang-rt-14-dev" ;;
    system) pkgs="$pkgs $check systemd-container debhelper devscripts lintian fakeroot" ;;
    bench) pkgs="$pkgs $build postgresql-15" ;;
    *) echo "deps: unknown set '$set' (build, check, lint, fuzz, system, bench)" >&2; exit 2 ;;
    esac
done
missing=""
for p in $pkgs; do
    case " $missing " in *" $p "*) continue ;; esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; run: sudo apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
