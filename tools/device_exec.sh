#!/usr/bin/env bash
# One GPU-machine call for `repro exec` (issue: any CUDA program under the harness): the
# PyTorch example (tools/exec_example.py) 8 times under `repro exec`; the injection overhead
# against untraced runs of the same program in the same call; `repro ab` of the example against
# its planted-matmul variant, and A/A; a run under ncu; the spawned-worker variant; and the
# cross-validation of `repro exec -- repro run` against the in-process CUPTI tracer.
# The bundle may travel compressed (prev/bundle.tar.xz).
# Usage (repo root on the GPU machine): tools/device_exec.sh [tests|exec|overhead|ab|ncu|spawn|crossval]...
set -uo pipefail
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
[[ -d bundle ]] || { [[ -f prev/bundle.tar.xz ]] && tar -xJf prev/bundle.tar.xz; }
B=$PWD/bundle
export LD_LIBRARY_PATH="$B/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
steps=("$@"); [[ ${#steps[@]} -eq 0 ]] && steps=(exec overhead ab ncu spawn crossval)
want() { [[ " ${steps[*]} " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader | sed 's/^/gpu: /'
echo "commit: $(git rev-parse HEAD 2>/dev/null)"
R="$B/bin/repro"
W=/tmp/exec-work; rm -rf "$W"; mkdir -p "$W"
EX=(python3 "$PWD/tools/exec_example.py" --out '{run_dir}/latents.safetensors')
summary() {  # summary REPORT: compact figures of an exec report
  python3 - "$1" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
runs = r["runs"]
print("  runs %d ok, %d failed; determinism %s; tracing: %s" % (len(runs), len(r["failed_runs"]), r["determinism"]["verdict"], r["exec"]["tracing"]))
if runs:
    t = [x["seconds"] for x in runs]; p = [x.get("process_seconds", 0) for x in runs]
    print("  time median %.4f s (min %.4f max %.4f); process median %.3f s" % (statistics.median(t), min(t), max(t), statistics.median(p)))
    print("  sha1 %s; processes per run %s; dropped %s" % (sorted({x["latents_sha1"] for x in runs}), [len(x.get("processes", [])) for x in runs], [x.get("dropped_records") for x in runs]))
    k = runs[0].get("kernels")
    if k:
        print("  kernels run 1: %d groups, %d launches, %.3f ms; with a range: %d launches" % (len(k), sum(g["count"] for g in k), runs[0]["gpu_kernel_ms"], sum(g["count"] for g in k if g["range"])))
        for g in k[:8]:
            print("    %9.3f ms %5d x  %-26s %s" % (g["total_us"] / 1e3, g["count"], g["range"] or "(none)", g["name"][:70]))
    else:
        print("  kernels:", runs[0].get("kernels_unavailable"))
for f in r["failed_runs"][:3]:
    print("  FAILED:", f["failed"][:400])
PY
}
if want tests; then
  "$B/run_tests.sh" "$OUT/tests" 2>&1 | tail -25
fi
if want exec; then
  echo "== repro exec: the example 8 times"
  "$R" exec --runs 8 --hash latents.safetensors --time-range denoise --out-dir "$W/exec" --quiet -- "${EX[@]}"
  echo "  exit $?"; summary "$W/exec/report.json"; cp "$W/exec/report.json" "$OUT/exec_report.json"
  head -c 600 "$W/exec/logs/run-1.stdout"; echo
fi
if want overhead; then
  echo "== injection overhead: traced vs untraced, interleaved, the example's own timer (elapsed_s) and process time"
  # OVERHEAD_ARGS: extra example flags (e.g. a GPU-bound size); OVERHEAD_PAIRS: interleaved pairs.
  read -r -a extra <<< "${OVERHEAD_ARGS:-}"
  rm -rf "$W/ov"
  for i in $(seq 1 "${OVERHEAD_PAIRS:-5}"); do
    "$R" exec --runs 1 --hash latents.safetensors --out-dir "$W/ov/t$i" --quiet -- "${EX[@]}" "${extra[@]}" >/dev/null 2>&1
    "$R" exec --runs 1 --no-trace --hash latents.safetensors --out-dir "$W/ov/n$i" --quiet -- "${EX[@]}" "${extra[@]}" >/dev/null 2>&1
  done
  echo "example flags: ${extra[*]:-(defaults)}"
  python3 - "$W/ov" <<'PY' | tee "$OUT/overhead.txt"
import glob, json, re, statistics, sys
d = sys.argv[1]
def get(prefix):
    inner, proc = [], []
    for rep in sorted(glob.glob(d + "/%s*/report.json" % prefix)):
        r = json.load(open(rep))
        for run in r["runs"]:
            proc.append(run["process_seconds"])
            m = re.search(r"elapsed_s=([0-9.]+)", open(run["logs"][0]).read())
            if m: inner.append(float(m.group(1)))
    return inner, proc
ti, tp = get("t"); ni, np_ = get("n")
print("traced   elapsed_s", ["%.4f" % x for x in ti], "process", ["%.3f" % x for x in tp])
print("untraced elapsed_s", ["%.4f" % x for x in ni], "process", ["%.3f" % x for x in np_])
if ti and ni:
    print("overhead on the denoise loop (median elapsed_s): %+.2f%%" % (100 * (statistics.median(ti) / statistics.median(ni) - 1)))
    print("overhead on the process wall time (median): %+.2f%%" % (100 * (statistics.median(tp) / statistics.median(np_) - 1)))
PY
fi
if want ab; then
  echo "== repro ab: the example against its planted matmul in layer 3"
  base="python3 $PWD/tools/exec_example.py --out {run_dir}/latents.safetensors"
  "$R" ab --base-cmd "$base" --cand-cmd "$base --plant-matmul 3" --hash latents.safetensors --time-range denoise \
      --processes 5 --out-dir "$W/ab" > "$OUT/ab_planted.md" 2> "$W/ab.err"
  echo "  exit $? (8 = regression)"; head -40 "$OUT/ab_planted.md"
  echo "== repro ab: A/A"
  "$R" ab --base-cmd "$base" --cand-cmd "$base" --hash latents.safetensors --time-range denoise \
      --processes 5 --out-dir "$W/aa" > "$OUT/ab_aa.md" 2> "$W/aa.err"
  echo "  exit $? (0 = pass, 10 = inconclusive)"; head -16 "$OUT/ab_aa.md"
  cp "$W/ab/compare.json" "$OUT/ab_planted.json" 2>/dev/null; tail -3 "$W/ab.err"
fi
if want ncu; then
  echo "== what ncu sets in the environment of the processes it follows"
  timeout 60 /usr/local/cuda/bin/ncu --target-processes all /usr/bin/env 2>/dev/null | grep -E "INJECTION|PRELOAD|^NV_|NSIGHT|TREE" | cut -c1-200 | head -12
  echo "== under ncu: the run completes and says tracing was unavailable"
  timeout 300 /usr/local/cuda/bin/ncu --clock-control none --target-processes all -c 3 -o "$W/ncu_profile" -f \
    "$R" exec --runs 1 --hash latents.safetensors --out-dir "$W/ncu" --quiet -- "${EX[@]}" --steps 1 --layers 1 > "$W/ncu.log" 2>&1
  echo "  ncu exit $?"; grep -E "^==PROF==|error" "$W/ncu.log" | head -5; summary "$W/ncu/report.json"
  echo "== the program runs ncu itself (ncu replaces our injection in the target)"
  timeout 300 "$R" exec --runs 1 --hash latents.safetensors --out-dir "$W/ncu2" --quiet -- \
    /usr/local/cuda/bin/ncu --clock-control none -c 2 -o "$W/ncu_profile2" "${EX[@]}" --steps 1 --layers 1 > "$W/ncu2.log" 2>&1
  echo "  exit $?"; summary "$W/ncu2/report.json"
fi
if want spawn; then
  echo "== spawned worker (torch.multiprocessing.spawn)"
  "$R" exec --runs 1 --hash latents.safetensors --time-range denoise --out-dir "$W/spawn" --quiet -- "${EX[@]}" --spawn
  echo "  exit $?"; summary "$W/spawn/report.json"
  python3 -c "import json; r=json.load(open('$W/spawn/report.json')); print('  processes:', r['runs'][0].get('processes'))"
  echo "  same latents as the single-process runs: $(python3 -c "import json; a=json.load(open('$W/spawn/report.json'))['runs'][0]['latents_sha1']; b=json.load(open('$W/exec/report.json'))['runs'][0]['latents_sha1'] if __import__('os').path.exists('$W/exec/report.json') else '?'; print(a==b, a, b)")"
fi
if want crossval; then
  echo "== cross-validation: repro exec -- repro run vs the in-process tracer (wan-small, 4 steps, CUDA)"
  CASE=(--model wan-small --device cuda --steps 4 --no-golden)
  "$R" run "${CASE[@]}" --runs 3 --warmup 1 --kernels --profile-steps 0:3 --report "$W/inproc.json" --quiet --force
  echo "  in-process exit $?"
  "$R" exec --runs 3 --capture-range cudaProfilerApi --hash latents.safetensors --out-dir "$W/xv" --quiet -- \
    "$R" run "${CASE[@]}" --runs 1 --warmup 1 --no-kernels --no-cuda-graphs --profile-steps 0:3 \
      --save-latents '{run_dir}/latents.safetensors' --report '{run_dir}/run.json' --quiet
  echo "  exec exit $?"; summary "$W/xv/report.json"
  python3 - "$W/inproc.json" "$W/xv/report.json" <<'PY' | tee "$OUT/crossval.txt"
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
def table(run):
    return {(k["name"], k["range"]): k["count"] for k in run.get("kernels", [])}
ta, tb = table(a["runs"][0]), table(b["runs"][0]) if b["runs"] else {}
print("in-process: %d (kernel, range) groups, %d launches; exec: %d groups, %d launches" % (len(ta), sum(ta.values()), len(tb), sum(tb.values())))
only_a = sorted(set(ta) - set(tb)); only_b = sorted(set(tb) - set(ta))
diff = sorted(k for k in set(ta) & set(tb) if ta[k] != tb[k])
print("only in-process:", len(only_a), only_a[:5]); print("only exec:", len(only_b), only_b[:5]); print("count differs:", len(diff), [(k, ta[k], tb[k]) for k in diff[:5]])
print("latents: in-process", a["runs"][0]["latents_sha1"], "exec", b["runs"][0]["latents_sha1"] if b["runs"] else "?")
ka = sum(k["total_us"] for k in a["runs"][0]["kernels"]) / 1e3; kb = sum(k["total_us"] for k in b["runs"][0]["kernels"]) / 1e3 if b["runs"] else 0
print("kernel time run 1: in-process %.3f ms, exec %.3f ms" % (ka, kb))
PY
  "$R" compare "$W/inproc.json" "$W/xv/report.json" --md "$OUT/crossval_compare.md" > /dev/null 2>&1
  echo "  compare exit $?"; sed -n 1,30p "$OUT/crossval_compare.md"
fi
