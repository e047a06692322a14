#include "engine/core/device.h"

#include <sstream>

#include <cuda_runtime_api.h>

namespace wan {

DeviceInventory discover_devices() {
  DeviceInventory inv;
  cudaRuntimeGetVersion(&inv.runtime_version);
  const cudaError_t driver_err = cudaDriverGetVersion(&inv.driver_version);
  if (driver_err != cudaSuccess || inv.driver_version == 0) {
    inv.driver_version = 0;
    inv.no_gpu_reason = "no NVIDIA driver found (libcuda.so.1 is not loadable); running on the CPU";
    cudaGetLastError();
    return inv;
  }
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    inv.no_gpu_reason = std::string("the CUDA runtime found no usable GPU: ") +
                        cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    if (err == cudaErrorInsufficientDriver) {
      inv.no_gpu_reason += "; the driver is older than CUDA " +
                           std::to_string(inv.runtime_version / 1000) + "." +
                           std::to_string(inv.runtime_version % 1000 / 10) + ": update it";
    }
    cudaGetLastError();
    return inv;
  }
  if (count == 0) {
    inv.no_gpu_reason = "the driver reports 0 CUDA devices (check CUDA_VISIBLE_DEVICES)";
    return inv;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    GpuInfo g;
    g.index = i;
    g.name = prop.name;
    g.sm_count = prop.multiProcessorCount;
    g.cc_major = prop.major;
    g.cc_minor = prop.minor;
    g.total_memory = prop.totalGlobalMem;
    g.l2_bytes = static_cast<size_t>(prop.l2CacheSize);
    int clock = 0;
    if (cudaDeviceGetAttribute(&clock, cudaDevAttrClockRate, i) == cudaSuccess) g.clock_khz = clock;
    char bus[32] = {0};
    if (cudaDeviceGetPCIBusId(bus, sizeof(bus), i) == cudaSuccess) g.pci_bus_id = bus;
    cudaGetLastError();
    inv.gpus.push_back(g);
  }
  if (inv.gpus.empty()) inv.no_gpu_reason = "device properties could not be read";
  return inv;
}

std::string describe_devices(const DeviceInventory& inv) {
  std::ostringstream out;
  if (!inv.has_gpu()) {
    out << "no GPU: " << inv.no_gpu_reason;
    return out.str();
  }
  for (const GpuInfo& g : inv.gpus) {
    out << "cuda:" << g.index << " " << g.name << ", sm_" << g.cc_major << g.cc_minor << ", "
        << g.sm_count << " SMs, " << (g.total_memory >> 20) << " MiB, driver "
        << inv.driver_version / 1000 << "." << inv.driver_version % 1000 / 10 << ", runtime "
        << inv.runtime_version / 1000 << "." << inv.runtime_version % 1000 / 10 << "\n";
  }
  std::string s = out.str();
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace wan
