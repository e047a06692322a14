#!/usr/bin/env bash
# The HTML comparison report renders in headless Chromium (Debian package chromium) and its
# script draws the plots: one <circle> per end-to-end sample in the run scatter, axes with
# labels and units, a legend naming base and candidate, the forest plot of intervals against
# the minimum effect, "none" for empty sections; and a screenshot of the page is not blank.
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
check "the forest plot exists" grep -q 'id="forest-svg"' dom.html
check "the forest plot has an interval for the end to end" grep -q 'class="interval"' dom.html
check "the scatter has axis labels with units" grep -q 'loop time (ms)' dom.html
check "the legend names base and candidate" grep -q 'class="legend">candidate ' dom.html
check "an empty section says none" grep -q '<li>none</li>' dom.html
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir="$WORK/profile" \
  --window-size=1100,1400 --screenshot="$WORK/shot.png" "file://$WORK/report.html" >> chromium.log 2>&1
# The screenshot: decode the PNG (stdlib zlib) and count distinct colours: a blank or failed
# render has one or two.
colours=$(python3 - "$WORK/shot.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, w, h, ctype = 8, b"", 0, 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
    if kind == b"IHDR": w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT": idat += body
bpp = {2: 3, 6: 4}[ctype]
raw, stride, prev, seen = zlib.decompress(idat), w * bpp, bytearray(w * bpp), set()
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0; b = prev[i]; c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        for x in range(0, w, 4): seen.add(bytes(line[x * bpp:x * bpp + 3]))
    prev = line
print(len(seen))
PY
)
check "the screenshot is not blank ($colours colours)" test "${colours:-0}" -gt 8
[[ $failures -eq 0 ]] || { tail -20 chromium.log; exit 1; }
