// Device discovery answers on any machine: a list of GPUs, or no GPU with a reason.
#include "engine/core/device.h"

#include <gtest/gtest.h>

namespace wan {
namespace {

TEST(DeviceDiscovery, AnswersWithGpusOrAReason) {
  const DeviceInventory inv = discover_devices();
  EXPECT_GT(inv.runtime_version, 0);
  const std::string text = describe_devices(inv);
  if (inv.has_gpu()) {
    EXPECT_TRUE(inv.no_gpu_reason.empty());
    EXPECT_GT(inv.gpus[0].sm_count, 0);
    EXPECT_FALSE(inv.gpus[0].name.empty());
    EXPECT_NE(text.find("cuda:0"), std::string::npos);
  } else {
    EXPECT_FALSE(inv.no_gpu_reason.empty());
    EXPECT_EQ(text.rfind("no GPU: ", 0), 0u) << text;
  }
  std::printf("devices: %s\n", text.c_str());
}

TEST(DeviceDiscovery, RepeatableAndDoesNotPoisonTheRuntime) {
  const DeviceInventory a = discover_devices();
  const DeviceInventory b = discover_devices();
  EXPECT_EQ(a.gpus.size(), b.gpus.size());
  EXPECT_EQ(a.no_gpu_reason, b.no_gpu_reason);
}

}  // namespace
}  // namespace wan
