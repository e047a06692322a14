#!/usr/bin/env bash
# Builds the fuzz targets of tests/fuzz with clang (libFuzzer + ASan + UBSan, no Bazel: the
# project's toolchain is gcc and switching it would rebuild everything) and fuzzes each for a
# bounded time, starting from its committed corpus. Prints one line per target (executions,
# coverage, corpus size) and exits 1 if any target crashed, leaked or hit undefined behaviour;
# the input that did it is kept under $FUZZ_OUT/crashes/ (add it to tests/fuzz/corpus/<target>/
# as regression-<what>.* once fixed, so `bazel test //tests/fuzz:all` replays it).
#
#   tools/fuzz.sh                       # every target, 60 s each
#   tools/fuzz.sh 1800 safetensors      # one target for 30 minutes
#   FUZZ_JOBS=2 tools/fuzz.sh 600       # two fuzzing processes per target
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(json_reader run_report trace_file golden_file safetensors safetensors_index model_config vae_config exec_trace output_hashing)
OUT=${FUZZ_OUT:-/tmp/wan-repro-fuzz}
CUDA=${CUDA_HOME:-/usr/local/cuda}
CXX=${FUZZ_CXX:-clang++}
JOBS=${FUZZ_JOBS:-1}
mkdir -p "$OUT/obj" "$OUT/bin" "$OUT/crashes" "$OUT/logs"

command -v "$CXX" > /dev/null || { echo "tools/fuzz.sh: $CXX not found (apt-get install clang)"; exit 2; }
CXXFLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
          -I. -I"$CUDA/include")

# Sources each target links besides its own tests/fuzz/<target>_fuzz.cc: the .cc files of the
# target's deps in tests/fuzz/BUILD (host code only; tensor.cc's CUDA calls link cudart). When
# a library gains a source, add it here (a link error names the missing symbol).
COMMON="engine/core/status.cc engine/core/json_reader.cc engine/core/shape.cc engine/core/file_reader.cc"
sources_of() {
  case $1 in
    json_reader) echo "$COMMON" ;;
    run_report) echo "$COMMON harness/compare.cc harness/hierarchy.cc harness/kernel_names.cc harness/kernel_summary.cc harness/stats.cc harness/atomic_file.cc harness/file_schemas.cc" ;;
    trace_file) echo "$COMMON harness/trace_file.cc harness/atomic_file.cc harness/file_schemas.cc" ;;
    golden_file) echo "$COMMON harness/file_schemas.cc" ;;
    safetensors | safetensors_index) echo "$COMMON engine/model/safetensors.cc engine/core/tensor.cc engine/core/dtype.cc" ;;
    model_config) echo "$COMMON engine/model/config.cc" ;;
    vae_config) echo "$COMMON engine/vae/vae_config.cc engine/vae/vae_tiling.cc" ;;
    exec_trace) echo "$COMMON harness/exec/exec_trace.cc harness/kernel_summary.cc" ;;
    output_hashing) echo "$COMMON harness/exec/output_hashing.cc harness/hashing.cc engine/model/safetensors.cc engine/core/tensor.cc engine/core/dtype.cc engine/vae/video_frames.cc kernels/cpu/parallel.cc" ;;
    *) echo "unknown target $1" >&2; return 1 ;;
  esac
}
libs_of() {
  case $1 in
    safetensors | safetensors_index) echo "$CUDA/lib64/libcudart_static.a -ldl -lrt -lpthread" ;;
    output_hashing) echo "$CUDA/lib64/libcudart_static.a /usr/lib/x86_64-linux-gnu/libcrypto.a /usr/lib/x86_64-linux-gnu/libz.a -ldl -lrt -lpthread" ;;
  esac
}

# One object per source, rebuilt when the source or any project header is newer.
stamp="$OUT/obj/.built"
newest_header=""
[ -f "$stamp" ] && newest_header=$(find engine harness kernels tests/fuzz -name '*.h' -newer "$stamp" | head -1)
[ -f "$stamp" ] || newest_header=all
compile() {  # compile SRC -> prints the object path
  local src=$1 obj="$OUT/obj/$(echo "$1" | tr / _).o" flags=(-fsanitize=fuzzer-no-link)
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$newest_header" ]; then
    "$CXX" "${CXXFLAGS[@]}" "${flags[@]}" -c "$src" -o "$obj" || return 1
  fi
  echo "$obj"
}

failed=0
trap 'touch "$stamp"' EXIT
printf '%-18s %-8s %12s %10s %8s %s\n' target result executions coverage corpus note
for t in "${TARGETS[@]}"; do
  objs=()
  for src in $(sources_of "$t") "tests/fuzz/${t}_fuzz.cc"; do
    o=$(compile "$src") || { echo "$t: compiling $src failed"; failed=1; continue 2; }
    objs+=("$o")
  done
  # shellcheck disable=SC2046
  "$CXX" "${CXXFLAGS[@]}" -fsanitize=fuzzer "${objs[@]}" $(libs_of "$t") -o "$OUT/bin/$t" ||
    { echo "$t: linking failed"; failed=1; continue; }
  mkdir -p "$OUT/corpus/$t"
  log="$OUT/logs/$t.log"
  (cd "$OUT" && TMPDIR="$OUT" "$OUT/bin/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -jobs="$JOBS" -workers="$JOBS" -artifact_prefix="$OUT/crashes/$t-" \
      "$OUT/corpus/$t" "$OLDPWD/tests/fuzz/corpus/$t") > "$log" 2>&1
  rc=$?
  [ "$JOBS" -gt 1 ] && cat "$OUT"/fuzz-*.log >> "$log" 2>/dev/null && rm -f "$OUT"/fuzz-*.log
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  corpus=$(find "$OUT/corpus/$t" -type f | wc -l)
  if [ $rc -eq 0 ]; then result=ok; note=""; else
    result=FAILED; failed=1
    note=$(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|contract broken|terminate called' "$log")
    note="$note; input: $(ls -t "$OUT/crashes/$t-"* 2>/dev/null | head -1); log: $log"
  fi
  printf '%-18s %-8s %12s %10s %8s %s\n' "$t" "$result" "$execs" "${cov:-?}" "$corpus" "$note"
done
exit $failed
