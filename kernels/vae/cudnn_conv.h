// Convolutions through cuDNN found at run time: the CUDA toolkit of a build machine has cuDNN,
// a GPU machine may have it only inside a Python package (torch's nvidia/cudnn/lib), so the
// library is dlopen()ed from a list of places (CudnnLibrary::load) and its absence is an
// error that says where it was looked for, never a crash at start-up.
//
// CudnnConv: one convolution shape, planned once (legacy cuDNN API, bf16 in and out, fp32
// compute, tensor-op math; the algorithm is cuDNN's first heuristic choice that reports
// itself deterministic and fits the workspace, recorded by name), then run any number of
// times: y[N, D, H, W, Cout] = conv(x[N, D + kt - 1, H, W, Cin], w[Cout, kt, kh, kw, Cin]),
// channels-last, with zero spatial padding kh/2, kw/2 and no time padding (the caller lays
// the causal history in front of x). Channels-last because cuDNN's tensor-core kernels are:
// on NCDHW bf16 cuDNN 9.14 falls back to a generic kernel (implicit_convolveNd_sgemm) several
// times slower.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

#include "engine/core/status.h"

namespace wan {

struct CudnnApi;  // the function table, defined in cudnn_conv.cc

class CudnnLibrary {
 public:
  // Loads libcudnn.so.9 once per process: from `explicit_path` when given (a file or a folder
  // holding it), else the dynamic loader's search path, /usr/local/cuda/lib64, and
  // nvidia/cudnn/lib inside Python site-packages under /opt, /usr/local/lib, /usr/lib/python3 and
  // /root/.local/lib (torch's pip wheels).
  // UNAVAILABLE naming every place tried when none has it.
  static Result<const CudnnLibrary*> load(const std::string& explicit_path = "");

  const CudnnApi& api() const { return *api_; }
  const std::string& path() const { return path_; }   // the file loaded
  size_t version() const { return version_; }          // cudnnGetVersion(): 91000 = 9.10.0
  std::string version_string() const;                  // "9.10.0"

 private:
  CudnnLibrary() = default;
  const CudnnApi* api_ = nullptr;
  std::string path_;
  size_t version_ = 0;
};

// A cuDNN handle bound to one stream (cudnnCreate + cudnnSetStream), destroyed with it.
class CudnnHandle {
 public:
  static Result<CudnnHandle> create(const CudnnLibrary& library, cudaStream_t stream);
  CudnnHandle(CudnnHandle&& other) noexcept : library_(other.library_), handle_(other.handle_) { other.handle_ = nullptr; }
  CudnnHandle& operator=(CudnnHandle&&) = delete;
  CudnnHandle(const CudnnHandle&) = delete;  // would destroy the handle twice
  CudnnHandle& operator=(const CudnnHandle&) = delete;
  ~CudnnHandle();
  void* get() const { return handle_; }
  const CudnnLibrary& library() const { return *library_; }

 private:
  CudnnHandle(const CudnnLibrary* library, void* handle) : library_(library), handle_(handle) {}
  const CudnnLibrary* library_;
  void* handle_;
};

struct CudnnConvShape {
  int64_t batch = 1, in_channels = 0, out_channels = 0;
  int64_t depth = 1, height = 0, width = 0;  // OUTPUT depth (time), height, width
  int64_t kt = 1, kh = 1, kw = 1;            // x has depth + kt - 1 frames
};

class CudnnConv {
 public:
  CudnnConv() = default;
  ~CudnnConv();
  // Owns cuDNN descriptors and a handle; copying would destroy them twice.
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  // Plans `shape` with at most `max_workspace` bytes of workspace; runs go to the handle's
  // stream. The handle must outlive this object.
  Status plan(const CudnnHandle& handle, const CudnnConvShape& shape, size_t max_workspace);
  // NCDHW plans: x, y bf16 device pointers, contiguous NCDHW; w [Cout, Cin, kt, kh, kw];
  // workspace of workspace_bytes(). Asynchronous on the planned stream.
  Status run(const void* x, const void* w, void* y, void* workspace) const;

  // channels_last plans: the convolution alone on operands the caller already laid out
  // channels-last (x [N, D + kt - 1, H, W, Cin], y [N, D, H, W, Cout]).
  Status run_channels_last(const void* x, const void* w, void* y, void* workspace) const;

  size_t workspace_bytes() const { return workspace_bytes_; }
  size_t x_bytes() const { return x_bytes_; }  // bytes of x and y
  size_t y_bytes() const { return y_bytes_; }
  const CudnnConvShape& shape() const { return shape_; }
  std::string algorithm() const { return algorithm_; }  // "IMPLICIT_PRECOMP_GEMM (tensor ops)"

 private:
  void destroy();
  const CudnnHandle* handle_ = nullptr;
  CudnnConvShape shape_;
  void* x_desc_ = nullptr;  // cudnnTensorDescriptor_t
  void* y_desc_ = nullptr;
  void* w_desc_ = nullptr;  // cudnnFilterDescriptor_t
  void* conv_desc_ = nullptr;
  size_t x_bytes_ = 0, y_bytes_ = 0;
  int algo_ = 0;            // cudnnConvolutionFwdAlgo_t
  size_t workspace_bytes_ = 0;
  std::string algorithm_;
};

}  // namespace wan
