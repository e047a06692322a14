#!/usr/bin/env bash
# One GPU-machine call for the VAE decoder work: GPU tests, the cross-check of our decoder
# against diffusers' AutoencoderKLWan (tools/vae_crosscheck.py; ours decodes on this machine's
# CPU in fp32 and with bf16 rounding points, and on the GPU when built), diffusers' bf16
# decode of 21 latent frames at 480x832 and 720x1280 (time, peak memory) and ours beside it.
# The bundle may travel compressed (prev/bundle.tar.xz); the diffusers wheel in .whl/.
# Usage (repo root on the GPU machine): tools/device_vae.sh [tests|vaetest|tiled|crosscheck|bench|cuda|im2col|sanitize|video|profile|golden]...
set -uo pipefail
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
[[ -d bundle ]] || { [[ -f prev/bundle.tar.xz ]] && tar -xJf prev/bundle.tar.xz; }
B=$PWD/bundle
export LD_LIBRARY_PATH="$B/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
steps=("$@"); [[ ${#steps[@]} -eq 0 ]] && steps=(tests crosscheck bench)
want() { [[ " ${steps[*]} " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader | sed 's/^/gpu: /'
echo "commit: $(git rev-parse HEAD 2>/dev/null)"
if [[ -d .whl ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
D="$B/bin/wan_vae_decode"
if want tests; then
  "$B/run_tests.sh" "$OUT/tests" 2>&1 | tail -25
fi
if want vaetest; then
  (cd "$B/data" && "$B/bin/vae_ops_cuda_test" 2>&1 | grep -E "^\[  |conv \[|decode T=|cuda bf16|rel L2|FAIL|Failure|expected|Which" | head -60)
fi
if want tiled; then
  # Tiled decode (32-pixel tiles every 24 on 64x96 frames: 3 x 4 tiles) against diffusers' tiled_decode.
  "$D" --vae synthetic:0 --latents 3,8,12 --seed 1 --device cpu --precision fp32 --vae-tiling 32,24 \
       --save-weights /tmp/vae_w.safetensors --io /tmp/vae_t32.safetensors | tail -1
  "$D" --vae synthetic:0 --latents 3,8,12 --seed 1 --device cuda --precision bf16 --vae-tiling 32,24 --repeat 8 \
       --io /tmp/vae_t16.safetensors | tail -1
  python3 tools/vae_crosscheck.py --weights /tmp/vae_w.safetensors --io /tmp/vae_t32.safetensors \
       --io-bf16 /tmp/vae_t16.safetensors --json-out "$OUT/crosscheck_tiled.json" 2>&1 | grep -v "kept in float32" | tail -11
fi
if want crosscheck; then
  # The full Wan2.1 VAE on synthetic weights, 3 latent frames of 8x12 (9 frames of 64x96).
  "$D" --vae synthetic:0 --latents 3,8,12 --seed 1 --device cpu --precision fp32 --repeat 1 \
       --save-weights /tmp/vae_w.safetensors --io /tmp/vae_io32.safetensors
  "$D" --vae synthetic:0 --latents 3,8,12 --seed 1 --device cpu --precision bf16 --io /tmp/vae_io16cpu.safetensors
  python3 tools/vae_crosscheck.py --weights /tmp/vae_w.safetensors --io /tmp/vae_io32.safetensors \
       --io-bf16 /tmp/vae_io16cpu.safetensors --json-out "$OUT/crosscheck_cpu.json" 2>&1 | tail -14
  if want cuda; then
    "$D" --vae synthetic:0 --latents 3,8,12 --seed 1 --device cuda --precision bf16 --repeat 8 --io /tmp/vae_io16gpu.safetensors \
      && python3 tools/vae_crosscheck.py --weights /tmp/vae_w.safetensors --io /tmp/vae_io32.safetensors \
           --io-bf16 /tmp/vae_io16gpu.safetensors --json-out "$OUT/crosscheck_gpu.json" 2>&1 | grep -E "ours_bf16|verdict"
  fi
fi
if want bench; then
  python3 tools/vae_crosscheck.py --bench --json-out "$OUT/diffusers_bench.json" 2>&1 | tail -4
  if want cuda; then
    for size in 21,60,104 21,90,160; do
      for tiling in "" 256,192; do
        "$D" --vae synthetic:0 --latents $size --seed 2 --device cuda --precision bf16 --repeat 2 --io none \
             ${tiling:+--vae-tiling $tiling} 2>&1 | tail -3 | sed "s/^/[${tiling:-untiled}] /"
      done
    done
    if want im2col; then
      "$D" --vae synthetic:0 --latents 21,60,104 --seed 2 --device cuda --precision bf16 --vae-conv im2col --io none 2>&1 | tail -2
    fi
  fi
fi
if want sanitize; then
  (cd "$B/data" && for tool in memcheck racecheck initcheck synccheck; do
     timeout 120 /usr/local/cuda/bin/compute-sanitizer --tool $tool --error-exitcode 9 "$B/bin/vae_ops_cuda_test" \
       --gtest_filter='VaeDecoderCuda.*' > "$OUT/$tool-vae.log" 2>&1
     echo "$tool vae_ops_cuda_test (small decodes, both engines): rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool-vae.log" | tail -1)"
   done)
fi
if want video; then
  # A 480p video from the synthetic 1.3B model on the GPU (2 steps, 9 frames), written by repro.
  (cd "$B/data" && "$B/bin/repro" run --device cuda --model wan2.1-t2v-1.3b --steps 2 --frames 9 --runs 2 --no-golden \
      --vae synthetic:0 --video "$OUT/video480.y4m" --report "$OUT/run_video.json" 2>&1 | tail -9)
fi
if want profile; then
  # Per-kernel CUPTI table of one 480p decode (the wan-tiny DiT's one step is negligible beside it).
  (cd "$B/data" && "$B/bin/repro" run --device cuda --model wan-tiny --height 480 --width 832 --frames 81 --steps 1 \
      --runs 1 --no-golden --vae synthetic:0 --report "$OUT/profile480.json" 2>&1 | tail -9)
fi
if want golden; then
  # CUDA golden of the decoding CI case (wan-tiny + vae-tiny), printed for the repository.
  (cd "$B/data" && mkdir -p g && "$B/bin/repro" golden update --device cuda --vae synthetic:3 --vae-config vae-tiny \
      --golden-dir g --quiet && for f in g/*.json; do echo "== $f"; cat "$f"; done)
fi
