#!/usr/bin/env python3
"""The Wan2.1 DiT forward of the PyTorch peers, timed: FastVideo's WanTransformer3DModel and
diffusers' (the model FastVideo's ports), beside our `wan_dit_cuda_benchmark` (issue 15).

--peer fastvideo: FastVideo's own DiT (fastvideo/models/dits/wanvideo.py) from its sources
(--fastvideo-src, default tools/peer/fastvideo_dit: made by tools/peer/fastvideo_dit.sh), run as
its denoising stage runs it by default: world size 1 (maybe_init_distributed_environment_and_
model_parallel(1, 1)), the attention backend its platform selects (FLASH_ATTN when the flash_attn
package exists, else TORCH_SDPA; printed), bf16 weights under torch.autocast(bf16), inside
set_forward_context. --peer diffusers: diffusers' WanTransformer3DModel in bf16, the modules it
keeps in float32 when loading a bf16 checkpoint kept so, torch SDPA.

Weights are random (seeded: normal(0, 0.02), norm weights 1), so the times are those of the
architecture, not of a checkpoint. Inputs: the 1.3B's 480x832x81 latents (16 x 21 x 60 x 104,
32,760 tokens) and a 512-token text context. One JSON line per (peer, SDPA choice): the median
forward time over --reps timed forwards (CUDA events, after --warmup forwards) and the split by
kernel family from torch.profiler (attention / GEMM / rest).

Usage (GPU machine, repo root; the wheels of .whl/ installed as tools/device_dense.sh does):
  python3 tools/peer/wan_forward_peer.py [--peer fastvideo,diffusers] [--sdpa auto,cudnn,flash]
CPU smoke run (any machine with torch, diffusers and FastVideo's dependencies):
  python3 tools/peer/wan_forward_peer.py --device cpu --dtype float32 --layers 2 --heads 2 \
      --ffn-dim 512 --latent 16,2,4,6 --text-len 8 --reps 1 --warmup 0 --no-profile
Exit code: 0 ok, 2 usage or import error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer", default="fastvideo,diffusers", help="comma list of fastvideo, diffusers")
    p.add_argument("--fastvideo-src", default=os.path.join(HERE, "fastvideo_dit"),
                   help="folder holding FastVideo's fastvideo/ package")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("--layers", type=int, default=30)
    p.add_argument("--heads", type=int, default=12, help="attention heads (head_dim 128)")
    p.add_argument("--ffn-dim", type=int, default=8960)
    p.add_argument("--latent", default="16,21,60,104", help="C,T,H,W of the latents (480x832x81: 16,21,60,104)")
    p.add_argument("--text-len", type=int, default=512)
    p.add_argument("--sdpa", default="auto", help="comma list of auto, cudnn, flash, efficient, math")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-profile", action="store_true", help="skip the per-family split")
    return p.parse_args(argv)


# Kernel families by name (CUDA kernels as torch.profiler reports them).
_ATTENTION = re.compile(r"flash|fmha|sdpa|attention|cudnn.*(mha|attn)|scaled_dot", re.I)
_GEMM = re.compile(r"gemm|nvjet|cutlass|sm90_xmma|cublas|s16816|wgmma|matmul", re.I)


def family(name: str) -> str:
    if _ATTENTION.search(name):
        return "attention"
    if _GEMM.search(name):
        return "gemm"
    return "rest"


def sdpa_context(name):
    if name == "auto":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backends = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
                "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
    if name not in backends:
        raise SystemExit(f"wan_forward_peer: --sdpa {name}: not one of auto, {', '.join(backends)}")
    return sdpa_kernel([backends[name]])


def init_like_fastvideo_tests(torch, model, seed):
    # FastVideo's ReplicatedLinear allocates with torch.empty: every parameter is set here.
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim <= 1 and name.endswith("weight") and "norm" in name:
                param.fill_(1.0)
            else:
                param.normal_(mean=0.0, std=0.02)


def build_fastvideo(torch, args, device, dtype):
    """FastVideo's DiT and a forward() run as its denoising stage runs it; (forward, facts)."""
    src = os.path.abspath(args.fastvideo_src)
    if not os.path.isfile(os.path.join(src, "fastvideo", "models", "dits", "wanvideo.py")):
        raise ImportError(f"no FastVideo sources at {src} (make them with tools/peer/fastvideo_dit.sh)")
    sys.path.insert(0, src)
    os.environ.setdefault("MASTER_ADDR", "localhost")
    os.environ.setdefault("MASTER_PORT", "29513")
    from fastvideo.distributed import maybe_init_distributed_environment_and_model_parallel

    maybe_init_distributed_environment_and_model_parallel(1, 1)
    from fastvideo.platforms import current_platform

    if device.type == "cpu":  # FastVideo's CPU platform offers no attention backend: its SDPA one
        type(current_platform).get_attn_backend_cls = classmethod(
            lambda cls, *a, **k: "fastvideo.attention.backends.sdpa.SDPABackend")
    from fastvideo.configs.models.dits.wanvideo import WanVideoArchConfig, WanVideoConfig
    from fastvideo.forward_context import set_forward_context
    from fastvideo.models.dits.wanvideo import WanTransformer3DModel
    from fastvideo.pipelines.pipeline_batch_info import ForwardBatch

    arch = dict(num_attention_heads=args.heads, attention_head_dim=128, in_channels=args.channels,
                out_channels=args.channels, text_dim=4096, freq_dim=256, ffn_dim=args.ffn_dim,
                num_layers=args.layers, patch_size=(1, 2, 2), rope_max_seq_len=1024)
    config = WanVideoConfig(arch_config=WanVideoArchConfig(**arch))
    with torch.device(device):
        model = WanTransformer3DModel(config=config, hf_config=dict(arch, eps=1e-6, text_len=args.text_len))
    model = model.to(device=device, dtype=dtype).eval()
    init_like_fastvideo_tests(torch, model, args.seed)
    backends = sorted({type(m.attn_impl).__name__ if hasattr(m, "attn_impl") else type(m).__name__
                       for m in model.modules() if type(m).__name__.endswith(("Attention", "AttentionImpl"))})
    autocast = device.type == "cuda" and dtype != torch.float32

    def forward(latents, timestep, context):
        with set_forward_context(current_timestep=0, attn_metadata=None, forward_batch=ForwardBatch(data_type="dummy")):
            with torch.autocast(device_type="cuda", dtype=dtype, enabled=autocast):
                return model(hidden_states=latents, encoder_hidden_states=context, timestep=timestep)

    facts = {"fastvideo_attention_modules": backends, "autocast": autocast,
             "fastvideo_attention_backend_env": os.environ.get("FASTVIDEO_ATTENTION_BACKEND", "(unset)")}
    return model, forward, facts


def build_diffusers(torch, args, device, dtype):
    import diffusers
    from diffusers import WanTransformer3DModel

    diffusers.utils.logging.set_verbosity_error()  # the fp32-kept-modules note: handled below
    with torch.device(device):
        model = WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=args.heads, attention_head_dim=128, in_channels=args.channels,
            out_channels=args.channels, text_dim=4096, freq_dim=256, ffn_dim=args.ffn_dim, num_layers=args.layers,
            cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None,
            added_kv_proj_dim=None, rope_max_seq_len=1024)
    model = model.to(dtype).eval()
    init_like_fastvideo_tests(torch, model, args.seed)
    # As from_pretrained(torch_dtype=...) loads a bf16 checkpoint: the modules diffusers keeps in
    # float32 (rope, time embedder, scale/shift tables, norms) stay float32.
    keep = getattr(model, "_keep_in_fp32_modules", None) or []
    for pname, param in model.named_parameters():
        if any(k in pname.split(".") for k in keep):
            param.data = param.data.float()

    def forward(latents, timestep, context):
        return model(hidden_states=latents, timestep=timestep, encoder_hidden_states=context, return_dict=False)[0]

    return model, forward, {"diffusers": diffusers.__version__, "kept_fp32": keep}


def time_forward(torch, forward, inputs, args, cuda):
    for _ in range(args.warmup):
        forward(*inputs)
    times, out = [], None
    for _ in range(args.reps):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = forward(*inputs)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            out = forward(*inputs)
            times.append((time.perf_counter() - t0) * 1e3)
    split = {}
    if cuda and not args.no_profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            forward(*inputs)
            torch.cuda.synchronize()
        for ev in prof.key_averages():
            us = getattr(ev, "device_time_total", None)
            if us is None:
                us = getattr(ev, "cuda_time_total", 0.0)
            if us and ev.key and not ev.key.startswith(("ProfilerStep", "aten::", "cuda")):
                f = family(ev.key)
                split[f] = split.get(f, 0.0) + us / 1e3
        split = {k: round(v, 2) for k, v in sorted(split.items())}
    return times, split, out


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ImportError as e:
        print(f"wan_forward_peer: {e}", file=sys.stderr)
        return 2
    try:
        args.channels, t, h, w = (int(v) for v in args.latent.split(","))
    except ValueError:
        print(f"wan_forward_peer: --latent {args.latent}: expected C,T,H,W", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    cuda = device.type == "cuda"
    gen = torch.Generator(device=device).manual_seed(args.seed + 1)
    latents = torch.randn((1, args.channels, t, h, w), generator=gen, device=device, dtype=dtype)
    context = torch.randn((1, args.text_len, 4096), generator=gen, device=device, dtype=dtype)
    timestep = torch.tensor([999], device=device)
    builders = {"fastvideo": build_fastvideo, "diffusers": build_diffusers}
    for peer in args.peer.split(","):
        if peer not in builders:
            print(f"wan_forward_peer: --peer {peer}: not one of {', '.join(builders)}", file=sys.stderr)
            return 2
        try:
            model, forward, facts = builders[peer](torch, args, device, dtype)
        except ImportError as e:
            print(f"wan_forward_peer: {peer}: {e} (carry its sources / wheels: see the header)", file=sys.stderr)
            return 2
        params = sum(p.numel() for p in model.parameters())
        for name in args.sdpa.split(","):
            with torch.no_grad(), sdpa_context(name):
                times, split, out = time_forward(torch, forward, (latents, timestep, context), args, cuda)
            print(json.dumps({
                "peer": peer, "torch": torch.__version__, "device": torch.cuda.get_device_name(device) if cuda else "cpu",
                "dtype": args.dtype, "sdpa": name, "layers": args.layers, "heads": args.heads,
                "tokens": t * (h // 2) * (w // 2), "text_len": args.text_len, "params": params, "reps": len(times),
                "median_ms": round(statistics.median(times), 3), "min_ms": round(min(times), 3),
                "max_ms": round(max(times), 3), "family_ms": split,
                "output_finite": bool(torch.isfinite(out.float()).all().item()), **facts}), flush=True)
        del model, forward
        if cuda:
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
