#!/usr/bin/env bash
# Builds jfguard's Debian package: a static binary stamped with the version and
# the commit (`jfguard version` shows both), then the .deb around it with nfpm (a
# Go tool of this module, so nothing else needs installing).
#
#   deploy/build-deb.sh [VERSION]     # default 0.1.0-dev
#
# Writes dist/jfguard_<version>_<arch>.deb (OUT_DIR=dir to change) and prints its
# path on the last line. GOARCH=arm64 builds for another architecture.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

version=${1:-0.1.0-dev}
out=${OUT_DIR:-dist}
commit=$(git rev-parse HEAD 2>/dev/null || true)
if [ -n "$commit" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit-modified"
fi
GOARCH=${GOARCH:-$(go env GOARCH)}
export GOARCH

mkdir -p "$out"
out=$(cd "$out" && pwd)
pkg=github.com/jfguard/jfguard/cmd/jfguard/cli
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X $pkg.Version=$version -X $pkg.Commit=$commit" \
  -o "$out/jfguard" ./cmd/jfguard

JFGUARD_BINARY="$out/jfguard" JFGUARD_VERSION="$version" \
  go tool nfpm package --config deploy/nfpm.yaml --packager deb --target "$out/" >&2
ls "$out"/jfguard_*"${version//-/\~}"*_"$GOARCH".deb 2>/dev/null | tail -n 1
