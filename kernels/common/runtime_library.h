// Where a CUDA library that may be missing from the toolkit is looked for at run time (the
// device machines have cuDNN and NCCL only inside torch's pip wheels, so both are dlopen()ed,
// never linked). With an explicit path: that file, or `soname` in that folder, alone. Otherwise,
// in order: the loader's own search (LD_LIBRARY_PATH, ld.so.cache), /usr/local/cuda/lib64, then
// every .../nvidia/<package>/lib folder below a few roots (pip wheels' site-packages).
#pragma once

#include <string>
#include <vector>

namespace wan {

std::vector<std::string> runtime_library_candidates(const std::string& explicit_path, const std::string& soname,
                                                    const std::string& package);

}  // namespace wan
