#!/usr/bin/env python3
"""Reference numbers for engine/sampler/scheduler_test.cc (FlowUniPC and FlowEuler).

Two implementations of the same cases, printed as C++ constants for the test:
  --impl fastvideo  FastVideo's own FlowUniPCMultistepScheduler, run with torch (float32,
                    CPU) from a FastVideo checkout (--fastvideo-root); diffusers is stubbed
                    out when it is not installed. This is the ground truth the test pastes.
  --impl numpy      a float32 transcription of the same arithmetic (numpy only), for
                    machines without torch; --compare runs both and prints the largest gap.
Run: python3 tools/scheduler_reference.py --impl fastvideo --fastvideo-root ~/FastVideo
"""

import argparse
import importlib.util
import inspect
import math
import sys
import types

import numpy as np

NUM_TRAIN_TIMESTEPS = 1000
COUNT = 16  # elements in every synthetic trajectory


# ---- Synthetic inputs: multiples of 1/1024 below 4 in magnitude, so float32 holds them
# exactly and C++ (double, then cast) builds the same bits without any libm call.
def initial_latents():
    return np.array([((j * 53 + 7) % 97 - 48) / 32.0 for j in range(COUNT)], dtype=np.float32)


def model_output(step):
    clean = [((j * 29 + 3) % 89 - 44) / 64.0 for j in range(COUNT)]
    noise = [((j * 53 + 7) % 97 - 48) / 32.0 for j in range(COUNT)]
    return np.array([noise[j] - clean[j] + ((j * 37 + step * 11) % 101 - 50) / 1024.0
                     for j in range(COUNT)], dtype=np.float32)


# ---- numpy transcription (float32 wherever FastVideo's torch tensors are float32).
f32 = np.float32


def shift_f32(x, shift):
    """torch: shift * sigmas / (1 + (shift - 1) * sigmas) on a float32 tensor."""
    return f32(f32(f32(shift) * x) / f32(f32(1) + f32(f32(shift - 1.0) * x)))


def schedule_numpy(num_steps, shift):
    sigma_max = float(shift_f32(f32(1.0 - 1.0 / NUM_TRAIN_TIMESTEPS), shift))
    sigmas = np.linspace(sigma_max, 0.0, num_steps + 1).copy()[:-1]
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    timesteps = (sigmas * NUM_TRAIN_TIMESTEPS).astype(np.int64)
    return timesteps, np.concatenate([sigmas, [0.0]]).astype(np.float32)


def flow_match_grid_numpy(shift):
    """FlowMatchEulerDiscreteScheduler(shift).{sigmas, timesteps}: the DMD lookup table."""
    t = np.linspace(1, NUM_TRAIN_TIMESTEPS, NUM_TRAIN_TIMESTEPS, dtype=np.float32)[::-1].copy()
    sig = np.array([shift_f32(f32(x / f32(NUM_TRAIN_TIMESTEPS)), shift) for x in t], dtype=np.float32)
    return sig, (sig * f32(NUM_TRAIN_TIMESTEPS)).astype(np.float32)


def explicit_schedule_numpy(timesteps, shift):
    grid_sigmas, grid_timesteps = flow_match_grid_numpy(shift)
    sig = [grid_sigmas[int(np.argmin(np.abs(grid_timesteps.astype(np.float64) - float(t))))]
           for t in timesteps]
    return np.array(timesteps, dtype=np.int64), np.array(sig + [0.0], dtype=np.float32)


def log_f32(x):
    return f32(math.log(float(max(x, f32(1e-12)))))


def lam_f32(sigma):
    return f32(log_f32(f32(f32(1) - sigma)) - log_f32(sigma))


def expm1_f32(x):
    return f32(math.expm1(float(x)))


class UniPCNumpy:
    """FlowUniPCMultistepScheduler.step: solver_order 2, bh2, predict_x0, lower_order_final."""

    def __init__(self, sigmas):
        self.s = sigmas
        self.n = len(sigmas) - 1
        self.models = [None, None]
        self.last_sample = None
        self.this_order = None
        self.i = 0

    def _common(self, t_idx, s0_idx, s1_idx):
        sigma_t, sigma_s0 = self.s[t_idx], self.s[s0_idx]
        alpha_t = f32(f32(1) - sigma_t)
        h = f32(lam_f32(sigma_t) - lam_f32(sigma_s0))
        rk = None
        if s1_idx is not None:
            rk = f32(f32(lam_f32(self.s[s1_idx]) - lam_f32(sigma_s0)) / h)
        hh = f32(-h)
        h_phi_1 = expm1_f32(hh)
        return sigma_t, sigma_s0, alpha_t, hh, h_phi_1, h_phi_1, rk

    def step(self, v, x):
        i = self.i
        m = (x - self.s[i] * v).astype(np.float32)  # x0 prediction
        if i > 0 and self.last_sample is not None:
            q = self.this_order
            sigma_t, sigma_s0, alpha_t, hh, h_phi_1, b_h, rk = self._common(
                i, i - 1, i - 2 if q == 2 else None)
            m0, lx = self.models[-1], self.last_sample
            if q == 1:
                rho0, rho1 = None, f32(0.5)
            else:
                h_phi_k = f32(f32(h_phi_1 / hh) - f32(1))
                b0 = f32(h_phi_k / b_h)
                h_phi_k = f32(f32(h_phi_k / hh) - f32(0.5))
                b1 = f32(f32(h_phi_k * f32(2)) / b_h)
                r = np.array([[1.0, 1.0], [float(rk), 1.0]], dtype=np.float32)
                rho = np.linalg.solve(r, np.array([b0, b1], dtype=np.float32)).astype(np.float32)
                rho0, rho1 = rho[0], rho[1]
            x_t_ = (f32(sigma_t / sigma_s0) * lx) - (f32(alpha_t * h_phi_1) * m0)
            corr_res = rho0 * ((self.models[-2] - m0) / rk) if q == 2 else 0
            x = (x_t_ - f32(alpha_t * b_h) * (corr_res + rho1 * (m - m0))).astype(np.float32)
        self.models = [self.models[-1], m]
        order = min(2, self.n - i)
        self.this_order = min(order, min(i, 2) + 1)
        self.last_sample = x
        p = self.this_order
        sigma_t, sigma_s0, alpha_t, hh, h_phi_1, b_h, rk = self._common(
            i + 1, i, i - 1 if p == 2 else None)
        x_t = (f32(sigma_t / sigma_s0) * x) - (f32(alpha_t * h_phi_1) * m)
        if p == 2:
            x_t = x_t - f32(alpha_t * b_h) * (f32(0.5) * ((self.models[0] - m) / rk))
        self.i += 1
        return x_t.astype(np.float32)


# ---- FastVideo, with torch.
def load_fastvideo(root):
    try:
        import diffusers  # noqa: F401
    except ImportError:
        install_diffusers_stub()
    for name in ("fastvideo", "fastvideo.models", "fastvideo.models.schedulers"):
        sys.modules.setdefault(name, types.ModuleType(name))
    base = f"{root}/fastvideo/models/schedulers"
    load_module("fastvideo.models.schedulers.base", f"{base}/base.py")
    mod = load_module("fastvideo_flow_unipc", f"{base}/scheduling_flow_unipc_multistep.py")
    return mod.FlowUniPCMultistepScheduler


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def install_diffusers_stub():
    """The few diffusers names FastVideo's scheduler file imports, with the same behaviour."""

    class ConfigMixin:
        def register_to_config(self, **kwargs):
            for k, v in kwargs.items():
                setattr(self.config, k, v)

    def register_to_config(init):
        def wrapped(self, *args, **kwargs):
            bound = inspect.signature(init).bind(self, *args, **kwargs)
            bound.apply_defaults()
            params = {k: v for k, v in bound.arguments.items() if k not in ("self", "kwargs")}
            self.config = types.SimpleNamespace(**params)
            init(self, *args, **kwargs)
        return wrapped

    class SchedulerOutput:
        def __init__(self, prev_sample):
            self.prev_sample = prev_sample

    mods = {name: types.ModuleType(name) for name in (
        "diffusers", "diffusers.configuration_utils", "diffusers.schedulers",
        "diffusers.schedulers.scheduling_utils", "diffusers.utils")}
    mods["diffusers.configuration_utils"].ConfigMixin = ConfigMixin
    mods["diffusers.configuration_utils"].register_to_config = register_to_config
    mods["diffusers.schedulers.scheduling_utils"].KarrasDiffusionSchedulers = []
    mods["diffusers.schedulers.scheduling_utils"].SchedulerMixin = type("SchedulerMixin", (), {})
    mods["diffusers.schedulers.scheduling_utils"].SchedulerOutput = SchedulerOutput
    mods["diffusers.utils"].deprecate = lambda *args, **kwargs: None
    sys.modules.update(mods)


class FastVideoImpl:
    def __init__(self, root):
        import torch
        self.torch = torch
        self.cls = load_fastvideo(root)

    def schedule(self, num_steps, shift):
        sched = self.cls(num_train_timesteps=NUM_TRAIN_TIMESTEPS, solver_order=2,
                         prediction_type="flow_prediction", shift=shift, use_dynamic_shifting=False)
        sched.set_timesteps(num_steps, shift=shift)
        return sched, sched.timesteps.numpy(), sched.sigmas.numpy()

    def unipc(self, num_steps, shift):
        sched, timesteps, _ = self.schedule(num_steps, shift)
        # [batch 1, channels COUNT]: the einsum in FastVideo's step needs batch and channel dims.
        x = self.torch.from_numpy(initial_latents()).reshape(1, COUNT)
        out = []
        for i, t in enumerate(timesteps):
            v = self.torch.from_numpy(model_output(i)).reshape(1, COUNT)
            x = sched.step(v, self.torch.tensor(t), x, return_dict=False)[0]
            out.append(x.numpy().reshape(COUNT).copy())
        return out

    def explicit_schedule(self, timesteps, shift):
        # FlowMatchEulerDiscreteScheduler.__init__ (fastvideo/models/schedulers/
        # scheduling_flow_match_euler_discrete.py) and pred_noise_to_pred_video's argmin lookup
        # (fastvideo/models/utils.py), line for line.
        torch = self.torch
        t = np.linspace(1, NUM_TRAIN_TIMESTEPS, NUM_TRAIN_TIMESTEPS, dtype=np.float32)[::-1].copy()
        t = torch.from_numpy(t).to(dtype=torch.float32)
        sigmas = t / NUM_TRAIN_TIMESTEPS
        sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
        grid_t = (sigmas * NUM_TRAIN_TIMESTEPS).double()
        query = torch.tensor(timesteps, dtype=torch.long)
        idx = torch.argmin((grid_t.unsqueeze(0) - query.unsqueeze(1)).abs(), dim=1)
        sig = torch.cat([sigmas[idx], torch.zeros(1)]).numpy()
        return np.array(timesteps, dtype=np.int64), sig

    def euler(self, sigmas):
        # FlowMatchEulerDiscreteScheduler.step: prev_sample = sample + dt * model_output.
        torch = self.torch
        s = torch.from_numpy(sigmas)
        x = torch.from_numpy(initial_latents())
        out = []
        for i in range(len(sigmas) - 1):
            dt = s[i + 1] - s[i]
            x = x + dt * torch.from_numpy(model_output(i))
            out.append(x.numpy().copy())
        return out


class NumpyImpl:
    def schedule(self, num_steps, shift):
        timesteps, sigmas = schedule_numpy(num_steps, shift)
        return None, timesteps, sigmas

    def unipc(self, num_steps, shift):
        _, sigmas = schedule_numpy(num_steps, shift)
        sched = UniPCNumpy(sigmas)
        x = initial_latents()
        out = []
        for i in range(num_steps):
            x = sched.step(model_output(i), x)
            out.append(x.copy())
        return out

    def explicit_schedule(self, timesteps, shift):
        return explicit_schedule_numpy(timesteps, shift)

    def euler(self, sigmas):
        x = initial_latents()
        out = []
        for i in range(len(sigmas) - 1):
            dt = f32(sigmas[i + 1] - sigmas[i])
            x = (x + (dt * model_output(i)).astype(np.float32)).astype(np.float32)
            out.append(x.copy())
        return out


def cases(impl):
    """Every constant the test pastes, by name."""
    c = {}
    _, t50, s50 = impl.schedule(50, 3.0)
    c["kUniPC50Shift3Timesteps"] = ("int64_t", list(t50))
    c["kUniPC50Shift3Sigmas"] = ("float", list(s50))
    c["kUniPC10Shift3Trajectory"] = ("float", np.concatenate(impl.unipc(10, 3.0)).tolist())
    c["kUniPC3Shift5Trajectory"] = ("float", np.concatenate(impl.unipc(3, 5.0)).tolist())
    c["kUniPC2Shift3Trajectory"] = ("float", np.concatenate(impl.unipc(2, 3.0)).tolist())
    c["kUniPC1Shift3Final"] = ("float", impl.unipc(1, 3.0)[-1].tolist())
    c["kUniPC50Shift3Final"] = ("float", impl.unipc(50, 3.0)[-1].tolist())
    _, _, s4 = impl.schedule(4, 3.0)
    c["kEuler4Shift3Trajectory"] = ("float", np.concatenate(impl.euler(s4)).tolist())
    _, sdmd = impl.explicit_schedule([1000, 757, 522], 8.0)
    c["kDmdShift8Sigmas"] = ("float", list(sdmd))
    c["kEulerDmdShift8Trajectory"] = ("float", np.concatenate(impl.euler(sdmd)).tolist())
    return c


def float_literal(v):
    """Shortest-enough C++ float literal that round-trips fp32: 9 significant digits."""
    text = "%.9g" % float(v)
    return text + ("f" if any(c in text for c in ".e") else ".0f")


def print_cpp(consts):
    for name, (ctype, values) in consts.items():
        fmt = (lambda v: str(int(v))) if ctype == "int64_t" else float_literal
        items = [fmt(v) for v in values]
        lines, line = [], "   "
        for item in items:
            if len(line) + len(item) + 2 > 96:
                lines.append(line)
                line = "   "
            line += " " + item + ","
        lines.append(line)
        print(f"constexpr {ctype} {name}[] = {{\n" + "\n".join(lines) + "\n};")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("fastvideo", "numpy"), default="numpy")
    parser.add_argument("--fastvideo-root", help="a FastVideo checkout (for --impl fastvideo)")
    parser.add_argument("--compare", action="store_true",
                        help="run both implementations and print the largest relative gap")
    args = parser.parse_args()
    if args.compare:
        a = cases(FastVideoImpl(args.fastvideo_root))
        b = cases(NumpyImpl())
        for name in a:
            x = np.array(a[name][1], dtype=np.float64)
            y = np.array(b[name][1], dtype=np.float64)
            gap = np.max(np.abs(x - y) / np.maximum(np.abs(x), 1.0))
            print(f"{name}: max |fastvideo - numpy| / max(|fastvideo|, 1) = {gap:.3g}, "
                  f"bit-identical {np.array_equal(x, y)}")
        return
    impl = FastVideoImpl(args.fastvideo_root) if args.impl == "fastvideo" else NumpyImpl()
    print_cpp(cases(impl))


if __name__ == "__main__":
    main()
