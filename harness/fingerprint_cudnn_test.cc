// case_fingerprint: cuDNN's version keys the class of CUDA cases that decode with cuDNN, and only
// those. Loads cuDNN (dlopen) where the machine has it, so it is left out of the ASan run (BUILD).
#include <gtest/gtest.h>

#include "harness/fingerprint.h"
#include "harness/run_case.h"
#include "kernels/vae/cudnn_conv.h"

namespace wan {
namespace {

RunCase decoding_case(const std::string& device, const std::string& conv) {
  RunCase c;
  c.device = device;
  c.vae = "synthetic:3";
  c.vae_config = "vae-tiny";
  c.vae_conv = conv;
  return c;
}

TEST(Fingerprint, CudnnVersionKeysOnlyCudaCasesDecodingWithCudnn) {
  const std::string cpu_class = make_fingerprint(Device::cpu()).class_id;
  EXPECT_EQ(case_fingerprint(decoding_case("cpu", "cudnn")).class_id, cpu_class);  // the CPU decoder uses no cuDNN
  RunCase latents_only = decoding_case("cuda", "cudnn");
  latents_only.vae.clear();
  EXPECT_FALSE(case_fingerprint(latents_only).class_fields.contains("cudnn_version"));
  EXPECT_FALSE(case_fingerprint(decoding_case("cuda", "im2col")).class_fields.contains("cudnn_version"));
  const Fingerprint cudnn = case_fingerprint(decoding_case("cuda", "cudnn"));
  const auto library = CudnnLibrary::load();
  if (library.ok()) {  // the build machine's toolkit has cuDNN; a GPU machine may have it in torch's wheel
    EXPECT_EQ(cudnn.class_fields.value("cudnn_version", int64_t{0}), static_cast<int64_t>(library.value()->version()));
    EXPECT_NE(cudnn.class_id, case_fingerprint(latents_only).class_id);
  } else {
    EXPECT_FALSE(cudnn.class_fields.contains("cudnn_version")) << "no cuDNN here: " << library.status().message();
  }
}

}  // namespace
}  // namespace wan
