#!/usr/bin/env python3
"""PyTorch scaled_dot_product_attention (cuDNN backend, and flash for reference) at the
Wan2.1-1.3B self-attention shape: batch 1, 12 heads, 32,760 tokens, head_dim 128, bf16.
Prints one JSON line per backend: median ms and TFLOP/s over CUDA-event-timed repetitions.
Runs in the same device call as our benchmark so both figures come from one card."""
import json
import sys

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel


def main():
    b, h, s, d = 1, 12, 32760, 128
    if len(sys.argv) > 1:
        h, s, d = (int(x) for x in sys.argv[1:4])
    q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    flops = 4.0 * b * h * s * s * d
    for name, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)):
        try:
            with sdpa_kernel(backend):
                for _ in range(3):
                    torch.nn.functional.scaled_dot_product_attention(q, k, v)
                torch.cuda.synchronize()
                times = []
                for _ in range(20):
                    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    torch.nn.functional.scaled_dot_product_attention(q, k, v)
                    stop.record()
                    stop.synchronize()
                    times.append(start.elapsed_time(stop))
            times.sort()
            ms = times[len(times) // 2]
            print(json.dumps({"backend": f"torch_sdpa_{name}", "device": torch.cuda.get_device_name(),
                              "heads": h, "tokens": s, "head_dim": d, "median_ms": round(ms, 3),
                              "tflops": round(flops / ms / 1e9, 1), "torch": torch.__version__}))
        except RuntimeError as e:
            print(json.dumps({"backend": f"torch_sdpa_{name}", "error": str(e)[:200]}))


if __name__ == "__main__":
    main()
