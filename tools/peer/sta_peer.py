#!/usr/bin/env python3
"""FastVideo's Triton sliding-tile attention (STA) and cuDNN dense as peers for our STA backend.

At FastVideo's Wan STA canvas by default (batch 1, 12 heads, head_dim 128, token grid
18x48x80 = 69,120 tokens, 6x8x8 tiles -> 3x6x10 = 180 tiles), times in one process:

  fastvideo_triton_sta  sliding_tile_attention_triton(q, k, v, window_size=[w] * heads,
                        text_length=0, has_text=False, dit_seq_shape='18x48x80'): FastVideo's
                        Triton STA kernel (fastvideo-kernel st_attn_triton.py, autotuned once),
                        one launch per head as FastVideo calls it, per window in --windows.
  sdpa_cudnn            torch SDPA with the cuDNN backend (dense) on the same tokens.
  sdpa_flash            torch SDPA with the flash backend (dense).

Each case prints one JSON line: median of --iters CUDA-event-timed calls after --warmup;
tflops counts kept (query, key) pairs, 4 * heads * density * tokens^2 * head_dim.

Inputs: random bf16 q, k, v in raster (t, h, w) order; Triton gets them in tile order (tiles
(t, h, w), raster inside a tile: the same permutation as our TileLayout) as [B, H, S, D];
its output is permuted back. --dump PATH writes q, k, v ([1, H, S, D] bf16, raster) and each
window's Triton output ("triton_TxHxW", raster, bf16) and the cuDNN output ("sdpa_cudnn") so
`repro attention --layout bhsd --grid 18,48,80` can be run on the same tokens; --compare
OURS.safetensors --key triton_3x3x5 then prints rel L2 / max abs of our 'out' against it.

Needs only torch and triton; the FastVideo sources are the git-ignored copy in
tools/peer/fastvideo_vsa (name it in carry on the device machine).

Usage: python3 tools/peer/sta_peer.py [--windows 3x3x5 3x6x10] [--dump PATH]
       python3 tools/peer/sta_peer.py --compare OURS --dump PATH --key triton_3x3x5
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import struct
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vsa_peer import FASTVIDEO_COMMIT, VENDOR_DIR, time_ms, write_safetensors  # noqa: E402

CANVAS = (18, 48, 80)  # the only Wan canvas FastVideo's Triton STA accepts
TILE = (6, 8, 8)


def import_st_attn():
    path = VENDOR_DIR / "fastvideo_kernel" / "triton_kernels" / "st_attn_triton.py"
    if not path.is_file():
        sys.exit(f"sta_peer: {path} is missing; it is a git-ignored copy of FastVideo's fastvideo-kernel "
                 f"(commit {FASTVIDEO_COMMIT}). On the device machine, name tools/peer/fastvideo_vsa in carry.")
    spec = importlib.util.spec_from_file_location("st_attn_triton", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tile_permutation(canvas, tile) -> torch.Tensor:
    """raster index of each tiled position (tiles (t,h,w), raster inside): our TileLayout."""
    t, h, w = canvas
    idx = torch.arange(t * h * w).reshape(t, h, w)
    order = []
    for ti in range(0, t, tile[0]):
        for hi in range(0, h, tile[1]):
            for wi in range(0, w, tile[2]):
                order.append(idx[ti:ti + tile[0], hi:hi + tile[1], wi:wi + tile[2]].reshape(-1))
    return torch.cat(order)


def density(window, canvas=CANVAS, tile=TILE) -> float:
    """Kept fraction of (query, key) pairs (whole tiles): per axis, the mean window extent."""
    kept = 1.0
    for k, c, t in zip(window, canvas, tile):
        n, half = c // t, k // 2
        extent = 0
        for qa in range(n):
            center = max(min(qa, n - 1 - half), half)  # Triton's clamp_int
            extent += min(center + half + 1, n) - max(center - half, 0)
        kept *= extent / (n * n)
    return kept


def read_safetensors(path: str) -> dict[str, torch.Tensor]:
    dt = {"BF16": torch.bfloat16, "F32": torch.float32, "F16": torch.float16}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        s, t = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[s:t]), dtype=dt[e["dtype"]]).reshape(e["shape"])
    return out


def compare(ours_path: str, dump_path: str, key: str) -> None:
    ours = read_safetensors(ours_path)["out"].float()
    ref = read_safetensors(dump_path)[key].float()
    diff = (ours - ref).double()
    print(json.dumps({"compare": key, "ours": ours_path, "rel_l2": (diff.norm() / ref.double().norm()).item(),
                      "max_abs": diff.abs().max().item(), "mean_abs": diff.abs().mean().item()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--head-dim", type=int, default=128, choices=(64, 128))
    ap.add_argument("--windows", nargs="+", default=["3x3x5", "3x6x10"])
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dump", metavar="PATH")
    ap.add_argument("--compare", metavar="OURS")
    ap.add_argument("--key", default="triton_3x3x5")
    args = ap.parse_args()
    if args.compare:
        return compare(args.compare, args.dump, args.key)
    st = import_st_attn()
    from torch.nn.attention import SDPBackend, sdpa_kernel
    torch.manual_seed(args.seed)
    H, D = args.heads, args.head_dim
    S = CANVAS[0] * CANVAS[1] * CANVAS[2]
    dev = "cuda"
    q, k, v = (torch.randn(1, H, S, D, device=dev, dtype=torch.float32).mul_(s).to(torch.bfloat16)
               for s in (1.5, 1.5, 1.0))
    perm = tile_permutation(CANVAS, TILE).to(dev)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(S, device=dev)
    qt, kt, vt = (x[:, :, perm].contiguous() for x in (q, k, v))
    gpu = torch.cuda.get_device_name()
    dump = {"q": q, "k": k, "v": v}
    for text in args.windows:
        w = tuple(int(x) for x in text.split("x"))
        fn = lambda: st.sliding_tile_attention_triton(qt, kt, vt, [w] * H, 0, False, "18x48x80")
        out = fn()  # autotunes on the first call
        ms = time_ms(fn, args.warmup, args.iters)
        dens = density(w)
        print(json.dumps({"impl": "fastvideo_triton_sta", "window": text, "canvas": "x".join(map(str, CANVAS)),
                          "tile": "x".join(map(str, TILE)), "heads": H, "head_dim": D, "tokens": S,
                          "density": dens, "ms": ms, "tflops": 4 * H * dens * S * S * D / ms / 1e9, "gpu": gpu}),
              flush=True)
        dump["triton_" + text] = out[:, :, inv].contiguous()
    for name, backend in (("sdpa_cudnn", SDPBackend.CUDNN_ATTENTION), ("sdpa_flash", SDPBackend.FLASH_ATTENTION)):
        with sdpa_kernel(backend):
            fn = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v)
            out = fn()
            ms = time_ms(fn, args.warmup, args.iters)
        print(json.dumps({"impl": name, "window": "dense", "heads": H, "head_dim": D, "tokens": S, "density": 1.0,
                          "ms": ms, "tflops": 4 * H * S * S * D / ms / 1e9, "gpu": gpu}), flush=True)
        if name == "sdpa_cudnn":
            dump[name] = out
    if args.dump:
        size = write_safetensors(args.dump, dump, {"canvas": "18x48x80", "tile": "6x8x8", "layout": "bhsd raster",
                                                   "fastvideo_commit": FASTVIDEO_COMMIT})
        print(json.dumps({"dump": args.dump, "bytes": size}))


if __name__ == "__main__":
    main()
