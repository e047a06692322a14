#!/usr/bin/env bash
# Bazel workspace status: the engine commit and tree state, stamped into the repro binary.
cd "$(dirname "$0")/.."
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -qv '^??' && echo "-dirty" || true)
echo "STABLE_ENGINE_COMMIT ${commit}${dirty}"
