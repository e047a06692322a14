#include "kernels/gemm/cublaslt_gemm.h"

#include <sstream>

#include "kernels/common/cuda_check.h"

namespace wan {

std::string choose_deterministic_gemm_algorithm(cublasLtHandle_t handle, cublasLtMatmulDesc_t op,
                                                cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                                cublasLtMatrixLayout_t d, size_t workspace_bytes,
                                                uint32_t min_alignment, const std::string& what,
                                                GemmAlgorithm* out) {
  cublasLtMatmulPreference_t pref;
  WAN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  WAN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                        &workspace_bytes, sizeof(workspace_bytes)));
  // Deterministic: no in-place (atomic) split-K reduction.
  const uint32_t reduction_mask = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE |
                                  CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE;
  WAN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                        &reduction_mask, sizeof(reduction_mask)));
  if (min_alignment > 0)
    for (const auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                            CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
      WAN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &min_alignment, sizeof(min_alignment)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle, op, a, b, d, d, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0)
    return "cuBLASLt has no algorithm for " + what + " (" + cublasGetStatusString(st) + ")";
  out->algo = result.algo;
  out->workspace_bytes = result.workspaceSize;
  int algo_id = 0, tile = 0, stages = 0, splitk = 0, reduction = 0, swizzle = 0;
  size_t written = 0;
  const cublasLtMatmulAlgo_t* algo = &out->algo;
  cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_ID, &algo_id, sizeof(algo_id), &written);
  cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile), &written);
  cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof(stages), &written);
  cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof(splitk), &written);
  cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &reduction, sizeof(reduction), &written);
  cublasLtMatmulAlgoConfigGetAttribute(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swizzle, sizeof(swizzle), &written);
  std::ostringstream desc;
  desc << "algo " << algo_id << " tile " << tile << " stages " << stages << " splitK " << splitk << " reduction "
       << reduction << " swizzle " << swizzle << " ws " << out->workspace_bytes << " B";
  out->description = desc.str();
  return "";
}

CublasLtGemm::~CublasLtGemm() { destroy(); }

void CublasLtGemm::destroy() {
  if (op_) cublasLtMatmulDescDestroy(op_);
  if (a_) cublasLtMatrixLayoutDestroy(a_);
  if (b_) cublasLtMatrixLayoutDestroy(b_);
  if (d_) cublasLtMatrixLayoutDestroy(d_);
  op_ = nullptr;
  a_ = b_ = d_ = nullptr;
}

std::string CublasLtGemm::plan(cublasLtHandle_t handle, const GemmShape& s, size_t workspace_bytes) {
  destroy();
  handle_ = handle;
  shape_ = s;
  if (s.m < 1 || s.n < 1 || s.k < 1) return "GEMM dimensions must be positive";
  if (s.n % 8 || s.k % 8) return "GEMM n and k must be multiples of 8 (16-byte rows)";
  // Row-major y[m,n] = x[m,k] w[n,k]^T is column-major y^T[n,m] = w^T... : A = w (k x n
  // column-major, transposed), B = x (k x m column-major), D = y^T (n x m column-major).
  WAN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op_, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
  WAN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)));
  WAN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)));
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  if (s.epilogue == GemmEpilogue::kBias) epilogue = CUBLASLT_EPILOGUE_BIAS;
  if (s.epilogue == GemmEpilogue::kBiasGeluTanh) epilogue = CUBLASLT_EPILOGUE_GELU_BIAS;
  WAN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
  if (s.epilogue != GemmEpilogue::kNone) {
    const cudaDataType_t bias_type = CUDA_R_16BF;
    WAN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                    sizeof(bias_type)));
  }
  WAN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a_, CUDA_R_16BF, s.k, s.n, s.k));
  WAN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b_, CUDA_R_16BF, s.k, s.m, s.k));
  WAN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d_, CUDA_R_16BF, s.n, s.m, s.n));
  planned_ldx_ = s.k;
  planned_ldy_ = s.n;

  GemmAlgorithm chosen;
  const std::string err = choose_deterministic_gemm_algorithm(
      handle, op_, a_, b_, d_, workspace_bytes, 0,
      "GEMM m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k), &chosen);
  if (!err.empty()) return err;
  algo_ = chosen.algo;
  workspace_bytes_ = chosen.workspace_bytes;
  description_ = chosen.description;
  return "";
}

void CublasLtGemm::run(const void* x, int64_t ldx, const void* w, const void* bias, void* y, int64_t ldy,
                       void* workspace, cudaStream_t stream) {
  if (ldx != planned_ldx_) {
    WAN_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(b_, CUBLASLT_MATRIX_LAYOUT_LD, &ldx, sizeof(ldx)));
    planned_ldx_ = ldx;
  }
  if (ldy != planned_ldy_) {
    WAN_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(d_, CUBLASLT_MATRIX_LAYOUT_LD, &ldy, sizeof(ldy)));
    planned_ldy_ = ldy;
  }
  if (shape_.epilogue != GemmEpilogue::kNone) {
    WAN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  }
  const float alpha = 1.0f, beta = 0.0f;
  WAN_CUBLAS_CHECK(cublasLtMatmul(handle_, op_, &alpha, w, a_, x, b_, &beta, y, d_, y, d_, &algo_, workspace,
                                  workspace_bytes_, stream));
}

}  // namespace wan
