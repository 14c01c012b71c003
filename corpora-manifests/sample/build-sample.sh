#!/usr/bin/env bash
# Rebuilds the bundled sample corpus from Debian packages (needs root or apt download rights, dpkg-deb, Node 20).
#   corpora-manifests/sample/build-sample.sh [WORK_DIR]
# Writes corpora-manifests/sample/*.jsonl.zst, COUNTS.md and copyright/ (commit them).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="${1:-$(mktemp -d)}"
PKGS=(debian-reference-en debian-reference-zh-cn debian-reference-zh-tw manpages-zh manpages fortunes-zh fortunes-min fortunes)
mkdir -p "$WORK/debs" "$WORK/x"
if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq || true; fi
cd "$WORK/debs"
apt-get download "${PKGS[@]}"
for p in "${PKGS[@]}"; do
  deb=$(ls "${p}"_*.deb | head -n1)
  rm -rf "$WORK/x/$p"; mkdir -p "$WORK/x/$p"
  dpkg-deb -x "$deb" "$WORK/x/$p"
  dpkg-deb -f "$deb" Version > "$WORK/x/$p/.version"
  echo "$p $(cat "$WORK/x/$p/.version") $(sha256sum "$deb" | cut -c1-64)" >> "$WORK/x/PACKAGES"
done
cd "$ROOT"
npx tsx corpora-manifests/sample/convert.ts "$WORK/x" "$HERE"
cp "$WORK/x/PACKAGES" "$HERE/PACKAGES.txt"
echo "sample written to $HERE (work dir $WORK)"
