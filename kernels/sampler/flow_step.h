// Per-element flow-matching scheduler updates (UniPC bh2 and Euler) shared by the host
// schedulers (engine/sampler) and the GPU step kernel: fp32 with every operation rounded on
// its own (no FMA), so host and device produce identical bits from identical inputs.
// The per-step scalars are computed on the host (engine/sampler/flow_unipc.cc).
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"
#include "kernels/common/portable_math.h"

namespace wan {

// fp32 arithmetic that is never contracted into FMA (kernels/common/portable_math.h): the
// per-element updates are written with these so host and device round every operation alike.
namespace fp32 {
using portable::add;
using portable::div;
using portable::mul;
using portable::sub;
}  // namespace fp32

// The scalars of one step, fp32 exactly as flow_unipc_update_element consumes them.
// Computed on the host by FlowUniPCScheduler::coefficients() following FastVideo's fp32 scalar
// arithmetic op for op (see flow_unipc.cc), so the same values drive CPU and GPU.
struct FlowUniPCCoefficients {
  float sigma = 0;  // sigma_i: x0 prediction m = x - sigma * v

  // UniC corrector (sigma_{i-1} -> sigma_i) of the previous step's sample; order 0 = none.
  int corrector_order = 0;
  float c_ratio = 0;      // sigma_i / sigma_{i-1}
  float c_alpha_phi = 0;  // alpha_i * expm1(-h),     alpha = 1 - sigma, h = lambda_i - lambda_{i-1}
  float c_alpha_bh = 0;   // alpha_i * B(h) = alpha_i * expm1(-h) (bh2)
  float c_rk = 0;         // (lambda_{i-2} - lambda_{i-1}) / h            (order 2 only)
  float c_rho0 = 0;       // rhos_c[0] from the 2x2 UniC system            (order 2 only)
  float c_rho1 = 0;       // rhos_c[-1]; 0.5 at order 1

  // UniP predictor (sigma_i -> sigma_{i+1}); order 1 or 2.
  int predictor_order = 1;
  float p_ratio = 0;      // sigma_{i+1} / sigma_i
  float p_alpha_phi = 0;  // alpha_{i+1} * expm1(-h), h = lambda_{i+1} - lambda_i
  float p_alpha_bh = 0;   // alpha_{i+1} * expm1(-h)
  float p_rk = 0;         // (lambda_{i-1} - lambda_i) / h                 (order 2 only)
  float p_rho = 0.5f;     // rhos_p[0] (FastVideo fixes 0.5 for order 2)
};

// One element of step i, in fp32 with every operation rounded (no FMA), in this order:
//   m   = x - sigma*v                                       x0 prediction
//   corrector (order >= 1), from last = the previous step's corrected sample,
//   m1 = m_{i-1}, m2 = m_{i-2}:
//     xc = (c_ratio*last - c_alpha_phi*m1)
//          - c_alpha_bh * ([c_rho0 * ((m2 - m1) / c_rk)] + c_rho1*(m - m1))
//     ([...] only at order 2; at order 0, xc = x)
//   predictor: x' = (p_ratio*xc - p_alpha_phi*m) - [p_alpha_bh * (p_rho * ((m1 - m) / p_rk))]
//     ([...] only at order 2)
//   state: last = xc, m2 = m1, m1 = m; x = x'.
// Each product and difference is its own rounding, grouped as FastVideo's torch expressions
// evaluate them, so with equal coefficients the result equals FastVideo's fp32 torch step.
WAN_HD void flow_unipc_update_element(const FlowUniPCCoefficients& c, float v, float* x,
                                      float* last, float* m1, float* m2) {
  const float m = fp32::sub(*x, fp32::mul(c.sigma, v));
  float xc = *x;
  if (c.corrector_order > 0) {
    const float base = fp32::sub(fp32::mul(c.c_ratio, *last), fp32::mul(c.c_alpha_phi, *m1));
    float res = fp32::mul(c.c_rho1, fp32::sub(m, *m1));
    if (c.corrector_order == 2) {
      const float corr = fp32::mul(c.c_rho0, fp32::div(fp32::sub(*m2, *m1), c.c_rk));
      res = fp32::add(corr, res);
    }
    xc = fp32::sub(base, fp32::mul(c.c_alpha_bh, res));
  }
  float next = fp32::sub(fp32::mul(c.p_ratio, xc), fp32::mul(c.p_alpha_phi, m));
  if (c.predictor_order == 2) {
    const float pred = fp32::mul(c.p_rho, fp32::div(fp32::sub(*m1, m), c.p_rk));
    next = fp32::sub(next, fp32::mul(c.p_alpha_bh, pred));
  }
  *last = xc;
  *m2 = *m1;
  *m1 = m;
  *x = next;
}

// One element: x' = x + dt * v, two fp32 roundings (no FMA), as FastVideo's
// FlowMatchEulerDiscreteScheduler.step computes `sample + dt * model_output`.
WAN_HD void flow_euler_update_element(float dt, float v, float* x) {
  *x = fp32::add(*x, fp32::mul(dt, v));
}

}  // namespace wan
