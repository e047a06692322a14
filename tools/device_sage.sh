#!/usr/bin/env bash
# One GPU-machine call for sage (issue 11): its GPU test, compute-sanitizer (4 tools) on the small
# shapes, the benchmark (sage beside our dense main loop at 12 x 32,760, head_dim 128, and 24 x
# 32,760, head_dim 64) with torch SDPA (cuDNN, flash) on the same card, the 1.3B 480p generation
# with sage over 8 fresh processes, and its CUDA goldens. Also `others`: the sla and bsa benchmarks.
# Usage (repo root on the GPU machine; bundle/ or prev/bundle.tar.xz present):
#   tools/device_sage.sh [tests|sanitize|bench|others|e2e|golden]...
set -uo pipefail
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
ROOT=$PWD
[[ -d bundle ]] || { [[ -f prev/bundle.tar.xz ]] && tar -xJf prev/bundle.tar.xz; }
B=$PWD/bundle
export LD_LIBRARY_PATH="$B/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
SAN=/usr/local/cuda/bin/compute-sanitizer
steps=("$@"); [[ ${#steps[@]} -eq 0 ]] && steps=(tests sanitize bench e2e golden)
want() { [[ " ${steps[*]} " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | sed 's/^/gpu: /'
cd "$B/data" || exit 1
if want tests; then
  timeout 300 "$B/bin/sage_attention_test" > "$OUT/sage_attention_test.log" 2>&1
  echo "sage_attention_test: rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$OUT/sage_attention_test.log" | tr '\n' ' ')"
  grep -E "^sage GPU|Failure|Expected|Which is|differs" "$OUT/sage_attention_test.log" | head -40
fi
if want sanitize; then
  for tool in memcheck racecheck initcheck synccheck; do
    timeout 300 "$SAN" --tool $tool --show-backtrace no --error-exitcode 9 "$B/bin/sage_attention_test" \
        --gtest_filter='*SmallShapes*' > "$OUT/$tool-sage.log" 2>&1
    echo "$tool sage_attention_test (small shapes): rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool-sage.log" | tail -1)"
  done
fi
if want bench; then
  "$B/bin/sage_attention_benchmark" --benchmark_out="$OUT/sage_bench.json" --benchmark_out_format=json 2>&1 |
      grep -E "^BM" | tee "$OUT/sage_bench.txt"
  python3 "$ROOT/tools/attention_peer.py" 12 32760 128 2>&1 | tee "$OUT/sdpa_peer.txt"
  python3 "$ROOT/tools/attention_peer.py" 24 32760 64 2>&1 | tee -a "$OUT/sdpa_peer.txt"
fi
if want others; then
  for b in sla_attention_benchmark bsa_attention_benchmark; do
    "$B/bin/$b" --benchmark_out="$OUT/$b.json" --benchmark_out_format=json 2>&1 | grep -E "^BM" | tee "$OUT/$b.txt"
  done
fi
if want e2e; then
  "$B/bin/repro" run --device cuda --model wan2.1-t2v-1.3b --frames 81 --height 480 --width 832 --steps 2 \
      --backend sage --runs 8 --fresh-process --no-golden --force \
      --report "$OUT/e2e-sage.json" 2>"$OUT/e2e-sage.err" | tail -14
fi
if want golden; then
  "$B/bin/repro" golden update --device cuda --backend sage --quiet 2>&1 | tail -2
  "$B/bin/repro" golden update --device cuda --model wan-small --steps 4 --backend sage --quiet 2>&1 | tail -2
  mkdir -p "$OUT/golden" && cp golden/*sage*cuda*.json "$OUT/golden/"
fi
echo "device_sage done"
