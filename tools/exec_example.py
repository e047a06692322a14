#!/usr/bin/env python3
"""Small, deterministic DiT-like denoising loop for testing `repro exec`.

It runs a few transformer layers (pre-norm attention + GELU MLP) as the model of
a flow-matching-like Euler loop, marks the work with NVTX ranges
(denoise > step/{i} > layer/{l} > attn | mlp) and writes the final latents as a
safetensors file, so the harness can check kernel tracing, NVTX attribution and
output hashing across fresh processes. Weights and noise come from a seeded CPU
generator, so the output is the same on any GPU.

  repro exec --runs 8 --hash 'latents.safetensors' -- \\
      python3 tools/exec_example.py --out '{run_dir}/latents.safetensors'

  repro ab --base-cmd "python3 tools/exec_example.py --out {run_dir}/latents.safetensors" \\
      --cand-cmd "python3 tools/exec_example.py --out {run_dir}/latents.safetensors --plant-matmul 3" \\
      --hash latents.safetensors

--plant-matmul L adds one (tokens x dim) @ (dim x dim) matmul to layer L whose
result is added times 0.0: the output stays bit-identical, only the time changes.
--spawn runs the GPU work in one torch.multiprocessing.spawn worker (as FastVideo
does even with one GPU); the parent never initialises CUDA.
"""

import argparse
import hashlib
import json
import os
import struct
import sys
import tempfile
import time

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before CUDA init

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

nvtx = torch.cuda.nvtx


def log(msg):
    print(f"exec_example: {msg}", file=sys.stderr, flush=True)


def make_weights(args, dtype, device):
    """All weights and the initial noise from one seeded CPU generator."""
    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    d = args.dim

    def w(out_f, in_f):
        t = torch.randn(out_f, in_f, generator=gen, dtype=torch.float32) / in_f ** 0.5
        return t.to(dtype=dtype).to(device)

    layers = [dict(qkv=w(3 * d, d), proj=w(d, d), fc1=w(4 * d, d), fc2=w(d, 4 * d))
              for _ in range(args.layers)]
    noise = torch.randn(1, args.tokens, d, generator=gen, dtype=torch.float32)
    x = noise.to(dtype=dtype).to(device)
    w_extra = None
    if args.plant_matmul >= 0:
        # Separate generator, so the base weights and noise are unchanged.
        g2 = torch.Generator(device="cpu").manual_seed(args.seed + 1)
        w_extra = (torch.randn(d, d, generator=g2, dtype=torch.float32) / d ** 0.5)
        w_extra = w_extra.to(dtype=dtype).to(device)
    return layers, x, w_extra


def model(x, layers, args, w_extra):
    b, t, d = x.shape
    nh, hd = args.heads, d // args.heads
    h = x
    for l, p in enumerate(layers):
        nvtx.range_push(f"layer/{l}")
        nvtx.range_push("attn")
        a = F.layer_norm(h, (d,))
        q, k, v = F.linear(a, p["qkv"]).split(d, dim=-1)
        q, k, v = (z.reshape(b, t, nh, hd).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v)
        a = a.transpose(1, 2).reshape(b, t, d)
        h = h + F.linear(a, p["proj"])
        nvtx.range_pop()  # attn
        nvtx.range_push("mlp")
        m = F.layer_norm(h, (d,))
        m = F.gelu(F.linear(m, p["fc1"]), approximate="tanh")
        h = h + F.linear(m, p["fc2"])
        if l == args.plant_matmul:
            h = h + (h @ w_extra) * 0.0  # planted: costs time, changes no bit
        nvtx.range_pop()  # mlp
        nvtx.range_pop()  # layer/{l}
    return F.layer_norm(h, (d,))  # final norm (no affine) keeps the Euler loop bounded


def tensor_bytes(x):
    x = x.contiguous()
    if x.dtype == torch.bfloat16:
        return x.view(torch.int16).cpu().numpy().tobytes()
    return x.cpu().numpy().tobytes()


def write_safetensors(path, name, st_dtype, shape, data):
    header = {name: {"dtype": st_dtype, "shape": list(shape), "data_offsets": [0, len(data)]},
              "__metadata__": {"producer": "tools/exec_example.py"}}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=".tmp-", suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(hb)))
            f.write(hb)
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run(args):
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True)
    if not torch.cuda.is_available():
        log("error: CUDA is not available")
        sys.exit(2)
    device = torch.device("cuda", 0)
    torch.cuda.set_device(device)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    layers, x, w_extra = make_weights(args, dtype, device)
    torch.cuda.synchronize()
    log(f"weights ready on {torch.cuda.get_device_name(device)}; denoising {args.steps} steps")

    dt = 1.0 / args.steps
    with torch.inference_mode():
        # Warm-up forwards (lazy kernel loading, cuBLAS handles, allocator) outside the
        # measured range, so "denoise" times steady-state steps.
        nvtx.range_push("warmup")
        for _ in range(args.warmup):
            model(x, layers, args, w_extra)
        torch.cuda.synchronize()
        nvtx.range_pop()
        t0 = time.perf_counter()
        nvtx.range_push("denoise")
        for i in range(args.steps):
            nvtx.range_push(f"step/{i}")
            if args.sleep_ms > 0:
                time.sleep(args.sleep_ms / 1000.0)
            x = x - dt * model(x, layers, args, w_extra)
            torch.cuda.synchronize()
            nvtx.range_pop()  # step/{i}
            log(f"step {i + 1}/{args.steps}")
        torch.cuda.synchronize()
        nvtx.range_pop()  # denoise
        elapsed = time.perf_counter() - t0

    if args.fail:
        log("error: failing on purpose (--fail)")
        sys.exit(3)
    data = tensor_bytes(x)
    digest = hashlib.sha1(data).hexdigest()
    if not args.no_output:
        write_safetensors(args.out, "latents", "BF16" if dtype == torch.bfloat16 else "F32",
                          x.shape, data)
        log(f"wrote {args.out} ({len(data)} bytes)")
    print(f"steps={args.steps} layers={args.layers} tokens={args.tokens} "
          f"elapsed_s={elapsed:.4f} sha1={digest}", flush=True)


def _spawn_worker(rank, args):
    run(args)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="safetensors file to write")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--tokens", type=int, default=4096)
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=("bf16", "fp32"), default="bf16")
    p.add_argument("--plant-matmul", type=int, default=-1, metavar="LAYER",
                   help="layer that does one extra matmul added times 0.0 (-1: off)")
    p.add_argument("--spawn", action="store_true",
                   help="run the GPU work in one torch.multiprocessing.spawn worker")
    p.add_argument("--sleep-ms", type=int, default=0, help="host sleep per step")
    p.add_argument("--warmup", type=int, default=2, help="untimed forwards before the denoise range")
    p.add_argument("--fail", action="store_true",
                   help="exit with status 3 before writing anything")
    p.add_argument("--no-output", action="store_true", help="do not write --out")
    args = p.parse_args(argv)
    if args.steps < 1 or args.layers < 1 or args.tokens < 1 or args.dim < 1 or args.heads < 1:
        p.error("--steps, --layers, --tokens, --dim and --heads must be >= 1")
    if args.dim % args.heads:
        p.error("--dim must be divisible by --heads")
    if args.plant_matmul >= args.layers:
        p.error("--plant-matmul must be < --layers")
    return args


def main(argv=None):
    args = parse_args(argv)
    if not args.spawn:
        run(args)
        return 0
    import torch.multiprocessing as mp
    try:
        mp.spawn(_spawn_worker, args=(args,), nprocs=1, join=True)
    except mp.ProcessExitedException as e:  # worker called sys.exit(n) or died
        return e.exit_code if e.exit_code and e.exit_code > 0 else 1
    except mp.ProcessRaisedException as e:  # traceback already in the message
        log(f"error: worker failed:\n{e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
