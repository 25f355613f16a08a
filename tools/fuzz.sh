#!/usr/bin/env bash
# Builds the fuzz targets of the `sanitize` preset (clang, libFuzzer, ASan,
# UBSan) and runs every libFuzzer target for SECONDS (default 60) on a scratch
# copy of its seed corpus (tests/fuzz/corpus/<target>/, never written to).
# Inputs taking over 10 s are hangs. A finding stops the run with libFuzzer's
# report; its reproducer is kept in build/sanitize/findings/.
#
#   tools/fuzz.sh [SECONDS]          (CI: 60; a longer search: tools/fuzz.sh 3600)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
cmake --preset sanitize >/dev/null
cmake --build --preset sanitize -j "$(nproc)" --target fuzz_sweep_config fuzz_algorithm_spec
mkdir -p build/sanitize/findings
# libomp's thread-team bookkeeping is not freed at exit (tests/lsan.supp).
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
# The targets run side by side, one per core: each still gets SECONDS.
fuzz_one() {
  local target=$1 scratch log status=0
  scratch=$(mktemp -d)
  log=build/sanitize/findings/$target.log
  build/sanitize/tests/fuzz/fuzz_$target -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix=build/sanitize/findings/$target- -print_final_stats=1 "$scratch" "tests/fuzz/corpus/$target" \
    > "$log" 2>&1 || status=$?
  rm -rf "$scratch"
  return $status
}
targets=(sweep_config algorithm_spec)
pids=()
for target in "${targets[@]}"; do
  echo "fuzz: $target for ${seconds} s"
  fuzz_one "$target" &
  pids+=($!)
done
failed=0
for i in "${!targets[@]}"; do
  target=${targets[$i]}
  log=build/sanitize/findings/$target.log
  if wait "${pids[$i]}"; then
    grep -E "stat::number_of_executed_units|DONE" "$log" || true
  else
    tail -n 40 "$log" >&2
    echo "fuzz: $target found a failure (reproducer and log in build/sanitize/findings/)" >&2
    failed=1
  fi
done
((failed == 0)) || exit 1
echo "fuzz: no findings"
