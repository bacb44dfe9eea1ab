#!/bin/sh
# Builds vaultd_VERSION_ARCH.deb into OUTDIR and checks it with lintian.
#
# dpkg-buildpackage wants debian/ at the top of the source tree, and the
# repository keeps its packaging in packaging/debian: the tree (without
# build outputs) is copied to a temporary directory with packaging/debian
# as debian/. The build runs neither apt nor the test suites.
#
#   packaging/mkdeb.sh OUTDIR
set -eu
out=${1:?usage: mkdeb.sh OUTDIR}
top=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^VERSION *:= *//p' "$top/Makefile")
changelog=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
if [ "$version" != "$changelog" ]; then
    echo "mkdeb: Makefile VERSION is $version but packaging/debian/changelog says $changelog;" \
         "add a changelog entry (dch -v $version)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
src="$tmp/vaultd-$version"
mkdir "$src"
# What .gitignore ignores stays behind, and so does the repository.
tar -C "$top" --exclude=./.git --exclude=./build --exclude=./demo --exclude=__pycache__ \
    --exclude='*.pyc' --exclude=./tests/fuzz/out -cf - . | tar -C "$src" -xf -
cp -r "$top/packaging/debian" "$src/debian"
(cd "$src" && DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -b -us -uc >"$tmp/build.log" 2>&1) || {
    tail -40 "$tmp/build.log" >&2
    echo "mkdeb: dpkg-buildpackage failed (log above)" >&2
    exit 1
}
arch=$(dpkg --print-architecture)
deb="vaultd_${version}_${arch}.deb"
mkdir -p "$out"
cp "$tmp/$deb" "$out/$deb"
echo "mkdeb: built $out/$deb"
# Errors fail the build; warnings are shown.
lintian --fail-on error --info --display-level ">=warning" "$out/$deb"
echo "mkdeb: lintian found no errors"
