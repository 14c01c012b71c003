#!/usr/bin/env bash
# Builds the labelled prep evaluation set (issue 20) from Debian 12 documentation packages that the bundled sample does
# not use: Simplified and Traditional Chinese, Japanese and English, prose, reference tables, shell/code-heavy pages and
# partly translated (mixed-language) pages. The last line of packages (the sixth judged set): the Chinese man pages
# (manpages-zh, zh_CN and zh_TW), AisleRiot's solitaire rules (zh_CN) and the help of GNOME Logs (zh_CN) and Document
# Scanner (zh_TW). The seventh judged set draws other pages of the LibreOffice packages above (see convert.ts).
#   bench/prep-eval/build.sh [WORK_DIR]        (needs apt-get download + dpkg-deb, Node 20; ~90 MB of .deb files)
# Writes WORK_DIR/docs.jsonl (default out/prep-eval/docs.jsonl) and WORK_DIR/PACKAGES (name, version, sha256 of the
# .deb). The labels (bench/prep-eval/labels.jsonl) name each document by id + sha256 of its text; a document whose text
# no longer matches its hash (another package version) is reported and left out by the benchmark.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="${1:-$ROOT/out/prep-eval}"
PKGS=(debian-faq-zh-cn maint-guide-zh-cn maint-guide-zh-tw maint-guide-ja maint-guide debian-faq
  libreoffice-help-zh-cn libreoffice-help-zh-tw libreoffice-help-ja libreoffice-help-en-us
  lilypond-doc-html-zh manpages-ja debian-reference-ja git-man debian-handbook installation-guide-amd64 gnome-user-docs
  kicad-doc-zh gimp-help-zh-cn debian-edu-doc-zh-cn
  evince-common gedit-common eog gnome-calculator totem-common cheese-common baobab file-roller
  evolution-common zenity-common brasero-common gnome-boxes accerciser gnome-music
  manpages-zh aisleriot gnome-logs simple-scan)
mkdir -p "$WORK/debs" "$WORK/x"
if [ "$(id -u)" = 0 ]; then apt-get update -qq || true; else sudo apt-get update -qq || true; fi
cd "$WORK/debs"
apt-get download "${PKGS[@]}"
: > "$WORK/PACKAGES"
for p in "${PKGS[@]}"; do
  deb=$(ls "${p}"_*.deb | head -n1)
  rm -rf "$WORK/x/$p"; mkdir -p "$WORK/x/$p"
  dpkg-deb -x "$deb" "$WORK/x/$p"
  dpkg-deb -f "$deb" Version > "$WORK/x/$p/.version"
  echo "$p $(cat "$WORK/x/$p/.version") $(sha256sum "$deb" | cut -c1-64)" >> "$WORK/PACKAGES"
done
cd "$ROOT"
npx tsx bench/prep-eval/convert.ts "$WORK/x" "$WORK/docs.jsonl"
echo "evaluation documents written to $WORK/docs.jsonl; packages in $WORK/PACKAGES"
