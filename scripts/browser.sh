#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the status page's browser
# test (core/tests/status_page.rs), when they are missing. Called by
# scripts/test.sh; idempotent.
set -euo pipefail
missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ -x /usr/bin/chromedriver ]] || missing+=(chromium-driver)
if ((${#missing[@]})); then
  echo "browser: installing ${missing[*]} (Debian packages, for the status page's browser test)" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  echo "browser: installed ${missing[*]}" >&2
fi
