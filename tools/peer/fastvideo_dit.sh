#!/usr/bin/env bash
# Makes tools/peer/fastvideo_dit/ (git-ignored, carried to the GPU machine): FastVideo's fastvideo/
# package, its .py files and the JSON/YAML configs beside them (no media), from a FastVideo
# checkout or bare mirror at the commit given (default 2f3d407, the commit our other FastVideo
# peers use). tools/peer/wan_forward_peer.py --peer fastvideo imports its DiT from there.
# Usage: tools/peer/fastvideo_dit.sh FASTVIDEO_GIT_DIR [COMMIT]
#   e.g. the `fetch` tool's github:hao-ai-lab/FastVideo gives /work/.mirror/hao-ai-lab+FastVideo/repo
set -euo pipefail
src=${1:?usage: tools/peer/fastvideo_dit.sh FASTVIDEO_GIT_DIR [COMMIT]}
commit=${2:-2f3d407}
out="$(cd "$(dirname "$0")" && pwd)/fastvideo_dit"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$src" archive "$commit" fastvideo | tar -x -C "$tmp"
find "$tmp/fastvideo" -type f ! -name '*.py' ! -name '*.json' ! -name '*.yaml' -delete
rm -rf "$out"
mkdir -p "$out"
mv "$tmp/fastvideo" "$out/"
git -C "$src" rev-parse "$commit" > "$out/COMMIT"
echo "fastvideo_dit: $(find "$out" -name '*.py' | wc -l) Python files of FastVideo $(cut -c1-12 "$out/COMMIT") in $out ($(du -sh "$out" | cut -f1))"
