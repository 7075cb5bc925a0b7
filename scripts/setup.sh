#!/usr/bin/env bash
# Installs what the build needs on a fresh machine, says what it installs,
# and does nothing when it is all there already (fast, idempotent). Called
# by scripts/demo.sh and scripts/test.sh; safe to run by hand.
#
#   scripts/setup.sh                 check, then install what is missing
#   scripts/setup.sh --check         only print what is missing (exit 1 if any)
#   SETUP_ROOT=DIR scripts/setup.sh --check
#                                    check a file tree laid out like a machine
#                                    (used by scripts/test-setup.sh)
set -euo pipefail

root=${SETUP_ROOT:-}

# The C library that RocksDB's bindings generator (bindgen, through
# clang-sys) loads at build time: libclang.so, libclang.so.N or
# libclang-N.so[.M]. Not libclang-cpp.so.N, the C++ interface, which a
# fresh Debian machine ships without libclang itself.
is_libclang() {
  local name=${1##*/}
  [[ $name == libclang.so || $name == libclang.so.[0-9]* || $name == libclang-[0-9]*.so* ]]
}

have_libclang() {
  local dirs=() dir f
  if [[ -n ${LIBCLANG_PATH:-} && -z $root ]]; then
    dirs=("$LIBCLANG_PATH")
  else
    # The directories clang-sys searches on Linux.
    dirs=("$root"/usr/lib/llvm-*/lib "$root"/usr/lib/*-linux-gnu "$root"/usr/lib "$root"/usr/lib64 "$root"/usr/local/lib "$root"/usr/local/llvm*/lib)
  fi
  for dir in "${dirs[@]}"; do
    [[ -d $dir ]] || continue
    for f in "$dir"/libclang*.so*; do
      [[ -e $f ]] && is_libclang "$f" && return 0
    done
  done
  return 1
}

have_openssl_headers() {
  local f
  for f in "$root"/usr/include/openssl/ssl.h "$root"/usr/local/include/openssl/ssl.h; do
    [[ -e $f ]] && return 0
  done
  return 1
}

have_command() {
  if [[ -n $root ]]; then
    [[ -x $root/usr/bin/$1 || -x $root/usr/local/bin/$1 ]]
  else
    command -v "$1" >/dev/null 2>&1
  fi
}

missing=()
have_command cc || missing+=(gcc)
have_command c++ || missing+=(g++)
# librdkafka (the Kafka backend, crate tributary-kafka) is built from the
# rdkafka crate's bundled sources with its configure script and make.
have_command make || missing+=(make)
# librdkafka is built with TLS (and so SASL/SCRAM) against the system's
# OpenSSL, which openssl-sys finds through pkg-config.
have_command pkg-config || missing+=(pkg-config)
have_openssl_headers || missing+=(libssl-dev)
# The TLS test makes its certificate with the openssl command.
have_command openssl || missing+=(openssl)
have_libclang || missing+=(libclang-dev)

if [[ ${1:-} == --check ]]; then
  if ((${#missing[@]})); then
    echo "missing: ${missing[*]}"
    exit 1
  fi
  echo "missing: nothing"
  exit 0
fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]} (Debian packages the build needs)" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  if ! have_libclang; then
    echo "setup: libclang is still not found after installing libclang-dev; set LIBCLANG_PATH" >&2
    exit 1
  fi
  echo "setup: installed ${missing[*]}" >&2
fi

command -v cargo >/dev/null 2>&1 || {
  echo "setup: cargo is not installed; install the Rust toolchain (rustup) first" >&2
  exit 1
}
