#!/usr/bin/env bash
# One GPU-machine call for sage (issue 11): its GPU test, compute-sanitizer (4 tools) on the small
# shapes, the benchmark (sage beside our dense main loop at 12 x 32,760, head_dim 128, and 24 x
# 32,760, head_dim 64) with torch SDPA (cuDNN, flash) on the same card, the 1.3B 480p generation
# with sage over 8 fresh processes, and its CUDA goldens. Also `others`: the sla and bsa benchmarks.
# Usage (repo root on the GPU machine; bundle/ or prev/bundle.tar.xz present):
#   tools/device_sage.sh [suite|tests|engine|sanitize|bench|sla|others|profile|e2e|golden]...
# suite: every GPU test of the bundle (bundle/run_tests.sh), which regenerates every committed
# CUDA golden of this card's class.
set -uo pipefail
DEFAULT_STEPS="tests sanitize bench e2e golden"
# shellcheck source=tools/device_common.sh
source "$(dirname "$0")/device_common.sh"
if want suite; then
  timeout 560 "$B/run_tests.sh" "$OUT/suite" 2>&1 | grep -vE ": rc=0 passed=" | tail -40
fi
if want tests; then
  timeout 300 "$B/bin/sage_attention_test" > "$OUT/sage_attention_test.log" 2>&1
  echo "sage_attention_test: rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$OUT/sage_attention_test.log" | tr '\n' ' ')"
  grep -E "^sage GPU|Failure|Expected|Which is|differs" "$OUT/sage_attention_test.log" | head -40
fi
if want engine; then
  # The engine-level GPU tests that now run sage on CUDA: the consistency test (every backend
  # against masked dense, sage within its bound) and the DiT's graph replay for every backend.
  for t in attention_consistency_test wan_dit_cuda_test; do
    timeout 400 "$B/bin/$t" > "$OUT/$t.log" 2>&1
    echo "$t: rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$OUT/$t.log" | tr '\n' ' ')"
    grep -E "sage|Failure" "$OUT/$t.log" | head -12
  done
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
if want sla; then
  "$B/bin/sla_attention_benchmark" --benchmark_out="$OUT/sla_bench.json" --benchmark_out_format=json 2>&1 |
      grep -E "^BM" | cut -c1-160 | tee "$OUT/sla_bench.txt"
fi
if want others; then
  for b in sla_attention_benchmark bsa_attention_benchmark; do
    "$B/bin/$b" --benchmark_out="$OUT/$b.json" --benchmark_out_format=json 2>&1 | grep -E "^BM" | tee "$OUT/$b.txt"
  done
fi
if want profile; then
  # ncu readings: the sage attention kernel (on quantised inputs) and the kernels of one SLA launch
  # with proj_l (ratio 0.1), each kernel's duration and what limits it.
  NCU="/usr/local/cuda/bin/ncu --clock-control none --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section SchedulerStats"
  timeout 240 $NCU -k regex:sage_attention_sm90 -c 1 "$B/bin/sage_attention_benchmark" \
      --benchmark_filter='BM_SageAttention/head_dim:128/phase:2' > "$OUT/ncu-sage.txt" 2>&1
  echo "ncu sage: rc=$?"; grep -E "Duration|Throughput|Issue Slots Busy|Executed Ipc Active|No Eligible|Stall|Warp Cycles Per Issued|Pipe Util|Tensor" "$OUT/ncu-sage.txt" | head -40
  timeout 240 $NCU -k regex:"sla_|block_sparse|transpose" -c 8 "$B/bin/sla_attention_benchmark" \
      --benchmark_filter='BM_SparseLinearAttention/ratio_pct:10/proj_l:1/phi:0' > "$OUT/ncu-sla.txt" 2>&1
  echo "ncu sla: rc=$?"; grep -E "^  [a-z_]+.*\(|Duration|Compute \(SM\) Throughput|Memory Throughput" "$OUT/ncu-sla.txt" | head -60
fi
if want e2e; then
  "$B/bin/repro" run --device cuda --model wan2.1-t2v-1.3b --frames 81 --height 480 --width 832 --steps 2 \
      --backend sage --runs 8 --fresh-process --no-golden --force \
      --report "$OUT/e2e-sage.json" 2>"$OUT/e2e-sage.err" | tail -14
  # In-process (not fresh): the report carries the latents' error against a dense generation.
  "$B/bin/repro" run --device cuda --model wan2.1-t2v-1.3b --frames 81 --height 480 --width 832 --steps 2 \
      --backend sage --runs 1 --no-golden --force --report "$OUT/e2e-sage-vs-dense.json" 2>"$OUT/e2e-sage-vs-dense.err" |
      grep -E "vs dense|run 1"
fi
if want golden; then
  "$B/bin/repro" golden update --device cuda --backend sage --quiet 2>&1 | tail -2
  "$B/bin/repro" golden update --device cuda --model wan-small --steps 4 --backend sage --quiet 2>&1 | tail -2
  mkdir -p "$OUT/golden" && cp golden/*sage*cuda*.json "$OUT/golden/"
fi
echo "device_sage done"
