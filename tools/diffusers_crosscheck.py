#!/usr/bin/env python3
"""Independent cross-check of the C++ Wan2.1 DiT forward (all-fp32 mode) against
diffusers' WanTransformer3DModel, loaded from the same (synthetic) checkpoint.

Inputs (written by the C++ side):
  --weights W.safetensors  diffusers-layout WanTransformer3DModel state dict (bf16 or any
                           float dtype); __metadata__["config"] is a JSON string with
                           dim, heads, head_dim, ffn_dim, layers, text_dim, text_len,
                           freq_dim, patch_size, in_channels, out_channels, eps.
  --io IO.safetensors      "latents" f32 [1,16,T,H,W], "context" f32 [1,text_len,text_dim],
                           "timestep" i64 [1], "output" f32 [1,16,T,H,W] (our prediction).
                           Optional per-stage tensors, compared when present:
                             "stage.patch_embed"    [1,L,dim]   tokens after patch embedding
                             "stage.temb"           [1,dim]     time embedding
                             "stage.timestep_proj"  [1,6,dim]   (or [1,6*dim])
                             "stage.context"        [1,text_len,dim] text embedder output
                             "stage.block.<i>"      [1,L,dim]   residual stream after block i
                             "stage.head_in"        [1,L,dim]   modulated final norm (proj_out input)

The reference is diffusers' model in float32 with TF32 disabled and the math SDPA kernel.
The verdict compares ours against that (relative L2 < --tol, default 1e-5).

Diagnostics besides the verdict (they never change the exit code):
  * "fp64 truth": the same diffusers model run entirely in float64 (RoPE tables and the
    timestep sinusoid recomputed in float64 too). Both ours and diffusers-fp32 are measured
    against it, which tells whether a miss is ours or just fp32 noise.
  * "fp64-sinusoid variant": diffusers in fp32 but with the timestep sinusoid computed in
    float64 (as the original Wan code does) and rounded once to fp32. diffusers computes
    it in fp32 (exp, t*freq, sin/cos all fp32), which differs by up to ~1e-4 absolute in
    the arguments at t~1000.

Exit code: 0 PASS, 1 FAIL, 2 usage / load error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import inspect
import json
import math
import platform
import re
import sys
import time
import traceback

TOL_DEFAULT = 1e-5


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="diffusers_crosscheck.py",
        description="Cross-check the C++ Wan DiT fp32 forward against diffusers' WanTransformer3DModel.",
    )
    p.add_argument("--weights", required=True, help="diffusers-layout safetensors with __metadata__ config")
    p.add_argument("--io", required=True, help="safetensors with latents, context, timestep, output")
    p.add_argument("--json-out", default=None, help="write the result as JSON here")
    p.add_argument("--md-out", default=None, help="write a Markdown report section here")
    p.add_argument("--tol", type=float, default=TOL_DEFAULT, help="relative L2 threshold (default 1e-5)")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cuda, cuda:N or cpu")
    p.add_argument("--no-f64", action="store_true", help="skip the float64 'truth' forward")
    p.add_argument("--no-variant", action="store_true", help="skip the fp64-sinusoid fp32 variant forward")
    p.add_argument("--dump-ref", default=None,
                   help="write diffusers' fp32 output and per-stage tensors to this safetensors file")
    p.add_argument("--sinusoid-f64", action="store_true",
                   help="make the verdict's reference diffusers fp32 with the timestep sinusoid computed in "
                        "float64 (Wan original) instead of diffusers' own fp32 sinusoid")
    p.add_argument("--heads", type=int, default=None, help="override config heads")
    p.add_argument("--head-dim", type=int, default=None, help="override config head_dim")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- helpers

def _load_config(weights_path, sd, args):
    from safetensors import safe_open

    with safe_open(weights_path, framework="pt") as f:
        meta = f.metadata() or {}
    cfg = None
    if "config" in meta:
        cfg = meta["config"]
        if isinstance(cfg, str):
            cfg = json.loads(cfg)
    if cfg is None:
        # Fall back to what the shapes say; heads must come from the command line.
        print("[crosscheck] warning: no __metadata__['config'] in weights; inferring from shapes", file=sys.stderr)
        pe = sd["patch_embedding.weight"]
        layers = 1 + max(int(m.group(1)) for k in sd for m in [re.match(r"blocks\.(\d+)\.", k)] if m)
        cfg = {
            "dim": pe.shape[0],
            "in_channels": pe.shape[1],
            "patch_size": list(pe.shape[2:]),
            "ffn_dim": sd["blocks.0.ffn.net.0.proj.weight"].shape[0],
            "layers": layers,
            "text_dim": sd["condition_embedder.text_embedder.linear_1.weight"].shape[1],
            "freq_dim": sd["condition_embedder.time_embedder.linear_1.weight"].shape[1],
            "out_channels": sd["proj_out.weight"].shape[0] // math.prod(pe.shape[2:]),
            "eps": 1e-6,
        }
    if args.heads is not None:
        cfg["heads"] = args.heads
    if args.head_dim is not None:
        cfg["head_dim"] = args.head_dim
    if "heads" not in cfg and "head_dim" in cfg:
        cfg["heads"] = cfg["dim"] // cfg["head_dim"]
    if "head_dim" not in cfg and "heads" in cfg:
        cfg["head_dim"] = cfg["dim"] // cfg["heads"]
    missing = [k for k in ("dim", "heads", "head_dim", "ffn_dim", "layers", "text_dim", "freq_dim",
                           "in_channels", "out_channels") if k not in cfg]
    if missing:
        raise ValueError(f"config lacks {missing} (metadata config: {meta.get('config')!r})")
    cfg.setdefault("patch_size", [1, 2, 2])
    cfg.setdefault("eps", 1e-6)
    if cfg["heads"] * cfg["head_dim"] != cfg["dim"]:
        raise ValueError(f"heads*head_dim = {cfg['heads']}*{cfg['head_dim']} != dim {cfg['dim']}")
    return cfg


def _rel_l2(a, b):
    """||a - b|| / ||b|| computed in float64."""
    a = a.detach().double().cpu().reshape(-1)
    b = b.detach().double().cpu().reshape(-1)
    nb = b.norm().item()
    d = (a - b)
    return {
        "rel_l2": (d.norm().item() / nb) if nb > 0 else float("inf"),
        "max_abs": d.abs().max().item() if d.numel() else 0.0,
        "ref_norm": nb,
        "ref_max_abs": b.abs().max().item() if b.numel() else 0.0,
        "numel": b.numel(),
    }


def _tf32_state(torch):
    st = {}
    for name, getter in [
        ("cuda.matmul.allow_tf32", lambda: torch.backends.cuda.matmul.allow_tf32),
        ("cudnn.allow_tf32", lambda: torch.backends.cudnn.allow_tf32),
        ("float32_matmul_precision", lambda: torch.get_float32_matmul_precision()),
        ("cuda.matmul.fp32_precision", lambda: torch.backends.cuda.matmul.fp32_precision),
        ("cudnn.conv.fp32_precision", lambda: torch.backends.cudnn.conv.fp32_precision),
    ]:
        try:
            st[name] = getter()
        except Exception as e:  # attribute absent in this torch, or legacy/new API mix refusal
            st[name] = f"n/a ({type(e).__name__})"
    return st


def _disable_tf32(torch):
    # Newer torch (>= 2.9) has the fp32_precision API; the legacy flags still work but
    # some versions refuse a mix, so set the new one first and the legacy ones guarded.
    for setter in [
        lambda: setattr(torch.backends, "fp32_precision", "ieee"),
        lambda: setattr(torch.backends.cuda.matmul, "fp32_precision", "ieee"),
        lambda: setattr(torch.backends.cudnn, "fp32_precision", "ieee"),
        lambda: setattr(torch.backends.cudnn.conv, "fp32_precision", "ieee"),
        lambda: setattr(torch.backends.cudnn.rnn, "fp32_precision", "ieee"),
    ]:
        try:
            setter()
        except Exception:
            pass
    for setter in [
        lambda: setattr(torch.backends.cuda.matmul, "allow_tf32", False),
        lambda: setattr(torch.backends.cudnn, "allow_tf32", False),
        lambda: torch.set_float32_matmul_precision("highest"),
    ]:
        try:
            setter()
        except Exception as e:
            print(f"[crosscheck] note: TF32 setter raised {type(e).__name__}: {e}", file=sys.stderr)


def _math_sdpa(torch):
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        return sdpa_kernel(SDPBackend.MATH), "math (torch.nn.attention.sdpa_kernel)"
    except Exception:
        pass
    try:
        return torch.backends.cuda.sdp_kernel(enable_flash=False, enable_math=True,
                                              enable_mem_efficient=False), "math (legacy sdp_kernel)"
    except Exception:
        return contextlib.nullcontext(), "default (could not force math)"


def _sinusoid_f64(timesteps, dim, out_dtype):
    """Wan original: float64 positions/freqs, cat(cos, sin); rounded once to out_dtype."""
    import torch
    half = dim // 2
    t = timesteps.to(torch.float64)
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64, device=t.device) / half)
    args = t[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb.to(out_dtype)


def _patch_sinusoid_f64(model, out_dtype):
    tp = model.condition_embedder.timesteps_proj
    n = tp.num_channels
    tp.forward = lambda timesteps: _sinusoid_f64(timesteps, n, out_dtype)


def _rope_tables_f64(model, device):
    """Recompute diffusers' RoPE buffers in float64 (it computes in f64 but stores fp32)."""
    import torch
    rope = model.rope
    cos_l, sin_l = [], []
    for d in (rope.t_dim, rope.h_dim, rope.w_dim):
        freqs = 1.0 / (10000.0 ** (torch.arange(0, d, 2, dtype=torch.float64)[: d // 2] / d))
        pos = torch.arange(rope.max_seq_len, dtype=torch.float64)
        ang = torch.outer(pos, freqs)
        cos_l.append(ang.cos().repeat_interleave(2, dim=1))
        sin_l.append(ang.sin().repeat_interleave(2, dim=1))
    rope.freqs_cos = torch.cat(cos_l, dim=1).to(device)
    rope.freqs_sin = torch.cat(sin_l, dim=1).to(device)


class _StageRecorder:
    """Forward hooks on the diffusers model, keyed like the optional 'stage.*' IO tensors."""

    def __init__(self, model):
        self.out = {}
        self.handles = []
        m = model

        def keep(name, fn=lambda o: o):
            def hook(_mod, _inp, output):
                self.out[name] = fn(output).detach()
            return hook

        self.handles.append(m.patch_embedding.register_forward_hook(
            keep("stage.patch_embed", lambda o: o.flatten(2).transpose(1, 2))))
        self.handles.append(m.condition_embedder.register_forward_hook(self._cond_hook))
        for i, blk in enumerate(m.blocks):
            self.handles.append(blk.register_forward_hook(keep(f"stage.block.{i}")))

        def head_pre(_mod, inp):
            self.out["stage.head_in"] = inp[0].detach()
        self.handles.append(m.proj_out.register_forward_pre_hook(head_pre))

    def _cond_hook(self, _mod, _inp, output):
        temb, tproj, ctx = output[0], output[1], output[2]
        self.out["stage.temb"] = temb.detach()
        self.out["stage.timestep_proj"] = tproj.detach()
        self.out["stage.context"] = ctx.detach()

    def remove(self):
        for h in self.handles:
            h.remove()


def _stage_sort_key(k):
    order = ["stage.temb", "stage.timestep_proj", "stage.context", "stage.patch_embed"]
    if k in order:
        return (0, order.index(k))
    m = re.match(r"stage\.block\.(\d+)$", k)
    if m:
        return (1, int(m.group(1)))
    return (2, k)


# ----------------------------------------------------------------------------- main

def run(args):
    t_start = time.time()
    import torch
    import safetensors
    from safetensors.torch import load_file

    import diffusers
    from diffusers import WanTransformer3DModel

    _disable_tf32(torch)

    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())

    result = {
        "tool": "tools/diffusers_crosscheck.py",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "weights": args.weights,
        "io": args.io,
        "tol": args.tol,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "diffusers": diffusers.__version__,
            "safetensors": getattr(safetensors, "__version__", "?"),
        },
        "device": str(device),
        "device_name": device_name,
    }

    # --- weights + config
    sd_raw = load_file(args.weights)
    weight_dtypes = sorted({str(v.dtype).replace("torch.", "") for v in sd_raw.values()})
    cfg = _load_config(args.weights, sd_raw, args)
    result["config"] = cfg
    result["weights_dtypes"] = weight_dtypes
    result["num_tensors"] = len(sd_raw)

    # --- io
    io = load_file(args.io)
    for k in ("latents", "context", "timestep", "output"):
        if k not in io:
            raise KeyError(f"--io lacks tensor '{k}' (has {sorted(io)})")
    latents = io["latents"].float()
    context = io["context"].float()
    timestep = io["timestep"]
    ours = io["output"].float()
    if timestep.ndim == 0:
        timestep = timestep.reshape(1)
    result["shapes"] = {k: list(io[k].shape) for k in ("latents", "context", "timestep", "output")}
    result["timestep_value"] = timestep.tolist()
    if ours.shape != latents.shape[:1] + (cfg["out_channels"],) + latents.shape[2:]:
        print(f"[crosscheck] warning: output shape {tuple(ours.shape)} vs latents {tuple(latents.shape)}",
              file=sys.stderr)

    # --- model
    pt = tuple(int(x) for x in cfg["patch_size"])
    kwargs = dict(
        patch_size=pt,
        num_attention_heads=int(cfg["heads"]),
        attention_head_dim=int(cfg["head_dim"]),
        in_channels=int(cfg["in_channels"]),
        out_channels=int(cfg["out_channels"]),
        text_dim=int(cfg["text_dim"]),
        freq_dim=int(cfg["freq_dim"]),
        ffn_dim=int(cfg["ffn_dim"]),
        num_layers=int(cfg["layers"]),
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        eps=float(cfg["eps"]),
        image_dim=None,
        added_kv_proj_dim=None,
    )
    sig = inspect.signature(WanTransformer3DModel.__init__).parameters
    need_pos = max(latents.shape[2] // pt[0], latents.shape[3] // pt[1], latents.shape[4] // pt[2])
    if "rope_max_seq_len" in sig:
        kwargs["rope_max_seq_len"] = max(1024, need_pos)
    dropped = [k for k in kwargs if k not in sig]
    for k in dropped:
        kwargs.pop(k)
    if dropped:
        print(f"[crosscheck] note: this diffusers' constructor lacks {dropped}; dropped", file=sys.stderr)
    result["constructor_kwargs"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}

    torch.manual_seed(0)
    model = WanTransformer3DModel(**kwargs).eval()  # default dtype: float32
    if next(model.parameters()).dtype != torch.float32:
        raise RuntimeError(f"model built in {next(model.parameters()).dtype}, expected float32")
    sd32 = {k: v.float() for k, v in sd_raw.items()}
    expected = set(model.state_dict().keys())
    got = set(sd32.keys())
    missing = sorted(expected - got)
    unexpected = sorted(got - expected)
    shape_mismatch = sorted(
        f"{k}: checkpoint {tuple(sd32[k].shape)} vs model {tuple(model.state_dict()[k].shape)}"
        for k in expected & got if tuple(sd32[k].shape) != tuple(model.state_dict()[k].shape))
    result["load"] = {"missing": missing, "unexpected": unexpected, "shape_mismatch": shape_mismatch}
    if missing or unexpected or shape_mismatch:
        msg = ["state dict does not match WanTransformer3DModel (strict=True):"]
        if missing:
            msg.append(f"  missing ({len(missing)}): " + ", ".join(missing[:40]) + (" ..." if len(missing) > 40 else ""))
        if unexpected:
            msg.append(f"  unexpected ({len(unexpected)}): " + ", ".join(unexpected[:40]) + (" ..." if len(unexpected) > 40 else ""))
        if shape_mismatch:
            msg.append(f"  shape mismatch ({len(shape_mismatch)}): " + "; ".join(shape_mismatch[:20]))
        raise RuntimeError("\n".join(msg))
    model.load_state_dict(sd32, strict=True)
    model.to(device)
    result["num_params"] = sum(p.numel() for p in model.parameters())

    sdpa_ctx_factory = lambda: _math_sdpa(torch)  # noqa: E731
    _, sdpa_desc = sdpa_ctx_factory()
    # Belt and braces: also pick diffusers' own math backend where it exists (it wraps SDPA in
    # sdpa_kernel(MATH)); a DIFFUSERS_ATTN_BACKEND set in the environment is thereby overridden.
    attn_backend = "diffusers default (native SDPA)"
    if hasattr(model, "set_attention_backend"):
        from diffusers.utils import logging as dlogging
        verb = dlogging.get_verbosity()
        dlogging.set_verbosity_error()  # it warns that backends are experimental
        try:
            model.set_attention_backend("_native_math")
            attn_backend = "diffusers _native_math"
        except Exception as e:
            attn_backend = f"diffusers default (set_attention_backend('_native_math') failed: {type(e).__name__})"
        finally:
            dlogging.set_verbosity(verb)
    result["sdpa"] = f"{attn_backend}; SDPA kernel forced: {sdpa_desc}"

    lat_d = latents.to(device)
    ctx_d = context.to(device)
    ts_d = timestep.to(device)

    def forward(m, dtype, record=False):
        rec = _StageRecorder(m) if record else None
        ctx_mgr, _ = sdpa_ctx_factory()
        try:
            with torch.no_grad(), ctx_mgr:
                y = m(hidden_states=lat_d.to(dtype), timestep=ts_d, encoder_hidden_states=ctx_d.to(dtype),
                      return_dict=False)[0]
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        finally:
            if rec is not None:
                rec.remove()
        return y, (rec.out if rec is not None else {})

    # --- main reference: diffusers as shipped, fp32 (optionally with the f64 timestep sinusoid)
    orig_ts_fwd = model.condition_embedder.timesteps_proj.forward
    if args.sinusoid_f64:
        _patch_sinusoid_f64(model, torch.float32)
    result["reference"] = "diffusers fp32" + (" + fp64 timestep sinusoid" if args.sinusoid_f64 else "")
    t0 = time.time()
    ref, stages = forward(model, torch.float32, record=True)
    model.condition_embedder.timesteps_proj.forward = orig_ts_fwd
    result["forward_s"] = round(time.time() - t0, 3)
    result["tf32_state"] = _tf32_state(torch)
    if tuple(ref.shape) != tuple(ours.shape):
        raise RuntimeError(f"shape mismatch: diffusers {tuple(ref.shape)} vs ours {tuple(ours.shape)}")
    main = _rel_l2(ours, ref)
    result["main"] = main
    result["finite"] = {"ours": bool(torch.isfinite(ours).all()), "ref": bool(torch.isfinite(ref).all())}
    passed = bool(main["rel_l2"] < args.tol) and result["finite"]["ours"] and result["finite"]["ref"]
    result["pass"] = passed

    # --- per-stage comparisons, where the IO file carries them
    stage_cmp = {}
    for k in sorted((k for k in io if k.startswith("stage.")), key=_stage_sort_key):
        if k not in stages:
            stage_cmp[k] = {"error": "no diffusers stage of that name"}
            continue
        a, b = io[k].float(), stages[k].float()
        if a.numel() != b.numel():
            stage_cmp[k] = {"error": f"numel {a.numel()} vs diffusers {b.numel()} ({tuple(b.shape)})"}
            continue
        stage_cmp[k] = _rel_l2(a.reshape(b.shape), b)
    result["stages"] = stage_cmp
    result["ref_stage_norms"] = {k: round(v.double().norm().item(), 6)
                                 for k, v in sorted(stages.items(), key=lambda kv: _stage_sort_key(kv[0]))}

    if args.dump_ref:
        from safetensors.torch import save_file
        dump = {"output": ref.detach().float().cpu().contiguous()}
        dump.update({k: v.float().cpu().contiguous() for k, v in stages.items()})
        save_file(dump, args.dump_ref)
        result["dump_ref"] = args.dump_ref

    # --- diagnostics
    diag = {}
    if not args.no_variant:
        try:
            _patch_sinusoid_f64(model, torch.float32)
            var, _ = forward(model, torch.float32)
            model.condition_embedder.timesteps_proj.forward = orig_ts_fwd
            diag["fp64_sinusoid_variant"] = {
                "ours_vs_variant": _rel_l2(ours, var),
                "diffusers_vs_variant": _rel_l2(ref, var),
            }
        except Exception as e:
            diag["fp64_sinusoid_variant"] = {"error": f"{type(e).__name__}: {e}"}
    if not args.no_f64:
        try:
            m64 = WanTransformer3DModel(**kwargs)
            m64.load_state_dict({k: v.double() for k, v in sd_raw.items()}, strict=True)
            from diffusers.utils import logging as dlogging
            verb = dlogging.get_verbosity()
            dlogging.set_verbosity_error()  # silence the "keep in fp32" warning of .to(float64)
            try:
                m64 = m64.to(torch.float64).to(device).eval()
            finally:
                dlogging.set_verbosity(verb)
            if attn_backend == "diffusers _native_math":
                verb = dlogging.get_verbosity()
                dlogging.set_verbosity_error()
                try:
                    m64.set_attention_backend("_native_math")
                finally:
                    dlogging.set_verbosity(verb)
            _rope_tables_f64(m64, device)
            _patch_sinusoid_f64(m64, torch.float64)
            t0 = time.time()
            truth, _ = forward(m64, torch.float64)
            diag["fp64_truth"] = {
                "forward_s": round(time.time() - t0, 3),
                "ours_vs_truth": _rel_l2(ours, truth),
                "diffusers_fp32_vs_truth": _rel_l2(ref, truth),
            }
            if "fp64_sinusoid_variant" in diag and "error" not in diag["fp64_sinusoid_variant"]:
                diag["fp64_truth"]["variant_vs_truth"] = _rel_l2(var, truth)
            del m64
        except Exception as e:
            diag["fp64_truth"] = {"error": f"{type(e).__name__}: {e}"}
    result["diagnostics"] = diag
    result["elapsed_s"] = round(time.time() - t_start, 3)
    return result


def _fmt(x):
    return f"{x:.3e}" if isinstance(x, float) else str(x)


def verdict_line(r):
    m = r["main"]
    return (f"{'PASS' if r['pass'] else 'FAIL'}: C++ fp32 DiT vs diffusers {r['versions']['diffusers']} "
            f"WanTransformer3DModel: rel_l2={m['rel_l2']:.3e} (tol {r['tol']:.0e}), max_abs={m['max_abs']:.3e}, "
            f"ref_max_abs={m['ref_max_abs']:.3e}, device={r['device_name']}")


def markdown(r):
    L = []
    L.append("### Cross-check: C++ DiT (fp32 mode) vs diffusers WanTransformer3DModel")
    L.append("")
    L.append(f"**{'PASS' if r['pass'] else 'FAIL'}** — relative L2 `{r['main']['rel_l2']:.3e}` "
             f"(threshold `{r['tol']:.0e}`), max abs error `{r['main']['max_abs']:.3e}` "
             f"(reference max |y| `{r['main']['ref_max_abs']:.3e}`, ||y|| `{r['main']['ref_norm']:.4e}`).")
    L.append("")
    v = r["versions"]
    L.append("| item | value |")
    L.append("|---|---|")
    L.append(f"| date (UTC) | {r['date_utc']} |")
    L.append(f"| torch | {v['torch']} (CUDA {v['torch_cuda']}) |")
    L.append(f"| diffusers | {v['diffusers']} |")
    L.append(f"| safetensors | {v['safetensors']} |")
    L.append(f"| python | {v['python']} |")
    L.append(f"| device | {r['device']} — {r['device_name']} |")
    L.append("| TF32 | " + ", ".join(f"{k}={val}" for k, val in r["tf32_state"].items()) + " |")
    L.append(f"| reference | {r['reference']} |")
    L.append(f"| attention | {r['sdpa']} |")
    L.append(f"| weights | `{r['weights']}` ({r['num_tensors']} tensors, {', '.join(r['weights_dtypes'])}, "
             f"{r['num_params']:,} params, upcast to fp32) |")
    L.append(f"| io | `{r['io']}`: " + ", ".join(f"{k} {s}" for k, s in r["shapes"].items())
             + f"; timestep={r['timestep_value']} |")
    L.append(f"| config | `{json.dumps(r['config'], sort_keys=True)}` |")
    L.append(f"| constructor | `{json.dumps(r['constructor_kwargs'], sort_keys=True)}` |")
    L.append("| load | strict=True, 0 missing, 0 unexpected |")
    L.append(f"| forward time | {r['forward_s']} s (fp32) |")
    L.append("")
    if r.get("stages"):
        L.append("Per-stage (ours vs diffusers):")
        L.append("")
        L.append("| stage | rel L2 | max abs |")
        L.append("|---|---|---|")
        for k, s in r["stages"].items():
            if "error" in s:
                L.append(f"| {k} | — | {s['error']} |")
            else:
                L.append(f"| {k} | {s['rel_l2']:.3e} | {s['max_abs']:.3e} |")
        L.append("")
    d = r.get("diagnostics", {})
    if d:
        L.append("Diagnostics (do not affect the verdict):")
        L.append("")
        L.append("| comparison | rel L2 | max abs |")
        L.append("|---|---|---|")
        t = d.get("fp64_truth", {})
        if "error" in t:
            L.append(f"| fp64 truth | — | {t['error']} |")
        elif t:
            for name, key in [("ours vs fp64 truth", "ours_vs_truth"),
                              ("diffusers fp32 vs fp64 truth", "diffusers_fp32_vs_truth"),
                              ("diffusers fp32 + fp64 sinusoid vs fp64 truth", "variant_vs_truth")]:
                if key in t:
                    L.append(f"| {name} | {t[key]['rel_l2']:.3e} | {t[key]['max_abs']:.3e} |")
        vv = d.get("fp64_sinusoid_variant", {})
        if "error" in vv:
            L.append(f"| fp64-sinusoid variant | — | {vv['error']} |")
        elif vv:
            L.append(f"| ours vs diffusers fp32 + fp64 sinusoid | {vv['ours_vs_variant']['rel_l2']:.3e} | "
                     f"{vv['ours_vs_variant']['max_abs']:.3e} |")
            L.append(f"| diffusers fp32 vs same + fp64 sinusoid | {vv['diffusers_vs_variant']['rel_l2']:.3e} | "
                     f"{vv['diffusers_vs_variant']['max_abs']:.3e} |")
        L.append("")
    L.append("Command: `python3 tools/diffusers_crosscheck.py --weights ... --io ...` "
             "(diffusers model in float32, TF32 off, math SDPA; weights upcast from the checkpoint dtype).")
    L.append("")
    return "\n".join(L)


def main(argv=None):
    args = parse_args(argv)
    try:
        r = run(args)
    except Exception as e:
        traceback.print_exc()
        print(f"ERROR: cross-check could not run: {type(e).__name__}: {e}", file=sys.stderr)
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump({"pass": False, "error": f"{type(e).__name__}: {e}"}, f, indent=2)
        return 2
    line = verdict_line(r)
    # Short human summary before the verdict line.
    for k, s in r.get("stages", {}).items():
        if "error" not in s:
            print(f"  stage {k}: rel_l2={s['rel_l2']:.3e} max_abs={s['max_abs']:.3e}")
        else:
            print(f"  stage {k}: {s['error']}")
    t = r.get("diagnostics", {}).get("fp64_truth", {})
    if t and "error" not in t:
        print(f"  fp64 truth: ours rel_l2={t['ours_vs_truth']['rel_l2']:.3e}, "
              f"diffusers-fp32 rel_l2={t['diffusers_fp32_vs_truth']['rel_l2']:.3e}")
    vv = r.get("diagnostics", {}).get("fp64_sinusoid_variant", {})
    if vv and "error" not in vv:
        print(f"  fp64-sinusoid variant: ours rel_l2={vv['ours_vs_variant']['rel_l2']:.3e}, "
              f"diffusers-vs-variant rel_l2={vv['diffusers_vs_variant']['rel_l2']:.3e}")
    print(f"  tf32: {r['tf32_state']}")
    print(line)
    r["verdict"] = line
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(r, f, indent=2, sort_keys=True)
    if args.md_out:
        with open(args.md_out, "w") as f:
            f.write(markdown(r))
    return 0 if r["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
