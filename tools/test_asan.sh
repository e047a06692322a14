#!/usr/bin/env bash
# The CPU tests under AddressSanitizer + UndefinedBehaviorSanitizer (--config=asan in .bazelrc:
# host C++ instrumented, leaks detected, any report fails the test; nvcc objects are not
# instrumented and GPU-tagged tests are left out). Default targets: the engine core, the VAE
# (its weight and config readers),
# the harness (every file reader, compare, the CLI tests) and the fuzz corpora replays; --all runs
# every non-GPU test. Extra arguments go to `bazel test`.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(//engine/core/... //engine/vae/... //harness/... //tests/fuzz/...)
if [[ "${1:-}" == "--all" ]]; then
  targets=(//...)
  shift
fi
exec bazel test --config=ci --config=asan --keep_going --test_summary=short "$@" "${targets[@]}"
