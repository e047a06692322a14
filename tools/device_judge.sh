#!/usr/bin/env bash
# The noise judge v2 on the device (issue: noise judge v2): through `repro ab` on the 1.3B model
# (480x832, 17 frames, 2 steps, 8 ABBA pairs x 3 runs): an A/A (two copies of one build) and a
# planted slowdown of 20 us in ONE launch of ONE kernel (add_bf16_to_f32 in block 12 only:
# WAN_DEBUG_KERNEL_DELAY_LAUNCH=12/30, timing only). Prints what the judge called.
# Usage (repo root on the GPU machine, bundle/ present): tools/device_judge.sh
set -uo pipefail
OUT=${OUT:-$PWD/judge-out}; mkdir -p "$OUT"
B=$PWD/bundle; R=$B/bin/repro
export LD_LIBRARY_PATH="$B/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
cd "$B/data" || exit 1
CASE=(--device cuda --model wan2.1-t2v-1.3b --frames 17 --height 480 --width 832 --steps 2)
cp "$R" /tmp/repro_copy
printf '#!/bin/sh\nWAN_DEBUG_KERNEL_DELAY_US=20 WAN_DEBUG_KERNEL_DELAY_LAUNCH=12/30 exec %s "$@"\n' "$R" > /tmp/slow_repro.sh
chmod +x /tmp/slow_repro.sh
for name in aa planted; do
  cand=/tmp/repro_copy; [[ $name == planted ]] && cand=/tmp/slow_repro.sh
  start=$(date +%s)
  "$R" ab --base "$R" --cand "$cand" "${CASE[@]}" --processes 8 --runs-per-process 3 --out-dir "/tmp/ab-$name" \
      > "$OUT/$name.md" 2> "/tmp/ab-$name.err"
  echo "$name: exit $? in $(( $(date +%s) - start )) s"
  cp "/tmp/ab-$name/compare.json" "$OUT/$name-compare.json"
done
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
for name in ("aa", "planted"):
    c = json.load(open(f"{out}/{name}-compare.json"))
    e, ks = c["end_to_end"], c["kernel_summary"]
    print(f"{name}: end to end {e['verdict']} ratio {e['ratio']:.4f} [{e['ci_low']:.4f}, {e['ci_high']:.4f}] ({e['method']}, units {e['units']})")
    print(f"  kernel groups: compared {ks['compared']}, same {ks['same']}, slower {ks['slower']}, faster {ks['faster']}, inconclusive {ks['inconclusive']}")
    bn = ks["by_name"]
    print(f"  kernel names: compared {bn['compared']}, same {bn['same']}, slower {bn['slower']}, faster {bn['faster']}, inconclusive {bn['inconclusive']}")
    for k in c["kernels"]:
        if k["verdict"] in ("slower", "faster"):
            print(f"  {k['verdict']}: {k['kernel'][:150]} ratio {k['ratio']:.3f} p_adj {k['p_adjusted']:.2e}")
PY
