// Decoded video as 8-bit RGB frames, made from the decoder's [-1, 1] output exactly as
// FastVideo does (DecodingStage: x / 2 + 0.5, clamp to [0, 1]; then (x * 255) cast to uint8,
// which truncates), and the canonical byte form their hash is taken over.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"

namespace wan {

struct VideoFrames {
  int64_t frames = 0, height = 0, width = 0;
  static constexpr int64_t kChannels = 3;
  std::vector<uint8_t> rgb;  // [frames, height, width, 3], row-major
  int64_t frame_bytes() const { return height * width * kChannels; }
  const uint8_t* frame(int64_t t) const { return rgb.data() + t * frame_bytes(); }
};

// video: host f32 [3, T, H, W] (the decoder's output). Values are mapped per element in f32:
// v = min(max(x / 2 + 0.5, 0), 1); byte = (uint8) (v * 255) (truncation; NaN -> 0).
Result<VideoFrames> video_to_frames(const Tensor& video);

// "wan-frames/1 frames=81 height=480 width=832 channels=3 layout=THWC dtype=u8\n": the
// header the frames hash starts with, followed by the rgb bytes.
std::string canonical_frames_header(const VideoFrames& frames);

}  // namespace wan
