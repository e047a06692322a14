# Sourced by the tools/device_*.sh scripts (repo root on the GPU machine): unpacks the carried
# bundle when bundle/ is absent, sets OUT, B (the bundle), ROOT, SAN (compute-sanitizer), the
# library path, the requested steps (`want STEP`), prints the card, and enters bundle/data.
# Callers set DEFAULT_STEPS before sourcing.
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
ROOT=$PWD
[[ -d bundle ]] || { [[ -f prev/bundle.tar.xz ]] && tar -xJf prev/bundle.tar.xz; }
B=$PWD/bundle
export LD_LIBRARY_PATH="$B/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
SAN=/usr/local/cuda/bin/compute-sanitizer
steps=("$@"); [[ ${#steps[@]} -eq 0 ]] && read -r -a steps <<< "${DEFAULT_STEPS:-}"
want() { [[ " ${steps[*]} " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | sed 's/^/gpu: /'
echo "bundle: $(cat "$B/COMMIT" 2>/dev/null || echo unknown)"
cd "$B/data" || exit 1
