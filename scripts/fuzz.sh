#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ under ASan+UBSan (clang, build-fuzz/) and runs each for
# SECONDS seconds (default 600), one at a time, niced. Corpora grow in build-fuzz/corpus/<target>
# (seeded from fuzz/seeds/<target>); crashes land in build-fuzz/findings/<target>/.
#
#   scripts/fuzz.sh                 # every target, 10 minutes each
#   scripts/fuzz.sh 60 gguf         # one target for a minute
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(safetensors_header gguf config_json llama2c design_parse)
build=build-fuzz
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGMHA_CUDA=OFF \
    -DGMHA_BUILD_TESTS=OFF -DGMHA_BUILD_FUZZ=ON -DGMHA_SANITIZE=ON >/dev/null
fi
for t in "${targets[@]}"; do
  nice -n 19 cmake --build "$build" --target "fuzz_$t" -j2 >/dev/null
done
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  findings="$build/findings/$t"
  mkdir -p "$corpus" "$findings"
  cp -n fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  echo "== fuzz_$t for ${seconds}s (corpus $corpus)"
  # -max_len keeps inputs small enough to be fast; -rss_limit_mb bounds a runaway allocation.
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    nice -n 19 "$build/fuzz/fuzz_$t" "$corpus" -max_total_time="$seconds" -max_len=65536 \
    -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$findings/" -print_final_stats=1 \
    2>&1 | tail -n 25
done
