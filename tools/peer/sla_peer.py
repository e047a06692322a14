#!/usr/bin/env python3
"""FastVideo's Triton sparse-linear attention (SLA) and cuDNN dense as peers for our sparse_linear backend.

At the Wan2.1-1.3B 480p self-attention shape by default (batch 1, 12 heads, 32,760 tokens =
21x30x52, head_dim 128, bf16, FastVideo's [B, H, L, D] layout), times in one process:

  fastvideo_sla               FastVideo's full SLA forward (SLAAttentionImpl.forward, sla.py:266-328,
                              restated in fastvideo_sla_forward below): get_block_map (smooth-k,
                              Triton mean pooling, pooled scores, torch.topk LUT), the sparse Triton
                              kernel (_attention.apply -> _attn_fwd), the linear branch with the
                              feature map and proj_l, o_s + o_l; per ratio in --ratios (0.1 0.2 0.5).
  fastvideo_sla_from_bshd     the same at --sparse-ratio from [B, L, H, D] inputs, i.e. including
                              the q/k/v .transpose(1, 2).contiguous() of sla.py:290-292, as FastVideo's
                              attention layer calls it (our `repro attention` takes [B, L, H, D]).
  fastvideo_sla_block_map     get_block_map alone (sla.py:300) at --sparse-ratio.
  fastvideo_sla_sparse_kernel only the sparse Triton kernel, _attention.apply (sla_triton.py:254-292,
                              one _attn_fwd launch) on a precomputed LUT at --sparse-ratio.
  fastvideo_sla_linear        the linear branch alone (sla.py:314-320): feature maps, linear
                              attention, proj_l.
  sdpa_cudnn                  torch SDPA, cuDNN backend (dense, ratio 1.0), on the same q, k, v.

Each prints one JSON line {"name", "ms", "ratio", "topk", "tokens", "heads", "head_dim", "gpu", ...}:
the median of --iters CUDA-event-timed calls (one event pair per call) after --warmup calls.
"tflops" (sparse kernel and SDPA only) counts 4 * heads * tokens * kept_keys * head_dim with
kept_keys = min(topk * 64, tokens) (dense: tokens).

Numerics follow FastVideo's inference: the whole forward runs inside torch.autocast("cuda", bf16),
as FastVideo's denoising stage runs the DiT (fastvideo/pipelines/stages/denoising.py:143, 465),
under torch.no_grad(); --no-autocast runs it without (then ksum, the linear branch's denominator and
quotient are bf16 instead of fp32; see reports/2026-12-01-sla-vmoba-reference-numerics.md). The
first output line ("dtype_probe") shows the dtypes the block map's and the linear branch's
intermediates actually get. BLKQ = 128, BLKK = 64 (sla.py:200-201), topk = min(K, int(ratio * K))
with K = ceil(tokens / 64) key blocks (sla.py:104-105): 51 / 102 / 256 at 32,760 tokens for
0.1 / 0.2 / 0.5. The sparse kernel's scale is head_dim**-0.5 (sla.py:308 passes no qk_scale;
sla_triton.py:262-263).

Inputs: q, k, v ~ N(0, 1) bf16 [1, H, L, D] from a torch.Generator on cuda seeded with --seed (drawn
in fp32, q then k then v, then rounded to bf16). proj_l = nn.Linear(D, D) with fp32 parameters as
FastVideo builds it (sla.py:220), seeded from the same generator after v: weight ~ N(0, (gain / sqrt(D))^2),
bias ~ N(0, 0.002^2), gain = --proj-gain, both rounded to bf16 values (so the bf16 weights FastVideo's
autocast uses are exactly the ones dumped). The default gain 3 makes the linear branch about half of
the output's norm at the default shape on these random inputs (an fp32 estimate: o_s rms ~0.029,
proj_l(o_l) rms ~0.019; gain 1 gives about a quarter), so errors in either branch show in the
comparison; the dump's checks print the actual share. FastVideo initialises proj_l to zero
(sla.py:240-244; out = o_s exactly); --proj-gain 0 reproduces that.

--dump PATH writes a safetensors file for `repro attention --input PATH` (default --layout bshd):
  q, k, v            BF16 [1, L, H, D]   (token-major, contiguous)
  proj_l.weight      BF16 [D, D]         (nn.Linear's [out, in]: y = x W^T + b)
  proj_l.bias        BF16 [D]
  fastvideo.r{R}.out     BF16 [1, L, H, D]   FastVideo's SLA output at ratio R (R per --dump-ratios,
                                             written with format(R, "g"), e.g. fastvideo.r0.1.out)
  fastvideo.r{R}.sparse  BF16 [1, L, H, D]   its sparse branch o_s alone
  fastvideo.r{R}.lut     I32  [1, H, ceil(L/128), topk]   selected key blocks, sorted ascending
                                             (torch.topk(sorted=False)'s order is not kept)
  fastvideo.pooled_score BF16 [1, H, ceil(L/128), ceil(L/64)]  get_block_map's pooled scores
  sdpa_cudnn.out         BF16 [1, L, H, D]   dense reference
At the default shape the file is about 600 MB.
--compare OURS.safetensors --dump PATH reads OURS's 'out' (f32, the layout given to repro
attention, bshd by default) and prints rel L2 / max abs / mean abs against fastvideo.r{--ratio}.out
(or --key NAME), per-head rel L2, the linear branch's share of FastVideo's output
(||out - o_s|| / ||out||; ours_vs_fastvideo_sparse_only_rel_l2 is small only if ours left the
linear branch out), and the fraction of query blocks whose FastVideo LUT equals our selection rule
(kernels/attention/sla/sla_numerics.h, ties to the lower block index) emulated in torch on the dumped
q, k, exactly and up to ties (repro attention does not write our LUT, so this checks the rule, not
our kernel). --compare needs no GPU.

Needs only torch and triton (and numpy, for the safetensors writer shared with vsa_peer.py). The
FastVideo sources are a git-ignored copy (see fastvideo_sla/README.md) next to this script, imported
by path; the fastvideo package is not imported. On the device machine name tools/peer/fastvideo_sla
in `carry`.

Usage: python3 tools/peer/sla_peer.py [--ratios 0.1 0.2 0.5] [--dump PATH]
       python3 tools/peer/sla_peer.py --compare OURS.safetensors --dump PATH [--ratio 0.1]
Against ours (repo root on the GPU machine, bundle/ present):
       python3 tools/peer/sla_peer.py --dump /tmp/sla_dump.safetensors
       bundle/bin/repro attention --backend sparse_linear:ratio=0.1 --device cuda --grid 21,30,52 \
           --layout bshd --input /tmp/sla_dump.safetensors --output /tmp/sla_ours.safetensors --runs 20 --force
       python3 tools/peer/sla_peer.py --compare /tmp/sla_ours.safetensors --dump /tmp/sla_dump.safetensors
"""
from __future__ import annotations

import argparse
import json
import math
import struct
import sys
import types
from pathlib import Path

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    sys.exit(f"sla_peer: needs torch ({e}); run it with the python that has torch and triton")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from vsa_peer import time_ms, write_safetensors  # noqa: E402  (torch only; imports no FastVideo code)

VENDOR_DIR = HERE / "fastvideo_sla"
FASTVIDEO_COMMIT = "2f3d4074064e4d86f99dc784ebbaa296e6f5925f"
BLKQ, BLKK = 128, 64  # SLAAttentionImpl defaults (sla.py:200-201); Wan/TurboDiffusion passes none
COMPUTE_DTYPE = torch.bfloat16  # self.dtype with use_bf16=True (sla.py:202, 217)
GRID = (21, 30, 52)  # Wan2.1 81 frames 480x832 after the VAE and (1, 2, 2) patchify: 32,760 tokens


def import_fastvideo_sla() -> types.SimpleNamespace:
    """The carried FastVideo SLA sources, imported by path (sys.path insert of fastvideo_sla/)."""
    missing = [n for n in ("sla_triton.py", "sla_block_map.py") if not (VENDOR_DIR / n).is_file()]
    if missing:
        sys.exit(f"sla_peer: {', '.join(str(VENDOR_DIR / n) for n in missing)} missing; fastvideo_sla/ is a "
                 f"git-ignored copy of FastVideo's SLA sources (commit {FASTVIDEO_COMMIT}, see its README.md). "
                 "On the device machine, name tools/peer/fastvideo_sla in carry.")
    if not torch.cuda.is_available():
        sys.exit("sla_peer: needs a CUDA GPU (torch.cuda.is_available() is False); FastVideo's SLA kernels "
                 "are Triton kernels and run on the GPU only. (--compare works without one.)")
    try:
        import triton  # noqa: F401
    except ImportError as e:
        sys.exit(f"sla_peer: needs the triton package, which FastVideo's SLA kernels are written in ({e})")
    sys.path.insert(0, str(VENDOR_DIR))
    import sla_block_map  # noqa: E402  (sla.py lines 1-15, 20-24, 37-110, verbatim)
    import sla_triton  # noqa: E402  (fastvideo_kernel/triton_kernels/sla_triton.py, verbatim)
    return types.SimpleNamespace(
        get_block_map=sla_block_map.get_block_map,
        mean_pool=sla_block_map.mean_pool,
        attention=sla_triton._attention,
        triton_version=triton.__version__,
    )


# ---------------------------------------------------------------------------------------------
# SLAAttentionImpl (fastvideo/attention/backends/sla.py at FASTVIDEO_COMMIT), restated without
# the fastvideo base classes. Line numbers are sla.py's.
# ---------------------------------------------------------------------------------------------

# sla.py:226-236 (feature_map_q and feature_map_k are the same function)
FEATURE_MAPS = {
    "elu": lambda x: F.elu(x) + 1,
    "relu": F.relu,
    "softmax": lambda x: F.softmax(x, dim=-1),
}


def calc_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """SLAAttentionImpl._calc_linear_attention, sla.py:246-264 (q, k after the feature map)."""
    kvsum = k.transpose(-1, -2) @ v  # (B, H, D, D)                                   # :262
    ksum = torch.sum(k, dim=-2, keepdim=True)  # (B, H, 1, D)                           # :263
    return (q @ kvsum) / (1e-5 + (q * ksum).sum(dim=-1, keepdim=True))                 # :264


def linear_branch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, proj_l: nn.Module, feature_map: str):
    """sla.py:314-320: feature maps, linear attention, proj_l under bf16 autocast."""
    fmap = FEATURE_MAPS[feature_map]
    q_linear = fmap(q).to(COMPUTE_DTYPE)                                                # :314
    k_linear = fmap(k).to(COMPUTE_DTYPE)                                                # :315
    o_l = calc_linear_attention(q_linear, k_linear, v)                                  # :316
    with torch.amp.autocast('cuda', dtype=COMPUTE_DTYPE):                              # :319
        o_l = proj_l(o_l)                                                               # :320
    return o_l


def fastvideo_sla_forward(fv, q, k, v, proj_l, topk_ratio: float, feature_map: str = "softmax",
                          parts: bool = False):
    """SLAAttentionImpl.forward (sla.py:266-328) on q, k, v already in SLA's [B, H, L, D] layout.

    sla.py:290-292 (q = query.transpose(1, 2).contiguous(), same for k, v) is the caller's (see
    fastvideo_sla_forward_bshd); sla.py:326's transpose back to [B, L, H, D] is a view and is left
    out: the [B, H, L, D] result is returned. sla.py:294-297: FastVideo's Wan runs with
    attn_metadata None, so the constructor's topk_ratio (0.1) is used; here it is an argument.
    """
    original_dtype = q.dtype                                                            # :287
    # Compute block-sparse attention pattern                                            # :299-300
    sparse_map, lut, real_topk = fv.get_block_map(q, k, topk_ratio=topk_ratio, BLKQ=BLKQ, BLKK=BLKK)
    q = q.to(COMPUTE_DTYPE)                                                             # :303
    k = k.to(COMPUTE_DTYPE)                                                             # :304
    v = v.to(COMPUTE_DTYPE)                                                             # :305
    o_s = fv.attention.apply(q, k, v, sparse_map, lut, real_topk, BLKQ, BLKK)           # :308
    o_l = linear_branch(q, k, v, proj_l, feature_map)                                   # :314-320
    output = (o_s + o_l).to(original_dtype)                                             # :323
    if parts:
        return output, types.SimpleNamespace(o_s=o_s, lut=lut, topk=real_topk, sparse_map=sparse_map)
    return output


def fastvideo_sla_forward_bshd(fv, query, key, value, proj_l, topk_ratio, feature_map="softmax"):
    """The same from FastVideo's [B, L, H, D] inputs, with sla.py:290-292 and :326."""
    q = query.transpose(1, 2).contiguous()                                              # :290
    k = key.transpose(1, 2).contiguous()                                                # :291
    v = value.transpose(1, 2).contiguous()                                              # :292
    return fastvideo_sla_forward(fv, q, k, v, proj_l, topk_ratio, feature_map).transpose(1, 2)  # :326


def pooled_score(fv, q, k):
    """get_block_map's pooled scores (sla.py:99-102), the same calls; get_block_map does not return them."""
    arg_k = k - torch.mean(k, dim=-2, keepdim=True)                                     # :99
    return fv.mean_pool(q, BLKQ) @ fv.mean_pool(arg_k, BLKK).transpose(-1, -2)          # :100-102


def fastvideo_topk(ratio: float, key_blocks: int) -> int:
    """sla.py:104-105 (no max(1, .): ratio * K < 1 gives 0 blocks and a NaN output)."""
    return min(key_blocks, int(ratio * key_blocks))


# ---------------------------------------------------------------------------------------------
# Inputs, references, files
# ---------------------------------------------------------------------------------------------

def make_inputs(args, dev):
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    shape = (1, args.heads, args.tokens, args.head_dim)
    q, k, v = (torch.randn(shape, device=dev, generator=gen, dtype=torch.float32).to(torch.bfloat16)
               for _ in range(3))
    d = args.head_dim
    proj_l = nn.Linear(d, d, dtype=torch.float32, device=dev)  # sla.py:220: fp32 parameters, with bias
    with torch.no_grad():
        w = torch.randn(d, d, device=dev, generator=gen) * (args.proj_gain / math.sqrt(d))
        b = torch.randn(d, device=dev, generator=gen) * (0.002 if args.proj_gain else 0.0)
        proj_l.weight.copy_(w.to(torch.bfloat16).float())
        proj_l.bias.copy_(b.to(torch.bfloat16).float())
    proj_l.requires_grad_(False)
    return q, k, v, proj_l


def ambient_autocast(args):
    """FastVideo's DiT call: torch.autocast('cuda', bf16) (denoising.py:465), unless --no-autocast."""
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=not args.no_autocast)


def bshd(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).contiguous()


def fp32_reference_rows(q, k, v, proj_l, lut, feature_map, head=0, max_blocks=4):
    """fp32 SLA on FastVideo's own LUT for a few query blocks of one head (incl. the last, partial one).

    Returns (rows [(block, start, end)], sparse_ref [n, D], full_ref [n, D]) on q's device.
    """
    with torch.autocast(device_type="cuda", enabled=False):
        return _fp32_reference_rows(q, k, v, proj_l, lut, feature_map, head, max_blocks)


def _fp32_reference_rows(q, k, v, proj_l, lut, feature_map, head, max_blocks):
    L, d = q.shape[2], q.shape[3]
    m_blocks = lut.shape[2]
    picks = sorted({round(i * (m_blocks - 1) / max(1, max_blocks - 1)) for i in range(max_blocks)})
    qh, kh, vh = (x[0, head].float() for x in (q, k, v))
    fmap = {"softmax": lambda x: torch.softmax(x, dim=-1), "elu": lambda x: F.elu(x) + 1, "relu": F.relu}[feature_map]
    phi_k = fmap(kh)
    kv, ks = phi_k.T @ vh, phi_k.sum(0)
    w, b = proj_l.weight.float(), proj_l.bias.float()
    rows, sparse_ref, full_ref = [], [], []
    for qb in picks:
        s, e = qb * BLKQ, min(L, (qb + 1) * BLKQ)
        keys = torch.cat([torch.arange(j * BLKK, min(L, (j + 1) * BLKK), device=q.device)
                          for j in lut[0, head, qb].tolist()])
        p = torch.softmax(qh[s:e] @ kh[keys].T * d**-0.5, dim=-1)
        o_s = p @ vh[keys]
        phi_q = fmap(qh[s:e])
        o_l = (phi_q @ kv) / (1e-5 + phi_q @ ks)[:, None]
        rows.append((qb, s, e))
        sparse_ref.append(o_s)
        full_ref.append(o_s + o_l @ w.T + b)
    return rows, torch.cat(sparse_ref), torch.cat(full_ref)


def dtype_probe(fv, q, k, v, proj_l, feature_map):
    """The dtypes of the block map's and the linear branch's intermediates under the current autocast
    state (sla.py:99-102, 262-264, 320), on the first 256 tokens."""
    n = 256
    fmap = FEATURE_MAPS[feature_map]
    qs, ksl, vs = (x[:, :, :n].contiguous() for x in (q, k, v))
    km = torch.mean(ksl, dim=-2, keepdim=True)
    arg_k = ksl - km
    score = pooled_score(fv, qs, ksl)
    ql, kl = fmap(qs), fmap(ksl)
    ql_c, kl_c = ql.to(COMPUTE_DTYPE), kl.to(COMPUTE_DTYPE)
    kvsum = kl_c.transpose(-1, -2) @ vs
    ksum = torch.sum(kl_c, dim=-2, keepdim=True)
    den = 1e-5 + (ql_c * ksum).sum(dim=-1, keepdim=True)
    num = ql_c @ kvsum
    o_l = num / den
    with torch.amp.autocast('cuda', dtype=COMPUTE_DTYPE):
        y = proj_l(o_l)
    name = lambda t: str(t.dtype).replace("torch.", "")
    return {"k_mean": name(km), "smooth_k": name(arg_k), "pooled_score": name(score),
            "feature_map_out": name(ql), "kvsum": name(kvsum), "ksum": name(ksum), "denominator": name(den),
            "numerator": name(num), "o_l_before_proj": name(o_l), "proj_l_out": name(y),
            "autocast_enabled": torch.is_autocast_enabled("cuda")}


_ST_TORCH = {"BF16": torch.bfloat16, "F32": torch.float32, "F16": torch.float16, "I32": torch.int32,
             "I64": torch.int64, "U8": torch.uint8}


def read_safetensors(path: str, names=None):
    """(tensors, metadata) of a safetensors file; only `names` if given (reads just those bytes)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        meta = header.pop("__metadata__", {}) or {}
        out = {}
        for name, e in header.items():
            if names is not None and name not in names:
                continue
            s, t = e["data_offsets"]
            f.seek(8 + n + s)
            buf = bytearray(f.read(t - s))
            dt = _ST_TORCH[e["dtype"]]
            out[name] = (torch.frombuffer(buf, dtype=dt).reshape(e["shape"]) if buf
                         else torch.empty(e["shape"], dtype=dt))
    if names is not None:
        absent = [x for x in names if x not in out]
        if absent:
            sys.exit(f"sla_peer: {path} has no tensor(s) {absent}; it has {sorted(header)}")
    return out, meta


def ratio_tag(r: float) -> str:
    return f"fastvideo.r{format(r, 'g')}"


# ---------------------------------------------------------------------------------------------
# Our selection rule (kernels/attention/sla/sla_numerics.h), emulated in torch for --compare
# ---------------------------------------------------------------------------------------------

def _rnd(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.bfloat16).float()


def _block_means(x: torch.Tensor, block: int) -> torch.Tensor:
    """fp32 means of consecutive `block` rows along dim -2 (last block partial), rounded to bf16."""
    L = x.shape[-2]
    nb = (L + block - 1) // block
    pad = nb * block - L
    xp = F.pad(x, (0, 0, 0, pad)) if pad else x
    sums = xp.reshape(*x.shape[:-2], nb, block, x.shape[-1]).sum(-2)
    counts = torch.full((nb,), float(block), device=x.device)
    counts[-1] = L - (nb - 1) * block
    return _rnd(sums / counts[:, None])


def our_selection(q: torch.Tensor, k: torch.Tensor, topk: int):
    """sla_numerics.h: smooth-k mean, block means, unscaled pooled scores (each rounded to bf16), then the
    top-k with equal scores to the lower block index, ascending. Summation orders are torch's, not ours."""
    qf, kf = q.float(), k.float()
    L = qf.shape[-2]
    mean = _rnd(kf.sum(-2, keepdim=True) / L)
    km = _block_means(_rnd(kf - mean), BLKK)
    qm = _block_means(qf, BLKQ)
    score = _rnd(qm @ km.transpose(-1, -2))
    order = torch.sort(score, dim=-1, descending=True, stable=True).indices[..., :topk]
    return order.sort(dim=-1).values, score


def compare(args) -> None:
    if not args.dump:
        sys.exit("sla_peer: --compare OURS needs --dump PATH (the file written by an earlier --dump run)")
    ours_t, ours_meta = read_safetensors(args.compare, ["out"])
    ours = ours_t["out"].float()
    layout = ours_meta.get("layout", "bshd")
    if layout == "bhsd":
        ours = bshd(ours)
    elif layout != "bshd":
        sys.exit(f"sla_peer: {args.compare} has layout '{layout}'; expected bshd or bhsd")
    tag = ratio_tag(args.ratio)
    key = args.key or f"{tag}.out"
    names = [key]
    if not args.key:
        names += ["q", "k", f"{tag}.sparse", f"{tag}.lut", "fastvideo.pooled_score"]
    ref_t, ref_meta = read_safetensors(args.dump, names)
    ref = ref_t[key].float()
    if ours.shape != ref.shape:
        sys.exit(f"sla_peer: shapes differ: ours {list(ours.shape)} ({layout}), {key} {list(ref.shape)} (bshd)")
    diff = (ours - ref).double()
    flat = int(diff.abs().argmax())
    _, L, H, D = ref.shape
    where = {"token": flat // (H * D), "head": (flat // D) % H, "channel": flat % D}
    per_head = (diff.pow(2).sum(dim=(0, 1, 3)).sqrt() / ref.double().pow(2).sum(dim=(0, 1, 3)).sqrt())
    result = {
        "compare": key, "ours": args.compare, "ours_backend": ours_meta.get("backend"),
        "ours_implementation": ours_meta.get("implementation"), "ours_timing": ours_meta.get("timing"),
        "rel_l2": (diff.norm() / ref.double().norm()).item(), "max_abs": diff.abs().max().item(),
        "mean_abs": diff.abs().mean().item(), "max_abs_at": where, "ref_rms": ref.double().pow(2).mean().sqrt().item(),
        "rel_l2_per_head": [round(x, 7) for x in per_head.tolist()],
        "nonfinite_ours": int((~torch.isfinite(ours)).sum()),
    }
    if not args.key:
        sparse = ref_t[f"{tag}.sparse"].float()
        result["fastvideo_linear_share"] = ((ref - sparse).double().norm() / ref.double().norm()).item()
        result["ours_vs_fastvideo_sparse_only_rel_l2"] = ((ours - sparse).double().norm()
                                                          / sparse.double().norm()).item()
        # LUT: FastVideo's (sorted) against our rule emulated on the dumped q, k ([1, L, H, D] -> [1, H, L, D]).
        fv_lut = ref_t[f"{tag}.lut"].long()
        fv_score = ref_t["fastvideo.pooled_score"].float()
        q, k = (bshd(ref_t[n]) for n in ("q", "k"))
        our_lut, our_score = our_selection(q, k, fv_lut.shape[-1])
        exact = (our_lut == fv_lut).all(dim=-1)
        # Equal up to ties: the two sets' FastVideo scores are the same multiset (both are a top-k).
        a = torch.gather(fv_score, -1, fv_lut).sort(dim=-1).values
        b = torch.gather(fv_score, -1, our_lut).sort(dim=-1).values
        tie_equal = (a == b).all(dim=-1)
        result["lut"] = {
            "query_blocks": int(exact.numel()), "topk": int(fv_lut.shape[-1]),
            "exact_match_fraction": exact.float().mean().item(),
            "match_up_to_ties_fraction": tie_equal.float().mean().item(),
            "pooled_score_bit_equal_fraction": (our_score == fv_score).float().mean().item(),
            "ours": "our selection rule (sla_numerics.h) emulated in torch on the dumped q, k; "
                    "repro attention does not write our kernel's LUT",
        }
    result["dump_metadata"] = {k_: ref_meta.get(k_) for k_ in ("ratios_topk", "autocast", "proj_gain", "seed", "gpu")}
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# Timing and dump
# ---------------------------------------------------------------------------------------------

def write_dump(path, fv, args, q, k, v, proj_l, dense_out) -> dict:
    tensors = {"q": bshd(q), "k": bshd(k), "v": bshd(v),
               "proj_l.weight": proj_l.weight.detach().to(torch.bfloat16),
               "proj_l.bias": proj_l.bias.detach().to(torch.bfloat16),
               "sdpa_cudnn.out": bshd(dense_out)}
    checks, ratios_topk = {}, {}
    with torch.no_grad(), ambient_autocast(args):
        tensors["fastvideo.pooled_score"] = pooled_score(fv, q, k).contiguous()
        for r in args.dump_ratios:
            out, p = fastvideo_sla_forward(fv, q, k, v, proj_l, r, args.feature_map, parts=True)
            lut_sorted = p.lut.sort(dim=-1).values
            tag = ratio_tag(r)
            tensors[f"{tag}.out"] = bshd(out)
            tensors[f"{tag}.sparse"] = bshd(p.o_s)
            tensors[f"{tag}.lut"] = lut_sorted.to(torch.int32).contiguous()
            ratios_topk[format(r, "g")] = p.topk
            rows, sparse_ref, full_ref = fp32_reference_rows(q, k, v, proj_l, lut_sorted, args.feature_map)
            got_s = torch.cat([p.o_s[0, 0, s:e].float() for _, s, e in rows])
            got = torch.cat([out[0, 0, s:e].float() for _, s, e in rows])
            rerun = fastvideo_sla_forward(fv, q, k, v, proj_l, r, args.feature_map)
            checks[tag] = {
                "topk": p.topk, "fp32_ref_query_blocks_head0": [qb for qb, _, _ in rows],
                "sparse_vs_fp32_ref_max_abs": (got_s - sparse_ref).abs().max().item(),
                "out_vs_fp32_ref_max_abs": (got - full_ref).abs().max().item(),
                "out_vs_fp32_ref_rel_l2": ((got - full_ref).norm() / full_ref.norm()).item(),
                "linear_share": ((out - p.o_s).float().norm() / out.float().norm()).item(),
                "rerun_bitexact": bool(torch.equal(rerun, out)),
                "nonfinite": int((~torch.isfinite(out)).sum()),
            }
    metadata = {
        "source": f"FastVideo SLA (sla.py + fastvideo_kernel sla_triton.py, Triton), commit {FASTVIDEO_COMMIT}",
        "layout": "bshd [1, tokens, heads, head_dim] for q, k, v and *.out / *.sparse; see tools/peer/sla_peer.py",
        "tokens": str(args.tokens), "heads": str(args.heads), "head_dim": str(args.head_dim),
        "seed": str(args.seed), "proj_gain": str(args.proj_gain), "feature_map": args.feature_map,
        "autocast": str(not args.no_autocast), "blkq_blkk": f"{BLKQ},{BLKK}",
        "ratios_topk": json.dumps(ratios_topk), "torch": torch.__version__, "triton": fv.triton_version,
        "gpu": torch.cuda.get_device_name(),
    }
    size = write_safetensors(path, tensors, metadata)
    return {"dump": path, "bytes": size, "checks": checks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--tokens", type=int, default=math.prod(GRID))
    ap.add_argument("--head-dim", type=int, default=128, choices=(64, 128))
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.1, 0.2, 0.5],
                    help="topk ratios timed for the full forward")
    ap.add_argument("--sparse-ratio", type=float, default=0.1,
                    help="ratio for the sparse-kernel-only, block-map, from-bshd timings")
    ap.add_argument("--feature-map", default="softmax", choices=sorted(FEATURE_MAPS))
    ap.add_argument("--proj-gain", type=float, default=3.0,
                    help="proj_l.weight ~ N(0, (gain/sqrt(D))^2), bias ~ N(0, 0.002^2); 0 = FastVideo's zero init")
    ap.add_argument("--no-autocast", action="store_true",
                    help="run without FastVideo's ambient torch.autocast(cuda, bf16)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-timing", action="store_true", help="only --dump")
    ap.add_argument("--dump", metavar="PATH", help="write inputs and FastVideo outputs (or, with --compare, read them)")
    ap.add_argument("--dump-ratios", type=float, nargs="+", default=[0.1])
    ap.add_argument("--compare", metavar="OURS", help="our `repro attention` output to compare with --dump PATH")
    ap.add_argument("--ratio", type=float, default=0.1, help="with --compare: which fastvideo.r{R}.out")
    ap.add_argument("--key", help="with --compare: compare against this dump tensor instead (e.g. sdpa_cudnn.out)")
    args = ap.parse_args()

    if args.compare:
        return compare(args)
    for r in [*args.ratios, args.sparse_ratio, *args.dump_ratios]:
        if not 0.0 < r <= 1.0:
            sys.exit(f"sla_peer: ratios must be in (0, 1], got {r}")
    if args.heads <= 0 or args.tokens <= 0:
        sys.exit("sla_peer: --heads and --tokens must be positive")
    fv = import_fastvideo_sla()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    dev = torch.device("cuda", torch.cuda.current_device())
    q, k, v, proj_l = make_inputs(args, dev)
    H, L, D = args.heads, args.tokens, args.head_dim
    key_blocks = (L + BLKK - 1) // BLKK
    for r in [*args.ratios, args.sparse_ratio, *args.dump_ratios]:
        if fastvideo_topk(r, key_blocks) < 1:
            sys.exit(f"sla_peer: ratio {r} selects int({r} * {key_blocks}) = 0 key blocks in FastVideo "
                     "(sla.py:105), whose output is then NaN; use a larger ratio")
    common = {"tokens": L, "heads": H, "head_dim": D, "gpu": torch.cuda.get_device_name(),
              "autocast": not args.no_autocast, "feature_map": args.feature_map, "torch": torch.__version__,
              "triton": fv.triton_version, "fastvideo_commit": FASTVIDEO_COMMIT[:12]}

    def emit(name, ms, ratio, topk, kept_keys=None):
        line = {"name": name, "ms": round(ms, 4), "ratio": ratio, "topk": topk, **common}
        if kept_keys is not None:
            line["tflops"] = round(4.0 * H * L * kept_keys * D / ms / 1e9, 1)
        print(json.dumps(line), flush=True)

    with torch.no_grad():
        with ambient_autocast(args):
            print(json.dumps({"dtype_probe": dtype_probe(fv, q, k, v, proj_l, args.feature_map),
                              "autocast": not args.no_autocast}), flush=True)
        with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
            dense = lambda: F.scaled_dot_product_attention(q, k, v)
            dense_out = dense()
            dense_ms = None if args.no_timing else time_ms(dense, args.warmup, args.iters)
        if not args.no_timing:
            with ambient_autocast(args):
                for r in args.ratios:
                    topk = fastvideo_topk(r, key_blocks)
                    ms = time_ms(lambda: fastvideo_sla_forward(fv, q, k, v, proj_l, r, args.feature_map),
                                 args.warmup, args.iters)
                    emit("fastvideo_sla", ms, r, topk)
                r = args.sparse_ratio
                topk = fastvideo_topk(r, key_blocks)
                qt, kt, vt = bshd(q), bshd(k), bshd(v)
                ms = time_ms(lambda: fastvideo_sla_forward_bshd(fv, qt, kt, vt, proj_l, r, args.feature_map),
                             args.warmup, args.iters)
                emit("fastvideo_sla_from_bshd", ms, r, topk)
                del qt, kt, vt
                ms = time_ms(lambda: fv.get_block_map(q, k, topk_ratio=r, BLKQ=BLKQ, BLKK=BLKK),
                             args.warmup, args.iters)
                emit("fastvideo_sla_block_map", ms, r, topk)
                sparse_map, lut, real_topk = fv.get_block_map(q, k, topk_ratio=r, BLKQ=BLKQ, BLKK=BLKK)
                ms = time_ms(lambda: fv.attention.apply(q, k, v, sparse_map, lut, real_topk, BLKQ, BLKK),
                             args.warmup, args.iters)
                emit("fastvideo_sla_sparse_kernel", ms, r, real_topk, min(real_topk * BLKK, L))
                ms = time_ms(lambda: linear_branch(q, k, v, proj_l, args.feature_map), args.warmup, args.iters)
                emit("fastvideo_sla_linear", ms, None, None)
            emit("sdpa_cudnn", dense_ms, 1.0, key_blocks, L)
    if args.dump:
        print(json.dumps(write_dump(args.dump, fv, args, q, k, v, proj_l, dense_out)), flush=True)


if __name__ == "__main__":
    main()
