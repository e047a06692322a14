#include "engine/vae/vae_ops_cuda.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/common/cuda_check.h"
#include "kernels/common/float16.h"
#include "kernels/common/portable_math.h"

namespace wan {
namespace {

// Scratch slots (grow-only buffers).
enum ScratchSlot : int {
  kColumns,      // conv: bf16 [panel rows, k_padded]
  kPanelOut,     // conv: f32 [cout, panel rows padded]
  kFrameQkv,     // attention: bf16 [3C, tokens_padded]
  kScores,       // attention: f32 [tokens_padded, tokens_padded]
  kProbs,        // attention: bf16 [tokens_padded, tokens_padded]
  kRowSums,      // attention: f32 [tokens_padded]
  kAttnOut,      // attention: f32 [C, tokens_padded]
  kFinish,       // finish: f32 copy before the host transfer
  kCudnnWorkspace,
  kCudnnStageX,  // cuDNN: [history, x] channels-last, and its channels-last output
  kCudnnStageY,
  kScratchSlots,
};

// Rows of a GEMM operand padded to 16 bytes of bf16 (cuBLASLt's tensor-core alignment).
constexpr int64_t kRowAlign = 8;
// Panel rows are a multiple of this when the panel is not the whole convolution.
constexpr int64_t kPanelRowMultiple = 128;

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

const uint16_t* bits(const Tensor& t) { return static_cast<const uint16_t*>(t.raw_data()); }
uint16_t* mutable_bits(Tensor& t) { return static_cast<uint16_t*>(t.raw_data()); }

Result<Tensor> upload_f32(const std::vector<float>& v, Device device) {
  Tensor host = Tensor::wrap(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())}, DType::kF32,
                             Device::cpu());
  return host.to(device);
}

}  // namespace

// Freed activation blocks by size, on one device; cudaFree only when the last owner (the ops
// or a tensor still alive) goes away.
struct VaeOpsCuda::BlockPool {
  int device = 0;
  std::multimap<size_t, void*> free_blocks;
  size_t in_use = 0;  // bytes handed out to live tensors
  ~BlockPool() {
    cudaSetDevice(device);
    for (auto& [bytes, p] : free_blocks) cudaFree(p);
  }
  void release_all() {
    for (auto& [bytes, p] : free_blocks) cudaFree(p);
    free_blocks.clear();
  }
};

VaeOpsCuda::VaeOpsCuda(const VaeWeights& weights, Device device, const VaeOpsCudaOptions& options)
    : weights_(weights), device_(device), options_(options), scratch_(kScratchSlots),
      pool_(std::make_shared<BlockPool>()) {
  stream_ = options.stream;
  pool_->device = device.index;
}

Status VaeOpsCuda::synchronize() {
  WAN_CUDA_CHECK(cudaSetDevice(device_.index));
  WAN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return Status();
}

std::vector<std::pair<std::string, int64_t>> VaeOpsCuda::bit_libraries() const {
  if (cudnn_) return {{"cudnn_version", static_cast<int64_t>(cudnn_->version())}};
  return {};
}

std::string VaeOpsCuda::describe() const {
  if (options_.conv_engine == VaeConvEngine::kCudnn && cudnn_)
    return "cuda bf16 (cuDNN " + cudnn_->version_string() + " convolutions from " + cudnn_->path() +
           ", cuBLASLt attention)";
  return "cuda bf16 (im2col + cuBLASLt convolutions, cuBLASLt attention)";
}

Result<Tensor> VaeOpsCuda::activation(const Shape& shape) {
  WAN_ASSIGN_OR_RETURN(const size_t exact, checked_shape_bytes(shape, DType::kBF16));
  const size_t bytes = std::max<size_t>(512, (exact + 511) / 512 * 512);
  void* p = nullptr;
  const auto it = pool_->free_blocks.find(bytes);
  if (it != pool_->free_blocks.end()) {
    p = it->second;
    pool_->free_blocks.erase(it);
  } else if (cudaMalloc(&p, bytes) != cudaSuccess) {
    cudaGetLastError();
    pool_->release_all();  // cached blocks of other sizes, then one more try
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      cudaGetLastError();
      size_t free_bytes = 0, total = 0;
      cudaMemGetInfo(&free_bytes, &total);
      return resource_exhausted("VAE decoder: out of GPU memory allocating " + std::to_string(bytes >> 20) + " MiB (" +
                                std::to_string(free_bytes >> 20) + " MiB free)");
    }
  }
  std::shared_ptr<BlockPool> pool = pool_;
  pool_->in_use += bytes;
  note_peak();
  auto storage = Storage::adopt(p, bytes, device_, [pool, p, bytes] {
    pool->in_use -= bytes;
    pool->free_blocks.emplace(bytes, p);
  });
  return Tensor::view_of(storage, shape, DType::kBF16);
}

VaeOpsCuda::~VaeOpsCuda() {
  gemms_.clear();
  if (cublas_) cublasLtDestroy(cublas_);
}

Result<std::unique_ptr<VaeOpsCuda>> VaeOpsCuda::create(const VaeWeights& weights, Device device,
                                                       const VaeOpsCudaOptions& options) {
  if (!device.is_cuda())
    return invalid_argument("VaeOpsCuda needs a CUDA device, got " + device.to_string() +
                            "; use VaeOpsCpu for the CPU");
  std::unique_ptr<VaeOpsCuda> ops(new VaeOpsCuda(weights, device, options));
  // The first allocation says why (UNAVAILABLE) when there is no usable GPU.
  WAN_ASSIGN_OR_RETURN(ops->workspace_,
                       Tensor::empty({static_cast<int64_t>(options.gemm_workspace_bytes)}, DType::kU8, device));
  WAN_CUDA_CHECK(cudaSetDevice(device.index));
  WAN_CUBLAS_CHECK(cublasLtCreate(&ops->cublas_));
  const WanVaeConfig& c = weights.config();
  if (static_cast<int64_t>(c.latents_std.size()) != c.z_dim || static_cast<int64_t>(c.latents_mean.size()) != c.z_dim)
    return invalid_argument("VAE config '" + c.name + "' needs z_dim (" + std::to_string(c.z_dim) +
                            ") latents_mean and latents_std values");
  WAN_ASSIGN_OR_RETURN(ops->latents_std_, upload_f32(c.latents_std, device));
  WAN_ASSIGN_OR_RETURN(ops->latents_mean_, upload_f32(c.latents_mean, device));
  if (options.conv_engine == VaeConvEngine::kCudnn) {
    auto library = CudnnLibrary::load(options.cudnn_path);
    if (!library.ok())
      return unavailable(library.status().message() +
                         "\n  (or decode without cuDNN: --vae-conv im2col, a slower engine with other bits)");
    ops->cudnn_ = library.value();
    WAN_ASSIGN_OR_RETURN(CudnnHandle handle, CudnnHandle::create(*ops->cudnn_, ops->stream_));
    ops->cudnn_handle_ = std::make_unique<CudnnHandle>(std::move(handle));
  }
  return ops;
}

Status VaeOpsCuda::check_activation(const Tensor& x, const char* op) const {
  if (x.dim() != 4 || x.dtype() != DType::kBF16 || !x.is_contiguous() || x.device() != device_)
    return invalid_argument(std::string("VAE ") + op + ": expected a contiguous bf16 [C, T, H, W] tensor on " +
                            device_.to_string() + ", got " + x.describe());
  return Status();
}

Result<void*> VaeOpsCuda::scratch(int slot, size_t bytes) {
  Tensor& t = scratch_[slot];
  if (!t.defined() || t.nbytes() < bytes) {
    if (t.defined()) scratch_bytes_ -= t.nbytes();
    t = Tensor();  // free first: the old and new buffer need not fit together
    WAN_ASSIGN_OR_RETURN(t, Tensor::empty({static_cast<int64_t>(std::max<size_t>(bytes, 1))}, DType::kU8, device_));
    // Zeroed once per growth: every entry a kernel reads is overwritten first (the bit-exact
    // tests would see an unwritten one as 0), but compute-sanitizer's initcheck does not see
    // the stores of some cuBLASLt kernels and would flag the reads of their output panels
    // (reports/2026-12-01-h200-sanitize).
    const cudaError_t zeroed = cudaMemsetAsync(t.raw_data(), 0, t.nbytes(), stream_);
    if (zeroed != cudaSuccess)
      return internal_error(std::string("VAE scratch: cudaMemsetAsync failed: ") + cudaGetErrorString(zeroed));
    scratch_bytes_ += t.nbytes();
    note_peak();
  }
  return t.raw_data();
}

void VaeOpsCuda::note_peak() { peak_bytes_ = std::max(peak_bytes_, pool_->in_use + scratch_bytes_); }

Result<const CublasLtGemmF32Out*> VaeOpsCuda::gemm(const GemmF32OutShape& shape) {
  auto it = gemms_.find(shape);
  if (it != gemms_.end()) return it->second.get();
  auto g = std::make_unique<CublasLtGemmF32Out>();
  const std::string err = g->plan(cublas_, shape, workspace_.nbytes());
  if (!err.empty()) return internal_error("VAE GEMM: " + err);
  return gemms_.emplace(shape, std::move(g)).first->second.get();
}

std::vector<std::string> VaeOpsCuda::gemm_plans() const {
  std::vector<std::string> out;
  for (const auto& [s, g] : gemms_)
    out.push_back("m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
                  (s.trans_a ? " T" : " N") + (s.trans_b ? "T" : "N") + ": " + g->algorithm_description());
  for (const auto& [key, conv] : cudnn_convs_)
    out.push_back("conv " + key + ": cuDNN " + conv->algorithm() + ", workspace " +
                  std::to_string(conv->workspace_bytes()) + " B");
  return out;
}

Result<const VaeOpsCuda::DeviceConv*> VaeOpsCuda::prepared_conv(const std::string& weight) {
  const auto it = convs_.find(weight);
  if (it != convs_.end()) return &it->second;
  WAN_ASSIGN_OR_RETURN(Tensor w, weights_.get(weight + ".weight"));
  WAN_ASSIGN_OR_RETURN(Tensor b, weights_.get(weight + ".bias"));
  WAN_ASSIGN_OR_RETURN(const VaeConvKernel kernel, vae_conv_kernel(weights_, weight));
  DeviceConv c;
  c.out = kernel.out;
  c.in = kernel.in;
  c.kt = kernel.kt;
  c.kh = kernel.kh;
  c.kw = kernel.kw;
  c.k = c.in * c.kt * c.kh * c.kw;
  // cuDNN takes the weight as stored, [out, in, kt, kh, kw]; the GEMM wants 16-byte rows.
  c.k_padded = options_.conv_engine == VaeConvEngine::kCudnn ? c.k : round_up(c.k, kRowAlign);
  // [out, k] in (ci, dt, dy, dx) order as stored, rounded to bf16, rows padded with zeros;
  // for cuDNN's channels-last kernels, [out, dt, dy, dx, ci].
  std::vector<uint16_t> wb(static_cast<size_t>(c.out * c.k_padded), 0);
  const float* wf = w.data<float>();
  const int64_t taps = c.kt * c.kh * c.kw;
  for (int64_t o = 0; o < c.out; ++o)
    for (int64_t k = 0; k < c.k; ++k) {
      const int64_t dst = options_.conv_engine == VaeConvEngine::kCudnn ? (k % taps) * c.in + k / taps : k;
      wb[o * c.k_padded + dst] = f32_to_bf16_bits(wf[o * c.k + k]);
    }
  std::vector<float> bias(b.data<float>(), b.data<float>() + c.out);
  for (float& v : bias) v = round_to_bf16(v);
  Tensor host = Tensor::wrap(wb.data(), {c.out, c.k_padded}, DType::kBF16, Device::cpu());
  WAN_ASSIGN_OR_RETURN(c.weight, host.to(device_));
  WAN_ASSIGN_OR_RETURN(c.bias, upload_f32(bias, device_));
  return &convs_.emplace(weight, std::move(c)).first->second;
}

Result<const Tensor*> VaeOpsCuda::prepared_gamma(const std::string& gamma) {
  const auto it = gammas_.find(gamma);
  if (it != gammas_.end()) return &it->second;
  WAN_ASSIGN_OR_RETURN(Tensor g, weights_.get(gamma));
  std::vector<float> v(g.data<float>(), g.data<float>() + g.numel());
  for (float& e : v) e = round_to_bf16(e);
  WAN_ASSIGN_OR_RETURN(Tensor d, upload_f32(v, device_));
  return &gammas_.emplace(gamma, std::move(d)).first->second;
}

Result<Tensor> VaeOpsCuda::denormalize(const Tensor& latents) {
  WAN_CUDA_CHECK(cudaSetDevice(device_.index));
  if (latents.dim() != 4 || latents.dtype() != DType::kF32)
    return invalid_argument("VAE denormalize: expected f32 [z, T, h, w] latents, got " + latents.describe());
  const WanVaeConfig& c = weights_.config();
  if (latents.size(0) != c.z_dim)
    return invalid_argument("VAE denormalize: latents have " + std::to_string(latents.size(0)) +
                            " channels, this VAE (" + c.name + ") has z_dim " + std::to_string(c.z_dim));
  Tensor x = latents;
  if (x.device() != device_ || !x.is_contiguous()) {
    WAN_ASSIGN_OR_RETURN(x, latents.to(device_));
  }
  WAN_ASSIGN_OR_RETURN(Tensor y, activation(x.shape()));
  launch_vae_denormalize(x.data<float>(), latents_std_.data<float>(), latents_mean_.data<float>(), mutable_bits(y),
                         x.size(0), x.numel() / std::max<int64_t>(1, x.size(0)), stream_);
  return y;
}

Result<Tensor> VaeOpsCuda::conv(const Tensor& x, const Tensor& history, const std::string& weight,
                                const Tensor& residual) {
  WAN_CUDA_CHECK(cudaSetDevice(device_.index));
  WAN_RETURN_IF_ERROR(check_activation(x, "conv"));
  WAN_ASSIGN_OR_RETURN(const DeviceConv* c, prepared_conv(weight));
  const int64_t cin = x.size(0), frames = x.size(1), h = x.size(2), w = x.size(3);
  if (cin != c->in)
    return invalid_argument("VAE conv '" + weight + "': input has " + std::to_string(cin) +
                            " channels, weight expects " + std::to_string(c->in));
  const bool causal = c->kt == 3;
  if (causal && history.defined() &&
      (history.shape() != Shape{cin, 2, h, w} || history.dtype() != DType::kBF16 || !history.is_contiguous() ||
       history.device() != device_))
    return invalid_argument("VAE conv '" + weight + "': history " + history.describe() + " does not match input " +
                            x.describe());
  if (residual.defined() && (residual.shape() != Shape{c->out, frames, h, w} || residual.dtype() != DType::kBF16 ||
                             !residual.is_contiguous() || residual.device() != device_))
    return invalid_argument("VAE conv '" + weight + "': residual " + residual.describe() + " does not match output " +
                            "bf16[" + std::to_string(c->out) + ", " + std::to_string(frames) + ", " +
                            std::to_string(h) + ", " + std::to_string(w) + "] on " + device_.to_string());
  if (options_.conv_engine == VaeConvEngine::kCudnn) return conv_cudnn(x, history, weight, *c, residual);
  WAN_ASSIGN_OR_RETURN(Tensor y, activation({c->out, frames, h, w}));
  const int64_t pixels = frames * h * w;
  if (pixels == 0) return y;
  // Panel rows: as many pixels as fit max_column_bytes, a multiple of kPanelRowMultiple.
  int64_t panel = static_cast<int64_t>(options_.max_column_bytes / (static_cast<size_t>(c->k_padded) * 2));
  if (panel >= kPanelRowMultiple) panel = panel / kPanelRowMultiple * kPanelRowMultiple;
  panel = std::max<int64_t>(1, std::min(panel, pixels));
  const int64_t panel_ld = round_up(panel, kRowAlign);
  WAN_ASSIGN_OR_RETURN(void* cols, scratch(kColumns, static_cast<size_t>(panel * c->k_padded) * 2));
  WAN_ASSIGN_OR_RETURN(void* acc, scratch(kPanelOut, static_cast<size_t>(panel_ld * c->out) * 4));
  VaeIm2colParams p;
  p.x = bits(x);
  p.history = causal && history.defined() ? bits(history) : nullptr;
  p.cols = static_cast<uint16_t*>(cols);
  p.cin = cin;
  p.frames = frames;
  p.height = h;
  p.width = w;
  p.kt = static_cast<int>(c->kt);
  p.kh = static_cast<int>(c->kh);
  p.kw = static_cast<int>(c->kw);
  p.k_padded = c->k_padded;
  for (int64_t p0 = 0; p0 < pixels; p0 += panel) {
    const int64_t rows = std::min(panel, pixels - p0), ld = round_up(rows, kRowAlign);
    p.p0 = p0;
    p.rows = rows;
    launch_vae_im2col(p, stream_);
    // acc (column-major [rows, out], ld) = cols [rows, K] * W^T [K, out]: cols is stored
    // row-major [rows, K] = column-major [K, rows] (trans_a); W row-major [out, K] is
    // column-major [K, out]. Column-major [rows, out] is row-major [out][row]: channel-major.
    GemmF32OutShape s;
    s.m = rows;
    s.n = c->out;
    s.k = c->k_padded;
    s.trans_a = true;
    s.trans_b = false;
    s.lda = c->k_padded;
    s.ldb = c->k_padded;
    s.ldd = ld;
    WAN_ASSIGN_OR_RETURN(const CublasLtGemmF32Out* g, gemm(s));
    g->run(cols, c->weight.raw_data(), static_cast<float*>(acc), workspace_.raw_data(), stream_);
    launch_vae_conv_epilogue(static_cast<const float*>(acc), ld, c->bias.data<float>(),
                             residual.defined() ? bits(residual) : nullptr, mutable_bits(y), c->out, rows, p0, pixels,
                             stream_);
  }
  return y;
}

Result<Tensor> VaeOpsCuda::conv_cudnn(const Tensor& x, const Tensor& history, const std::string& weight,
                                      const DeviceConv& c, const Tensor& residual) {
  const int64_t cin = x.size(0), frames = x.size(1), h = x.size(2), w = x.size(3), plane = h * w;
  const bool causal = c.kt == 3;
  const std::string key = weight + "@" + std::to_string(frames) + "x" + std::to_string(h) + "x" + std::to_string(w);
  auto it = cudnn_convs_.find(key);
  if (it == cudnn_convs_.end()) {
    auto plan = std::make_unique<CudnnConv>();
    CudnnConvShape shape;
    shape.in_channels = cin;
    shape.out_channels = c.out;
    shape.depth = frames;
    shape.height = h;
    shape.width = w;
    shape.kt = c.kt;
    shape.kh = c.kh;
    shape.kw = c.kw;
    WAN_RETURN_IF_ERROR(plan->plan(*cudnn_handle_, shape, options_.max_cudnn_workspace_bytes).with_context(
        "VAE conv '" + weight + "'"));
    it = cudnn_convs_.emplace(key, std::move(plan)).first;
  }
  const CudnnConv& plan = *it->second;
  WAN_ASSIGN_OR_RETURN(void* ws, scratch(kCudnnWorkspace, plan.workspace_bytes()));
  WAN_ASSIGN_OR_RETURN(void* stage_x, scratch(kCudnnStageX, plan.x_bytes()));
  WAN_ASSIGN_OR_RETURN(void* stage_y, scratch(kCudnnStageY, plan.y_bytes()));
  WAN_ASSIGN_OR_RETURN(Tensor y, activation({c.out, frames, h, w}));
  // [history (2 frames, zeros when absent), x] channels-last in one pass; the conv; then bias and
  // residual on the way back to channel-major, in one pass.
  const int64_t history_pixels = causal ? 2 * plane : 0;
  launch_vae_to_channels_last(causal && history.defined() ? bits(history) : nullptr, bits(x),
                              static_cast<uint16_t*>(stage_x), cin, history_pixels, history_pixels + frames * plane,
                              stream_);
  WAN_RETURN_IF_ERROR(plan.run(stage_x, c.weight.raw_data(), stage_y, ws));
  launch_vae_from_channels_last(static_cast<const uint16_t*>(stage_y), c.bias.data<float>(),
                                residual.defined() ? bits(residual) : nullptr, mutable_bits(y), c.out, frames * plane,
                                stream_);
  return y;
}

Result<Tensor> VaeOpsCuda::rms_norm(const Tensor& x, const std::string& gamma, bool silu) {
  WAN_CUDA_CHECK(cudaSetDevice(device_.index));
  WAN_RETURN_IF_ERROR(check_activation(x, "rms_norm"));
  if (!weights_.data(gamma)) return not_found("no VAE weight named '" + gamma + "'");
  WAN_ASSIGN_OR_RETURN(const Tensor* g, prepared_gamma(gamma));
  const int64_t c = x.size(0), pixels = x.numel() / std::max<int64_t>(1, c);
  if (g->numel() != c)
    return invalid_argument("VAE rms_norm '" + gamma + "' has " + std::to_string(g->numel()) + " values for " +
                            std::to_string(c) + " channels");
  const float scale = static_cast<float>(std::sqrt(static_cast<double>(c)));
  WAN_ASSIGN_OR_RETURN(Tensor y, activation(x.shape()));
  launch_vae_rms_norm(bits(x), g->data<float>(), mutable_bits(y), c, pixels, scale, silu, stream_);
  return y;
}

Result<Tensor> VaeOpsCuda::attention(const Tensor& qkv) {
  WAN_CUDA_CHECK(cudaSetDevice(device_.index));
  WAN_RETURN_IF_ERROR(check_activation(qkv, "attention"));
  if (qkv.size(0) % 3 != 0) return invalid_argument("VAE attention: qkv channels must be 3C, got " + qkv.describe());
  const int64_t c = qkv.size(0) / 3, frames = qkv.size(1), tokens = qkv.size(2) * qkv.size(3);
  WAN_ASSIGN_OR_RETURN(Tensor y, activation({c, frames, qkv.size(2), qkv.size(3)}));
  if (c == 0 || frames == 0 || tokens == 0) return y;
  const int64_t np = round_up(tokens, kRowAlign);
  WAN_ASSIGN_OR_RETURN(void* frame_qkv, scratch(kFrameQkv, static_cast<size_t>(3 * c * np) * 2));
  WAN_ASSIGN_OR_RETURN(void* scores, scratch(kScores, static_cast<size_t>(np * np) * 4));
  WAN_ASSIGN_OR_RETURN(void* probs, scratch(kProbs, static_cast<size_t>(np * np) * 2));
  WAN_ASSIGN_OR_RETURN(void* row_sums, scratch(kRowSums, static_cast<size_t>(np) * 4));
  WAN_ASSIGN_OR_RETURN(void* out, scratch(kAttnOut, static_cast<size_t>(c * np) * 4));
  const uint16_t* q = static_cast<const uint16_t*>(frame_qkv);  // [C, np] row-major: Q^T
  const uint16_t* k = q + c * np;
  const uint16_t* v = q + 2 * c * np;
  // Scores, column-major [keys, queries] = K [keys, C] * (Q [queries, C])^T, i.e. row-major
  // s[query][key]: each query's scores are contiguous for the row softmax.
  GemmF32OutShape qk;
  qk.m = np;
  qk.n = np;
  qk.k = c;
  qk.trans_a = false;
  qk.trans_b = true;
  qk.lda = np;
  qk.ldb = np;
  qk.ldd = np;
  // Output, column-major [queries, C] = P [queries, keys] * V [keys, C]; P stored row-major
  // [query][key] = column-major [keys, queries], hence trans_a. Column-major [queries, C] is
  // row-major [C][query]: the channel-major layout of the output.
  GemmF32OutShape pv;
  pv.m = np;
  pv.n = c;
  pv.k = np;
  pv.trans_a = true;
  pv.trans_b = false;
  pv.lda = np;
  pv.ldb = np;
  pv.ldd = np;
  WAN_ASSIGN_OR_RETURN(const CublasLtGemmF32Out* g_qk, gemm(qk));
  WAN_ASSIGN_OR_RETURN(const CublasLtGemmF32Out* g_pv, gemm(pv));
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c)));
  const float scale_log2e = scale * portable::kLog2eF;
  for (int64_t t = 0; t < frames; ++t) {
    launch_vae_gather_frame(bits(qkv), static_cast<uint16_t*>(frame_qkv), 3 * c, frames, t, tokens, np, stream_);
    g_qk->run(k, q, static_cast<float*>(scores), workspace_.raw_data(), stream_);
    launch_vae_softmax_rows(static_cast<const float*>(scores), static_cast<uint16_t*>(probs),
                            static_cast<float*>(row_sums), tokens, np, scale_log2e, stream_);
    g_pv->run(probs, v, static_cast<float*>(out), workspace_.raw_data(), stream_);
    launch_vae_attention_output(static_cast<const float*>(out), static_cast<const float*>(row_sums), mutable_bits(y), c,
                                frames, t, tokens, np, stream_);
  }
  return y;
}

Result<Tensor> VaeOpsCuda::upsample2x(const Tensor& x) {
  WAN_CUDA_CHECK(cudaSetDevice(device_.index));
  WAN_RETURN_IF_ERROR(check_activation(x, "upsample2x"));
  const int64_t h = x.size(2), w = x.size(3);
  WAN_ASSIGN_OR_RETURN(Tensor y, activation({x.size(0), x.size(1), 2 * h, 2 * w}));
  launch_vae_upsample2x(bits(x), mutable_bits(y), x.size(0) * x.size(1), h, w, stream_);
  return y;
}

Result<Tensor> VaeOpsCuda::split_time(const Tensor& x) {
  WAN_CUDA_CHECK(cudaSetDevice(device_.index));
  WAN_RETURN_IF_ERROR(check_activation(x, "split_time"));
  if (x.size(0) % 2 != 0) return invalid_argument("VAE split_time: channels must be even, got " + x.describe());
  const int64_t c = x.size(0) / 2, frames = x.size(1);
  WAN_ASSIGN_OR_RETURN(Tensor y, activation({c, 2 * frames, x.size(2), x.size(3)}));
  launch_vae_split_time(bits(x), mutable_bits(y), c, frames, x.size(2) * x.size(3), stream_);
  return y;
}

Result<Tensor> VaeOpsCuda::next_history(const Tensor& history, const Tensor& x) {
  WAN_CUDA_CHECK(cudaSetDevice(device_.index));
  WAN_RETURN_IF_ERROR(check_activation(x, "next_history"));
  const int64_t c = x.size(0), frames = x.size(1), h = x.size(2), w = x.size(3);
  if (frames < 1) return invalid_argument("VAE next_history: x has no frames: " + x.describe());
  if (history.defined() && (history.shape() != Shape{c, 2, h, w} || history.dtype() != DType::kBF16 ||
                            !history.is_contiguous() || history.device() != device_))
    return invalid_argument("VAE next_history: history " + history.describe() + " does not match " + x.describe());
  WAN_ASSIGN_OR_RETURN(Tensor y, activation({c, 2, h, w}));
  launch_vae_next_history(history.defined() ? bits(history) : nullptr, bits(x), mutable_bits(y), c, frames, h * w,
                          stream_);
  return y;
}

Result<Tensor> VaeOpsCuda::finish(const Tensor& x, bool clamp) {
  WAN_CUDA_CHECK(cudaSetDevice(device_.index));
  WAN_RETURN_IF_ERROR(check_activation(x, "finish"));
  WAN_ASSIGN_OR_RETURN(Tensor host, Tensor::empty(x.shape(), DType::kF32, Device::cpu()));
  WAN_ASSIGN_OR_RETURN(void* staged, scratch(kFinish, x.nbytes() * 2));
  launch_vae_finish(bits(x), static_cast<float*>(staged), x.numel(), clamp, stream_);
  WAN_CUDA_CHECK(cudaMemcpyAsync(host.raw_data(), staged, host.nbytes(), cudaMemcpyDeviceToHost, stream_));
  WAN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return host;
}

}  // namespace wan
