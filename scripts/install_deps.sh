#!/usr/bin/env bash
# Installs what attnjit needs to build and test on Debian 12, if it is missing: CMake, g++, fmt,
# nlohmann_json, SQLite, doctest, CLI11 and OpenSSL's libcrypto from Debian's packages, and for the Python
# front end's tests PyTorch (CPU), pytest, setuptools, wheel and venv for Debian's python3. The CUDA 13
# toolkit (NVRTC and headers) cannot come from Debian's archive: it must already be installed.
set -euo pipefail
packages=(cmake g++ make libfmt-dev nlohmann-json3-dev libsqlite3-dev doctest-dev libcli11-dev libssl-dev
          python3 python3-torch python3-numpy python3-pytest python3-setuptools python3-wheel python3-pip python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "attnjit: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cuda=${CUDA_HOME:-/usr/local/cuda}
if [ ! -f "$cuda/include/nvrtc.h" ] || ! ls "$cuda"/lib64/libnvrtc.so.13* >/dev/null 2>&1; then
  echo "attnjit: the CUDA 13 toolkit was not found under $cuda (need include/nvrtc.h, include/cuda.h and" >&2
  echo "lib64/libnvrtc.so.13). Install it from NVIDIA's repository, or set CUDA_HOME to where it is." >&2
  exit 1
fi
