#!/usr/bin/env bash
# The two commands of the README, on a fresh Debian 12 machine as root:
#   ./run.sh main   install what is missing, build, run the main job: the default
#                   sweep (reports/configs/default.json), the PyTorch comparison and
#                   the report, all under a new results/main-<date>/ folder
#   ./run.sh test   install what is missing, build, run every test (C++ and Python),
#                   then the C++ tests again under AddressSanitizer and UBSan (slow
#                   cases left to the release run) and a one-minute libFuzzer run
#                   per target, both from the sanitize preset's one clang build
set -euo pipefail
cd "$(dirname "$0")"

packages=(cmake g++ make pkg-config
          libeigen3-dev libopenblas-openmp-dev libhwy-dev libbenchmark-dev libbenchmark-tools catch2
          pybind11-dev python3-dev python3-numpy python3-pytest python3-matplotlib python3-torch python3-scipy
          libcli11-dev libfmt-dev nlohmann-json3-dev
          python3-hypothesis clang libclang-rt-14-dev libomp-14-dev
          openmpi-bin libopenmpi-dev python3-mpi4py
          fortunes)  # fortunes: the fine-tuning experiment's pre-training text

# Runs a step and says how long it took, so a CI log shows where its time goes.
timed() {
  local start=$SECONDS
  "$@"
  echo "run.sh: '$*' took $((SECONDS - start)) s"
}

install_missing() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "run.sh: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

build() {
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)"
}

# OpenBLAS 0.3.21 does not recognise x86 CPUs newer than itself (seen: Xeon
# family 6 model 207) and falls back to its SSE3 kernels: SGEMM 6.5x slower.
# An OPENBLAS_CORETYPE set for an older CPU does the same in part (seen: Haswell's
# AVX2 kernels on an AVX-512 Zen 5, SGEMM 2x slower). The suite's baselines must
# run at the machine's rate, so when the record warns (blas_warning), name the
# kernels from the CPU's flags and say so; LORAFGC_KEEP_OPENBLAS_CORETYPE=1 keeps
# yours. Every record names the kernels used (blas_core, OPENBLAS_CORETYPE).
choose_blas_kernels() {
  case "${LORAFGC_KEEP_OPENBLAS_CORETYPE:-0}" in 0 | "") ;; *) return 0 ;; esac
  local machine flags before="${OPENBLAS_CORETYPE:-}"
  machine=$(./build/release/tools/lorafgc-run --machine 2>/dev/null) || return 0
  [[ $machine == *"blas_warning: "[A-Za-z]* ]] || return 0
  flags=$(grep -m1 '^flags' /proc/cpuinfo)
  if [[ $flags == *avx512_bf16* ]]; then export OPENBLAS_CORETYPE=Cooperlake
  elif [[ $flags == *avx512bw* && $flags == *avx512vl* ]]; then export OPENBLAS_CORETYPE=SkylakeX
  elif [[ $flags == *avx2* ]]; then export OPENBLAS_CORETYPE=Haswell
  else return 0
  fi
  echo "run.sh: OpenBLAS ran kernels older than this CPU${before:+ (OPENBLAS_CORETYPE=$before)};" \
    "running with OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (LORAFGC_KEEP_OPENBLAS_CORETYPE=1 keeps yours)"
}

# The C++ tests under AddressSanitizer and UBSan (any report fails them); the
# cases tagged [slow] run in the release build only. One build serves them and
# the fuzz targets (tools/fuzz.sh), so the library is compiled twice in all,
# not three times; -O1 with Eigen's assertions on (docs/testing.md).
sanitizers() {
  cmake --preset sanitize >/dev/null
  timed cmake --build --preset sanitize -j "$(nproc)" --target \
    lorafgc_core_tests lorafgc_lora_tests lorafgc_looped_tests lorafgc_icl_tests \
    fuzz_sweep_config fuzz_algorithm_spec
  # libomp keeps thread-team bookkeeping until exit (tests/lsan.supp).
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  for workload in core lora looped icl; do
    echo "run.sh: $workload tests under ASan/UBSan"
    timed sanitized_tests "$workload"
  done
}

# One workload's tests under the sanitizers, in two shards side by side (one
# per core: most cases run on one thread) that together run every case but
# the [slow] ones; each shard's own summary and failures are printed.
sanitized_tests() {
  local exe=./build/sanitize/tests/lorafgc_$1_tests dir pids=() failed=0 listed ran
  dir=$(mktemp -d)
  "$exe" --list-test-names-only "~[slow]" | grep -v '^$' > "$dir/all" || true
  # Catch2 reads each line as a test spec: a comma or bracket in a name is escaped.
  sed 's/[],[*\\]/\\&/g' "$dir/all" | awk -v d="$dir" '{ print > (d "/shard" (NR % 2)) }'
  for shard in 0 1; do
    [ -s "$dir/shard$shard" ] || continue
    "$exe" -f "$dir/shard$shard" > "$dir/out$shard" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed=1; done
  cat "$dir"/out*
  listed=$(wc -l < "$dir/all")
  ran=$(cat "$dir"/out* | { grep -oE '[0-9]+ test cases?' || true; } | awk '{ n += $1 } END { print n + 0 }')
  rm -rf "$dir"
  if ((failed)); then return 1; fi
  if ((ran != listed)); then
    echo "run.sh: $1 shards ran $ran test cases of $listed listed" >&2
    return 1
  fi
}

case "${1:-}" in
  main)
    install_missing
    build
    choose_blas_kernels
    out="results/main-$(date +%Y%m%d-%H%M%S)"
    mkdir -p "$out"
    ./build/release/tools/lorafgc-run --L 2048 --d 64 --r 8 --mode partial --dtype float32 | tee "$out/exact.txt"
    ./build/release/tools/lorafgc-sweep run reports/configs/default.json --output "$out/results.jsonl"
    PYTHONPATH=build/release/python /usr/bin/python3 benchmarks/lora/torch_compare.py --preset main --repeat 5 \
      --json "$out/torch.json"
    /usr/bin/python3 tools/lorafgc_report.py report "$out/results.jsonl" --torch "$out/torch.json" \
      --out "$out/report"
    echo "run.sh: report in $out/report/report.md"
    ;;
  test)
    timed install_missing
    timed build
    choose_blas_kernels
    timed ctest --preset release -j "$(nproc)"
    sanitizers
    timed tools/fuzz.sh 60
    ;;
  *)
    echo "usage: $0 main|test" >&2
    exit 2
    ;;
esac
