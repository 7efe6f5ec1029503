#!/usr/bin/env bash
# Benchmark: interpretation control. From a mic-switch request to the control
# API to the new program at the channel's JACK output, over 1,000 switches
# (target p99 <= one JACK period + the 5 ms crossfade), then 200 requests/s
# for 10 s (target: no xrun, no glitch, every request answered). The
# measuring is bench_switch's (see its header); this script starts a private
# jackd -R -d dummy, the engine with the control API on a free loopback port
# and a technician token, runs it, and stops everything.
#   SWITCH_PERIODS="128 64" to measure other JACK periods (default 128, the
#   lan profile); extra arguments go to bench_switch (e.g. --switches 200).
set -euo pipefail
: "${DRAGOMAND:?}" "${BENCH_SWITCH:?}"
tmp=$(mktemp -d)
pids=()
jack_pid=
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  if [[ -n $jack_pid ]]; then kill "$jack_pid" 2>/dev/null || true; wait "$jack_pid" 2>/dev/null || true; jack_pid=; fi
}
trap 'stop_all; rm -rf "$tmp"' EXIT

wait_port() { for _ in $(seq 100); do jack_lsp 2>/dev/null | grep -qx "$1" && return 0; sleep 0.1; done; echo "no port $1" >&2; return 1; }

# A loopback TCP port nobody listens on.
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then echo "$p"; return 0; fi
  done
  return 1
}

fail=0
measure() { # period [bench_switch arguments]
  local period=$1
  shift
  export JACK_DEFAULT_SERVER=dmswitch-$$-$period
  jackd -n "$JACK_DEFAULT_SERVER" -R -P 70 -d dummy -r 48000 -p "$period" >"$tmp/jackd.log" 2>&1 &
  jack_pid=$!
  jack_wait -w -t 10 >/dev/null 2>&1
  local port; port=$(free_port)
  "$DRAGOMAND" --keygen "$tmp/switch.secret" >/dev/null
  (umask 077
   token=$(openssl rand -hex 32)
   echo "technician $token" >"$tmp/switch.tokens"
   echo "$token" >"$tmp/token"
   echo "Authorization: Bearer $token" >"$tmp/auth.header")
  cat >"$tmp/switch.conf" <<CONF
conference = { id = "switch"; name = "Switch bench"; secret_file = "switch.secret"; profile = "lan"; };
jack = { client_name = "dragoman"; };
network = { interface = "127.0.0.1"; ttl = 0; };
floor = { name = "Floor"; group = "239.255.67.1"; port = 5004; };
channels = ( { id = "fr"; name = "Français"; group = "239.255.67.2"; port = 5004; fallback = "floor"; } );
booths = ( { id = "fr"; consoles = ( { id = "fr-1"; a = "fr"; live = true; }, { id = "fr-2"; a = "fr"; } ); } );
control = { listen = "127.0.0.1:$port"; tokens_file = "switch.tokens"; };
CONF
  "$DRAGOMAND" --config "$tmp/switch.conf" >"$tmp/engine.log" 2>&1 &
  local engine=$!
  pids+=("$engine")
  wait_port dragoman:fr.program
  local up=0
  for _ in $(seq 100); do
    if curl -sf -o /dev/null -H @"$tmp/auth.header" "http://127.0.0.1:$port/api/v1/state"; then
      up=1; break
    fi
    sleep 0.1
  done
  if [[ $up = 0 ]]; then
    echo "switch (p$period): the control API on 127.0.0.1:$port does not answer" >&2
    tail -n 5 "$tmp/engine.log" >&2
    fail=1; stop_all; return
  fi
  echo "== jackd -R -d dummy -r 48000 -p $period; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) =="
  local rc=0
  "$BENCH_SWITCH" --url "http://127.0.0.1:$port" --token-file "$tmp/token" "$@" || rc=$?
  # jackd says why: its own timer woke late, or a client had not finished its
  # cycle. When our own clients (which only copy constants) are late as often
  # as the engine, the machine is the cause.
  local timer late_clients
  timer=$(grep -c 'JackTimedDriver::Process XRun' "$tmp/jackd.log" || true)
  late_clients=$(grep -oE 'client = [^ ]+ (was not finished|finished after)' "$tmp/jackd.log" |
    awk '{ n[$3]++ } END { for (c in n) { printf "%s%s %d", sep, c, n[c]; sep = ", " } }' || true)
  echo "  jackd's log, whole run: ${timer} xruns of its timer waking late; clients late: ${late_clients:-none}"
  if [[ $rc != 0 ]]; then
    fail=1
    grep -E 'error|warn' "$tmp/engine.log" | tail -n 3 | sed 's/^/  engine: /' || true
  fi
  stop_all
}

for p in ${SWITCH_PERIODS:-128}; do
  measure "$p" "$@"
done
exit $fail
