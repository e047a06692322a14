#!/usr/bin/env bash
# Builds the GPU binaries (gpu-tagged tests, benchmarks, the repro CLI) and packs them with
# a runner script into bundle/ for a GPU machine that has no Bazel (see README: "Running on a
# GPU machine without Bazel"). The bundle needs only an NVIDIA driver and, for cuBLAS/CUPTI,
# the CUDA 13 toolkit's lib64 (rpath /usr/local/cuda/lib64; LD_LIBRARY_PATH overrides).
# Usage: tools/bundle.sh [bazel build flags...]   -> bundle/ and its compressed copy
#   prev/bundle.tar.xz (what travels: under 64 MiB; on the GPU machine `tar -xJf prev/bundle.tar.xz`
#   recreates bundle/; the tools/device_*.sh scripts do it themselves).
#   BUNDLE_BENCHMARKS=0 leaves the benchmarks out.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly kMaxBytes=$((64 * 1024 * 1024))

tests=$(bazel query --noshow_progress 'attr(tags, "\bgpu\b", tests(//...))' 2>/dev/null)
benches=$(bazel query --noshow_progress 'attr(tags, "\bbenchmark\b", kind(cc_binary, //...))' 2>/dev/null)
[[ "${BUNDLE_BENCHMARKS:-1}" == 0 ]] && benches=""
tools=$(bazel query --noshow_progress 'attr(tags, "\bbundle\b", kind(cc_binary, //...))' 2>/dev/null || true)
# shellcheck disable=SC2086
bazel build "$@" $tests $benches $tools >&2

rm -rf bundle
mkdir -p bundle/bin bundle/lib bundle/data
# The commit the bundle was built from (the GPU machine's checkout may be stale), "-dirty" with
# uncommitted changes.
{ git rev-parse --short HEAD 2>/dev/null || echo unknown; } | tr -d '\n' > bundle/COMMIT
git diff --quiet HEAD 2>/dev/null || printf -- '-dirty' >> bundle/COMMIT
copy_target() {
  local label=$1 path
  path="bazel-bin/$(echo "${label#//}" | tr ':' '/')"
  cp -L "$path" bundle/bin/
  chmod u+w "bundle/bin/$(basename "$path")"
  strip -s "bundle/bin/$(basename "$path")" 2>/dev/null || true  # kernel names come from the fatbins
  # Runfiles data (goldens, configs) travel beside the binaries.
  if [[ -d "$path.runfiles/wan_repro" ]]; then
    (cd "$path.runfiles/wan_repro" && find -L . -type f ! -path './external/*' ! -name '*.so*' \
       ! -perm -u+x -print0 | xargs -0r cp --parents -L -t "$OLDPWD/bundle/data/") || true
  fi
}
for t in $tests $benches $tools; do copy_target "$t"; done
echo "$tests" | sed 's|.*:||' | grep -v '^$' > bundle/tests.txt
echo "$benches" | sed 's|.*:||' | grep -v '^$' > bundle/benchmarks.txt

# Debian's Google Benchmark exists only as a shared library: it travels.
cp -L /usr/lib/x86_64-linux-gnu/libbenchmark.so.1debian bundle/lib/ 2>/dev/null || true

cat > bundle/run_tests.sh <<'RUNNER'
#!/usr/bin/env bash
# Runs every GPU test binary of the bundle; XML results go to ${1:-bundle-results}/.
# Prints each binary's verdict, then "N passed, M failed" over test cases.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:-bundle-results}")
mkdir -p "$out"
export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export TEST_SRCDIR="$here/data" WAN_DATA_DIR="$here/data"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'
pass=0; fail=0; skip=0
cd "$here/data"  # tests read their data (golden/) relative to the runfiles root
while read -r t; do
  [[ -z "$t" ]] && continue
  # One stalled binary cannot take the rest of the run: each gets TEST_TIMEOUT_S seconds.
  timeout "${TEST_TIMEOUT_S:-150}" "$here/bin/$t" --gtest_output="xml:$out/$t.xml" > "$out/$t.log" 2>&1
  rc=$?
  [[ $rc -eq 124 ]] && echo "$t: timed out after ${TEST_TIMEOUT_S:-150} s (TEST_TIMEOUT_S), counted as failed"
  p=$(grep -c '<testcase .*result="completed"' "$out/$t.xml" 2>/dev/null); p=${p:-0}
  f=$(grep -c '<failure' "$out/$t.xml" 2>/dev/null); f=${f:-0}
  s=$(grep -c 'result="skipped"' "$out/$t.xml" 2>/dev/null); s=${s:-0}
  if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
  p=$((p - f < 0 ? 0 : p - f))
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  echo "$t: rc=$rc passed=$p failed=$f skipped=$s"
  [[ $rc -ne 0 ]] && tail -30 "$out/$t.log"
done < "$here/tests.txt"
echo "$skip skipped"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
RUNNER
cat > bundle/sanitize_tests.sh <<'RUNNER'
#!/usr/bin/env bash
# Every GPU test binary of the bundle under compute-sanitizer, one tool at a time: memcheck
# (out-of-bounds and misaligned accesses, leaks), racecheck (shared-memory hazards), initcheck
# (reads of uninitialised global memory), synccheck (barrier misuse). Logs and a line per
# (test, tool) go to OUTDIR; the last line is "N clean, M with errors" (a timeout counts as an
# error, named as such).
# Usage: bundle/sanitize_tests.sh [OUTDIR] [TOOLS (memcheck,racecheck,initcheck,synccheck)]
#        [GTEST_FILTER (*)] [TIMEOUT_SECONDS per test and tool (900)] [TESTS (all, comma-separated)]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:-sanitize-results}")
tools=${2:-memcheck,racecheck,initcheck,synccheck}
filter=${3:-*}
limit=${4:-900}
only=${5:-}
mkdir -p "$out"
export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export TEST_SRCDIR="$here/data" WAN_DATA_DIR="$here/data"
cs="${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer"
[[ -x "$cs" ]] || { echo "sanitize_tests: $cs not found (set CUDA_HOME)"; exit 2; }
clean=0; dirty=0
cd "$here/data"
while read -r t; do
  [[ -z "$t" ]] && continue
  [[ -n "$only" && ",$only," != *",$t,"* ]] && continue
  for tool in ${tools//,/ }; do
    log="$out/$t.$tool.log"
    timeout "$limit" "$cs" --tool "$tool" --error-exitcode 9 --print-limit 20 \
      "$here/bin/$t" --gtest_filter="$filter" > "$log" 2>&1
    rc=$?
    errors=$(grep -m1 -oE "ERROR SUMMARY: [0-9]+" "$log" | grep -oE "[0-9]+$")
    if [[ $rc -eq 124 ]]; then verdict="TIMEOUT after ${limit}s"; dirty=$((dirty + 1))
    elif [[ $rc -eq 0 && "${errors:-0}" == 0 ]]; then verdict="clean"; clean=$((clean + 1))
    else verdict="errors: ${errors:-?} (exit $rc)"; dirty=$((dirty + 1)); fi
    echo "$t $tool: $verdict" | tee -a "$out/summary.txt"
  done
done < "$here/tests.txt"
echo "$clean clean, $dirty with errors" | tee -a "$out/summary.txt"
[[ $dirty -eq 0 ]]
RUNNER
cat > bundle/run.sh <<'RUNNER'
#!/usr/bin/env bash
# Runs one bundled binary with the bundle's libraries: bundle/run.sh repro run ...
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export WAN_DATA_DIR="${WAN_DATA_DIR:-$here/data}"
bin=$1; shift
exec "$here/bin/$bin" "$@"
RUNNER
chmod +x bundle/run_tests.sh bundle/run.sh bundle/sanitize_tests.sh
mkdir -p prev
tar -cf - bundle | xz -T2 -6 > prev/bundle.tar.xz.tmp && mv prev/bundle.tar.xz.tmp prev/bundle.tar.xz
size=$(stat -c %s prev/bundle.tar.xz)
if (( size > kMaxBytes )); then
  echo "bundle: prev/bundle.tar.xz is $((size >> 20)) MiB, over the 64 MiB limit; build fewer targets" >&2
  exit 1
fi
echo "bundle: $(wc -l < bundle/tests.txt) tests, $(wc -l < bundle/benchmarks.txt) benchmarks, $(( $(du -sb bundle | cut -f1) >> 20 )) MiB in bundle/, $((size >> 20)) MiB compressed in prev/bundle.tar.xz" >&2
