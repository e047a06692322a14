#!/usr/bin/env bash
# The README's test command: installs what is missing, then builds everything (CUDA code
# included) and runs every test. GPU-tagged tests run everywhere and skip cleanly, saying
# why, where no GPU is usable. Extra arguments go to `bazel test`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
exec bazel test --config=ci --keep_going --test_summary=short "$@" //...
