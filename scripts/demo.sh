#!/usr/bin/env bash
# Fresh machine -> installs what is missing, builds, runs gmha compare on a few presets.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target gmha >/dev/null
./build/gmha compare step3 deepseek-v3 qwen3-235b-a22b llama3-70b --context 8k,32k --hardware h800,h20
