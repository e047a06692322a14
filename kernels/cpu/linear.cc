#include "kernels/cpu/linear.h"

#include <algorithm>

#include "kernels/cpu/parallel.h"

namespace wan::cpu {

std::vector<float> pack_linear_weight(const float* w, int64_t n, int64_t k) {
  std::vector<float> w_t(static_cast<size_t>(n * k));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) w_t[j * n + i] = w[i * k + j];
  return w_t;
}

namespace {

// Register tile: kRows rows of x times kCols columns of w_t; the column loop vectorises (SSE2),
// each lane accumulating its own output in k order.
constexpr int64_t kRows = 4;
constexpr int64_t kCols = 16;

template <int64_t Rows>
void tile(const float* x, const float* w_t, const float* bias, float* y, int64_t m0, int64_t k,
          int64_t n, int64_t n0, int64_t cols) {
  float acc[Rows][kCols] = {};
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* wrow = w_t + kk * n + n0;
    float wv[kCols];
    for (int64_t j = 0; j < kCols; ++j) wv[j] = j < cols ? wrow[j] : 0.0f;
    for (int64_t r = 0; r < Rows; ++r) {
      const float xv = x[(m0 + r) * k + kk];
      for (int64_t j = 0; j < kCols; ++j) acc[r][j] += xv * wv[j];
    }
  }
  for (int64_t r = 0; r < Rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      y[(m0 + r) * n + n0 + j] = bias ? acc[r][j] + bias[n0 + j] : acc[r][j];
}

}  // namespace

void linear_f32(const float* x, const float* w_t, const float* bias, float* y, int64_t m,
                int64_t k, int64_t n) {
  const int64_t row_blocks = (m + kRows - 1) / kRows;
  const int64_t col_blocks = (n + kCols - 1) / kCols;
  // Chunks of (row block, column panel): a panel of 256 columns keeps w_t's slice in L2.
  constexpr int64_t kPanel = 256 / kCols;
  const int64_t panels = (col_blocks + kPanel - 1) / kPanel;
  parallel_for(row_blocks * panels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t rb = c / panels, p = c % panels;
      const int64_t m0 = rb * kRows, rows = std::min(kRows, m - m0);
      for (int64_t cb = p * kPanel; cb < std::min(col_blocks, (p + 1) * kPanel); ++cb) {
        const int64_t n0 = cb * kCols, cols = std::min(kCols, n - n0);
        if (rows == kRows) {
          tile<kRows>(x, w_t, bias, y, m0, k, n, n0, cols);
        } else {
          for (int64_t r = 0; r < rows; ++r) tile<1>(x, w_t, bias, y, m0 + r, k, n, n0, cols);
        }
      }
    }
  });
}

}  // namespace wan::cpu
