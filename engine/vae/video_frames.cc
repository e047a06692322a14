#include "engine/vae/video_frames.h"

#include <cmath>

#include "kernels/cpu/parallel.h"

namespace wan {

Result<VideoFrames> video_to_frames(const Tensor& video) {
  if (video.dim() != 4 || video.size(0) != 3 || video.dtype() != DType::kF32 || !video.device().is_cpu() ||
      !video.is_contiguous())
    return invalid_argument("video frames: expected the decoder's host f32 [3, T, H, W] video, got " + video.describe());
  VideoFrames f;
  f.frames = video.size(1);
  f.height = video.size(2);
  f.width = video.size(3);
  const int64_t plane = f.height * f.width, n = f.frames * plane;
  f.rgb.resize(static_cast<size_t>(n * VideoFrames::kChannels));
  const float* x = video.data<float>();
  uint8_t* rgb = f.rgb.data();
  cpu::parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {  // each element is independent
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = begin; i < end; ++i) {
        float v = x[c * n + i] / 2.0f + 0.5f;
        v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;  // NaN -> 0
        rgb[i * 3 + c] = static_cast<uint8_t>(v * 255.0f);
      }
  });
  return f;
}

std::string canonical_frames_header(const VideoFrames& f) {
  return "wan-frames/1 frames=" + std::to_string(f.frames) + " height=" + std::to_string(f.height) +
         " width=" + std::to_string(f.width) + " channels=3 layout=THWC dtype=u8\n";
}

}  // namespace wan
