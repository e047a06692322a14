#!/usr/bin/env bash
# Installs what this project needs to build and test, with apt-get, only where missing.
# Idempotent and quiet: a second run installs nothing and prints one line.
# Does not install the CUDA toolkit (NVIDIA's installer, not Debian's); says so if absent.
set -euo pipefail

readonly kPackages=(
  bazel-bootstrap        # Bazel 4.2 (offline)
  bazel-rules-java       # @rules_java for Bazel 4.2 (/usr/share/bazel/rules/java)
  default-jdk-headless   # Bazel's Java runtime
  g++
  googletest libgtest-dev libgmock-dev
  libbenchmark-dev
  nlohmann-json3-dev
  libssl-dev
  zlib1g-dev             # PNG pixel hashes of `repro exec --hash`
  python3
  chromium               # headless rendering test of the HTML reports
  clang                  # libFuzzer + ASan/UBSan: tools/fuzz.sh, CI's bounded fuzz step
)

missing=()
for pkg in "${kPackages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
if [[ ! -x "$CUDA_HOME/bin/nvcc" ]]; then
  cat >&2 <<MSG
setup: the CUDA toolkit was not found at $CUDA_HOME (no bin/nvcc).
  Install CUDA 13.x from NVIDIA (https://developer.nvidia.com/cuda-downloads) or point
  CUDA_HOME at an existing toolkit. Debian's nvidia-cuda-toolkit is too old for sm_90a.
MSG
  exit 3
fi
echo "setup: ok (bazel $(bazel --version 2>/dev/null | awk '{print $2}'), nvcc $("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))" >&2
