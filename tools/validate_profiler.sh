#!/usr/bin/env bash
# Validates the profiler and the judge on a GPU machine (bundle from tools/bundle.sh):
#  1. CUPTI tracing overhead: the same generations with per-kernel tracing on and off.
#  2. A/A: two identical builds through `repro ab` (ABBA, fresh processes).
#  3. A planted slowdown: the candidate runs with WAN_DEBUG_KERNEL_DELAY_US (a known delay in
#     add_bf16_to_f32_kernel); the comparison must find and attribute it.
#  4. Under Nsight Compute, `repro run` falls back from CUPTI and still finishes.
# Outputs under $OUT (default ./validate-out).
set -uo pipefail
OUT=${OUT:-$PWD/validate-out}; mkdir -p "$OUT"
B=$PWD/bundle; R=$B/bin/repro
export LD_LIBRARY_PATH="$B/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
cd "$B/data"
CASE=(--device cuda --model wan2.1-t2v-1.3b --frames 17 --height 480 --width 832 --steps 2)
echo "== 1. tracing overhead (1.3B, 7,800 tokens, 2 CFG steps, 8 runs each, graphs off in both)"
"$R" run "${CASE[@]}" --runs 8 --no-kernels --no-cuda-graphs --no-golden --force --quiet --report "$OUT/overhead_off.json"
"$R" run "${CASE[@]}" --runs 8 --kernels --no-golden --force --quiet --report "$OUT/overhead_on.json"
"$R" compare "$OUT/overhead_off.json" "$OUT/overhead_on.json" --json "$OUT/overhead.json" --force | head -4
echo "== 2. A/A through repro ab (8 processes x 3 runs a side)"
cp "$R" /tmp/repro_copy
"$R" ab --base "$R" --cand /tmp/repro_copy "${CASE[@]}" --processes 8 --runs-per-process 3 --out-dir "$OUT/aa" > "$OUT/aa.md" 2>/dev/null
echo "exit $?"; head -6 "$OUT/aa.md"
echo "== 3. planted slowdown: +20 us in every add_bf16_to_f32_kernel launch"
printf '#!/bin/sh\nWAN_DEBUG_KERNEL_DELAY_US=20 exec %s "$@"\n' "$R" > /tmp/slow_repro.sh; chmod +x /tmp/slow_repro.sh
"$R" ab --base "$R" --cand /tmp/slow_repro.sh "${CASE[@]}" --processes 8 --runs-per-process 3 --out-dir "$OUT/planted" > "$OUT/planted.md" 2>/dev/null
echo "exit $?"; head -12 "$OUT/planted.md"
echo "== 4. under Nsight Compute"
/usr/local/cuda/bin/ncu --clock-control none -c 1 -k regex:flash "$R" run --device cuda --runs 1 --steps 1 --no-golden --force --report "$OUT/ncu_run.json" > "$OUT/ncu_run.log" 2>&1
echo "exit $?"; grep -E "CUPTI|fall|determinism|report" "$OUT/ncu_run.log" | head -5
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
def j(p): return json.load(open(f"{out}/{p}"))
o = j("overhead.json")["end_to_end"]
print(f"tracing overhead: median {o['base_median_ms']:.2f} -> {o['cand_median_ms']:.2f} ms ({(o['ratio']-1)*100:+.2f}%, CI {(o['ci_low']-1)*100:+.2f}..{(o['ci_high']-1)*100:+.2f}%) verdict {o['verdict']}")
aa = j("aa/compare.json")
ks = aa["kernel_summary"]; e = aa["end_to_end"]
print(f"A/A: end to end {e['verdict']} ({(e['ratio']-1)*100:+.2f}%, CI half-width {(e['ci_high']-e['ci_low'])*50:.2f}%); kernels same {ks['same']}/{ks['compared']}, slower {ks['slower']}, faster {ks['faster']}, inconclusive {ks['inconclusive']}")
bn = ks["by_name"]
print(f"A/A per kernel name: same {bn['same']}/{bn['compared']}, slower {bn['slower']}, faster {bn['faster']}, inconclusive {bn['inconclusive']}")
for k in aa["kernels_by_name"][:8]: print(f"  A/A top kernel {k['kernel'][-60:]}: {k['verdict']}, {k['base_median_ms']:.3f} ms/run, CI half-width {(k['ci_high']-k['ci_low'])*50:.3f}%")
p = j("planted/compare.json")
sl = [k for k in p["kernels"] if k["verdict"] == "slower"]
pn = [k for k in p["kernels_by_name"] if k["verdict"] != "same"]
for k in pn[:3]: print(f"  by name: {k['kernel'][-50:]}: {k['verdict']} +{k['delta_ms']*1e3:.1f} us per run")
print(f"planted: outcome {p['outcome']}, end to end {p['end_to_end']['verdict']} {(p['end_to_end']['ratio']-1)*100:+.2f}%, {len(sl)} kernel groups slower")
for k in sl[:4]: print(f"  {k['kernel'][:80]}: +{k['delta_ms']*1e3:.1f} us per run ({k['cand_median_ms']*1e3:.1f} vs {k['base_median_ms']*1e3:.1f} us)")
print(f"  split: e2e {p['split']['end_to_end_delta_ms']:.3f} ms = kernels {p['split']['kernel_deltas_ms']:.3f} + unexplained {p['split']['unexplained_ms']:.3f}")
PY
tar -C "$OUT" -czf "$OUT/validate.tar.gz" overhead_off.json overhead_on.json overhead.json aa/base.json aa/cand.json \
  aa/compare.json aa/compare.md aa/compare.html planted/base.json planted/cand.json planted/compare.json planted/compare.md \
  planted/compare.html ncu_run.log ncu_run.json 2>/dev/null
echo "validation outputs: $OUT/validate.tar.gz"
