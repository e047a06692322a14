#!/usr/bin/env bash
# One GPU-machine session over a bundle (tools/bundle.sh): GPU tests, compute-sanitizer, the
# DiT benchmark, the diffusers cross-check, repro runs and GPU goldens. Everything it measures
# goes to $OUT (default ./device-out) as logs plus one tarball; stdout gets the summary.
# Usage (on the GPU machine, repo root, bundle/ and optionally .whl/ present):
#   tools/device_session.sh [all|tests|sanitize|bench|crosscheck|repro]...
set -uo pipefail
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT/logs"
B=$PWD/bundle
export LD_LIBRARY_PATH="$B/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
SAN=/usr/local/cuda/bin/compute-sanitizer
steps=("$@"); [[ ${#steps[@]} -eq 0 ]] && steps=(all)
want() { [[ " ${steps[*]} " == *" all "* || " ${steps[*]} " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader | sed 's/^/gpu: /'

if want tests; then
  "$B/run_tests.sh" "$OUT/logs/tests" 2>&1 | tail -20
  grep -h -E "rel L2|sha1|gemm m=" "$OUT"/logs/tests/*.log | head -40
fi
if want sanitize; then
  (cd "$B/data" && for tool in memcheck racecheck; do
     "$SAN" --tool $tool --error-exitcode 9 "$B/bin/wan_dit_cuda_test" --gtest_filter='*Tiny*' > "$OUT/logs/$tool-dit.log" 2>&1
     echo "$tool wan_dit_cuda_test (tiny forward): rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/logs/$tool-dit.log")"
   done)
fi
if want bench; then
  "$B/bin/wan_dit_cuda_benchmark" --benchmark_out="$OUT/logs/dit_bench.json" --benchmark_out_format=json 2>&1 | grep -E "^BM|Benchmark"
fi
if want crosscheck && [[ -d .whl ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
  "$B/bin/wan_dit_forward" --model wan-small --weights synthetic:0 --precision fp32 --timestep 757 \
      --save-weights /tmp/xc_w.safetensors --io /tmp/xc_io.safetensors
  python3 tools/diffusers_crosscheck.py --weights /tmp/xc_w.safetensors --io /tmp/xc_io.safetensors \
      --json-out "$OUT/logs/crosscheck.json" --md-out "$OUT/logs/crosscheck.md" 2>&1 | tail -15
fi
if want repro; then
  R="$B/bin/repro"
  cd "$B/data" || exit 1
  "$R" run --device cuda --runs 8 --no-golden --report "$OUT/logs/run_tiny_cuda.json" --force 2>/dev/null | tail -6
  "$R" run --device cuda --model wan-small --runs 3 --fresh-process --no-golden --report "$OUT/logs/run_small_fresh.json" --force 2>/dev/null | tail -6
  "$R" golden update --device cuda --quiet
  "$R" golden update --device cuda --model wan-small --quiet
  "$R" golden check --device cuda --quiet
  "$R" trace --device cuda --steps 3 --out /tmp/a.json --force --quiet > /dev/null
  "$R" trace --device cuda --steps 3 --out /tmp/b.json --force --quiet --debug-perturb 1:cond:1:norm3 > /dev/null
  "$R" trace --diff /tmp/a.json /tmp/b.json --rerun 2>/dev/null
  mkdir -p "$OUT/logs/golden" && cp golden/*cuda*.json "$OUT/logs/golden/" 2>/dev/null
  cd - > /dev/null
fi
tar -C "$OUT" -czf "$OUT/device-session.tar.gz" logs
echo "device session done: $OUT/device-session.tar.gz"
