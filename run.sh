#!/usr/bin/env bash
# The two commands of the README, on a fresh Debian 12 machine as root:
#   ./run.sh main   install what is missing, build, run the main job
#   ./run.sh test   install what is missing, build, run every test (C++ and Python)
set -euo pipefail
cd "$(dirname "$0")"

packages=(cmake g++ make pkg-config
          libeigen3-dev libopenblas-openmp-dev libbenchmark-dev libbenchmark-tools catch2
          pybind11-dev python3-dev python3-numpy python3-pytest python3-matplotlib python3-torch
          libcli11-dev libfmt-dev nlohmann-json3-dev)

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

case "${1:-}" in
  main)
    install_missing
    build
    for dtype in float64 float32; do
      ./build/release/tools/lorafgc-run --L 2048 --d 64 --r 8 --mode partial --dtype "$dtype"
      echo
    done
    ;;
  test)
    install_missing
    build
    ctest --preset release -j "$(nproc)"
    ;;
  *)
    echo "usage: $0 main|test" >&2
    exit 2
    ;;
esac
