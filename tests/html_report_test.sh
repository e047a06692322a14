#!/usr/bin/env bash
# The HTML comparison report renders in headless Chromium (Debian package chromium) and its
# script draws the plots: one <circle> per end-to-end sample in the run scatter.
set -uo pipefail
REPRO="$(pwd)/harness/repro"
WORK="${TEST_TMPDIR:-$(mktemp -d)}/html"
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$CHROMIUM" ]]; then
  echo "FAIL: chromium is not installed; run tools/setup.sh (it installs Debian's chromium)"
  exit 1
fi
"$REPRO" run --device cpu --runs 3 --steps 1 --frames 1 --height 32 --width 32 --no-golden --quiet --report a.json || exit 1
"$REPRO" run --device cpu --runs 4 --steps 1 --frames 1 --height 32 --width 32 --no-golden --quiet --report b.json || exit 1
"$REPRO" compare a.json b.json --html report.html > report.md
rc=$?
[[ $rc -eq 0 || $rc -eq 10 ]] || { echo "FAIL: compare exited $rc"; exit 1; }
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir="$WORK/profile" \
  --dump-dom "file://$WORK/report.html" > dom.html 2> chromium.log
failures=0
check() { if "${@:2}"; then echo "PASS $1"; else echo "FAIL $1"; failures=$((failures + 1)); fi; }
check "the page's script ran" grep -q 'data-rendered="true"' dom.html
check "the run scatter plot exists" grep -q 'id="scatter-svg"' dom.html
circles=$(grep -o '<circle[^>]*data-series="' dom.html | wc -l)
check "one point per run in the scatter (7, got $circles)" test "$circles" -eq 7
check "the verdict heading is filled in" grep -q '<h1 id="verdict">repro compare: ' dom.html
[[ $failures -eq 0 ]] || { tail -20 chromium.log; exit 1; }
