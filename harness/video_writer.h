// Writes decoded video frames where a person can watch them, chosen by the path:
//   *.y4m   YUV4MPEG2, 4:4:4 8-bit (no chroma subsampling, no compression), full-range
//           BT.601 YCbCr; plays in ffmpeg, mpv and VLC. The RGB -> YCbCr rounding is the only
//           loss (a round trip back to RGB is within 2 levels per channel; the hash is taken
//           over the RGB frames, never over this file).
//   *.mp4   H.264 through the system ffmpeg when one is on PATH (UNAVAILABLE, saying how to get
//           one or which format to use instead, when not).
//   other   a folder of PNG frames frame_00000.png ... (8-bit RGB, bit-exact; stored deflate
//           blocks, no compression library needed).
// Atomic like every output: written beside the target under a temporary name and renamed
// into place; an existing target is refused unless overwrite is allowed (FAILED_PRECONDITION
// naming --force); a failure halfway leaves nothing under the final name.
#pragma once

#include <string>

#include "engine/core/status.h"
#include "engine/vae/video_frames.h"
#include "harness/atomic_file.h"

namespace wan {

struct VideoWriteResult {
  std::string path, format;  // format: "y4m", "mp4 (ffmpeg)", "png folder"
  size_t bytes = 0;
};

Result<VideoWriteResult> write_video(const std::string& path, const VideoFrames& frames, int fps,
                                     Overwrite overwrite);

// Whether write_video can write this path's format on this machine (an .mp4 needs ffmpeg on
// PATH): checked before a generation runs, so a missing encoder does not cost the generation.
Status check_video_format_available(const std::string& path);

// The bytes of one frame as a PNG file, and of the whole video as Y4M (for tests and writers).
std::string encode_png(const uint8_t* rgb, int64_t height, int64_t width);
std::string encode_y4m(const VideoFrames& frames, int fps);

}  // namespace wan
