#include "kernels/cpu/rope.h"

#include <algorithm>

#include "kernels/common/portable_math.h"
#include "kernels/cpu/parallel.h"

namespace wan::cpu {

RopeTable make_rope_table(int64_t frames, int64_t height, int64_t width, int64_t head_dim,
                          double theta) {
  const int64_t hw_dim = 2 * (head_dim / 6);
  const int64_t axis_dims[3] = {head_dim - 2 * hw_dim, hw_dim, hw_dim};
  const double log_theta = portable::log(theta);
  // freqs per axis: 1 / theta^(2i / d_axis), in double.
  std::vector<double> freqs[3];
  for (int a = 0; a < 3; ++a) {
    for (int64_t i = 0; i < axis_dims[a] / 2; ++i) {
      const double exponent = static_cast<double>(2 * i) / static_cast<double>(axis_dims[a]);
      freqs[a].push_back(1.0 / portable::exp(portable::mul(log_theta, exponent)));
    }
  }
  RopeTable table;
  table.tokens = frames * height * width;
  table.pairs = head_dim / 2;
  table.cos.resize(static_cast<size_t>(table.tokens * table.pairs));
  table.sin.resize(table.cos.size());
  for (int64_t t = 0; t < frames; ++t)
    for (int64_t h = 0; h < height; ++h)
      for (int64_t w = 0; w < width; ++w) {
        const int64_t token = (t * height + h) * width + w;
        const int64_t pos[3] = {t, h, w};
        int64_t j = 0;
        for (int a = 0; a < 3; ++a) {
          for (double f : freqs[a]) {
            double s, c;
            portable::sincos(portable::mul(static_cast<double>(pos[a]), f), &s, &c);
            table.cos[token * table.pairs + j] = static_cast<float>(c);
            table.sin[token * table.pairs + j] = static_cast<float>(s);
            ++j;
          }
        }
      }
  return table;
}

void apply_rope_inplace(float* x, int64_t tokens, int64_t heads, int64_t head_dim,
                        const RopeTable& table) {
  const int64_t pairs = head_dim / 2;
  parallel_for(tokens, 64, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const float* c = table.cos.data() + t * pairs;
      const float* s = table.sin.data() + t * pairs;
      for (int64_t h = 0; h < heads; ++h) {
        float* row = x + (t * heads + h) * head_dim;
        for (int64_t j = 0; j < pairs; ++j) {
          const float x0 = row[2 * j], x1 = row[2 * j + 1];
          row[2 * j] = x0 * c[j] - x1 * s[j];
          row[2 * j + 1] = x0 * s[j] + x1 * c[j];
        }
      }
    }
  });
}

RopeTable reorder_rope_rows(const RopeTable& table, const std::vector<int32_t>& source_row) {
  RopeTable out;
  out.tokens = table.tokens;
  out.pairs = table.pairs;
  out.cos.resize(table.cos.size());
  out.sin.resize(table.sin.size());
  for (int64_t i = 0; i < table.tokens; ++i) {
    const int64_t src = source_row[static_cast<size_t>(i)];
    std::copy_n(table.cos.begin() + src * table.pairs, table.pairs, out.cos.begin() + i * table.pairs);
    std::copy_n(table.sin.begin() + src * table.pairs, table.pairs, out.sin.begin() + i * table.pairs);
  }
  return out;
}

RopeTable rope_rows(const RopeTable& table, int64_t first, int64_t count) {
  RopeTable out;
  out.tokens = count;
  out.pairs = table.pairs;
  out.cos.assign(table.cos.begin() + first * table.pairs, table.cos.begin() + (first + count) * table.pairs);
  out.sin.assign(table.sin.begin() + first * table.pairs, table.sin.begin() + (first + count) * table.pairs);
  return out;
}

}  // namespace wan::cpu
