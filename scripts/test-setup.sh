#!/usr/bin/env bash
# Tests scripts/setup.sh's detection against file trees laid out like
# machines: a fresh Debian machine (only libclang-cpp.so.14, the C++
# interface) must be reported as missing libclang-dev; trees with the C
# library that bindgen loads must not. Prints "setup: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# machine NAME FILE...: a fake root with cc, c++, make, pkg-config, openssl,
# OpenSSL's headers and the given files.
machine() {
  local dir=$work/$1
  shift
  mkdir -p "$dir/usr/bin" "$dir/usr/include/openssl"
  local tool
  for tool in cc c++ make pkg-config openssl; do
    touch "$dir/usr/bin/$tool"
    chmod +x "$dir/usr/bin/$tool"
  done
  touch "$dir/usr/include/openssl/ssl.h"
  local f
  for f in "$@"; do
    mkdir -p "$dir/$(dirname "$f")"
    touch "$dir/$f"
  done
  echo "$dir"
}

# expect NAME "missing: ..." ROOT
expect() {
  local got
  got=$(SETUP_ROOT=$3 LIBCLANG_PATH= scripts/setup.sh --check 2>&1)
  if [[ $got == "$2" ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "setup test $1: expected '$2', got '$got'" >&2
  fi
}

fresh=$(machine fresh usr/lib/x86_64-linux-gnu/libclang-cpp.so.14 usr/lib/llvm-14/lib/libclang-cpp.so.14 usr/lib/x86_64-linux-gnu/libLLVM-14.so.1)
expect fresh-debian "missing: libclang-dev" "$fresh"

with_dev=$(machine dev usr/lib/x86_64-linux-gnu/libclang-cpp.so.14 usr/lib/llvm-14/lib/libclang.so usr/lib/x86_64-linux-gnu/libclang-14.so.1)
expect libclang-dev "missing: nothing" "$with_dev"

versioned=$(machine versioned usr/lib/x86_64-linux-gnu/libclang-16.so.16)
expect libclang-versioned-only "missing: nothing" "$versioned"

bare=$(machine bare)
rm "$bare/usr/bin/c++" "$bare/usr/bin/make"
expect no-compiler-no-make-no-clang "missing: g++ make libclang-dev" "$bare"

no_tls=$(machine no-tls usr/lib/llvm-14/lib/libclang.so)
rm "$no_tls/usr/bin/pkg-config" "$no_tls/usr/bin/openssl" "$no_tls/usr/include/openssl/ssl.h"
expect no-openssl "missing: pkg-config libssl-dev openssl" "$no_tls"

# And the machine this runs on, after setup.sh has run: nothing missing.
got=$(scripts/setup.sh --check 2>&1)
if [[ $got == "missing: nothing" ]]; then passed=$((passed + 1)); else
  failed=$((failed + 1))
  echo "setup test this-machine: expected 'missing: nothing', got '$got'" >&2
fi

echo "setup: $passed passed, $failed failed"
((failed == 0))
