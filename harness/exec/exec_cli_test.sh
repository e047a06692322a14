#!/usr/bin/env bash
# `repro exec` and `repro ab --base-cmd/--cand-cmd` on the CPU (see harness/BUILD). Each check
# prints PASS/FAIL; the test fails if any check fails.
set -uo pipefail
REPRO="$(pwd)/harness/repro"
PROG="$(pwd)/harness/nvtx_test_program"
LIB="$(pwd)/harness/librepro_inject.so"
WORK="${TEST_TMPDIR:-$(mktemp -d)}/exec"
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
failures=0
check() {  # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then echo "PASS $name"; else echo "FAIL $name"; failures=$((failures + 1)); tail -5 out.txt 2>/dev/null; fi
}
field() {  # field FILE PYTHON_EXPR (r = the report)
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"
}
X=("$REPRO" exec --inject-lib "$LIB" --quiet)

# 1. Deterministic output, hashed; three fresh processes, each with its own run directory.
"${X[@]}" --runs 3 --out-dir d1 --hash out.bin -- /bin/sh -c 'echo hi > {run_dir}/out.bin; echo $$ > "$REPRO_RUN_DIR/pid"' > out.txt 2>&1; rc=$?
check "deterministic program exits 0 (got $rc)" test $rc -eq 0
expected=$(printf 'hi\n' | sha1sum | cut -c1-40)
check "three runs recorded" test "$(field d1/report.json 'len(r["runs"])')" = 3
check "the output hash is the file's SHA-1" test "$(field d1/report.json 'r["runs"][0]["latents_sha1"]')" = "$expected"
check "determinism identical" test "$(field d1/report.json 'r["determinism"]["verdict"]')" = identical
check "fresh processes" test "$(cat d1/run-1/pid)" != "$(cat d1/run-2/pid)"
check "the file is named in the report" test "$(field d1/report.json 'r["runs"][0]["outputs"][0]["file"]')" = out.bin
check "no GPU: the report says why there are no kernels" grep -q "kernels_unavailable" d1/report.json
check "the case records the program" test "$(field d1/report.json 'r["case"]["program"][0]')" = /bin/sh

# 2. Outputs that differ run to run: exit 1.
"${X[@]}" --runs 2 --out-dir d2 --hash out.bin -- /bin/sh -c 'date +%N > {run_dir}/out.bin' > out.txt 2>&1; rc=$?
check "nondeterministic output exits 1 (got $rc)" test $rc -eq 1

# 3. One run fails: exit 11, the other runs are kept, the message has the program's stderr.
"${X[@]}" --runs 3 --out-dir d3 --hash o -- /bin/sh -c \
  'if [ ! -e ../../flag ]; then touch ../../flag; echo "boom: bad input" >&2; exit 3; fi; echo ok > {run_dir}/o' > out.txt 2>&1; rc=$?
check "a failing run exits 11 (got $rc)" test $rc -eq 11
check "the two good runs are kept" test "$(field d3/report.json 'len(r["runs"])')" = 2
check "the failed run is recorded with its status" grep -q "exited with status 3" d3/report.json
check "and the end of its standard error" grep -q "boom: bad input" out.txt

# 4. A hang past --timeout: ended, exit 11, quickly.
start=$(date +%s)
"${X[@]}" --runs 1 --out-dir d4 --timeout 1 -- /bin/sh -c 'sleep 30 & sleep 30' > out.txt 2>&1; rc=$?
check "a hang exits 11 (got $rc)" test $rc -eq 11
check "within seconds of the timeout" test $(( $(date +%s) - start )) -lt 15
check "the report says timed out" grep -q "timed out after" d4/report.json

# 5. Bad commands: exit 2 with a message, before anything runs.
"${X[@]}" -- no-such-program-xyz > out.txt 2>&1; rc=$?
check "a program not on PATH exits 2 (got $rc)" test $rc -eq 2
check "and says so" grep -q "not on PATH" out.txt
echo "echo hi" > notexec.sh
"${X[@]}" -- ./notexec.sh > out.txt 2>&1; rc=$?
check "a non-executable file exits 2 (got $rc)" test $rc -eq 2
check "and suggests its interpreter" grep -q "interpreter" out.txt
"${X[@]}" --runs 2 > out.txt 2>&1; rc=$?
check "no program exits 2 (got $rc)" test $rc -eq 2
"${X[@]}" --capture-range sometimes -- true > out.txt 2>&1; rc=$?
check "a bad --capture-range exits 2 (got $rc)" test $rc -eq 2
"${X[@]}" --hash-mode pixels -- true > out.txt 2>&1; rc=$?
check "a bad --hash-mode exits 2 (got $rc)" test $rc -eq 2
"${X[@]}" --hash /abs/path -- true > out.txt 2>&1; rc=$?
check "an absolute --hash glob fails the run (got $rc)" test $rc -eq 11

# 6. Writes nothing: exit 11, named.
"${X[@]}" --runs 1 --out-dir d6 --hash 'latents.safetensors' -- true > out.txt 2>&1; rc=$?
check "no output file exits 11 (got $rc)" test $rc -eq 11
check "the missing pattern is named" grep -q "no file matching --hash 'latents.safetensors'" out.txt

# 7. No silent reuse of an output directory.
"${X[@]}" --runs 1 --out-dir d1 -- true > out.txt 2>&1; rc=$?
check "a non-empty --out-dir is refused with 7 (got $rc)" test $rc -eq 7
"${X[@]}" --runs 1 --out-dir d1 --force -- true > out.txt 2>&1; rc=$?
check "--force reuses it (got $rc)" test $rc -eq 0

# 8. NVTX through the injection library (no CUDA needed): --time-range times the step ranges.
"${X[@]}" --runs 2 --out-dir d8 --time-range step --hash out.txt -- "$PROG" 3 50 '{run_dir}/out.txt' > out.txt 2>&1; rc=$?
check "the NVTX program runs (got $rc)" test $rc -eq 0
check "three step ranges timed per run" test "$(field d8/report.json 'len(r["runs"][0]["step_seconds"])')" = 3
check "the run time is their sum (0.15 s of sleeps)" \
  python3 -c "import json; s=json.load(open('d8/report.json'))['runs'][0]['seconds']; exit(0 if 0.149 < s < 0.6 else 1)"
check "the process saw NVTX" test "$(field d8/report.json 'r["runs"][0]["processes"][0]["nvtx"]')" = True
"${X[@]}" --runs 1 --out-dir d8b --time-range nosuchrange -- "$PROG" 2 1 > out.txt 2>&1; rc=$?
check "a --time-range that never closes fails the run (got $rc)" test $rc -eq 11
check "and names the range" grep -q "no NVTX range named 'nosuchrange'" d8b/report.json

"${X[@]}" --runs 1 --out-dir d8c --no-trace --time-range step -- "$PROG" 2 20 > out.txt 2>&1; rc=$?
check "--time-range works with --no-trace (got $rc)" test $rc -eq 0
check "and times the two steps" test "$(field d8c/report.json 'len(r["runs"][0]["step_seconds"])')" = 2

# 8b. --force reuse: a run directory starts empty, so an earlier run's output cannot be hashed.
"${X[@]}" --runs 1 --out-dir d8d --hash out.txt -- "$PROG" 1 1 '{run_dir}/out.txt' > out.txt 2>&1
"${X[@]}" --runs 1 --out-dir d8d --force --hash out.txt -- "$PROG" 1 1 > out.txt 2>&1; rc=$?
check "a stale output of an earlier run does not count (got $rc)" test $rc -eq 11

# 8c. A signal to repro (Ctrl-C, a CI cancel) reaches the program; the report keeps what ran.
"${X[@]}" --runs 3 --out-dir d8e -- /bin/sh -c 'echo $$ > "$REPRO_RUN_DIR/pid"; sleep 30' > out.txt 2>&1 &
repro_pid=$!
for _ in $(seq 50); do [ -s d8e/run-1/pid ] && break; sleep 0.1; done
start=$(date +%s)
kill -TERM $repro_pid
wait $repro_pid; rc=$?
check "an interrupted exec exits 128+15 (got $rc)" test $rc -eq 143
check "at once, not after the program's 30 s" test $(( $(date +%s) - start )) -lt 10
check "the report is written with the interrupted run" grep -q "interrupted" d8e/report.json
sleep 0.5
check "the program was stopped too" test ! -e "/proc/$(cat d8e/run-1/pid)"

# 9. The reports are run reports: repro compare reads them.
"${X[@]}" --runs 3 --out-dir d9 --time-range step --hash out.txt -- "$PROG" 3 50 '{run_dir}/out.txt' > out.txt 2>&1
"$REPRO" compare d8/report.json d9/report.json --json cmp.json > out.txt 2>&1; rc=$?
check "compare reads exec reports (got $rc)" test $rc -eq 0 -o $rc -eq 10
check "outputs bit-exact" test "$(field cmp.json 'r["outputs"]["verdict"]')" = bit-exact

"${X[@]}" --runs 2 --out-dir d9b -- "$PROG" 2 1 > out.txt 2>&1
"$REPRO" compare d9b/report.json d9b/report.json --json cmp2.json > out.txt 2>&1; rc=$?
check "unhashed runs are not an output mismatch (got $rc)" test $rc -ne 9
check "and say they were not compared" grep -q "not compared" cmp2.json

# 10. repro ab of two commands: a planted slowdown is found; A/A is not called slower.
"$REPRO" ab --inject-lib "$LIB" --processes 6 --out-dir ab1 --time-range step --hash out.txt \
  --base-cmd "$PROG 2 20 {run_dir}/out.txt" --cand-cmd "$PROG 2 45 {run_dir}/out.txt" > ab1.md 2> out.txt; rc=$?
check "ab finds the slower command: exit 8 (got $rc)" test $rc -eq 8
check "ab's Markdown says slower" grep -qi "slower" ab1.md
"$REPRO" ab --inject-lib "$LIB" --processes 6 --out-dir ab2 --time-range step --hash out.txt \
  --base-cmd "$PROG 2 30 {run_dir}/out.txt" --cand-cmd "'$PROG' 2 30 {run_dir}/out.txt" > ab2.md 2> out.txt; rc=$?
check "A/A is not a regression (got $rc)" test $rc -ne 8 -a $rc -ne 9
"$REPRO" ab --base-cmd "echo 'unterminated" --cand-cmd "true" > out.txt 2>&1; rc=$?
check "an unterminated quote exits 2 (got $rc)" test $rc -eq 2
"$REPRO" ab --base-cmd "true" --cand-cmd "true" --runs-per-process 3 > out.txt 2>&1; rc=$?
check "--runs-per-process with commands exits 2 (got $rc)" test $rc -eq 2

echo "exec_cli_test: $failures failure(s)"
[[ $failures -eq 0 ]]
