// NVTX scoped ranges ("step/12/block/3/self_attn/dense") for Nsight and for the harness's
// own kernel attribution. Near free when no tool listens: NVTX 3 calls go through a
// function-pointer table that is a no-op without an injection library, and the optional
// listener is one relaxed atomic load.
#pragma once

#include <atomic>

#include <nvtx3/nvToolsExt.h>

namespace wan {

// The harness's profiler implements this to attribute kernels to ranges without relying on
// NVTX injection (CUPTI sees NVTX only under NVTX_INJECTION64_PATH). Calls come from the
// host thread that opens and closes the range, in strict nesting order.
class RangeListener {
 public:
  virtual ~RangeListener() = default;
  virtual void on_push(const char* name) = 0;
  virtual void on_pop() = 0;
};

namespace detail {
inline std::atomic<RangeListener*>& range_listener_slot() {
  static std::atomic<RangeListener*> slot{nullptr};
  return slot;
}
}  // namespace detail

// Installs (or with nullptr removes) the process-wide listener; the caller keeps it alive.
inline void set_range_listener(RangeListener* listener) {
  detail::range_listener_slot().store(listener, std::memory_order_release);
}

class ScopedRange {
 public:
  explicit ScopedRange(const char* name) {
    nvtxRangePushA(name);
    listener_ = detail::range_listener_slot().load(std::memory_order_acquire);
    if (listener_) listener_->on_push(name);
  }
  ~ScopedRange() {
    if (listener_) listener_->on_pop();
    nvtxRangePop();
  }
  // A range is tied to one lexical scope; copying would pop it twice.
  ScopedRange(const ScopedRange&) = delete;
  ScopedRange& operator=(const ScopedRange&) = delete;

 private:
  RangeListener* listener_ = nullptr;
};

}  // namespace wan
