#include "harness/gpu_clock.h"

#include <dlfcn.h>

namespace wan {
namespace {

using nvmlDevice = void*;
struct Nvml {
  void* lib = nullptr;
  int (*init)() = nullptr;
  int (*handle)(unsigned, nvmlDevice*) = nullptr;
  int (*clock)(nvmlDevice, int, unsigned*) = nullptr;
  int (*max_clock)(nvmlDevice, int, unsigned*) = nullptr;
  int (*reasons)(nvmlDevice, unsigned long long*) = nullptr;
  int (*temperature)(nvmlDevice, int, unsigned*) = nullptr;
  bool ok = false;
};

const Nvml& nvml() {
  static Nvml n = [] {
    Nvml x;
    x.lib = dlopen("libnvidia-ml.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!x.lib) return x;
    x.init = reinterpret_cast<int (*)()>(dlsym(x.lib, "nvmlInit_v2"));
    x.handle = reinterpret_cast<int (*)(unsigned, nvmlDevice*)>(dlsym(x.lib, "nvmlDeviceGetHandleByIndex_v2"));
    x.clock = reinterpret_cast<int (*)(nvmlDevice, int, unsigned*)>(dlsym(x.lib, "nvmlDeviceGetClockInfo"));
    x.max_clock = reinterpret_cast<int (*)(nvmlDevice, int, unsigned*)>(dlsym(x.lib, "nvmlDeviceGetMaxClockInfo"));
    x.reasons = reinterpret_cast<int (*)(nvmlDevice, unsigned long long*)>(
        dlsym(x.lib, "nvmlDeviceGetCurrentClocksEventReasons"));
    if (!x.reasons)
      x.reasons = reinterpret_cast<int (*)(nvmlDevice, unsigned long long*)>(
          dlsym(x.lib, "nvmlDeviceGetCurrentClocksThrottleReasons"));
    x.temperature = reinterpret_cast<int (*)(nvmlDevice, int, unsigned*)>(dlsym(x.lib, "nvmlDeviceGetTemperature"));
    x.ok = x.init && x.handle && x.clock && x.max_clock && x.init() == 0;
    return x;
  }();
  return n;
}

constexpr int kNvmlClockSm = 1;
constexpr int kNvmlTemperatureGpu = 0;
// nvmlClocksEventReasons bits.
constexpr unsigned long long kIdle = 0x1, kAppSetting = 0x2, kSwPower = 0x4, kHwSlowdown = 0x8,
                             kSyncBoost = 0x10, kSwThermal = 0x20, kHwThermal = 0x40, kPowerBrake = 0x80;

}  // namespace

nlohmann::json GpuClockSample::to_json() const {
  if (!available) return {{"available", false}};
  return {{"available", true},      {"sm_mhz", sm_mhz},       {"sm_max_mhz", sm_max_mhz},
          {"temperature_c", temperature_c}, {"throttle_reasons", reasons}, {"throttled", throttled}};
}

GpuClockSample sample_gpu_clock(int device_index) {
  GpuClockSample s;
  const Nvml& n = nvml();
  if (!n.ok) return s;
  nvmlDevice dev = nullptr;
  if (n.handle(static_cast<unsigned>(device_index), &dev) != 0) return s;
  s.available = n.clock(dev, kNvmlClockSm, &s.sm_mhz) == 0 && n.max_clock(dev, kNvmlClockSm, &s.sm_max_mhz) == 0;
  if (n.temperature) n.temperature(dev, kNvmlTemperatureGpu, &s.temperature_c);
  if (n.reasons) n.reasons(dev, &s.throttle_reasons);
  const std::pair<unsigned long long, const char*> names[] = {
      {kSwPower, "sw_power_cap"}, {kHwSlowdown, "hw_slowdown"}, {kSyncBoost, "sync_boost"},
      {kSwThermal, "sw_thermal"}, {kHwThermal, "hw_thermal"},   {kPowerBrake, "power_brake"}};
  for (const auto& [bit, name] : names)
    if (s.throttle_reasons & bit) s.reasons += (s.reasons.empty() ? "" : ", ") + std::string(name);
  const bool clock_low = s.sm_max_mhz > 0 && s.sm_mhz < s.sm_max_mhz * 3 / 4;
  s.throttled = (s.throttle_reasons & ~(kIdle | kAppSetting)) != 0 || clock_low;
  if (clock_low) s.reasons += (s.reasons.empty() ? "" : ", ") + std::string("sm_clock_below_75pct");
  return s;
}

}  // namespace wan
