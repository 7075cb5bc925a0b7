#!/usr/bin/env bash
# Installs what the build needs on a fresh machine, and nothing when it is
# all there already (fast, idempotent). Called by scripts/demo.sh and
# scripts/test.sh; safe to run by hand.
set -euo pipefail

have_libclang() {
  # RocksDB's Rust bindings are generated with libclang at build time.
  [[ -n ${LIBCLANG_PATH:-} ]] && return 0
  compgen -G "/usr/lib/llvm-*/lib/libclang*.so*" >/dev/null || compgen -G "/usr/lib/*/libclang*.so*" >/dev/null
}

missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
have_libclang || missing+=(libclang-dev)

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

command -v cargo >/dev/null 2>&1 || {
  echo "setup: cargo is not installed; install the Rust toolchain (rustup) first" >&2
  exit 1
}
