// Kernel keys that stay the same across builds. nvcc names anonymous namespaces in mangled
// kernel names after the translation unit (_ZN3wan63_GLOBAL__N__99fab16c_30_flash_..._cu_73aeb242...):
// both hex hashes may change when a .cu file changes, so a PR's kernels would show up as
// removed + added and never be judged. stable_kernel_name replaces the hashes with 'x' of the
// same length (the mangling stays valid and demangles to "(anonymous namespace)").
#pragma once

#include <string>

namespace wan {

std::string stable_kernel_name(const std::string& name);

// A kernel key ("NAME @ RANGE" or NAME) with the name demangled as Nsight shows it
// ("(anonymous namespace)::add_bf16_to_f32_kernel(unsigned short const*, ...)"); names that are
// not mangled C++ (cuBLAS's nvjet_...) are returned as they are.
std::string readable_kernel_key(const std::string& key);

}  // namespace wan
