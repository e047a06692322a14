// The environment fingerprint of a run (HARNESS.md): everything that can change output bits or
// timings. Its "class" is the subset that decides whether two runs' hashes are comparable:
// GPU runs: GPU model, SM count, compute capability, driver, CUDA runtime, cuBLAS version, and
// for cases that use them, the versions of run-time libraries that change bits (cuDNN when
// decoding with it: add_class_field, case_fingerprint in run_case.h).
// CPU runs: architecture and the CPU reference numerics version only, because the CPU path is
// built to give the same bits on every x86-64 machine (the CPU model is recorded, not keyed).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/core/tensor.h"
#include "harness/file_schemas.h"

namespace wan {

// Bumped whenever the CPU reference kernels change their arithmetic on purpose.
inline constexpr const char* kCpuNumericsVersion = "cpu-ref/1";

struct Fingerprint {
  nlohmann::json fields;        // everything recorded
  nlohmann::json class_fields;  // the comparable-within subset
  std::string class_id;         // sha1 of class_fields' canonical dump, first 16 hex chars
};

// For runs on `device` (the GPU fields are read only for CUDA devices).
Fingerprint make_fingerprint(Device device);

// Adds a field to the class (and to the recorded fields) and recomputes class_id: a library
// that only some cases use and whose version changes their bits (cuDNN for CUDA decoding).
void add_class_field(Fingerprint& fingerprint, const std::string& key, const nlohmann::json& value);

// describe_class_difference (the differences between two class_fields objects) is in
// harness/file_schemas.h, beside the readers of the files that record them.

}  // namespace wan
