#!/usr/bin/env bash
# Builds the GPU binaries (gpu-tagged tests, benchmarks, the repro CLI) and packs them with
# a runner script into bundle/ for a GPU machine that has no Bazel (see README: "Running on a
# GPU machine without Bazel"). The bundle needs only an NVIDIA driver and, for cuBLAS/CUPTI,
# the CUDA 13 toolkit's lib64 (rpath /usr/local/cuda/lib64; LD_LIBRARY_PATH overrides).
# Usage: tools/bundle.sh [bazel build flags...]   -> bundle/ (must stay under 64 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
readonly kMaxBytes=$((64 * 1024 * 1024))

tests=$(bazel query --noshow_progress 'attr(tags, "\bgpu\b", tests(//...))' 2>/dev/null)
benches=$(bazel query --noshow_progress 'attr(tags, "\bbenchmark\b", kind(cc_binary, //...))' 2>/dev/null)
tools=$(bazel query --noshow_progress 'attr(tags, "\bbundle\b", kind(cc_binary, //...))' 2>/dev/null || true)
# shellcheck disable=SC2086
bazel build "$@" $tests $benches $tools >&2

rm -rf bundle
mkdir -p bundle/bin bundle/lib bundle/data
copy_target() {
  local label=$1 path
  path="bazel-bin/$(echo "${label#//}" | tr ':' '/')"
  cp -L "$path" bundle/bin/
  chmod u+w "bundle/bin/$(basename "$path")"
  strip --strip-debug "bundle/bin/$(basename "$path")" 2>/dev/null || true
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
  "$here/bin/$t" --gtest_output="xml:$out/$t.xml" > "$out/$t.log" 2>&1
  rc=$?
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
cat > bundle/run.sh <<'RUNNER'
#!/usr/bin/env bash
# Runs one bundled binary with the bundle's libraries: bundle/run.sh repro run ...
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export WAN_DATA_DIR="${WAN_DATA_DIR:-$here/data}"
bin=$1; shift
exec "$here/bin/$bin" "$@"
RUNNER
chmod +x bundle/run_tests.sh bundle/run.sh
size=$(du -sb bundle | cut -f1)
if (( size > kMaxBytes )); then
  echo "bundle: $((size >> 20)) MiB is over the 64 MiB limit; build fewer targets" >&2
  exit 1
fi
echo "bundle: $(wc -l < bundle/tests.txt) tests, $(wc -l < bundle/benchmarks.txt) benchmarks, $((size >> 20)) MiB in bundle/" >&2
