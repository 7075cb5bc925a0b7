#!/usr/bin/env bash
# Installs what the build needs on a fresh machine, and nothing when it is
# all there already (fast, idempotent). Called by scripts/demo.sh and
# scripts/test.sh; safe to run by hand.
set -euo pipefail

# Debian packages the workspace needs, as "command-or-file:package" pairs.
# (The Rust toolchain itself comes with the machine.)
REQUIRED=(
  "cc:gcc"
)

missing=()
for entry in "${REQUIRED[@]}"; do
  probe=${entry%%:*}
  package=${entry#*:}
  if [[ $probe == /* ]]; then
    [[ -e $probe ]] || missing+=("$package")
  else
    command -v "$probe" >/dev/null 2>&1 || missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null 2>&1 || {
  echo "setup: cargo is not installed; install the Rust toolchain (rustup) first" >&2
  exit 1
}
