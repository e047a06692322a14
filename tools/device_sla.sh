#!/usr/bin/env bash
# One GPU-machine call for sparse-linear attention (issue 11): the GPU tests that cover it (and
# the shared top-k and bsa test changes), compute-sanitizer on its kernels, its benchmark beside
# our dense main loop, FastVideo's Triton SLA and cuDNN on the same tokens (tools/peer/sla_peer.py,
# sources carried in tools/peer/fastvideo_sla), our output against FastVideo's on the same inputs,
# the 1.3B 480p generation with sparse_linear over 8 fresh processes, and CUDA goldens.
# Usage (repo root on the GPU machine; bundle/ or prev/bundle.tar.xz present, tools/peer/fastvideo_sla
# carried):
#   tools/device_sla.sh [tests|sanitize|bench|peer|e2e|golden-print]...
set -uo pipefail
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
[[ -d bundle ]] || { [[ -f prev/bundle.tar.xz ]] && tar -xJf prev/bundle.tar.xz; }
B=$PWD/bundle
export LD_LIBRARY_PATH="$B/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
SAN=/usr/local/cuda/bin/compute-sanitizer
steps=("$@"); [[ ${#steps[@]} -eq 0 ]] && steps=(tests sanitize bench peer e2e)
want() { [[ " ${steps[*]} " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader | sed 's/^/gpu: /'
echo "commit: $(git rev-parse HEAD 2>/dev/null)"
if want tests; then
  # Only the tests this change touches (SLA, the shared top-k, bsa's test, the model, consistency).
  grep -E "^(${SLA_TESTS:-sla_attention_test|video_sparse_attention_test|bsa_attention_test|wan_dit_cuda_test|attention_consistency_test|gpu_generation_test})\$" \
      "$B/tests.txt" > "$OUT/tests.txt"
  cp "$B/tests.txt" "$OUT/all_tests.txt"; cp "$OUT/tests.txt" "$B/tests.txt"
  "$B/run_tests.sh" "$OUT/tests" 2>&1 | tail -10
  cp "$OUT/all_tests.txt" "$B/tests.txt"
  grep -h -E "SLA GPU|ratio 1, no proj_l|sparse_linear" "$OUT"/tests/*.log | head -40
  rm -f "$OUT"/tests/*.xml
fi
if want sanitize; then
  (cd "$B/data" && for tool in memcheck racecheck initcheck synccheck; do
     timeout 150 "$SAN" --tool $tool --error-exitcode 9 "$B/bin/sla_attention_test" --gtest_filter='*PartialBlocksAndTies*' > "$OUT/$tool-sla.log" 2>&1
     echo "$tool sla_attention_test (small shapes): rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool-sla.log" | tail -1)"
   done
   timeout 150 "$SAN" --tool initcheck --error-exitcode 9 "$B/bin/bsa_attention_test" --gtest_filter='*Kernels*' > "$OUT/initcheck-bsa.log" 2>&1
   echo "initcheck bsa_attention_test: rc=$? $(grep -E 'ERROR SUMMARY' "$OUT/initcheck-bsa.log" | tail -1)")
fi
if want bench; then
  "$B/bin/sla_attention_benchmark" --benchmark_out="$OUT/sla_bench.json" --benchmark_out_format=json 2>&1 | grep -E "^BM" | tee "$OUT/sla_bench.txt"
fi
if want peer; then
  # FastVideo's Triton SLA (ratios 0.1/0.2/0.5, sparse kernel alone) and cuDNN SDPA on the same
  # 12 x 32,760 x 128 tokens; then ours on the dumped inputs and the two outputs compared.
  D=/tmp/sla_dump.safetensors
  python3 tools/peer/sla_peer.py --dump $D 2>&1 | tail -14 | tee "$OUT/sla_peer.jsonl"
  "$B/bin/repro" attention --backend sparse_linear:ratio=0.1 --device cuda --grid 21,30,52 --layout bshd \
      --input $D --output /tmp/sla_ours.safetensors --runs 20 --force 2>&1 | grep -E "median|sparse_linear" | head -4
  python3 tools/peer/sla_peer.py --compare /tmp/sla_ours.safetensors --dump $D 2>&1 | tail -12 | tee "$OUT/sla_compare.txt"
  rm -f $D /tmp/sla_ours.safetensors
fi
if want e2e; then
  cd "$B/data" || exit 1
  "$B/bin/repro" run --device cuda --model wan2.1-t2v-1.3b --frames 81 --height 480 --width 832 --steps 2 \
      --backend sparse_linear --runs 8 --fresh-process --no-golden --force \
      --report "$OUT/e2e-sparse_linear.json" 2>"$OUT/e2e-sparse_linear.err" | tail -14
  "$B/bin/repro" golden update --device cuda --backend sparse_linear --quiet 2>&1 | tail -2
  "$B/bin/repro" golden update --device cuda --model wan-small --steps 4 --backend sparse_linear:ratio=0.3 --quiet 2>&1 | tail -2
  "$B/bin/repro" golden check --device cuda --quiet 2>&1 | tail -4
  for f in golden/*sparse_linear*cuda*.json; do echo "=== $f"; cat "$f"; done
  cd - > /dev/null
fi
echo "device_sla done"
