#!/usr/bin/env bash
# Malformed inputs and refused writes through the repro CLI (see harness/BUILD): each gives its
# documented exit code and a message naming the file and field, never an abort (134), a hang or
# a silently replaced file. Each check prints PASS/FAIL; the test fails if any check fails.
set -uo pipefail
REPRO="$(pwd)/harness/repro"
WORK="${TEST_TMPDIR:-$(mktemp -d)}/hardening"
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
failures=0
check() {  # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then echo "PASS $name"; else echo "FAIL $name"; failures=$((failures + 1)); cat out.txt 2>/dev/null | head -5; fi
}
CASE=(--steps 2 --frames 5 --height 64 --width 96)

# --- repro compare on malformed run reports: exit 3 (was 134 or a read past a missing key).
python3 - <<'PY'
import json
run = {"seed": 1, "latents_sha1": "a" * 40, "seconds": 0.1, "pid": 1,
       "kernels": [{"name": "k", "range": "r", "total_us": 5.0, "grid": [1, 1, 1], "block": [32, 1, 1],
                    "registers": 32, "smem": 0}]}
good = {"schema": "wan-repro.run", "schema_version": 1, "runs": [run] * 3}
json.dump(good, open("good.json", "w"))
json.dump([], open("array.json", "w"))
json.dump(dict(good, schema=5), open("schema5.json", "w"))
for field in ["seed", "latents_sha1", "seconds"]:
    json.dump(dict(good, runs=[{k: v for k, v in run.items() if k != field}] * 3), open("no_%s.json" % field, "w"))
for field in ["total_us", "grid", "block", "registers", "smem"]:
    k = {a: b for a, b in run["kernels"][0].items() if a != field}
    json.dump(dict(good, runs=[dict(run, kernels=[k])] * 3), open("no_%s.json" % field, "w"))
open("overflow.json", "w").write('{"schema": "wan-repro.run", "runs": [{"seed": 1e400}]}')
open("deep.json", "w").write("[" * 100000 + "]" * 100000)
PY
for bad in array schema5 overflow deep no_seed no_latents_sha1 no_seconds no_total_us no_grid no_block no_registers no_smem; do
  "$REPRO" compare "$bad.json" good.json > /dev/null 2> out.txt; rc=$?
  check "compare $bad.json exits 3 (got $rc)" test $rc -eq 3
  check "compare $bad.json names the file" grep -q "run report '$bad.json'" out.txt
done
"$REPRO" compare no_smem.json good.json > /dev/null 2> out.txt
check "a missing kernel field is named with its path" grep -q 'runs\[0\].kernels\[0\] has no field "smem"' out.txt
"$REPRO" compare good.json good.json > /dev/null 2> out.txt; rc=$?
check "a well-formed pair still compares (exit $rc)" test $rc -eq 0 -o $rc -eq 10
mkfifo fifo.json
timeout 20 "$REPRO" compare fifo.json good.json > /dev/null 2> out.txt; rc=$?
check "a FIFO as a report exits 2 at once (got $rc, 124 = hung)" test $rc -eq 2
check "a FIFO is named as not a regular file" grep -q "not a regular file" out.txt

# --- repro trace --diff on malformed traces: exit 3 (was 134 for non-string fields).
"$REPRO" trace "${CASE[@]}" --quiet --out a.json --dump '*:*:0:norm3' > /dev/null 2>&1
"$REPRO" trace "${CASE[@]}" --quiet --out b.json --dump '*:*:0:norm3' --debug-perturb 1:cond:0:norm3 > /dev/null 2>&1
"$REPRO" trace --diff a.json b.json > out.txt 2>&1; rc=$?
check "a perturbed trace diverges (exit 5, got $rc)" test $rc -eq 5
check "the error figures are computed from the dumps" grep -q "1 of .* elements differ" out.txt
python3 - <<'PY'
import json, struct
t = json.load(open("b.json"))
for name, edit in [("schema", 5), ("dump_file", 5), ("command", "repro")]:
    json.dump(dict(t, **{name: edit}), open("bad_%s.json" % name, "w"))
json.dump(dict(t, schema_version=4294967297), open("bad_version.json", "w"))
# A dump file whose tensors are smaller than the trace recorded (was read with A's count).
names = [k for k in json.loads(open("b.json.dumps.safetensors", "rb").read()[8:8 + struct.unpack("<Q", open("b.json.dumps.safetensors", "rb").read(8))[0]]) if k != "__metadata__"]
header = {k: {"dtype": "F32", "shape": [2], "data_offsets": [8 * i, 8 * i + 8]} for i, k in enumerate(names)}
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open("small.safetensors", "wb").write(struct.pack("<Q", len(text)) + text + b"\0" * (8 * len(names)))
json.dump(dict(t, dump_file="small.safetensors"), open("bad_dump_shape.json", "w"))
PY
# --rerun runs no program a trace file names other than this executable (unless --rerun-recorded).
python3 -c 'import json; t=json.load(open("b.json")); t["command"][0]="/bin/sh"; t["dump_file"]=""; json.dump(t, open("other_program.json","w"))'
"$REPRO" trace --diff a.json other_program.json --rerun > /dev/null 2> out.txt; rc=$?
check "--rerun refuses a trace recorded by another program (exit 2, got $rc)" test $rc -eq 2
check "the refusal names the program and --rerun-recorded" grep -q "recorded by '/bin/sh'.*--rerun-recorded" out.txt
for bad in schema dump_file command version dump_shape; do
  "$REPRO" trace --diff a.json "bad_$bad.json" > /dev/null 2> out.txt; rc=$?
  check "trace --diff with a bad $bad exits 3 (got $rc)" test $rc -eq 3
done
"$REPRO" trace --diff a.json bad_dump_shape.json > /dev/null 2> out.txt
check "a dump of the wrong shape is named" grep -q "but the trace recorded f32\[" out.txt

# --- repro golden check on a golden whose `recorded` is not an object: exit 3 before generating.
"$REPRO" golden update "${CASE[@]}" --golden-dir g --quiet > /dev/null 2>&1
golden=$(ls g/*.json)
python3 -c 'import json,sys; p=sys.argv[1]; j=json.load(open(p)); [g.__setitem__("recorded", "x") for g in j["goldens"].values()]; json.dump(j, open(p, "w"))' "$golden"
"$REPRO" golden check "${CASE[@]}" --golden-dir g --quiet > /dev/null 2> out.txt; rc=$?
check "golden check with a non-object recorded exits 3 (got $rc)" test $rc -eq 3
check "the golden message names the field" grep -q "recorded must be an object" out.txt

rm "$golden"; mkfifo "$golden"
timeout 20 "$REPRO" golden check "${CASE[@]}" --golden-dir g --quiet > /dev/null 2> out.txt; rc=$?
check "golden check with a FIFO as the golden exits 2 at once (got $rc, 124 = hung)" test $rc -eq 2
rm "$golden"

# --- Refused writes: exit 7, nothing replaced, nothing half-written.
echo keep > latents.safetensors
"$REPRO" run "${CASE[@]}" --quiet --no-golden --report r.json --save-latents latents.safetensors > /dev/null 2> out.txt; rc=$?
check "--save-latents onto an existing file exits 7 (got $rc)" test $rc -eq 7
check "the existing latents file is kept" test "$(cat latents.safetensors)" = keep
check "no report is written when the run is refused" test ! -e r.json
echo keep > c.json.dumps.safetensors
"$REPRO" trace "${CASE[@]}" --quiet --out c.json --dump '*:*:0:norm3' > /dev/null 2> out.txt; rc=$?
check "a trace whose dump file exists exits 7 (got $rc)" test $rc -eq 7
check "the existing dump file is kept" test "$(cat c.json.dumps.safetensors)" = keep
"$REPRO" trace "${CASE[@]}" --quiet --out c.json --dump '*:*:0:norm3' --force > /dev/null 2> out.txt; rc=$?
check "--force replaces the dump file (exit $rc)" test $rc -eq 0
check "the dump file is the new one" test "$(wc -c < c.json.dumps.safetensors)" -gt 1000
check "no temporary files left behind" test -z "$(find . -name '*.tmp.*')"

# --- The write sequence, seen by strace where it works: temporary O_EXCL|O_NOFOLLOW|O_CLOEXEC,
# fsync, no-replace rename (without --force), then fsync of the directory.
if command -v strace > /dev/null && strace -o /dev/null true 2> /dev/null; then
  strace -f -e trace=openat,fsync,renameat2,rename -o st.txt "$REPRO" compare good.json good.json --md w.md > /dev/null 2>&1
  tmpfd=$(sed -n 's/.*openat(AT_FDCWD, "w.md.tmp.[^"]*", O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0644) = \([0-9]*\)$/\1/p' st.txt)
  check "the temporary is created O_EXCL|O_NOFOLLOW|O_CLOEXEC" test -n "$tmpfd"
  check "the temporary is fsynced" grep -q "fsync($tmpfd) *= 0" st.txt
  check "the rename refuses to replace" grep -q 'renameat2(.*"w.md", RENAME_NOREPLACE) = 0' st.txt
  dirfd=$(sed -n 's/.*openat(AT_FDCWD, ".", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = \([0-9]*\)$/\1/p' st.txt | tail -1)
  check "the directory is fsynced after the rename" test -n "$dirfd" -a -n "$(sed -n "/RENAME_NOREPLACE/,\$p" st.txt | grep "fsync($dirfd) *= 0")"
else
  echo "SKIP write-sequence checks: strace cannot trace here"
fi

# --- repro ab stops on a write error (was ignored): exit 6. A stand-in build writes a report.
cat > fake_build.sh <<'SH'
#!/usr/bin/env bash
while [ $# -gt 0 ]; do [ "$1" = --report ] && report=$2; shift; done
cp "$(dirname "$0")/good.json" "$report"
SH
chmod +x fake_build.sh
mkdir -p ab/compare.md
"$REPRO" ab --base ./fake_build.sh --cand ./fake_build.sh --processes 1 --runs-per-process 1 --out-dir ab --force > /dev/null 2> out.txt; rc=$?
check "ab with an unwritable compare.md exits 6 (got $rc)" test $rc -eq 6
check "the ab write error names the file" grep -q "compare.md" out.txt

echo "$failures check(s) failed"
test $failures -eq 0
