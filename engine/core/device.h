// Discovery of CUDA devices that works, and says why, on machines without a GPU or driver.
// Never aborts: "no GPU" is an answer (with its reason), not an error.
#pragma once

#include <string>
#include <vector>

namespace wan {

struct GpuInfo {
  int index = 0;
  std::string name;            // "NVIDIA H100 80GB HBM3"
  int sm_count = 0;
  int cc_major = 0, cc_minor = 0;
  size_t total_memory = 0;     // bytes
  size_t l2_bytes = 0;
  int clock_khz = 0;           // peak SM clock the driver reports
  std::string pci_bus_id;
};

struct DeviceInventory {
  std::vector<GpuInfo> gpus;
  int driver_version = 0;   // 13000 = 13.0; 0 when no driver
  int runtime_version = 0;  // the cudart this binary linked
  std::string no_gpu_reason;  // set when gpus is empty: "no CUDA driver (libcuda.so.1 ...)"
  bool has_gpu() const { return !gpus.empty(); }
};

// Queries the CUDA runtime once per call. Cheap enough to call at program start.
DeviceInventory discover_devices();

// One line per GPU, or the reason there is none.
std::string describe_devices(const DeviceInventory& inventory);

}  // namespace wan
