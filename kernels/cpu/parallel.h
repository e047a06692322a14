// parallel_for over [0, n) on a process-wide pool of worker threads. Work is split into
// chunks of `grain` items whatever the thread count, and each item is computed by exactly one
// thread, so results never depend on how many cores run them (CPU goldens stay portable).
#pragma once

#include <cstdint>
#include <functional>

namespace wan::cpu {

// Calls body(begin, end) for consecutive chunks covering [0, n); blocks until all are done.
// The body must only write outputs owned by its chunk.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

// Threads in the pool (WAN_CPU_THREADS overrides; default: hardware concurrency).
int cpu_thread_count();

}  // namespace wan::cpu
