#!/usr/bin/env bash
# One GPU-machine call for the dense main loop (issue 15): every GPU test of the bundle (suite:
# regenerates each committed CUDA golden of this card's class), the main loop's own test, the
# dense benchmark (default overlapped consumers vs serial, 12 x 32,760 and 40 x 75,600 at head_dim
# 128, 24 x 32,760 at head_dim 64) beside torch SDPA (cuDNN, flash) on the same card, the sparse
# backends on the same main loop, the 1.3B forward, an ncu reading, and compute-sanitizer.
# Usage (repo root on the GPU machine; bundle/ or prev/bundle.tar.xz present):
#   tools/device_dense.sh [regolden|suite|test|bench|peer|sparse|norms|gemm|fvpeer|forward|profile|golden|sanitize|sanitize_norms|e2e|e2e50]...
# fvpeer: FastVideo's and diffusers' 1.3B forward (tools/peer/wan_forward_peer.py), before ours.
# e2e: the 1.3B 480x832x81 2-step CFG generation over 8 fresh processes (one SHA-1); e2e50: one
# 50-step CFG generation without a warm-up generation (a warm-up doubles it), its total time.
set -uo pipefail
DEFAULT_STEPS="test bench peer"
# shellcheck source=tools/device_common.sh
source "$(dirname "$0")/device_common.sh"
if want regolden; then
  # Re-records every committed CUDA golden under this card's class (after a deliberate change of
  # bits, the reason in the commit), in the bundle's golden/ (the suite then checks them from
  # fresh processes) and into $OUT/goldens.tar.gz to commit (the device returns few files).
  for f in golden/*.cuda.*.json; do
    "$B/bin/repro" golden update --case-from "$f" --golden-dir golden --force --quiet > "$OUT/regolden.log" 2>&1
    echo "$(basename "$f"): rc=$? $(grep -E "recorded|replaced|unchanged|refused" "$OUT/regolden.log" | head -1 | cut -c1-60)"
  done
  tar -czf "$OUT/goldens.tar.gz" golden/*.cuda.*.json
fi
if want suite; then
  timeout 560 "$B/run_tests.sh" "$OUT/suite" 2>&1 | grep -vE ": rc=0 passed=" | tail -12
  # what skipped and why (one line each); the communicator's and the goldens' own lines
  grep -h -A1 -E "^\[ RUN" "$OUT"/suite/*.log | grep -B1 -E "Skipped" | grep -E "RUN" | cut -c1-110 | head -8
  grep -h -E "NCCL|no golden for|8 GPU generations" "$OUT"/suite/*.log | cut -c1-150 | head -8
fi
if want test; then
  timeout 300 "$B/bin/block_sparse_attention_sm90_test" > "$OUT/block_sparse_test.log" 2>&1
  echo "block_sparse_attention_sm90_test: rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$OUT/block_sparse_test.log" | tr '\n' ' ')"
  grep -E "Failure|Expected|Which is|differ" "$OUT/block_sparse_test.log" | head -20
fi
if want bench; then
  # kernel 2 default, 3 serial (cp.async loads), 4 no ping-pong, 5/6 bounds (no loads, no softmax)
  "$B/bin/flash_attention_fwd_benchmark" --benchmark_filter='kernel:[23456]' --benchmark_repetitions=3 \
      --benchmark_report_aggregates_only=true --benchmark_out="$OUT/flash_bench.json" \
      --benchmark_out_format=json 2>&1 | grep -E "_median" | cut -c1-190 | tee "$OUT/flash_bench.txt"
fi
if want peer; then
  for shape in "12 32760 128" "24 32760 64" "40 75600 128"; do
    # shellcheck disable=SC2086
    python3 "$ROOT/tools/attention_peer.py" $shape 2>&1 | tee -a "$OUT/sdpa_peer.txt"
  done
fi
if want sparse; then
  for b in sliding_tile_attention_benchmark bsa_attention_benchmark video_sparse_attention_benchmark; do
    "$B/bin/$b" --benchmark_out="$OUT/$b.json" --benchmark_out_format=json 2>&1 | grep -E "^BM" | cut -c1-190 |
        tee "$OUT/$b.txt"
  done
fi
if want norms; then
  # the DiT's row kernels (LN + modulate, residual + LN, q/k RMS norm + RoPE single and paired)
  "$B/bin/dit_norms_benchmark" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
      --benchmark_out="$OUT/dit_norms.json" --benchmark_out_format=json 2>&1 | grep -E "_median" | cut -c1-150 |
      tee "$OUT/dit_norms.txt"
fi
if want gemm; then
  # our cuBLASLt linear layers (the algorithm each shape gets) beside torch's F.linear, one card
  "$B/bin/cublaslt_gemm_benchmark" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
      --benchmark_out="$OUT/gemm.json" --benchmark_out_format=json 2>&1 | grep -E "_median" | cut -c1-220 |
      tee "$OUT/gemm.txt"
  python3 "$ROOT/tools/peer/gemm_peer.py" 2>&1 | tee "$OUT/gemm_peer.txt" | cut -c1-200
fi
if want fvpeer; then
  # FastVideo's and diffusers' DiT forward at 480x832x81 (tools/peer/wan_forward_peer.py). Carry
  # tools/peer/fastvideo_dit (made by tools/peer/fastvideo_dit.sh) and .whl/ (diffusers 0.42.1,
  # ftfy, wcwidth, remote-pdb: what FastVideo's DiT imports that the machine lacks).
  if [[ -d "$ROOT/.whl" ]]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "$ROOT"/.whl/*.whl && export PYTHONPATH=/tmp/site
  fi
  timeout 240 python3 "$ROOT/tools/peer/wan_forward_peer.py" --peer fastvideo,diffusers \
      2> "$OUT/wan_forward_peer.err" | tee "$OUT/wan_forward_peer.txt" | cut -c1-400
  grep -vE "^(INFO|WARNING)" "$OUT/wan_forward_peer.err" | tail -3
fi
if want forward; then
  "$B/bin/wan_dit_cuda_benchmark" --benchmark_filter='1_3b' --benchmark_out="$OUT/dit_forward.json" \
      --benchmark_out_format=json 2>&1 | grep -E "^BM" | cut -c1-220 | tee "$OUT/dit_forward.txt"
fi
if want profile; then
  NCU="/usr/local/cuda/bin/ncu --clock-control none --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis --metrics regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,lts__t_sectors_op_read.sum,lts__throughput.avg.pct_of_peak_sustained_elapsed"
  timeout 240 $NCU -k regex:block_sparse_attention_sm90_kernel -c 1 "$B/bin/flash_attention_fwd_benchmark" \
      --benchmark_filter='BM_FlashAttentionFwd/heads:12/tokens:32760/head_dim:128/kv:32760/kernel:2' \
      > "$OUT/ncu-dense.txt" 2>&1
  echo "ncu dense: rc=$?"
  grep -E "Frequency|Duration|Throughput|Issue Slots Busy|Executed Ipc Active|No Eligible|Warp Cycles Per Issued|Tensor|Registers|L2 Hit|lts__" \
      "$OUT/ncu-dense.txt" | head -36
  # stall reasons (warps per issued instruction), largest first
  grep -E "smsp__average_warps_issue_stalled_" "$OUT/ncu-dense.txt" | awk '{print $NF, $1}' | sort -rn | head -12
fi
if want golden; then
  # Re-records the CUDA VAE golden under the class that now keys cuDNN's version (the frames'
  # bits are unchanged: the previous class's entry stays beside it).
  mkdir -p "$OUT/golden"
  cp "$ROOT/golden/wan-tiny.dense.bf16.cuda.vae.2b0a017f.json" "$OUT/golden/"
  "$B/bin/repro" golden update --golden-dir "$OUT/golden" --model wan-tiny --device cuda:0 --frames 13 \
      --height 128 --width 128 --steps 8 --guidance 3 --shift 3 --seed 1024 --vae synthetic:3 --vae-config vae-tiny \
      --vae-conv cudnn 2>&1 | tail -4
  ls "$OUT/golden"
fi
if want sanitize; then
  for tool in memcheck racecheck initcheck synccheck; do
    timeout 300 "$SAN" --tool $tool --show-backtrace no --error-exitcode 9 "$B/bin/block_sparse_attention_sm90_test" \
        --gtest_filter="${SAN_FILTER:-*OverlappedConsumers*:*FullLists*}" > "$OUT/$tool-block_sparse.log" 2>&1
    echo "$tool block_sparse_attention_sm90_test: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool-block_sparse.log" | tail -1)"
  done
fi
if want sanitize_norms; then
  # the DiT's row kernels (LN + modulate, residual + LN, q/k RMS norm + RoPE single and paired)
  timeout 100 "$B/bin/dit_norms_test" > "$OUT/dit_norms_test.log" 2>&1
  echo "dit_norms_test: rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$OUT/dit_norms_test.log" | tr '\n' ' ')"
  grep -E "Failure|Expected|Which is" "$OUT/dit_norms_test.log" | head -10
  for tool in memcheck racecheck initcheck synccheck; do
    timeout 100 "$SAN" --tool $tool --show-backtrace no --error-exitcode 9 "$B/bin/dit_norms_test" \
        > "$OUT/$tool-dit_norms.log" 2>&1
    echo "$tool dit_norms_test: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool-dit_norms.log" | tail -1)"
  done
fi
if want e2e; then
  "$B/bin/repro" run --device cuda --model wan2.1-t2v-1.3b --frames 81 --height 480 --width 832 --steps 2 \
      --runs 8 --fresh-process --no-golden --force --report "$OUT/e2e-dense.json" 2>"$OUT/e2e-dense.err" | tail -14
fi
if want e2e50; then
  "$B/bin/repro" run --device cuda --model wan2.1-t2v-1.3b --frames 81 --height 480 --width 832 --steps 50 \
      --runs 1 --warmup 0 --no-golden --force --report "$OUT/e2e50-dense.json" 2>"$OUT/e2e50-dense.err" | tail -8
fi
echo "device_dense done"
