// WAN_HD marks functions compiled for both host and device; plain inline on host-only builds.
// Code under WAN_HD must give identical bits on CPU and GPU: see portable_math.h.
#pragma once

#if defined(__CUDACC__)
#define WAN_HD __host__ __device__ __forceinline__
#else
#define WAN_HD inline
#endif
