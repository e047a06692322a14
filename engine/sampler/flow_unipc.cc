// FlowUniPC coefficients and host step. The scalars follow FastVideo's torch code op for op in
// fp32 (its sigmas are a float32 tensor, so every scalar there is fp32); log and expm1 are
// evaluated in double with the project's portable math and rounded once to fp32, and the
// order-2 corrector's 2x2 solve is done in double and rounded once (FastVideo: fp32 LAPACK).
#include "engine/sampler/flow_unipc.h"

#include <algorithm>
#include <string>

#include "kernels/common/portable_math.h"

namespace wan {
namespace {

constexpr float kLambdaClampMin = 1e-12f;  // FastVideo's torch.clamp(min=1e-12) on fp32

// log of a positive fp32, rounded once to fp32.
float log_fp32(float x) { return static_cast<float>(portable::log(static_cast<double>(x))); }

// expm1 in double: Taylor series (Horner, 24 terms) near 0 where exp(x) - 1 would cancel.
double expm1_double(double x) {
  if (x > -0.5 && x < 0.5) {
    double series = 1.0;
    for (int k = 24; k >= 2; --k) series = 1.0 + x * series / k;
    return x * series;
  }
  return portable::exp(x) - 1.0;
}

float expm1_fp32(float x) { return static_cast<float>(expm1_double(static_cast<double>(x))); }

// lambda(sigma) = log(clamp(1 - sigma)) - log(clamp(sigma)), every step fp32.
float lambda_fp32(float sigma) {
  const float alpha = 1.0f - sigma;
  return log_fp32(std::max(alpha, kLambdaClampMin)) - log_fp32(std::max(sigma, kLambdaClampMin));
}

// The scalars UniP and UniC share for one interval sigma_s0 -> sigma_t (s1: the sigma before
// s0, used at order 2), as in multistep_uni_{p,c}_bh_update with predict_x0 and bh2.
struct Interval {
  float ratio;      // sigma_t / sigma_s0
  float alpha_phi;  // alpha_t * h_phi_1
  float alpha_bh;   // alpha_t * B_h
  float hh;         // -h
  float h_phi_1;    // expm1(hh) (= B_h for bh2)
  float rk;         // (lambda_s1 - lambda_s0) / h, order 2 only
};

Interval interval(float sigma_t, float sigma_s0, const float* sigma_s1) {
  Interval out;
  const float alpha_t = 1.0f - sigma_t;
  const float lambda_s0 = lambda_fp32(sigma_s0);
  const float h = lambda_fp32(sigma_t) - lambda_s0;
  out.rk = sigma_s1 != nullptr ? (lambda_fp32(*sigma_s1) - lambda_s0) / h : 0.0f;
  out.hh = -h;
  out.h_phi_1 = expm1_fp32(out.hh);
  out.ratio = sigma_t / sigma_s0;
  out.alpha_phi = alpha_t * out.h_phi_1;
  out.alpha_bh = alpha_t * out.h_phi_1;
  return out;
}

// Predictor order of step i of n: 1 at step 0 (warm-up), 1 at the last step
// (lower_order_final), else solver_order 2.
int predictor_order(int i, int n) { return std::min({2, n - i, i + 1}); }

}  // namespace

Result<FlowUniPCCoefficients> FlowUniPCScheduler::coefficients(int step_index) const {
  const int n = num_steps();
  if (n == 0) return failed_precondition("scheduler flow_unipc: no schedule; call set_timesteps");
  if (step_index < 0 || step_index >= n) {
    return invalid_argument("scheduler flow_unipc: step index " + std::to_string(step_index) +
                            " is outside [0, " + std::to_string(n) + ")");
  }
  const std::vector<float>& s = schedule_.sigmas;
  const int i = step_index;
  FlowUniPCCoefficients c;
  c.sigma = s[i];

  if (i > 0) {  // UniC on the interval the previous step predicted, at that step's order
    c.corrector_order = predictor_order(i - 1, n);
    const Interval iv = interval(s[i], s[i - 1], c.corrector_order == 2 ? &s[i - 2] : nullptr);
    c.c_ratio = iv.ratio;
    c.c_alpha_phi = iv.alpha_phi;
    c.c_alpha_bh = iv.alpha_bh;
    if (c.corrector_order == 1) {
      c.c_rho1 = 0.5f;
    } else {
      // b_k = h_phi_k * k! / B_h with h_phi_1 = expm1(hh) / hh - 1, h_phi_2 = h_phi_1 / hh - 1/2;
      // rhos_c solves [[1, 1], [rk, 1]] rho = b.
      const float b_h = iv.h_phi_1;
      float h_phi_k = iv.h_phi_1 / iv.hh - 1.0f;
      const float b0 = h_phi_k / b_h;
      h_phi_k = h_phi_k / iv.hh - 0.5f;
      const float b1 = (h_phi_k * 2.0f) / b_h;
      const double rk = iv.rk;
      c.c_rk = iv.rk;
      c.c_rho0 = static_cast<float>((static_cast<double>(b0) - b1) / (1.0 - rk));
      c.c_rho1 = static_cast<float>((static_cast<double>(b1) - rk * b0) / (1.0 - rk));
    }
  }

  c.predictor_order = predictor_order(i, n);
  const Interval iv = interval(s[i + 1], s[i], c.predictor_order == 2 ? &s[i - 1] : nullptr);
  c.p_ratio = iv.ratio;
  c.p_alpha_phi = iv.alpha_phi;
  c.p_alpha_bh = iv.alpha_bh;
  c.p_rk = iv.rk;
  c.p_rho = 0.5f;
  return c;
}

Status FlowUniPCScheduler::step(int step_index, const float* model_output, float* latents,
                                int64_t count) {
  WAN_RETURN_IF_ERROR(check_step(step_index, model_output, latents, count));
  if (step_index > 0 && count != count_) {
    return invalid_argument("scheduler flow_unipc: step " + std::to_string(step_index) + " has " +
                            std::to_string(count) + " elements but step 0 had " +
                            std::to_string(count_) + "; one generation keeps one latent size");
  }
  WAN_ASSIGN_OR_RETURN(const FlowUniPCCoefficients c, coefficients(step_index));
  if (step_index == 0) {
    count_ = count;
    last_sample_.resize(count);
    m_prev_.resize(count);
    m_prev2_.resize(count);
  }
  for (int64_t j = 0; j < count; ++j) {
    flow_unipc_update_element(c, model_output[j], &latents[j], &last_sample_[j], &m_prev_[j],
                              &m_prev2_[j]);
  }
  ++steps_taken_;
  return Status::ok_status();
}

void FlowUniPCScheduler::reset() {
  Scheduler::reset();
  count_ = 0;
}

}  // namespace wan
