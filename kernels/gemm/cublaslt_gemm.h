// nn.Linear on the GPU through cuBLASLt: y[m,n] = x[m,k] W[n,k]^T (+ bias) (then GELU-tanh),
// bf16 in and out, fp32 accumulation and epilogue. The algorithm is chosen once per shape
// (plan) with reductions that do not use atomics, and recorded so reports can show it; the
// same plan gives bit-identical results run to run. RAII over the cuBLASLt descriptors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

namespace wan {

enum class GemmEpilogue { kNone, kBias, kBiasGeluTanh };

struct GemmShape {
  int64_t m = 0;  // rows of x and y (tokens)
  int64_t n = 0;  // output features
  int64_t k = 0;  // input features
  GemmEpilogue epilogue = GemmEpilogue::kBias;
};

// cuBLASLt's first heuristic algorithm for (op, a, b, d) that needs no atomic (in-place split-K)
// reduction and at most `workspace_bytes`; `min_alignment` > 0 promises that alignment of every
// pointer (cuBLASLt otherwise assumes 256 bytes). The same inputs give the same choice, hence
// the same bits run to run. Returns "" or why none fits (`what` names the GEMM in the message).
struct GemmAlgorithm {
  cublasLtMatmulAlgo_t algo{};
  size_t workspace_bytes = 0;
  std::string description;  // "algo 66 tile 27 stages 35 splitK 1 reduction 0 swizzle 0 ws 0 B"
};
std::string choose_deterministic_gemm_algorithm(cublasLtHandle_t handle, cublasLtMatmulDesc_t op,
                                                cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                                cublasLtMatrixLayout_t d, size_t workspace_bytes,
                                                uint32_t min_alignment, const std::string& what,
                                                GemmAlgorithm* out);

class CublasLtGemm {
 public:
  CublasLtGemm() = default;
  ~CublasLtGemm();
  // Owns cuBLASLt descriptors; copying would destroy them twice.
  CublasLtGemm(const CublasLtGemm&) = delete;
  CublasLtGemm& operator=(const CublasLtGemm&) = delete;

  // Chooses the algorithm for `shape` with at most `workspace_bytes` of workspace. Returns ""
  // or the reason no algorithm fits. Call once per shape, before run().
  std::string plan(cublasLtHandle_t handle, const GemmShape& shape, size_t workspace_bytes);
  // x: [m,k] bf16, w: [n,k] bf16, bias: [n] bf16 (nullptr without a bias epilogue), y: [m,n]
  // bf16; ld of x and y may exceed k / n (strided rows). Asynchronous; allocates nothing.
  void run(const void* x, int64_t ldx, const void* w, const void* bias, void* y, int64_t ldy,
           void* workspace, cudaStream_t stream);

  const GemmShape& shape() const { return shape_; }
  // "algo 66 tile 256x128 stages 3 splitK 1 reduction none swizzle 0 ws 0 B"
  std::string algorithm_description() const { return description_; }

 private:
  void destroy();
  cublasLtHandle_t handle_ = nullptr;
  GemmShape shape_;
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, d_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  size_t workspace_bytes_ = 0;
  int64_t planned_ldx_ = 0, planned_ldy_ = 0;
  std::string description_;
};

}  // namespace wan
