#!/usr/bin/env bash
# Runs the main demo, real-time recommendations for a synthetic shop, on
# the embedded log. Extra arguments go to the demo (e.g. --events 200000).
#
# The first run compiles RocksDB's C++ (about 15 minutes on 2 cores; cargo
# prints each crate as it compiles). It builds with the whole workspace's
# features, exactly as scripts/test.sh does, so that the test suite reuses
# this build instead of compiling RocksDB a second time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== cargo build --workspace --examples (the first build takes about 15 minutes)" >&2
exe=$(cargo build --workspace --examples --message-format=json-render-diagnostics |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "recommendations" and m.get("executable"):
        print(m["executable"])')
[[ -n $exe ]] || { echo "demo.sh: cargo built no demo executable" >&2; exit 1; }
exec "$exe" "$@"
