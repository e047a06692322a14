// Device helpers shared by the attention kernels (the mma.sync flash kernel, the sm90 block-sparse
// main loop, sparse_linear's linear branch): cp.async copies, mbarriers, mma.sync, the softmax
// exponent, bf16 packing, and the 128-byte-swizzled K-major tile layout the wgmma descriptors
// describe. Device-only.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/attention/common/wgmma.cuh"

namespace wan::attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// 16-byte async copy global -> shared; zero-fills when !valid.
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::); }
// Waits for this thread's copies, then makes them visible to the tensor cores (async proxy).
__device__ __forceinline__ void cp_async_wait_all_and_fence() {
  asm volatile("cp.async.wait_group 0;\n" ::);
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// Waits until at most one of this thread's copy groups is pending (all but the newest), then
// fences them for the tensor cores.
__device__ __forceinline__ void cp_async_wait_one_and_fence() {
  asm volatile("cp.async.wait_group 1;\n" ::);
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// Arrives on `bar` once every cp.async this thread has issued so far has landed (without
// incrementing the barrier's pending count: the barrier's expected count includes it). The
// copies are generic-proxy writes: a consumer reading them with wgmma fences
// (fence_proxy_async) after its wait.
__device__ __forceinline__ void cp_async_arrive_on(uint64_t* bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// Tensor-memory-accelerator loads (sm_90): one thread copies a box of a tiled tensor map
// (cuTensorMapEncodeTiled; the map lives in kernel parameter space, __grid_constant__) into
// shared memory and the copy completes its bytes on `bar` (armed by mbar_arrive_expect_tx).
// Elements outside the tensor are written as zeros. The writes are async-proxy ones, which
// wgmma reads without a proxy fence.
__device__ __forceinline__ void tma_load_3d(void* dst, const void* tensor_map, int c0, int c1, int c2, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], "
      "[%5];\n" ::"r"(smem_addr(dst)),
      "l"(tensor_map), "r"(c0), "r"(c1), "r"(c2), "r"(smem_addr(bar))
      : "memory");
}
__device__ __forceinline__ void tma_load_4d(void* dst, const void* tensor_map, int c0, int c1, int c2, int c3,
                                            uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, "
      "%5}], [%6];\n" ::"r"(smem_addr(dst)),
      "l"(tensor_map), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(smem_addr(bar))
      : "memory");
}
__device__ __forceinline__ void prefetch_tensor_map(const void* tensor_map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(tensor_map) : "memory");
}

// mbarrier helpers (shared-memory 64-bit barriers).
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("{\n .reg .b64 state;\n mbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(smem_addr(bar))
               : "memory");
}
// Arrives on `bar` and adds `bytes` to the transaction count its phase waits for (the TMA
// copies issued next complete them). Release semantics: earlier shared-memory writes of this
// thread are seen by a thread whose wait observes the phase.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes)
               : "memory");
}
// Makes mbarrier initialisation visible to the async proxy (TMA completes on the barriers).
__device__ __forceinline__ void fence_mbarrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// Waits until the phase of `bar` with the given parity has completed.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(smem_addr(bar)), "r"(parity)
        : "memory");
  } while (!done);
}

// 2^x with the hardware approximation (flush-to-zero): the softmax exponent.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
// d[4] += a[4] (16x16 bf16, row) * b[2] (16x8 bf16, col), fp32 accumulate. Fragments (g = lane / 4,
// q = lane % 4): a = {A[g][2q..], A[g + 8][2q..], A[g][2q + 8..], A[g + 8][2q + 8..]},
// b = {B[2q..][g], B[2q + 8..][g]}, d = {D[g][2q], D[g][2q + 1], D[g + 8][2q], D[g + 8][2q + 1]}.
__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// A kRows x (64 * halves) bf16 tile as 64-column halves, each kRows rows x 128 B with the
// 128-byte swizzle (16-byte chunk index XOR row % 8): the layout smem_desc_k_major_sw128
// describes. Byte offset of element (row, col).
template <int kRows>
__device__ __forceinline__ int swizzled_offset(int row, int col) {
  const int half = col >> 6, c = col & 63;
  return half * (kRows * 128) + row * 128 + ((((c >> 3) ^ (row & 7))) << 4) + ((c & 7) << 1);
}
// Descriptor for k-step s (16 columns) of such a tile, from row row0: the half holding it,
// advanced 32 B per step.
template <int kRows>
__device__ __forceinline__ uint64_t desc_at(const char* tile, int row0, int s) {
  return sm90::smem_desc_k_major_sw128(tile + (s >> 2) * (kRows * 128) + row0 * 128 + (s & 3) * 32);
}

}  // namespace wan::attn
