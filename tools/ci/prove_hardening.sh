#!/usr/bin/env bash
# Runs the CLI hardening checks (harness/cli/repro_hardening_test.sh) and the fuzz regression
# inputs against two `repro` binaries, e.g. the one built at c11a890 (where issue 16's findings
# were made) and the current one, and prints one line per check: old verdict, new verdict.
# A finding is proven when its check fails (or the old binary crashes) on the old build and
# passes now. Usage: tools/ci/prove_hardening.sh OLD_REPRO NEW_REPRO [OUTDIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
old=$(realpath "$1"); new=$(realpath "$2"); out=$(realpath -m "${3:-/tmp/prove-hardening}")
rm -rf "$out"; mkdir -p "$out"
for side in old new; do
  bin=$([[ $side == old ]] && echo "$old" || echo "$new")
  mkdir -p "$out/$side/harness"
  ln -sf "$bin" "$out/$side/harness/repro"
  (cd "$out/$side" && TEST_TMPDIR="$out/$side/tmp" bash "$OLDPWD/harness/cli/repro_hardening_test.sh" > "$out/$side/checks.log" 2>&1)
  grep -E "^(PASS|FAIL) " "$out/$side/checks.log" | sed -E 's/ \(got [^)]*\)//; s/ \(exit [^)]*\)//' > "$out/$side/verdicts.txt"
done
# The fuzz regression inputs that are run reports or traces, through the CLI: each must end with
# a documented exit code (not an abort 134, a segfault 139, a hang 124 or an internal error 70).
for side in old new; do
  bin=$([[ $side == old ]] && echo "$old" || echo "$new")
  good="$out/good.json"
  python3 -c 'import json; run={"seed":1,"latents_sha1":"a"*40,"seconds":0.1,"pid":1,"kernels":[]}; json.dump({"schema":"wan-repro.run","schema_version":1,"runs":[run]*3}, open("'"$good"'","w"))'
  for f in tests/fuzz/corpus/run_report/regression-*; do
    [[ -f "$f" ]] || continue
    timeout 20 "$bin" compare "$f" "$good" > /dev/null 2>&1; rc=$?
    verdict=$([[ $rc -le 11 ]] && echo PASS || echo FAIL)
    echo "$verdict compare $(basename "$f") ends with a documented code (exit $rc)" >> "$out/$side/fuzz.txt"
  done
  for f in tests/fuzz/corpus/trace_file/regression-*; do
    [[ -f "$f" ]] || continue
    timeout 20 "$bin" trace --diff "$f" "$f" > /dev/null 2>&1; rc=$?
    verdict=$([[ $rc -eq 3 ]] && echo PASS || echo FAIL)  # a malformed trace must be refused, not diffed
    echo "$verdict trace --diff $(basename "$f") exits 3 (exit $rc)" >> "$out/$side/fuzz.txt"
  done
done
paste -d'|' <(cut -d' ' -f1 "$out/old/verdicts.txt") <(cat "$out/new/verdicts.txt") > "$out/table.txt"
echo "CLI checks (old | new check):"
awk -F'|' '{printf "  %-4s -> %s\n", $1, $2}' "$out/table.txt"
echo "fuzz regression inputs through the CLI (old | new):"
paste -d'|' "$out/old/fuzz.txt" "$out/new/fuzz.txt" | awk -F'|' '{n = split($1, a, " "); printf "  %-4s %-8s -> %s\n", a[1], a[n], $2}'
proven=$(awk -F'|' '$1 == "FAIL" && $2 ~ /^PASS/' "$out/table.txt" | wc -l)
echo "$proven of $(wc -l < "$out/table.txt") CLI checks fail on the old build and pass now"
