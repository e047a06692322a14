#!/usr/bin/env bash
# One GPU-machine call for the attention-backend work (issue: backend framework + VSA): GPU
# tests, compute-sanitizer on the new kernels, our dense and VSA kernels beside torch SDPA
# (cuDNN, flash) and FastVideo's Triton VSA (tools/peer/vsa_peer.py, sources carried in
# tools/peer/fastvideo_vsa), and the 1.3B 480p generation with VSA 0.9 over 8 fresh processes.
# ab: the VSA and dense benchmarks of a previous build (prev/, same binaries names) and of this
# one, interleaved twice in the same call. ncu: kernel durations and limits of one VSA launch.
# sta: sliding-tile benchmarks beside FastVideo's Triton STA and cuDNN (tools/peer/sta_peer.py)
# on the same tokens, with our output compared to theirs through `repro attention`.
# sta-e2e / bsa-e2e: the 1.3B 480p generation with sliding_tile / block_sparse over 8 fresh
# processes, and CUDA goldens; bsa: the block_sparse benchmark; golden-print: CUDA goldens to stdout.
# Usage (repo root on the GPU machine, bundle/ present):
#   tools/device_vsa.sh [tests|sanitize|bench|ab|ncu|e2e|sta|sta-e2e|bsa|bsa-e2e|golden-print]...
set -uo pipefail
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
B=$PWD/bundle
export LD_LIBRARY_PATH="$B/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
SAN=/usr/local/cuda/bin/compute-sanitizer
steps=("$@"); [[ ${#steps[@]} -eq 0 ]] && steps=(tests sanitize bench e2e)
want() { [[ " ${steps[*]} " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader | sed 's/^/gpu: /'
echo "commit: $(git rev-parse HEAD 2>/dev/null)"
if want tests; then
  "$B/run_tests.sh" "$OUT/tests" 2>&1 | tail -25
  grep -h -E "rel L2|mean abs|selected|VSA|vsa" "$OUT"/tests/*.log | head -60 > "$OUT/test_figures.txt"
fi
if want sanitize; then
  (cd "$B/data" && for tool in memcheck racecheck; do
     "$SAN" --tool $tool --error-exitcode 9 "$B/bin/video_sparse_attention_test" --gtest_filter='*BatchTwo*:*TiedScores*:*Rejects*' > "$OUT/$tool-vsa.log" 2>&1
     echo "$tool video_sparse_attention_test: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool-vsa.log" | tail -1)"
     "$SAN" --tool $tool --error-exitcode 9 "$B/bin/block_sparse_attention_sm90_test" > "$OUT/$tool-bs.log" 2>&1
     echo "$tool block_sparse_attention_sm90_test: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool-bs.log" | tail -1)"
     "$SAN" --tool $tool --error-exitcode 9 "$B/bin/sliding_tile_attention_test" --gtest_filter='*MainLoop*' > "$OUT/$tool-sta.log" 2>&1
     echo "$tool sliding_tile_attention_test: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool-sta.log" | tail -1)"
     "$SAN" --tool $tool --error-exitcode 9 "$B/bin/bsa_attention_test" --gtest_filter='*Kernels*' > "$OUT/$tool-bsa.log" 2>&1
     echo "$tool bsa_attention_test: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool-bsa.log" | tail -1)"
   done)
fi
if want bench; then
  "$B/bin/flash_attention_fwd_benchmark" --benchmark_out="$OUT/flash_bench.json" --benchmark_out_format=json 2>&1 | grep -E "^BM" | tee "$OUT/flash_bench.txt"
  python3 tools/attention_peer.py 2>&1 | tee "$OUT/sdpa_peer.jsonl"
  "$B/bin/video_sparse_attention_benchmark" --benchmark_out="$OUT/vsa_bench.json" --benchmark_out_format=json 2>&1 | grep -E "^BM" | tee "$OUT/vsa_bench.txt"
  python3 tools/peer/vsa_peer.py 2>&1 | tail -8 | tee "$OUT/vsa_peer.jsonl"
fi
if want ab && [[ -d prev ]]; then
  F='FineMainLoop/sparsity_pct:(80|90)/padded:0|VideoSparseAttention/sparsity_pct:(80|90)/gate:(0|1)'
  for i in 1 2; do
    for side in prev new; do
      bin=$PWD/prev; [[ $side == new ]] && bin=$B/bin
      "$bin/video_sparse_attention_benchmark" --benchmark_filter="$F" 2>&1 | grep ^BM | awk -v s=$side '{print s, $1, $2, $3}'
      "$bin/flash_attention_fwd_benchmark" --benchmark_filter='tokens:32760/head_dim:128/kv:32760/kernel:2' 2>&1 |
          grep ^BM | awk -v s=$side '{print s, $1, $2, $3}'
    done
  done | tee "$OUT/ab.txt"
fi
if want ncu; then
  /usr/local/cuda/bin/ncu --clock-control none --kernel-name regex:'video_sparse|block_sparse|transpose' --launch-skip 4 \
      --launch-count 4 --section SpeedOfLight "$B/bin/video_sparse_attention_benchmark" \
      --benchmark_filter='VideoSparseAttention/sparsity_pct:90/gate:1' --benchmark_min_time=0.01 > "$OUT/ncu_vsa_launch.txt" 2>&1
  grep -E "^  [a-z_]+.*\(|Duration" "$OUT/ncu_vsa_launch.txt" | sed 's/(.*//' | paste - - | head -8
fi
if want e2e; then
  R="$B/bin/repro"
  cd "$B/data" || exit 1
  for backend in video_sparse:sparsity=0.9 dense; do
    "$R" run --device cuda --model wan2.1-t2v-1.3b --frames 81 --height 480 --width 832 --steps 2 \
        --backend "$backend" --runs 8 --fresh-process --no-golden --force \
        --report "$OUT/e2e-${backend%%:*}.json" 2>"$OUT/e2e-${backend%%:*}.err" | tail -14
  done
  "$R" golden update --device cuda --backend video_sparse --quiet 2>&1 | tail -2
  "$R" golden update --device cuda --backend video_sparse:sparsity=0.8 --model wan-small --steps 4 --quiet 2>&1 | tail -2
  "$R" golden check --device cuda --quiet 2>&1 | tail -4
  mkdir -p "$OUT/golden" && cp golden/*cuda*.json "$OUT/golden/" 2>/dev/null
  cd - > /dev/null
fi
if want sta; then
  "$B/bin/sliding_tile_attention_benchmark" --benchmark_out="$OUT/sta_bench.json" --benchmark_out_format=json 2>&1 | grep -E "^BM" | tee "$OUT/sta_bench.txt"
  D=/tmp/sta_dump.safetensors
  python3 tools/peer/sta_peer.py --dump $D 2>&1 | tail -6 | tee "$OUT/sta_peer.jsonl"
  for w in 3x3x5:triton_3x3x5 3x6x10:triton_3x6x10 full:sdpa_cudnn; do
    "$B/bin/repro" attention --backend "sliding_tile:window=${w%%:*}" --device cuda --grid 18,48,80 --layout bhsd \
        --input $D --output /tmp/ours.safetensors --runs 10 --force 2>&1 | grep -E "median|sliding" | head -3
    python3 tools/peer/sta_peer.py --compare /tmp/ours.safetensors --dump $D --key "${w##*:}"
  done 2>&1 | tee "$OUT/sta_compare.txt"
  rm -f $D /tmp/ours.safetensors
fi
# The 1.3B 480p generation with one backend over 8 fresh processes.
e2e_backend() {
  "$B/bin/repro" run --device cuda --model wan2.1-t2v-1.3b --frames 81 --height 480 --width 832 --steps 2 \
      --backend "$1" --runs 8 --fresh-process --no-golden --force \
      --report "$OUT/e2e-${1%%:*}.json" 2>"$OUT/e2e-${1%%:*}.err" | tail -14
}
if want sta-e2e; then
  cd "$B/data" || exit 1
  e2e_backend sliding_tile
  "$B/bin/repro" golden update --device cuda --backend sliding_tile:tile=2x4x4,window=1x3x1 --quiet 2>&1 | tail -2
  "$B/bin/repro" golden update --device cuda --model wan-small --steps 2 --quiet \
      --backend sliding_tile:tile=2x4x4,window=2x2x3,strategy=golden/strategies/wan-small-sta.json 2>&1 | tail -2
  cd - > /dev/null
fi
if want bsa; then
  "$B/bin/bsa_attention_benchmark" --benchmark_out="$OUT/bsa_bench.json" --benchmark_out_format=json 2>&1 | grep -E "^BM" | tee "$OUT/bsa_bench.txt"
fi
if want bsa-e2e; then
  cd "$B/data" || exit 1
  e2e_backend block_sparse
  "$B/bin/repro" golden update --device cuda --backend block_sparse --quiet 2>&1 | tail -2
  "$B/bin/repro" golden update --device cuda --model wan-small --steps 2 --quiet \
      --backend block_sparse:keep=0.25,min_tiles=2,threshold=0.6 2>&1 | tail -2
  cd - > /dev/null
fi
if want golden-print; then  # the CUDA goldens of this bundle, printed (files out of $OUT are capped in count)
  for f in "$B"/data/golden/*cuda*.json; do echo "=== $f"; cat "$f"; done
fi
echo "device session done"
