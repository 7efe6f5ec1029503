#!/usr/bin/env bash
# Benchmark: mouth-to-ear latency inside the JACK graph. jack_iodelay's
# output feeds dragoman:floor; a dragoman-listen --out jack on the floor
# channel feeds jack_iodelay's input: the loop is JACK -> engine (router,
# Opus, RTP, SRTP, multicast) -> listener (SRTP, jitter buffer, Opus, playout)
# -> JACK. Also reports the engine's CPU use while streaming.
#   profile lan       with jackd -R -d dummy -p 128 (target <= 15 ms)
#   profile lan-ultra with jackd -R -d dummy -p 64  (target <= 10 ms)
set -euo pipefail
: "${DRAGOMAND:?}" "${DRAGOMAN_LISTEN:?}"
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
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

fail=0
measure() { # profile period target_ms
  local profile=$1 period=$2 target=$3
  export JACK_DEFAULT_SERVER=dmbench-$$-$period
  jackd -n "$JACK_DEFAULT_SERVER" -R -P 70 -d dummy -r 48000 -p "$period" >"$tmp/jackd.log" 2>&1 &
  jack_pid=$!
  jack_wait -w -t 10 >/dev/null
  "$DRAGOMAND" --keygen "$tmp/bench-$period.secret" >/dev/null
  cat >"$tmp/bench-$period.conf" <<CONF
conference = { id = "bench"; name = "Latency bench"; secret_file = "bench-$period.secret"; profile = "$profile"; };
jack = { client_name = "dragoman"; };
network = { interface = "127.0.0.1"; ttl = 0; };
floor = { name = "Floor"; group = "239.255.66.$period"; port = 5004; };
channels = ( { id = "en"; name = "English"; group = "239.255.66.$((period + 1))"; port = 5004; } );
CONF
  "$DRAGOMAND" --config "$tmp/bench-$period.conf" >"$tmp/engine.log" 2>&1 &
  local engine=$!
  pids+=($engine)
  wait_port dragoman:floor
  "$DRAGOMAN_LISTEN" --config "$tmp/bench-$period.conf" --channel floor --out jack \
    --name bench-ear --stats >"$tmp/listen.json" 2>"$tmp/listen.log" </dev/null &
  local listener=$!
  pids+=($listener)
  wait_port bench-ear:out
  # Line-buffered: jack_iodelay prints a reading every half second.
  stdbuf -oL jack_iodelay >"$tmp/iodelay.log" 2>&1 &
  pids+=($!)
  wait_port jack_delay:in
  jack_connect jack_delay:out dragoman:floor
  jack_connect bench-ear:out jack_delay:in
  sleep 3
  local t0 c0; t0=$(date +%s.%N); c0=$(cpu_ticks "$engine")
  sleep 6
  local t1 c1; t1=$(date +%s.%N); c1=$(cpu_ticks "$engine")
  # The median of the readings of the measuring window, and their spread.
  local ms spread
  read -r ms spread < <(tr '\r' '\n' <"$tmp/iodelay.log" | grep -o '[0-9.]* ms total roundtrip' |
    tail -n 10 | awk '{print $1}' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR) printf "%s %s-%s\n", v[int((NR + 1) / 2)], v[1], v[NR] }')
  kill -INT "$listener" 2>/dev/null || true
  wait "$listener" 2>/dev/null || true
  local cpu
  cpu=$(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f", (c1 - c0) / hz / (t1 - t0) * 100 }')
  echo "latency $profile (jackd -R -d dummy -p $period): ${ms:-none} ms mouth-to-ear, median of the last 10 jack_iodelay readings (range ${spread:-none}; target <= $target ms); engine CPU ${cpu}% of a core for 2 channels"
  echo "  listener: $(cat "$tmp/listen.json")"
  if [[ -z $ms ]]; then
    echo "  jack_iodelay found no signal:"; tail -n 5 "$tmp/iodelay.log"; fail=1
  elif awk -v m="$ms" -v t="$target" 'BEGIN { exit !(m > t) }'; then
    fail=1
  fi
  stop_all
}

measure lan 128 15
measure lan-ultra 64 10
exit $fail
