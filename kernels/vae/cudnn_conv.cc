#include "kernels/vae/cudnn_conv.h"

#include <dlfcn.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <cudnn.h>

#include "kernels/common/runtime_library.h"

namespace wan {

// The legacy-API functions used here, resolved with dlsym.
struct CudnnApi {
#define WAN_CUDNN_FN(name) decltype(&::name) name = nullptr;
#define WAN_CUDNN_FUNCTIONS(X)                                                                    \
  X(cudnnGetVersion) X(cudnnGetErrorString) X(cudnnCreate) X(cudnnDestroy) X(cudnnSetStream)      \
  X(cudnnCreateTensorDescriptor) X(cudnnDestroyTensorDescriptor) X(cudnnSetTensorNdDescriptor)    \
  X(cudnnCreateFilterDescriptor) X(cudnnDestroyFilterDescriptor) X(cudnnSetFilterNdDescriptor)    \
  X(cudnnCreateConvolutionDescriptor) X(cudnnDestroyConvolutionDescriptor)                        \
  X(cudnnSetConvolutionNdDescriptor) X(cudnnSetConvolutionMathType)                               \
  X(cudnnGetConvolutionForwardAlgorithm_v7) X(cudnnGetConvolutionForwardWorkspaceSize)            \
  X(cudnnConvolutionForward)
  WAN_CUDNN_FUNCTIONS(WAN_CUDNN_FN)
#undef WAN_CUDNN_FN
};

namespace {

std::string status_text(const CudnnApi& api, cudnnStatus_t s) {
  return api.cudnnGetErrorString ? api.cudnnGetErrorString(s) : std::to_string(static_cast<int>(s));
}

#define WAN_CUDNN_CHECK(api, call)                                                                  \
  do {                                                                                              \
    const cudnnStatus_t wan_cudnn_status = (call);                                                  \
    if (wan_cudnn_status != CUDNN_STATUS_SUCCESS)                                                   \
      return internal_error(std::string("cuDNN: ") + #call + " failed: " + status_text(api, wan_cudnn_status)); \
  } while (0)

const char* algo_name(cudnnConvolutionFwdAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return "WINOGRAD_NONFUSED";
    default: return "?";
  }
}

}  // namespace

Result<const CudnnLibrary*> CudnnLibrary::load(const std::string& explicit_path) {
  static std::mutex mutex;
  static std::map<std::string, const CudnnLibrary*>* loaded = new std::map<std::string, const CudnnLibrary*>();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = loaded->find(explicit_path); it != loaded->end()) return it->second;
  std::string tried;
  for (const std::string& path : runtime_library_candidates(explicit_path, "libcudnn.so.9", "cudnn")) {
    void* so = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!so) {
      tried += "\n  " + path + ": " + ::dlerror();
      continue;
    }
    auto* api = new CudnnApi();
    std::string missing;
#define WAN_CUDNN_RESOLVE(name)                                                     \
  api->name = reinterpret_cast<decltype(&::name)>(::dlsym(so, #name));             \
  if (!api->name) missing += std::string(missing.empty() ? "" : ", ") + #name;
    WAN_CUDNN_FUNCTIONS(WAN_CUDNN_RESOLVE)
#undef WAN_CUDNN_RESOLVE
    if (!missing.empty()) {
      tried += "\n  " + path + ": lacks " + missing;
      delete api;
      ::dlclose(so);
      continue;
    }
    auto* lib = new CudnnLibrary();  // kept for the process: handles may live until exit
    lib->api_ = api;
    lib->version_ = api->cudnnGetVersion();
    Dl_info info;
    lib->path_ = ::dladdr(reinterpret_cast<void*>(api->cudnnGetVersion), &info) && info.dli_fname ? info.dli_fname : path;
    if (lib->version_ < 90000) {
      tried += "\n  " + lib->path_ + ": cuDNN " + lib->version_string() + " is older than 9";
      delete lib;
      delete api;
      ::dlclose(so);
      continue;
    }
    loaded->emplace(explicit_path, lib);
    return lib;
  }
  return unavailable("cuDNN 9 (libcudnn.so.9) was not found; tried:" + tried +
                     "\n  install it, or point --cudnn at the folder holding it (e.g. a torch venv's "
                     "site-packages/nvidia/cudnn/lib)");
}

std::string CudnnLibrary::version_string() const {
  // cuDNN 9: version = major * 10000 + minor * 100 + patch.
  return std::to_string(version_ / 10000) + "." + std::to_string(version_ / 100 % 100) + "." +
         std::to_string(version_ % 100);
}

Result<CudnnHandle> CudnnHandle::create(const CudnnLibrary& library, cudaStream_t stream) {
  const CudnnApi& api = library.api();
  cudnnHandle_t h = nullptr;
  WAN_CUDNN_CHECK(api, api.cudnnCreate(&h));
  CudnnHandle handle(&library, h);
  WAN_CUDNN_CHECK(api, api.cudnnSetStream(h, stream));
  return handle;
}

CudnnHandle::~CudnnHandle() {
  if (handle_) library_->api().cudnnDestroy(static_cast<cudnnHandle_t>(handle_));
}

CudnnConv::~CudnnConv() { destroy(); }

void CudnnConv::destroy() {
  if (!handle_) return;
  const CudnnApi& api = handle_->library().api();
  if (x_desc_) api.cudnnDestroyTensorDescriptor(static_cast<cudnnTensorDescriptor_t>(x_desc_));
  if (y_desc_) api.cudnnDestroyTensorDescriptor(static_cast<cudnnTensorDescriptor_t>(y_desc_));
  if (w_desc_) api.cudnnDestroyFilterDescriptor(static_cast<cudnnFilterDescriptor_t>(w_desc_));
  if (conv_desc_) api.cudnnDestroyConvolutionDescriptor(static_cast<cudnnConvolutionDescriptor_t>(conv_desc_));
  x_desc_ = y_desc_ = w_desc_ = conv_desc_ = nullptr;
  handle_ = nullptr;
}

Status CudnnConv::plan(const CudnnHandle& handle, const CudnnConvShape& s, size_t max_workspace) {
  destroy();
  handle_ = &handle;
  shape_ = s;
  const CudnnApi& api = handle.library().api();
  for (int64_t v : {s.batch, s.in_channels, s.out_channels, s.depth, s.height, s.width})
    if (v < 1 || v > (1 << 30)) return invalid_argument("cuDNN conv: bad shape");
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t c;
  WAN_CUDNN_CHECK(api, api.cudnnCreateTensorDescriptor(&x));
  x_desc_ = x;
  WAN_CUDNN_CHECK(api, api.cudnnCreateTensorDescriptor(&y));
  y_desc_ = y;
  WAN_CUDNN_CHECK(api, api.cudnnCreateFilterDescriptor(&w));
  w_desc_ = w;
  WAN_CUDNN_CHECK(api, api.cudnnCreateConvolutionDescriptor(&c));
  conv_desc_ = c;
  const int in_depth = static_cast<int>(s.depth + s.kt - 1);
  const int xd[5] = {static_cast<int>(s.batch), static_cast<int>(s.in_channels), in_depth, static_cast<int>(s.height),
                     static_cast<int>(s.width)};
  const int yd[5] = {static_cast<int>(s.batch), static_cast<int>(s.out_channels), static_cast<int>(s.depth),
                     static_cast<int>(s.height), static_cast<int>(s.width)};
  const int wd[5] = {static_cast<int>(s.out_channels), static_cast<int>(s.in_channels), static_cast<int>(s.kt),
                     static_cast<int>(s.kh), static_cast<int>(s.kw)};
  // Channels-last strides of NCDHW-ordered dims: c fastest.
  auto strides_last = [](const int* d) {
    return std::vector<int>{d[1] * d[2] * d[3] * d[4], 1, d[3] * d[4] * d[1], d[4] * d[1], d[1]};
  };
  WAN_CUDNN_CHECK(api, api.cudnnSetTensorNdDescriptor(x, CUDNN_DATA_BFLOAT16, 5, xd, strides_last(xd).data()));
  WAN_CUDNN_CHECK(api, api.cudnnSetTensorNdDescriptor(y, CUDNN_DATA_BFLOAT16, 5, yd, strides_last(yd).data()));
  WAN_CUDNN_CHECK(api, api.cudnnSetFilterNdDescriptor(w, CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NHWC, 5, wd));
  x_bytes_ = static_cast<size_t>(xd[0]) * xd[1] * xd[2] * xd[3] * xd[4] * 2;
  y_bytes_ = static_cast<size_t>(yd[0]) * yd[1] * yd[2] * yd[3] * yd[4] * 2;
  const int pad[3] = {0, static_cast<int>(s.kh / 2), static_cast<int>(s.kw / 2)};
  const int one[3] = {1, 1, 1};
  WAN_CUDNN_CHECK(api, api.cudnnSetConvolutionNdDescriptor(c, 3, pad, one, one, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  WAN_CUDNN_CHECK(api, api.cudnnSetConvolutionMathType(c, CUDNN_TENSOR_OP_MATH));
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  WAN_CUDNN_CHECK(api, api.cudnnGetConvolutionForwardAlgorithm_v7(static_cast<cudnnHandle_t>(handle.get()), x, w, c, y,
                                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
  // Heuristic order (no timing: the same choice every run); deterministic ones only.
  for (int i = 0; i < returned; ++i) {
    const auto& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS || p.determinism != CUDNN_DETERMINISTIC || p.memory > max_workspace) continue;
    size_t bytes = 0;
    if (api.cudnnGetConvolutionForwardWorkspaceSize(static_cast<cudnnHandle_t>(handle.get()), x, w, c, y, p.algo, &bytes) !=
            CUDNN_STATUS_SUCCESS ||
        bytes > max_workspace)
      continue;
    algo_ = static_cast<int>(p.algo);
    workspace_bytes_ = bytes;
    algorithm_ = std::string(algo_name(p.algo)) + (p.mathType == CUDNN_TENSOR_OP_MATH ? " (tensor ops)" : "") +
                 ", channels-last";
    return Status();
  }
  return unimplemented("cuDNN " + handle.library().version_string() + " offers no deterministic algorithm within " +
                       std::to_string(max_workspace >> 20) + " MiB of workspace for this convolution");
}

Status CudnnConv::run(const void* x, const void* w, void* y, void* workspace) const {
  if (!handle_) return failed_precondition("cuDNN conv: run() before plan()");
  const CudnnApi& api = handle_->library().api();
  const float alpha = 1.0f, beta = 0.0f;
  WAN_CUDNN_CHECK(api, api.cudnnConvolutionForward(
                           static_cast<cudnnHandle_t>(handle_->get()), &alpha,
                           static_cast<cudnnTensorDescriptor_t>(x_desc_), x, static_cast<cudnnFilterDescriptor_t>(w_desc_),
                           w, static_cast<cudnnConvolutionDescriptor_t>(conv_desc_),
                           static_cast<cudnnConvolutionFwdAlgo_t>(algo_), workspace, workspace_bytes_, &beta,
                           static_cast<cudnnTensorDescriptor_t>(y_desc_), y));
  return Status();
}

}  // namespace wan
#pragma GCC diagnostic pop
