#!/usr/bin/env python3
"""FastVideo's Triton video sparse attention (VSA) as a peer for our VSA backend.

Times, at the Wan2.1-1.3B 480p self-attention shape by default (batch 1, 12 heads,
head_dim 128, token grid 21x30x52 -> tile grid 6x8x13 = 624 tiles of 4x4x4, 39,936
padded tokens), two things per sparsity:

  fastvideo_triton_vsa       fastvideo_kernel.video_sparse_attn, i.e. what FastVideo's
                             VIDEO_SPARSE_ATTN backend calls per layer: tile means,
                             coarse attention, top-k mask, mask -> index lists, the
                             block-sparse Triton kernel, out_c * gate + out_fine.
  fastvideo_triton_vsa_fine  the block-sparse Triton forward kernel alone
                             (triton_block_sparse_attn_forward) on precomputed indices.

Each case prints one JSON line: median of --iters CUDA-event-timed calls after --warmup
calls; tflops counts the fine branch only, 4 * heads * q_tiles * topk * 64 * 64 * head_dim
(batch 1), for both lines.

Inputs are random bf16 q, k, v, gate in FastVideo's tiled layout: raster tokens
(t, h, w) are scattered into 64-slot tiles exactly as VideoSparseAttentionImpl.tile()
does (valid tokens first inside each tile, pad slots zero), then transposed to
[B, H, S_padded, D] as the backend's forward() does. Partial edge tiles are handled as
FastVideo handles them (variable_block_sizes).

--dump PATH writes a safetensors file with the inputs, the layout metadata, the coarse
intermediates and, per sparsity, FastVideo's output, fine-branch output and selected
kv-tile indices, so that another implementation can be compared on the same inputs.
Tensor names and layouts are listed in write_dump() below. At the default shape the
file is about 1.3 GB: compare on the device machine, or dump a smaller shape
(e.g. --heads 1 --grid 8 16 16) to bring it back.

Needs only torch and triton. The FastVideo sources are a git-ignored, verbatim copy
(see fastvideo_vsa/NOTICE) next to this script; on the device machine name
tools/peer/fastvideo_vsa in `carry`. The compiled fastvideo_kernel._C extension is
replaced by an empty stub, so every call takes the Triton path (on sm_90 FastVideo
would otherwise prefer its ThunderKittens kernel when that extension is built).

Usage: python3 tools/peer/vsa_peer.py [--heads 12] [--grid 21 30 52] [--head-dim 128]
                                      [--sparsity 0.8 0.9] [--dump PATH]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import struct
import sys
import types
from pathlib import Path

import torch

VENDOR_DIR = Path(__file__).resolve().parent / "fastvideo_vsa"
FASTVIDEO_COMMIT = "2f3d4074064e4d86f99dc784ebbaa296e6f5925f"
TILE = (4, 4, 4)
BLOCK = 64  # tokens per tile, = prod(TILE); the Triton kernel's BLOCK_M = BLOCK_N


def import_fastvideo_kernel():
    """Import the vendored fastvideo_kernel package, forced onto its Triton path."""
    if not (VENDOR_DIR / "fastvideo_kernel" / "__init__.py").is_file():
        sys.exit(f"vsa_peer: {VENDOR_DIR}/fastvideo_kernel is missing; it is a git-ignored copy of "
                 f"FastVideo's fastvideo-kernel/python/fastvideo_kernel (commit {FASTVIDEO_COMMIT}). "
                 "On the device machine, name tools/peer/fastvideo_vsa in carry.")
    # FASTVIDEO_VSA_TRITON=1 forces Triton in block_sparse_attn_from_indices; the stub _C
    # module makes every `from fastvideo_kernel._C import fastvideo_kernel_ops` succeed with
    # no kernels in it (getattr(..., None) -> None), so no failed import is retried per call.
    os.environ["FASTVIDEO_VSA_TRITON"] = "1"
    stub = types.ModuleType("fastvideo_kernel._C")
    stub.fastvideo_kernel_ops = types.SimpleNamespace()
    sys.modules["fastvideo_kernel._C"] = stub
    sys.path.insert(0, str(VENDOR_DIR))
    import fastvideo_kernel  # noqa: F401  (registers the torch custom ops)
    from fastvideo_kernel import ops, vsa_utils
    from fastvideo_kernel.block_sparse_attn import block_sparse_attn
    from fastvideo_kernel.triton_kernels import block_sparse_attn_triton, fused_compress_topk, index
    return types.SimpleNamespace(
        video_sparse_attn=ops.video_sparse_attn,
        block_sparse_attn=block_sparse_attn,
        fine_forward=block_sparse_attn_triton.triton_block_sparse_attn_forward,
        fused_block_mean=fused_compress_topk.fused_block_mean,
        fused_topk_mask=fused_compress_topk.fused_topk_mask,
        topk_triton_limit=fused_compress_topk.MAX_KV_BLOCK_SIZE,
        map_to_index=index.map_to_index,
        fine_autotuner=block_sparse_attn_triton._attn_fwd_sparse,
        build_vsa_metadata=vsa_utils.build_vsa_metadata,
        version=fastvideo_kernel.__version__,
    )


def compute_topk(sparsity: float, num_blocks: int) -> int:
    """FastVideo's compute_topk (fastvideo/attention/backends/video_sparse_attn.py)."""
    return max(1, min(math.ceil((1 - sparsity) * num_blocks), num_blocks))


def tile_bhsd(x: torch.Tensor, meta: dict) -> torch.Tensor:
    """Raster [B, S, H, D] -> FastVideo's tiled, zero-padded [B, H, n_tiles*64, D].

    Same as VideoSparseAttentionImpl.tile() (buf[:, non_pad_index] = x[:, tile_partition_indices])
    followed by the .transpose(1, 2).contiguous() in its forward().
    """
    b, _, h, d = x.shape
    n_tiles = meta["variable_block_sizes"].numel()
    buf = torch.zeros(b, n_tiles * BLOCK, h, d, device=x.device, dtype=x.dtype)
    buf[:, meta["non_pad_index"]] = x[:, meta["tile_partition_indices"]]
    return buf.transpose(1, 2).contiguous()


def time_ms(fn, warmup: int, iters: int) -> float:
    """Median wall time of fn() on the current stream, one CUDA-event pair per call."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def compact_indices(mask: torch.Tensor, fv) -> tuple[torch.Tensor, torch.Tensor]:
    """FastVideo's mask -> (q2k_idx [B,H,Q,KV] int32, ascending kv, -1 padded; q2k_num [B,H,Q])."""
    return fv.map_to_index(mask)


def coarse(fv, q, k, v, vbs):
    """The compression branch exactly as ops.video_sparse_attn computes it (per tile, unbroadcast)."""
    dim = q.shape[-1]
    q_c = fv.fused_block_mean(q, vbs, BLOCK)
    k_c = fv.fused_block_mean(k, vbs, BLOCK)
    v_c = fv.fused_block_mean(v, vbs, BLOCK)
    scores = torch.matmul(q_c, k_c.transpose(-2, -1)) / (dim**0.5)
    out_c = torch.matmul(torch.softmax(scores, dim=-1), v_c)
    return q_c, k_c, v_c, scores, out_c


def fine_reference_error(q, k, v, vbs, idx, num, out_fine, max_q_tiles: int = 8) -> float:
    """Max |out_fine - fp32 dense attention over the selected kv tiles' valid rows| on a few q tiles."""
    heads, q_tiles, dim = q.shape[1], idx.shape[2], q.shape[-1]
    picks = sorted({round(i * (q_tiles - 1) / max(1, max_q_tiles - 1)) for i in range(max_q_tiles)})
    worst = 0.0
    for h in range(heads):
        for qt in picks:
            kv = idx[0, h, qt, :int(num[0, h, qt])].long()
            rows = torch.cat([torch.arange(t * BLOCK, t * BLOCK + int(vbs[t]), device=q.device) for t in kv.tolist()])
            qq = q[0, h, qt * BLOCK:(qt + 1) * BLOCK].float()
            p = torch.softmax(qq @ k[0, h, rows].float().T / math.sqrt(dim), dim=-1)
            ref = p @ v[0, h, rows].float()
            got = out_fine[0, h, qt * BLOCK:(qt + 1) * BLOCK].float()
            worst = max(worst, (got - ref).abs().max().item())
    return worst


_ST_DTYPES = {torch.bfloat16: "BF16", torch.float32: "F32", torch.int32: "I32"}


def write_safetensors(path: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> int:
    """Minimal safetensors writer (no `safetensors` package needed). Returns the file size.

    Format: u64 little-endian header length N, N bytes of JSON header
    {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}
    (space-padded to a multiple of 8), then the raw little-endian tensor bytes.
    """
    header: dict[str, object] = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in _ST_DTYPES:
            raise TypeError(f"{name}: dtype {t.dtype} not supported by this writer")
        raw = t.view(torch.uint8).reshape(-1).numpy()  # little-endian on x86-64
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + raw.nbytes]}
        blobs.append(raw)
        offset += raw.nbytes
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for raw in blobs:
            f.write(raw.data)
    return 8 + len(head) + offset


def write_dump(path, fv, args, meta, q, k, v, gate, cases) -> dict:
    """Dump inputs, metadata, coarse intermediates and per-sparsity outputs; self-check them.

    Names (all tiled layout, B = 1, S = n_tiles * 64, pad slots of q/k/v/gate are zero):
      q, k, v, gate                 BF16 [1, H, S, D]   inputs to video_sparse_attn
      tile_partition_indices        I32  [T*H*W]        tiled slot i (non-pad) holds raster token
                                                        tile_partition_indices[i]
      non_pad_index                 I32  [T*H*W]        padded slot of the i-th non-pad token
      variable_block_sizes          I32  [n_tiles]      valid tokens per tile
      q_c, k_c, v_c                 BF16 [1, H, n_tiles, D]        tile means
      scores                        BF16 [1, H, n_tiles, n_tiles]  q_c k_c^T / sqrt(D)
      out_c                         BF16 [1, H, n_tiles, D]        softmax(scores) v_c, per tile
      sp{S}.out                     BF16 [1, H, S, D]   video_sparse_attn output (pad rows included)
      sp{S}.out_fine                BF16 [1, H, S, D]   block-sparse branch alone
      sp{S}.q2k_idx                 I32  [1, H, n_tiles, max_selected]  kv tiles, ascending, -1 pad
      sp{S}.q2k_num                 I32  [1, H, n_tiles]                selected count per q tile
    with {S} the sparsity as written by format(s, "g"), e.g. sp0.8.out.
    """
    vbs = meta["variable_block_sizes"]
    q_c, k_c, v_c, scores, out_c = coarse(fv, q, k, v, vbs)
    tensors = {
        "q": q, "k": k, "v": v, "gate": gate,
        "tile_partition_indices": meta["tile_partition_indices"].to(torch.int32),
        "non_pad_index": meta["non_pad_index"].to(torch.int32),
        "variable_block_sizes": vbs.to(torch.int32),
        "q_c": q_c, "k_c": k_c, "v_c": v_c, "scores": scores, "out_c": out_c,
    }
    checks = {}
    for sparsity, topk in cases:
        tag = f"sp{format(sparsity, 'g')}"
        out = fv.video_sparse_attn(q, k, v, vbs, vbs, topk, block_size=TILE, compress_attn_weight=gate)
        mask = fv.fused_topk_mask(scores, topk)
        idx, num = compact_indices(mask, fv)
        out_fine = fv.block_sparse_attn(q, k, v, mask, vbs)[0]
        width = int(num.max())
        tensors[f"{tag}.out"] = out
        tensors[f"{tag}.out_fine"] = out_fine
        tensors[f"{tag}.q2k_idx"] = idx[..., :width].contiguous()
        tensors[f"{tag}.q2k_num"] = num
        # Re-assemble the output from the pieces the way ops.video_sparse_attn does.
        out_c_b = out_c.repeat_interleave(BLOCK, dim=2)
        rebuilt = out_c_b * gate + out_fine
        checks[tag] = {
            "topk": topk,
            "rows_with_count_ne_topk": int((num != topk).sum()),
            "rebuilt_bitexact": bool(torch.equal(rebuilt, out)),
            "fine_vs_fp32_ref_max_abs": round(fine_reference_error(q, k, v, vbs, idx, num, out_fine), 6),
        }
    metadata = {
        "source": f"FastVideo fastvideo_kernel {fv.version} (Triton path), commit {FASTVIDEO_COMMIT}",
        "grid": "x".join(map(str, args.grid)), "tile": "4x4x4", "heads": str(args.heads),
        "head_dim": str(args.head_dim), "seed": str(args.seed),
        "sparsity_topk": json.dumps({format(s, "g"): t for s, t in cases}),
        "layout": "tiled [B,H,S,D]; see tools/peer/vsa_peer.py write_dump()",
        "torch": torch.__version__,
    }
    size = write_safetensors(path, tensors, metadata)
    return {"dump": path, "bytes": size, "checks": checks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--grid", type=int, nargs=3, default=[21, 30, 52], metavar=("T", "H", "W"),
                    help="token grid after patchify; tiles = ceil(axis / 4) per axis")
    ap.add_argument("--head-dim", type=int, default=128, choices=(64, 128))
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.8, 0.9])
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dump", metavar="PATH", help="write a safetensors file of inputs and outputs")
    args = ap.parse_args()

    if not torch.cuda.is_available():
        sys.exit("vsa_peer: needs a CUDA GPU")
    if any(n <= 0 for n in args.grid) or args.heads <= 0:
        sys.exit("vsa_peer: --grid and --heads must be positive")
    if not all(0.0 <= s < 1.0 for s in args.sparsity):
        sys.exit("vsa_peer: sparsity must be in [0, 1)")
    fv = import_fastvideo_kernel()
    import triton

    dev = torch.device("cuda", torch.cuda.current_device())
    grid = tuple(args.grid)
    meta = fv.build_vsa_metadata(grid, TILE, dev)
    vbs = meta["variable_block_sizes"]  # int32 [n_tiles]
    n_tiles = vbs.numel()
    if triton.next_power_of_2(n_tiles) > fv.topk_triton_limit:
        print(json.dumps({"warning": f"{n_tiles} tiles: FastVideo falls back to torch.topk "
                                     "(tie order unspecified) instead of its Triton top-k kernel"}))
    heads, dim, tokens = args.heads, args.head_dim, math.prod(grid)

    gen = torch.Generator(device=dev).manual_seed(args.seed)
    raster = [torch.randn(1, tokens, heads, dim, device=dev, generator=gen).to(torch.bfloat16) for _ in range(4)]
    q, k, v, gate = (tile_bhsd(x, meta) for x in raster)
    del raster

    cases = [(s, compute_topk(s, n_tiles)) for s in args.sparsity]
    common = {"device": torch.cuda.get_device_name(), "heads": heads, "tiles": n_tiles, "head_dim": dim,
              "grid": list(grid), "tokens": tokens, "padded_tokens": n_tiles * BLOCK,
              "torch": torch.__version__, "triton": triton.__version__,
              "fastvideo_kernel": fv.version, "fastvideo_commit": FASTVIDEO_COMMIT[:12]}
    *_, scores, _ = coarse(fv, q, k, v, vbs)
    for sparsity, topk in cases:
        flops = 4.0 * heads * n_tiles * topk * BLOCK * BLOCK * dim
        full = time_ms(lambda: fv.video_sparse_attn(q, k, v, vbs, vbs, topk, block_size=TILE,
                                                    compress_attn_weight=gate), args.warmup, args.iters)
        idx, num = compact_indices(fv.fused_topk_mask(scores, topk), fv)
        fine = time_ms(lambda: fv.fine_forward(q, k, v, idx, num, vbs), args.warmup, args.iters)
        selected = round(num.float().mean().item(), 3)
        # The fine kernel is @triton.autotune'd (num_stages x num_warps, keyed on length and
        # head_dim); report the configuration this process picked.
        config = str(getattr(fv.fine_autotuner, "best_config", None))
        for impl, ms in (("fastvideo_triton_vsa", full), ("fastvideo_triton_vsa_fine", fine)):
            print(json.dumps({"impl": impl, **common, "sparsity": sparsity, "topk": topk,
                              "kv_tiles_selected_mean": selected, "median_ms": round(ms, 4),
                              "tflops": round(flops / ms / 1e9, 1), "fine_config": config}), flush=True)

    if args.dump:
        print(json.dumps(write_dump(args.dump, fv, args, meta, q, k, v, gate, cases)), flush=True)


if __name__ == "__main__":
    main()
