#!/usr/bin/env python3
"""Independent check of the C++ Wan VAE decoder against diffusers' AutoencoderKLWan, and
diffusers' own decode speed and peak memory as the baseline.

Inputs (written by tools/crosscheck/wan_vae_decode):
  --weights W.safetensors  diffusers-layout decoder weights (f32); __metadata__["config"] is
                           our VAE config JSON (base_dim, z_dim, dim_mult, num_res_blocks,
                           temperal_downsample, latents_mean, latents_std).
  --io IO.safetensors      "latents" f32 [1,16,T,h,w] (normalised) and "video" f32
                           [1,3,T',8h,8w]: our decode (any precision; metadata says which).
  --io-bf16 IO2            optional: our bf16 decode of the same latents.

Verdict: ours (fp32) against diffusers in fp32 (TF32 off, math SDPA): relative L2 < --tol
(default 1e-5). Diagnostics: both against a float64 run of diffusers' model (the truth), and
the bf16 decodes (diffusers under bf16 autocast with fp32 weights, as FastVideo decodes; and
with bf16 weights; ours) against that truth. Comparisons are over the [-1, 1]-clamped video.
--bench: diffusers' bf16 decode of 21 latent frames at 480x832 and 720x1280 (random weights):
time and peak memory, as the baseline our decoder is measured against.
Exit code: 0 PASS, 1 FAIL, 2 usage / load error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def rel_l2(a, b):
    import torch
    a = a.double()
    b = b.double()
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp_min(1e-300))


def build_model(cfg, state, device, dtype, tiling=""):
    import torch
    from diffusers import AutoencoderKLWan
    model = AutoencoderKLWan(base_dim=cfg["base_dim"], z_dim=cfg["z_dim"], dim_mult=cfg["dim_mult"],
                             num_res_blocks=cfg["num_res_blocks"], temperal_downsample=cfg["temperal_downsample"],
                             latents_mean=cfg["latents_mean"], latents_std=cfg["latents_std"])
    if state is not None:
        missing, unexpected = model.load_state_dict(state, strict=False)
        bad_missing = [k for k in missing if k.startswith("decoder.") or k.startswith("post_quant_conv.")]
        if bad_missing or unexpected:
            raise SystemExit(f"weights do not fit diffusers' model: missing {bad_missing[:5]}, unexpected {unexpected[:5]}")
    if tiling:  # our --vae-tiling TILE,STRIDE: the same tiles through diffusers' tiled_decode
        tile, stride = (int(v) for v in tiling.split(","))
        model.enable_tiling(tile_sample_min_height=tile, tile_sample_min_width=tile,
                            tile_sample_stride_height=stride, tile_sample_stride_width=stride)
    return model.to(device=device, dtype=dtype).eval()


def decode(model, z, cfg, dtype, autocast=None):
    import torch
    mean = torch.tensor(cfg["latents_mean"], dtype=dtype, device=z.device).view(1, -1, 1, 1, 1)
    std = torch.tensor(cfg["latents_std"], dtype=dtype, device=z.device).view(1, -1, 1, 1, 1)
    zz = z.to(dtype) * std + mean  # FastVideo's denormalisation (DecodingStage)
    with torch.no_grad():
        if autocast is not None:
            with torch.autocast("cuda", dtype=autocast):
                out = model.decode(zz).sample
        else:
            out = model.decode(zz).sample
    return out.float().clamp(-1, 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--weights")
    p.add_argument("--io")
    p.add_argument("--io-bf16")
    p.add_argument("--tol", type=float, default=1e-5)
    p.add_argument("--bench", action="store_true")
    p.add_argument("--json-out")
    a = p.parse_args()
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    result = {"device": torch.cuda.get_device_name() if dev == "cuda" else "cpu", "torch": torch.__version__}
    import diffusers
    result["diffusers"] = diffusers.__version__
    verdict = 0
    if a.weights and a.io:
        with safe_open(a.weights, "pt") as f:
            cfg = json.loads(f.metadata()["config"])
        state = load_file(a.weights)
        io = load_file(a.io)
        with safe_open(a.io, "pt") as f:
            ours_meta = f.metadata()
        z = io["latents"].to(dev)
        ours = io["video"].to(dev)
        tiling = ours_meta.get("tiling", "")
        result["tiling"] = tiling
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
            m64 = build_model(cfg, state, dev, torch.float64, tiling)
            truth = decode(m64, z, cfg, torch.float64)
            del m64
            m32 = build_model(cfg, state, dev, torch.float32, tiling)
            ref32 = decode(m32, z, cfg, torch.float32)
        checks = {
            "ours_vs_diffusers_fp32": rel_l2(ours, ref32),
            "ours_vs_fp64_truth": rel_l2(ours, truth),
            "diffusers_fp32_vs_fp64_truth": rel_l2(ref32, truth),
            "max_abs_ours_vs_diffusers_fp32": float((ours - ref32).abs().max()),
        }
        ref_bf16_autocast = decode(m32, z, cfg, torch.float32, autocast=torch.bfloat16)
        checks["diffusers_bf16_autocast_vs_truth"] = rel_l2(ref_bf16_autocast, truth)
        mb = build_model(cfg, state, dev, torch.bfloat16, tiling)
        checks["diffusers_bf16_weights_vs_truth"] = rel_l2(decode(mb, z, cfg, torch.bfloat16), truth)
        if a.io_bf16:
            ours_bf16 = load_file(a.io_bf16)["video"].to(dev)
            with safe_open(a.io_bf16, "pt") as f:
                checks["ours_bf16_decoder"] = f.metadata().get("decoder", "?")
            checks["ours_bf16_vs_truth"] = rel_l2(ours_bf16, truth)
        result["shape"] = list(ours.shape)
        result["ours"] = ours_meta
        result["checks"] = checks
        ok = checks["ours_vs_diffusers_fp32"] < a.tol
        result["verdict"] = "PASS" if ok else "FAIL"
        verdict = 0 if ok else 1
        print(f"VAE cross-check on {result['device']} (diffusers {result['diffusers']}), video {list(ours.shape)}"
              + (f", tiled {tiling}" if tiling else "") + ":")
        for k, v in checks.items():
            print(f"  {k:36s} {v if isinstance(v, str) else f'{v:.3e}'}")
        print(f"  verdict: {result['verdict']} (ours fp32 vs diffusers fp32 rel L2 < {a.tol:g})")
    if a.bench and dev == "cuda":
        from diffusers import AutoencoderKLWan
        model = AutoencoderKLWan().to(dev, torch.bfloat16).eval()
        bench = {}
        for (h, w, tiled) in [(480, 832, False), (720, 1280, False), (480, 832, True), (720, 1280, True)]:
            if tiled:
                model.enable_tiling()  # diffusers' defaults: 256-pixel tiles every 192
            else:
                model.disable_tiling()
            z = torch.randn(1, 16, 21, h // 8, w // 8, device=dev, dtype=torch.bfloat16)
            with torch.no_grad():
                model.decode(z[:, :, :2])  # warm-up (cuDNN plans)
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
                times = []
                for _ in range(2):
                    t0 = time.perf_counter()
                    out = model.decode(z).sample
                    torch.cuda.synchronize()
                    times.append(time.perf_counter() - t0)
                    del out
                peak = (torch.cuda.max_memory_allocated() - base) / 2**30
            key = f"{h}x{w}" + (" tiled 256,192" if tiled else "")
            bench[key] = {"seconds": times, "peak_gib_above_weights": peak}
            print(f"diffusers bf16 decode 21 latent frames {key}: {min(times):.3f} s (runs {times}), peak {peak:.2f} GiB")
        result["diffusers_bench"] = bench
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(result, f, indent=2)
    return verdict


if __name__ == "__main__":
    sys.exit(main())
