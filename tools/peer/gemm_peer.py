#!/usr/bin/env python3
"""torch.nn.functional.linear (cuBLAS/cuBLASLt through torch, bf16, bias) at the Wan2.1-1.3B
linear shapes of kernels/gemm/cublaslt_gemm_benchmark.cc (480x832x81: 32,760 tokens), the FFN's
up projection with and without the tanh GELU that follows it. One JSON line per shape: median
ms and TFLOP/s over CUDA-event-timed repetitions. Run in the same device call as
cublaslt_gemm_benchmark so both come from one card (tools/device_dense.sh gemm)."""
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vsa_peer import time_ms  # noqa: E402  (torch only; imports no FastVideo code)

SHAPES = (  # m, n, k, what
    (32760, 4608, 1536, "fused QKV + bias"),
    (32760, 1536, 1536, "attention output + bias"),
    (32760, 8960, 1536, "FFN up + bias"),
    (32760, 8960, 1536, "FFN up + bias, then GELU tanh"),
    (32760, 1536, 8960, "FFN down + bias"),
    (8192, 8192, 8192, "peak reference, no bias"),
)


def main():
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    for m, n, k, what in SHAPES:
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * 0.02
        b = None if "no bias" in what else torch.zeros(n, device="cuda", dtype=torch.bfloat16)
        if "GELU" in what:
            fn = lambda: torch.nn.functional.gelu(torch.nn.functional.linear(x, w, b), approximate="tanh")  # noqa: E731
        else:
            fn = lambda: torch.nn.functional.linear(x, w, b)  # noqa: E731
        ms = time_ms(fn, 3, 20)
        print(json.dumps({"peer": "torch_linear", "what": what, "m": m, "n": n, "k": k, "median_ms": round(ms, 4),
                          "tflops": round(2.0 * m * n * k / ms / 1e9, 1), "device": torch.cuda.get_device_name(),
                          "torch": torch.__version__}))
        del x, w, b


if __name__ == "__main__":
    main()
