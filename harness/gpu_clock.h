// SM clock and throttle reasons of a GPU through NVML, loaded with dlopen (no link dependency;
// absent NVML reads as "unknown"). A sample is "throttled" when a reason other than idle or
// application-clock settings is active, or the SM clock is below 75% of its maximum (nvbench's
// rule for discarding samples).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace wan {

struct GpuClockSample {
  bool available = false;
  unsigned sm_mhz = 0, sm_max_mhz = 0, temperature_c = 0;
  unsigned long long throttle_reasons = 0;
  bool throttled = false;
  std::string reasons;  // "sw_power_cap, hw_slowdown"
  nlohmann::json to_json() const;
};

GpuClockSample sample_gpu_clock(int device_index);

}  // namespace wan
