// loop_gpu_timeline: the loop kernels' summed time, busy time (union of intervals) and span, on
// hand-made records with a gap, an overlap and kernels outside the loop; every kernel when no
// range is the loop's (repro exec).
#include "harness/kernel_summary.h"

#include <gtest/gtest.h>

namespace wan {
namespace {

KernelRecord record(const std::string& range, uint64_t start_us, uint64_t end_us) {
  KernelRecord r;
  r.name = "k";
  r.range = range;
  r.start_ns = start_us * 1000;
  r.end_ns = end_us * 1000;
  return r;
}

TEST(KernelSummary, LoopTimelineSeparatesBusyIdleAndOverlap) {
  const std::vector<KernelRecord> records = {
      record("text_encoder/x", 0, 50),                         // before the loop: not counted
      record("denoising/step/0/dit_forward/block/0", 100, 200),
      record("denoising/step/0/dit_forward/block/0", 150, 250),  // overlaps the previous by 50
      record("denoising/step/1/dit_forward/block/0", 400, 500),  // after a 150 us gap
      record("denoising/step/1", 500, 510),                      // the scheduler step: a loop kernel
      record("vae_decode/frame/0/conv", 600, 900)};             // after the loop: not counted
  const GpuTimeline t = loop_gpu_timeline(records);
  EXPECT_NEAR(t.kernel_ms, 0.31, 1e-12);  // 100 + 100 + 100 + 10 us
  EXPECT_NEAR(t.busy_ms, 0.26, 1e-12);    // [100, 250] + [400, 510]
  EXPECT_NEAR(t.span_ms, 0.41, 1e-12);    // 100 .. 510
  const nlohmann::json j = timeline_json(t);
  EXPECT_NEAR(j["span_ms"].get<double>() - j["busy_ms"].get<double>(), 0.15, 1e-12);  // the GPU's idle time
}

TEST(KernelSummary, LoopRangesAreTheDenoisingGroupAndBelow) {
  EXPECT_TRUE(is_loop_range(range_group("denoising/step/4")));
  EXPECT_TRUE(is_loop_range(range_group("denoising/step/4/dit_forward/block/2/self_attn")));
  EXPECT_FALSE(is_loop_range(range_group("denoising_setup")));
  EXPECT_FALSE(is_loop_range(range_group("vae_decode/frame/0")));
  EXPECT_FALSE(is_loop_range(""));
}

TEST(KernelSummary, LoopTimelineTakesEveryKernelWithoutLoopRanges) {
  const GpuTimeline t = loop_gpu_timeline({record("step/3/layer", 10, 20), record("", 30, 60)});
  EXPECT_NEAR(t.kernel_ms, 0.04, 1e-12);
  EXPECT_NEAR(t.busy_ms, 0.04, 1e-12);
  EXPECT_NEAR(t.span_ms, 0.05, 1e-12);
  const GpuTimeline none = loop_gpu_timeline({});
  EXPECT_EQ(none.kernel_ms + none.busy_ms + none.span_ms, 0.0);
}

}  // namespace
}  // namespace wan
