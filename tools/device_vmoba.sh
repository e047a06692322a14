#!/usr/bin/env bash
# One GPU-machine call for video_moba (issue 11): its GPU test, compute-sanitizer (4 tools) on the
# small-grid test, the benchmark (each layer chunking at 12 x 32,760 beside our dense main loop),
# the 1.3B 480p generation with video_moba over 8 fresh processes, and its CUDA goldens.
# Usage (repo root on the GPU machine; bundle/ or prev/bundle.tar.xz present):
#   tools/device_vmoba.sh [tests|sanitize|bench|e2e|golden]...
set -uo pipefail
DEFAULT_STEPS="tests sanitize bench e2e golden"
# shellcheck source=tools/device_common.sh
source "$(dirname "$0")/device_common.sh"
if want tests; then
  timeout 300 "$B/bin/vmoba_attention_test" > "$OUT/vmoba_attention_test.log" 2>&1
  echo "vmoba_attention_test: rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$OUT/vmoba_attention_test.log" | tr '\n' ' ')"
  grep -E "VMoBA GPU|threshold 1 vs" "$OUT/vmoba_attention_test.log"
fi
if want sanitize; then
  for tool in memcheck racecheck initcheck synccheck; do
    timeout 300 "$SAN" --tool $tool --show-backtrace no --error-exitcode 9 "$B/bin/vmoba_attention_test" \
        --gtest_filter='*SmallGrids*' > "$OUT/$tool-vmoba.log" 2>&1
    echo "$tool vmoba_attention_test (small grids): rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool-vmoba.log" | tail -1)"
  done
fi
if want bench; then
  "$B/bin/vmoba_attention_benchmark" --benchmark_out="$OUT/vmoba_bench.json" --benchmark_out_format=json 2>&1 |
      grep -E "^BM" | tee "$OUT/vmoba_bench.txt"
fi
if want e2e; then
  # 4x6x4 (the default) does not divide 21 latent frames; 3x6x4 does.
  "$B/bin/repro" run --device cuda --model wan2.1-t2v-1.3b --frames 81 --height 480 --width 832 --steps 2 \
      --backend video_moba:st_chunk=3x6x4 --runs 8 --fresh-process --no-golden --force \
      --report "$OUT/e2e-video_moba.json" 2>"$OUT/e2e-video_moba.err" | tail -14
fi
if want golden; then
  "$B/bin/repro" golden update --device cuda --backend video_moba:spatial_chunk=4x4,st_chunk=2x4x4 --quiet 2>&1 | tail -2
  "$B/bin/repro" golden update --device cuda --model wan-small --steps 4 \
      --backend video_moba:spatial_chunk=5x13,st_chunk=5x5x13 --quiet 2>&1 | tail -2
  mkdir -p "$OUT/golden" && cp golden/*video_moba*cuda*.json "$OUT/golden/"
fi
echo "device_vmoba done"
