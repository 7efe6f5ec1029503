# shellcheck shell=bash
# dragoman integration tests: shared shell helpers. Source it from a test
# script that runs under `set -euo pipefail`:
#
#   . "$(dirname "$0")/lib.sh"
#   dm_init             # checks the binaries, makes $DM_TMP, installs the cleanup trap
#   dm_jackd_start      # a private jackd -d dummy, exports JACK_DEFAULT_SERVER
#   ...
#   dm_finish           # exit 0 when every dm_check passed, 1 otherwise
#
# Paths to the programs come from the environment (meson sets them):
# DRAGOMAND, DRAGOMAN_LISTEN, DM_JACK_TONES, DM_WAV_TONE, DM_UDP.
# Everything started through these helpers is stopped by the EXIT trap.
# Set DM_KEEP=1 to keep the temporary folder even when the test passes.

DM_PIDS=()            # engine, listeners, tone clients: killed at exit
DM_JACKD_PIDS=()      # jackd servers: stopped last, waited for
DM_FAILS=0
DM_CHECKS=0
DM_JACKD_SEQ=0
DM_TMP=""
DM_TEST_NAME=$(basename "${0%.sh}")

# Multicast groups and port of the test conference: 239.255.N.x with N
# 100..249 from the PID, so that tests may run alongside the demo's
# 239.255.42.x and alongside another test run (another build dir) on the same
# machine. Override with DM_GROUP_BASE=a.b.c / DM_PORT.
DM_GROUP_BASE=${DM_GROUP_BASE:-239.255.$((100 + $$ % 150))}
DM_PORT=${DM_PORT:-5104}

dm_say() { printf '[%s %s] %s\n' "$(date +%T.%3N)" "$DM_TEST_NAME" "$*" >&2; }

# Aborts the test now (setup failed: nothing left to measure).
dm_die() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# Records a failed assertion and goes on, so that one run prints every measurement.
dm_fail() {
	printf 'FAIL: %s\n' "$*" >&2
	DM_FAILS=$((DM_FAILS + 1))
}

dm_ok() { printf 'ok: %s\n' "$*" >&2; }

# dm_check DESC A OP B: numeric comparison (awk, floats), OP one of < <= > >= == !=.
# A value that is not a number (null, empty) fails every comparison.
dm_check() {
	local desc=$1 a=$2 op=$3 b=$4
	DM_CHECKS=$((DM_CHECKS + 1))
	if awk -v a="$a" -v b="$b" -v op="$op" 'BEGIN {
		num = "^[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?$"
		if (a !~ num || b !~ num) exit 1
		a += 0; b += 0
		if (op == "<") exit !(a < b)
		if (op == "<=") exit !(a <= b)
		if (op == ">") exit !(a > b)
		if (op == ">=") exit !(a >= b)
		if (op == "==") exit !(a == b)
		if (op == "!=") exit !(a != b)
		exit 1 }'; then
		dm_ok "$desc: $a $op $b"
	else
		dm_fail "$desc: measured $a, want $op $b"
	fi
}

# dm_check_str DESC A OP B with OP = or !=.
dm_check_str() {
	local desc=$1 a=$2 op=$3 b=$4
	DM_CHECKS=$((DM_CHECKS + 1))
	if { [ "$op" = "=" ] && [ "$a" = "$b" ]; } || { [ "$op" = "!=" ] && [ "$a" != "$b" ]; }; then
		dm_ok "$desc: '$a' $op '$b'"
	else
		dm_fail "$desc: '$a', want $op '$b'"
	fi
}

# awk arithmetic for thresholds: dm_calc '4 * 1000 / 5 * 0.6'
# The expression is parenthesised: awk would take a bare "a > b" after
# printf's arguments for a redirection to a file named b (the watch test's
# time limits were such files, named 5, 20 and 40, and never fired).
dm_calc() { awk "BEGIN { printf \"%.6g\", ($*) }"; }

# dm_cpu_ticks PID: the CPU time all threads of PID have used so far (utime +
# stime in /proc/PID/stat), in clock ticks, DM_CLK_TCK to the second.
dm_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
DM_CLK_TCK=$(getconf CLK_TCK)
# dm_mono_now: the monotonic clock in seconds, for the wall time around a
# CPU reading.
dm_mono_now() { "$DM_PYTHON" -c 'import time; print("%.6f" % time.monotonic())'; }

dm_finish() {
	if [ "$DM_FAILS" -gt 0 ]; then
		printf '%s: %d of %d checks FAILED (files kept in %s)\n' "$DM_TEST_NAME" \
			"$DM_FAILS" "$DM_CHECKS" "$DM_TMP" >&2
		DM_KEEP=1
		exit 1
	fi
	if [ "$DM_CHECKS" -eq 0 ]; then
		dm_die "$DM_TEST_NAME: no checks ran"
	fi
	printf '%s: all %d checks passed\n' "$DM_TEST_NAME" "$DM_CHECKS" >&2
	exit 0
}

# ---------------------------------------------------------------- processes

dm_alive() { kill -0 "$1" 2>/dev/null; }

# dm_wait_pid_exit PID TIMEOUT_S: 0 when PID is gone within the time.
dm_wait_pid_exit() {
	local pid=$1 t=$2 i=0
	while dm_alive "$pid"; do
		[ "$i" -ge $((t * 20)) ] && return 1
		sleep 0.05
		i=$((i + 1))
	done
	return 0
}

# dm_stop PID [TIMEOUT_S]: SIGTERM, then SIGKILL after the timeout. Sets
# DM_STOP_RC to the exit status of our child (143 = killed by SIGTERM, 137 =
# SIGKILL). Not for use in $(...): only the parent shell can wait for a child.
dm_stop() {
	local pid=$1 t=${2:-5}
	DM_STOP_RC=0
	if dm_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! dm_wait_pid_exit "$pid" "$t"; then
			dm_say "pid $pid ignored SIGTERM for ${t} s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || DM_STOP_RC=$?
}

dm_cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	set +e
	for pid in "${DM_PIDS[@]}"; do
		dm_alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${DM_PIDS[@]}"; do
		if ! dm_wait_pid_exit "$pid" 5; then
			dm_say "pid $pid still running: SIGKILL"
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	for pid in "${DM_JACKD_PIDS[@]}"; do
		dm_alive "$pid" && kill -TERM "$pid" 2>/dev/null
		# jackd takes about 2 s to stop; the next test may start a server at once
		if ! dm_wait_pid_exit "$pid" 10; then
			dm_say "jackd $pid still running: SIGKILL"
			kill -KILL "$pid" 2>/dev/null
			dm_wait_pid_exit "$pid" 5
		fi
	done
	wait 2>/dev/null
	if [ -n "$DM_TMP" ] && [ -d "$DM_TMP" ]; then
		if [ "$rc" -ne 0 ] || [ "${DM_KEEP:-0}" = 1 ]; then
			dm_say "files kept in $DM_TMP"
		else
			rm -rf "$DM_TMP"
		fi
	fi
	exit "$rc"
}

# dm_bg NAME CMD...: starts CMD in the background with stdout in
# $DM_TMP/NAME.out and stderr in $DM_TMP/NAME.err; sets DM_BG_PID.
dm_bg() {
	local name=$1
	shift
	"$@" >"$DM_TMP/$name.out" 2>"$DM_TMP/$name.err" &
	DM_BG_PID=$!
	DM_PIDS+=("$DM_BG_PID")
}

# Prints the last lines of a log, indented, for a failure message.
dm_tail() {
	local f
	for f in "$@"; do
		[ -s "$f" ] || continue
		printf -- '--- %s (last lines) ---\n' "$f" >&2
		tail -n "${DM_TAIL_LINES:-15}" "$f" | sed 's/^/    /' >&2
	done
}

# ---------------------------------------------------------------- setup

# dm_require_prog VAR NAME: the program in $VAR exists and answers --help with
# exit 0 (a placeholder main() that returns 1 does not).
dm_require_prog() {
	local var=$1 name=$2 path rc=0
	path=${!var:-}
	[ -n "$path" ] || dm_die "\$$var is not set (run the test through meson test)"
	[ -x "$path" ] || dm_die "$name not built: $path is missing"
	"$path" --help >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || dm_die "$name not built: '$path --help' exits $rc (placeholder?)"
}

dm_require_tool() {
	local var=$1 path
	path=${!var:-}
	[ -n "$path" ] || dm_die "\$$var is not set (run the test through meson test)"
	[ -x "$path" ] || dm_die "test tool not built: $path is missing"
}

dm_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || dm_die "$c is not installed"
	done
}

# dm_init [--no-engine]: checks what the test needs, makes the temporary
# folder and installs the cleanup trap.
# shellcheck disable=SC2120 # the optional argument is for tools.sh only
dm_init() {
	trap dm_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	DM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/dm-$DM_TEST_NAME-XXXXXX")
	dm_require_cmd jackd jack_wait jack_lsp jack_rec awk sox
	dm_require_tool DM_JACK_TONES
	dm_require_tool DM_WAV_TONE
	dm_require_tool DM_UDP
	if [ "${1:-}" != "--no-engine" ]; then
		dm_require_prog DRAGOMAND dragomand
		dm_require_prog DRAGOMAN_LISTEN dragoman-listen
	fi
	dm_say "temporary folder $DM_TMP"
}

# Multicast between two sockets on loopback: works when both name 127.0.0.1
# (TESTING.md). If a probe fails and we are root, turn the MULTICAST flag on
# for lo and try again.
dm_mcast_check() {
	local probe=$DM_TMP/mcast-probe
	_dm_mcast_probe() {
		"$DM_UDP" capture --group "$DM_GROUP_BASE.250" --port "$DM_PORT" --count 5 \
			--out "$probe.bin" --timeout 2 >"$probe.json" 2>"$probe.err" &
		local cap=$!
		sleep 0.3
		"$DM_UDP" garbage --group "$DM_GROUP_BASE.250" --port "$DM_PORT" --count 50 \
			--rate 200 >/dev/null 2>&1 || true
		wait "$cap"
	}
	if _dm_mcast_probe; then
		return 0
	fi
	if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
		dm_say "multicast on loopback failed: ip link set lo multicast on"
		ip link set lo multicast on || true
		_dm_mcast_probe && return 0
	fi
	dm_tail "$probe.err"
	dm_die "multicast on loopback does not work here (dm-udp probe on $DM_GROUP_BASE.250)"
}

# dm_jackd_start [PERIOD]: a private dummy server, realtime if possible.
# Exports JACK_DEFAULT_SERVER; sets DM_JACKD_PID.
dm_jackd_start() {
	dm_jackd_start_as "dmtest-$$-$((DM_JACKD_SEQ + 1))" "${1:-128}"
}

# dm_jackd_start_as NAME [PERIOD]: dm_jackd_start with the server name given,
# e.g. to start the same server again after stopping it (dm_jackd_stop).
dm_jackd_start_as() {
	local name=$1 period=${2:-128} log rt
	DM_JACKD_SEQ=$((DM_JACKD_SEQ + 1))
	for rt in -R --no-realtime; do
		log="$DM_TMP/jackd-$DM_JACKD_SEQ$rt.log"
		if [ "$rt" = -R ]; then
			jackd -n "$name" -R -P 70 -d dummy -r 48000 -p "$period" >"$log" 2>&1 &
		else
			jackd -n "$name" --no-realtime -d dummy -r 48000 -p "$period" >"$log" 2>&1 &
		fi
		DM_JACKD_PID=$!
		DM_JACKD_PIDS+=("$DM_JACKD_PID")
		export JACK_DEFAULT_SERVER=$name
		if jack_wait -w -t 10 >/dev/null 2>&1 && dm_alive "$DM_JACKD_PID"; then
			DM_JACKD_LOG=$log
			dm_say "jackd $name ($rt, period $period) pid $DM_JACKD_PID"
			return 0
		fi
		dm_say "jackd $rt did not start"
		dm_tail "$log"
		kill -TERM "$DM_JACKD_PID" 2>/dev/null || true
		dm_wait_pid_exit "$DM_JACKD_PID" 10 || kill -KILL "$DM_JACKD_PID" 2>/dev/null || true
	done
	dm_die "cannot start jackd -d dummy"
}

# dm_jackd_stop: SIGTERM to the last server started, waits for it to exit
# (about 2 s), so that a server of the same name can start again.
dm_jackd_stop() {
	dm_stop "$DM_JACKD_PID" 10
	dm_say "jackd pid $DM_JACKD_PID stopped (status $DM_STOP_RC)"
}

# Number of xruns jackd logged so far (reported, not asserted: 2 shared cores).
dm_jackd_xruns() { grep -c 'XRun' "$DM_JACKD_LOG" 2>/dev/null || true; }

# ---------------------------------------------------------------- config

# dm_make_conf DIR [key=value ...]: writes DIR/test.conf and, unless it exists,
# the secret DIR/<secret> with `dragomand --keygen`. Keys (defaults):
#   name=test        file name of the config (DIR/<name>.conf)
#   secret=test.secret
#   id=dmtest        conference id (part of the key derivation)
#   base=$DM_GROUP_BASE port=$DM_PORT   groups base.0 (floor) .1 en .2 fr .3 es
#   client=dragoman  JACK client name
#   es_live=true     es-1 live at start
#   es_fallback=silence   en_fallback=floor   fr_fallback=floor
#   profile=lan
# Sets DM_CONF to the config's path.
dm_make_conf() {
	local dir=$1
	shift
	local name=test secret=test.secret id=dmtest base=$DM_GROUP_BASE port=$DM_PORT
	local client=dragoman es_live=true es_fallback=silence en_fallback=floor
	local fr_fallback=floor profile=lan kv
	for kv in "$@"; do
		case $kv in
		name=* | secret=* | id=* | base=* | port=* | client=* | es_live=* | \
			es_fallback=* | en_fallback=* | fr_fallback=* | profile=*)
			local "$kv" ;;
		*) dm_die "dm_make_conf: unknown setting $kv" ;;
		esac
	done
	mkdir -p "$dir"
	cat >"$dir/$name.conf" <<EOF
# written by $DM_TEST_NAME (tests/integration/lib.sh dm_make_conf)
conference = { id = "$id"; name = "dragoman $DM_TEST_NAME"; secret_file = "$secret"; profile = "$profile"; };
jack = { client_name = "$client"; };
network = { interface = "127.0.0.1"; ttl = 1; };
floor = { name = "Floor"; group = "$base.0"; port = $port; };
channels = (
  { id = "en"; name = "English"; group = "$base.1"; port = $port; fallback = "$en_fallback"; },
  { id = "fr"; name = "Français"; group = "$base.2"; port = $port; fallback = "$fr_fallback"; },
  { id = "es"; name = "Español"; group = "$base.3"; port = $port; fallback = "$es_fallback"; }
);
booths = (
  { id = "fr"; consoles = ( { id = "fr-1"; a = "fr"; live = true; }, { id = "fr-2"; a = "fr"; } ); },
  { id = "es"; consoles = ( { id = "es-1"; a = "es"; b = "en"; live = $es_live; } ); }
);
EOF
	if [ ! -e "$dir/$secret" ]; then
		local rc=0
		"$DRAGOMAND" --keygen "$dir/$secret" >"$dir/keygen.out" 2>&1 || rc=$?
		if [ "$rc" -ne 0 ] || [ ! -s "$dir/$secret" ]; then
			dm_tail "$dir/keygen.out"
			dm_die "dragomand --keygen $dir/$secret failed (exit $rc)"
		fi
	fi
	local rc=0
	"$DRAGOMAND" --config "$dir/$name.conf" --check >"$dir/check.out" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		dm_tail "$dir/check.out"
		dm_die "dragomand --check rejects the test config $dir/$name.conf (exit $rc)"
	fi
	DM_CONF=$dir/$name.conf
}

# ---------------------------------------------------------------- waiting

# dm_wait_file FILE TIMEOUT_S
dm_wait_file() {
	local f=$1 t=$2 i=0
	while [ ! -s "$f" ]; do
		[ "$i" -ge $((t * 10)) ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}

dm_port_exists() { jack_lsp 2>/dev/null | grep -Fxq "$1"; }

# dm_wait_port PORT TIMEOUT_S
dm_wait_port() {
	local p=$1 t=$2 i=0
	while ! dm_port_exists "$p"; do
		[ "$i" -ge $((t * 10)) ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# dm_connected SRC DST: SRC is connected to DST.
dm_connected() {
	jack_lsp -c 2>/dev/null | awk -v s="$1" -v d="$2" '
		/^[^ \t]/ { cur = $0; next }
		{ sub(/^[ \t]+/, ""); if (cur == s && $0 == d) found = 1 }
		END { exit !found }'
}

# dm_wait_connected SRC DST TIMEOUT_S
dm_wait_connected() {
	local s=$1 d=$2 t=$3 i=0
	while ! dm_connected "$s" "$d"; do
		[ "$i" -ge $((t * 10)) ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# ---------------------------------------------------------------- engine

# dm_engine_start CONF SDPDIR [LOGNAME]: starts dragomand, waits for its JACK
# ports (client from the config: $DM_CLIENT, default dragoman). Sets DM_ENGINE_PID.
dm_engine_start() {
	local conf=$1 sdpdir=$2 log=${3:-engine} client=${DM_CLIENT:-dragoman}
	mkdir -p "$sdpdir"
	dm_bg "$log" "$DRAGOMAND" --config "$conf" --sdp-dir "$sdpdir"
	DM_ENGINE_PID=$DM_BG_PID
	DM_ENGINE_LOG=$DM_TMP/$log
	local p
	for p in "$client:floor" "$client:fr-1.mic" "$client:fr-2.mic" "$client:es-1.mic"; do
		if ! dm_wait_port "$p" 10; then
			dm_alive "$DM_ENGINE_PID" || dm_say "dragomand exited"
			dm_tail "$DM_ENGINE_LOG.err" "$DM_ENGINE_LOG.out"
			jack_lsp >&2 2>/dev/null || true
			dm_die "dragomand: JACK port $p did not appear within 10 s"
		fi
	done
	dm_say "dragomand pid $DM_ENGINE_PID, ports up"
}

# dm_engine_stop: SIGTERM and check the clean exit (status 0 within 5 s).
dm_engine_stop() {
	dm_stop "$DM_ENGINE_PID" 5
	dm_check "dragomand exit status after SIGTERM" "$DM_STOP_RC" == 0
	[ "$DM_STOP_RC" = 0 ] || dm_tail "$DM_ENGINE_LOG.err"
}

# dm_wait_sdps DIR TIMEOUT_S ID...: waits for DIR/<id>.sdp of each channel.
dm_wait_sdps() {
	local dir=$1 t=$2 id
	shift 2
	for id in "$@"; do
		if ! dm_wait_file "$dir/$id.sdp" "$t"; then
			dm_tail "$DM_ENGINE_LOG.err"
			ls -la "$dir" >&2 || true
			dm_die "dragomand did not write $dir/$id.sdp within $t s"
		fi
	done
}

# SDP fields: dm_sdp_ssrc FILE, dm_sdp_crypto FILE (the inline: key),
# dm_sdp_suite FILE, dm_sdp_group FILE, dm_sdp_port FILE, dm_sdp_ptime FILE.
dm_sdp_ssrc() { sed -n 's/^a=ssrc:\([0-9]*\).*/\1/p' "$1" | tr -d '\r' | head -n 1; }
dm_sdp_crypto() { sed -n 's/^a=crypto:[0-9]* [A-Za-z0-9_]* inline:\([A-Za-z0-9+/=]*\).*/\1/p' "$1" | head -n 1; }
dm_sdp_suite() { sed -n 's/^a=crypto:[0-9]* \([A-Za-z0-9_]*\) .*/\1/p' "$1" | head -n 1; }
dm_sdp_group() { sed -n 's/^c=IN IP4 \([0-9.]*\).*/\1/p' "$1" | head -n 1; }
dm_sdp_port() { sed -n 's/^m=audio \([0-9]*\) .*/\1/p' "$1" | head -n 1; }
dm_sdp_ptime() {
	local p
	p=$(sed -n 's/^a=ptime:\([0-9.]*\).*/\1/p' "$1" | head -n 1)
	echo "${p:-5}"
}

# dm_engine_restart CONF SDPDIR ID...: stops the engine (clean exit checked),
# removes its SDPs, starts it again and waits for the SDPs of the IDs.
dm_engine_restart() {
	local conf=$1 sdpdir=$2
	shift 2
	DM_ENGINE_RESTARTS=$((${DM_ENGINE_RESTARTS:-0} + 1))
	dm_engine_stop
	rm -f "$sdpdir"/*.sdp
	dm_engine_start "$conf" "$sdpdir" "engine-r$DM_ENGINE_RESTARTS"
	dm_wait_sdps "$sdpdir" 10 "$@"
}

# dm_sdp_seq FILE: the RTP sequence number the channel of FILE sends now
# (one packet captured from its group); empty if none came within 2 s.
dm_sdp_seq() {
	"$DM_UDP" capture --group "$(dm_sdp_group "$1")" --port "$(dm_sdp_port "$1")" \
		--iface 127.0.0.1 --count 1 --out /dev/null --timeout 2 2>/dev/null |
		grep -o '"first_seq":[0-9]*' | grep -o '[0-9]*$' || true
}

# SRTP's rollover counter is not on the wire: ffmpeg and GStreamer assume it
# is 0 when they join, so they can decode a stream only if its 16-bit sequence
# number has not wrapped since it started (DESIGN.md, wire formats). The
# engine starts at a random sequence number, so a wrap within the first
# seconds is possible (about 1 % of runs per channel per 3 s). The interop
# tests record each channel's sequence number when it starts
# (dm_seq_mark ID...) and, before a decoder joins, check that it has not
# wrapped since (dm_seq_unwrapped ID, false when it did).
declare -A DM_SEQ0
dm_seq_mark() {
	local id
	for id in "$@"; do
		DM_SEQ0[$id]=$(dm_sdp_seq "$DM_SDP_DIR/$id.sdp")
		[ -n "${DM_SEQ0[$id]}" ] || dm_die "no packet from channel $id within 2 s"
	done
}
dm_seq_unwrapped() {
	local id=$1 now
	now=$(dm_sdp_seq "$DM_SDP_DIR/$id.sdp")
	[ -n "$now" ] || dm_die "no packet from channel $id within 2 s"
	if [ "$now" -lt "${DM_SEQ0[$id]}" ]; then
		dm_say "$id: sequence number wrapped (${DM_SEQ0[$id]} -> $now): ROC is not 0"
		return 1
	fi
	# a decoder needs a moment to join: no wrap in the next ~1000 packets either
	if [ "$now" -gt $((65535 - 1000)) ]; then
		dm_say "$id: sequence number $now about to wrap"
		return 1
	fi
	return 0
}

# dm_seq_ensure ID: makes sure channel ID has not wrapped, restarting the
# engine (new random sequence numbers) when it has. Uses DM_CONF, DM_SDP_DIR
# and DM_SEQ_IDS (the channels to wait for and mark after a restart).
dm_seq_ensure() {
	local id=$1 tries=0
	while ! dm_seq_unwrapped "$id"; do
		tries=$((tries + 1))
		[ "$tries" -le 3 ] || dm_die "$id: sequence number wrapped after 3 restarts"
		dm_engine_restart "$DM_CONF" "$DM_SDP_DIR" "${DM_SEQ_IDS[@]}"
		dm_seq_mark "${DM_SEQ_IDS[@]}"
	done
}

# ---------------------------------------------------------------- tones and listeners

# dm_tones_start NAME SPEC...: dm-jack-tones as JACK client NAME; waits until
# every destination is connected ("ready"). Sets DM_TONES_PID.
dm_tones_start() {
	local name=$1 i=0
	shift
	dm_bg "tones-$name" "$DM_JACK_TONES" --name "$name" --wait 10 "$@"
	DM_TONES_PID=$DM_BG_PID
	while ! grep -qx ready "$DM_TMP/tones-$name.out" 2>/dev/null; do
		if ! dm_alive "$DM_TONES_PID" || [ "$i" -ge 150 ]; then
			dm_tail "$DM_TMP/tones-$name.err"
			dm_die "dm-jack-tones $name did not connect: $*"
		fi
		sleep 0.1
		i=$((i + 1))
	done
	dm_say "tones $name: $*"
}

# dm_listen_start NAME ARGS...: dragoman-listen --stats ARGS in the background
# (stdout NAME.out holds the stats line). Sets DM_LISTEN_PID.
dm_listen_start() {
	local name=$1
	shift
	dm_bg "listen-$name" "$DRAGOMAN_LISTEN" --stats "$@"
	DM_LISTEN_PID=$DM_BG_PID
	dm_say "listener $name pid $DM_LISTEN_PID: $*"
}

# dm_listen_wait NAME PID TIMEOUT_S: waits for the listener to end by itself
# (--duration) and checks its exit status and stats line; the stats JSON is
# then in $DM_TMP/listen-NAME.json.
dm_listen_wait() {
	local name=$1 pid=$2 t=$3 rc=0
	if ! dm_wait_pid_exit "$pid" "$t"; then
		dm_fail "listener $name still running after $t s"
		dm_stop "$pid" 3
		rc=$DM_STOP_RC
	else
		wait "$pid" 2>/dev/null || rc=$?
	fi
	dm_check "listener $name exit status" "$rc" == 0
	grep '^{' "$DM_TMP/listen-$name.out" | tail -n 1 >"$DM_TMP/listen-$name.json" || true
	if [ -s "$DM_TMP/listen-$name.json" ]; then
		dm_say "listener $name stats: $(cat "$DM_TMP/listen-$name.json")"
	else
		dm_fail "listener $name printed no stats line"
		dm_tail "$DM_TMP/listen-$name.err" "$DM_TMP/listen-$name.out"
	fi
}

# dm_json FILE KEY: a number (or null) from a flat JSON line; KEY may be
# OBJ.KEY for one level of nesting. Missing: empty output.
dm_json() {
	local f=$1 key=$2 text
	text=$(cat "$f" 2>/dev/null || true)
	if [[ $key == *.* ]]; then
		text=$(printf '%s' "$text" | grep -oE "\"${key%%.*}\"[[:space:]]*:[[:space:]]*\{[^}]*\}" | head -n 1 || true)
		key=${key#*.}
	fi
	printf '%s' "$text" | grep -oE "\"$key\"[[:space:]]*:[[:space:]]*(-?[0-9][0-9.eE+-]*|null)" |
		head -n 1 | sed -E 's/.*:[[:space:]]*//' || true
}

# dm_stat NAME KEY: a listener stat (0 when the key is absent, empty when no stats).
dm_stat() {
	local f=$DM_TMP/listen-$1.json v
	[ -s "$f" ] || return 0
	v=$(dm_json "$f" "$2")
	echo "${v:-0}"
}

# dm_stat_has NAME KEY: the stats line has KEY at all.
dm_stat_has() { grep -q "\"$2\"" "$DM_TMP/listen-$1.json" 2>/dev/null; }

# dm_tone WAV ARGS...: runs dm-wav-tone, prints and keeps its JSON in WAV.json.
dm_tone() {
	local wav=$1 rc=0
	shift
	"$DM_WAV_TONE" "$wav" "$@" >"$wav.json" 2>"$wav.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		dm_fail "dm-wav-tone $wav failed (exit $rc): $(cat "$wav.err")"
		: >"$wav.json"
	else
		dm_say "$(basename "$wav"): $(cat "$wav.json")"
	fi
}

# dm_check_tone LABEL WAV FREQ [FREQS] [SKIP]: the dominant tone of WAV is FREQ,
# at least 20 dB above the other candidates, and loud (rms > -40 dBFS).
dm_check_tone() {
	local label=$1 wav=$2 freq=$3 freqs=${4:-300,500,700,900} skip=${5:-1}
	if [ ! -s "$wav" ]; then
		dm_fail "$label: no WAV written ($wav)"
		return 0
	fi
	dm_tone "$wav" --skip "$skip" --freqs "$freqs"
	dm_check "$label: dominant frequency (Hz)" "$(dm_json "$wav.json" freq)" == "$freq"
	dm_check "$label: margin over the other tones (dB)" \
		"$(dm_json "$wav.json" freq_db_margin)" ">=" 20
	dm_check "$label: rms (dBFS)" "$(dm_json "$wav.json" rms_dbfs)" ">" -40
}

# dm_check_silent LABEL WAV: no audio (no file, no samples, or rms < -60 dBFS).
dm_check_silent() {
	local label=$1 wav=$2
	if [ ! -e "$wav" ]; then
		dm_ok "$label: no WAV written (no audio)"
		DM_CHECKS=$((DM_CHECKS + 1))
		return 0
	fi
	local rc=0
	"$DM_WAV_TONE" "$wav" >"$wav.json" 2>"$wav.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		# an empty or header-less file: no audio either
		dm_ok "$label: unreadable/empty WAV ($(cat "$wav.err"))"
		DM_CHECKS=$((DM_CHECKS + 1))
		return 0
	fi
	dm_say "$(basename "$wav"): $(cat "$wav.json")"
	dm_check "$label: rms (dBFS)" "$(dm_json "$wav.json" rms_dbfs)" "<" -60
}

# dm_seg_runs FILE: the runs of one tone or of silence lasting at least 100 ms, in
# order; runs of one class split by shorter blips (an xrun) are merged, and
# silence before the first and after the last tone is left out.
dm_seg_runs() {
	awk '$1 >= 0 && $3 - $2 >= 0.1' "$1" | awk '
		n && $1 == c[n] { e[n] = $3; next }
		{ n++; c[n] = $1; s[n] = $2; e[n] = $3 }
		END {
			first = 1; last = n
			while (first <= n && c[first] == 0) first++
			while (last >= first && c[last] == 0) last--
			for (i = first; i <= last; i++) print c[i], s[i], e[i]
		}'
}
# dm_seg_switch FILE A B: "endA startB" around the first run of B that follows a run of A.
dm_seg_switch() {
	dm_seg_runs "$1" | awk -v a="$2" -v b="$3" '
		$1 == a { enda = $3; seen = 1; next }
		$1 == b && seen { print enda, $2; found = 1; exit }
		END { if (!found) print "none none" }'
}
# dm_rec SECONDS WAV PORT...: records JACK ports with jack_rec (engine-side checks).
dm_rec() {
	local d=$1 wav=$2
	shift 2
	jack_rec -f "$wav" -d "$d" "$@" >"$wav.log" 2>&1 || dm_fail "jack_rec $* failed"
}

# dm_wav_channel IN N OUT: channel N (1-based) of a multichannel WAV, with sox.
dm_wav_channel() { sox "$1" -c 1 "$3" remix "$2"; }

# dm_segments WAV HOP_MS FREQS [SKIP]: the tone time line of WAV (dm-wav-tone
# --segments), one run a line: "CLASS START_S END_S", CLASS a frequency of
# FREQS, 0 silence, -1 unclear. The JSON stays in WAV.seg.json. Redirect its
# output to a file rather than use $(...), so that a failure is counted.
dm_segments() {
	local wav=$1 hop=$2 freqs=$3 skip=${4:-0} rc=0
	"$DM_WAV_TONE" "$wav" --skip "$skip" --freqs "$freqs" --segments "$hop" \
		>"$wav.seg.json" 2>"$wav.seg.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		dm_fail "dm-wav-tone --segments $wav failed (exit $rc): $(cat "$wav.seg.err")"
		return 0
	fi
	grep -o '"segments":\[.*\]' "$wav.seg.json" | sed 's/^"segments":\[//; s/\]$//' |
		grep -oE '\[[^]]*\]' | tr -d '[]' | tr ',' ' ' || true
}

# ---------------------------------------------------------------- control API (issue 3)
# Helpers of the control_*.sh tests: a conference with the API on, a tokens
# file, requests with curl, JSON fields with python3, the SSE stream.

DM_API_N=0
# The system's python3 first: a version manager's shim on PATH costs half a
# second per call.
if [ -z "${DM_PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then DM_PYTHON=/usr/bin/python3; else DM_PYTHON=python3; fi
fi

# dm_free_port: a TCP port on 127.0.0.1 that nobody listens on now (bound,
# then released for the engine to take).
dm_free_port() {
	"$DM_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# dm_token: a fresh random bearer token (48 hex digits).
dm_token() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# dm_make_ctl_conf DIR [key=value ...]: the conference of the control tests:
#   channels en fr es (groups base.1..3 as dm_make_conf), booths
#   fr (fr-1 live, fr-2; A fr), es (es-1: A es, B en, live), en (en-1: A en).
# Keys (defaults): name=ctl secret=test.secret id=dmtest base port client=dragoman
#   interlock=block ceiling= (conference.phones_ceiling_dbfs, unset: the default)
#   sidetone= (conference.sidetone_db, unset) es_fallback=silence en_fallback=floor
#   fr_fallback=floor en_live=false api_port= (a free port)
# Writes DIR/NAME.tokens (mode 0600) with a technician token, one token per
# booth and a delegate token, and one-line token files for dragomanctl. Sets
# DM_CONF, DM_API (the base URL), DM_TOKENS (the tokens file),
# DM_TOK[technician|fr|es|en|delegate] (the tokens) and DM_TOKF[...] (their
# one-line files, mode 0600).
# shellcheck disable=SC2034 # DM_TOKF is for the scripts that source this file
declare -A DM_TOK DM_TOKF
dm_make_ctl_conf() {
	local dir=$1
	shift
	local name=ctl secret=test.secret id=dmtest base=$DM_GROUP_BASE port=$DM_PORT
	local client=dragoman interlock=block ceiling="" sidetone="" es_fallback=silence
	local en_fallback=floor fr_fallback=floor en_live=false api_port="" kv extra=""
	for kv in "$@"; do
		case $kv in
		name=* | secret=* | id=* | base=* | port=* | client=* | interlock=* | ceiling=* | \
			sidetone=* | es_fallback=* | en_fallback=* | fr_fallback=* | en_live=* | \
			api_port=*)
			local "$kv" ;;
		*) dm_die "dm_make_ctl_conf: unknown setting $kv" ;;
		esac
	done
	[ -n "$api_port" ] || api_port=$(dm_free_port)
	[ -n "$ceiling" ] && extra+=" phones_ceiling_dbfs = $ceiling;"
	[ -n "$sidetone" ] && extra+=" sidetone_db = $sidetone;"
	mkdir -p "$dir"
	local role
	DM_TOKENS=$dir/$name.tokens
	(
		umask 077
		printf '# written by %s (tests/integration/lib.sh dm_make_ctl_conf)\n' \
			"$DM_TEST_NAME" >"$DM_TOKENS"
		for role in technician fr es en delegate; do
			DM_TOK[$role]=$(dm_token)
			if [ "$role" = technician ] || [ "$role" = delegate ]; then
				printf '%s %s\n' "$role" "${DM_TOK[$role]}"
			else
				printf 'booth:%s %s   # the %s booth\n' "$role" "${DM_TOK[$role]}" "$role"
			fi
			printf '%s\n' "${DM_TOK[$role]}" >"$dir/$name-$role.token"
		done >>"$DM_TOKENS"
	)
	# the subshell's assignments are lost: read the tokens back
	for role in technician fr es en delegate; do
		DM_TOK[$role]=$(cat "$dir/$name-$role.token")
		DM_TOKF[$role]=$dir/$name-$role.token
	done
	cat >"$dir/$name.conf" <<EOC
# written by $DM_TEST_NAME (tests/integration/lib.sh dm_make_ctl_conf)
conference = { id = "$id"; name = "dragoman $DM_TEST_NAME"; secret_file = "$secret"; profile = "lan";
  interlock = "$interlock";$extra };
jack = { client_name = "$client"; };
network = { interface = "127.0.0.1"; ttl = 1; };
floor = { name = "Floor"; group = "$base.0"; port = $port; };
channels = (
  { id = "en"; name = "English"; group = "$base.1"; port = $port; fallback = "$en_fallback"; },
  { id = "fr"; name = "Français"; group = "$base.2"; port = $port; fallback = "$fr_fallback"; },
  { id = "es"; name = "Español"; group = "$base.3"; port = $port; fallback = "$es_fallback"; }
);
booths = (
  { id = "fr"; consoles = ( { id = "fr-1"; a = "fr"; live = true; }, { id = "fr-2"; a = "fr"; } ); },
  { id = "es"; consoles = ( { id = "es-1"; a = "es"; b = "en"; live = true; } ); },
  { id = "en"; consoles = ( { id = "en-1"; a = "en"; live = $en_live; } ); }
);
control = { listen = "127.0.0.1:$api_port"; tokens_file = "$name.tokens"; };
EOC
	if [ ! -e "$dir/$secret" ]; then
		local rc=0
		"$DRAGOMAND" --keygen "$dir/$secret" >"$dir/keygen.out" 2>&1 || rc=$?
		[ "$rc" -eq 0 ] || dm_die "dragomand --keygen $dir/$secret failed (exit $rc)"
	fi
	local rc=0
	"$DRAGOMAND" --config "$dir/$name.conf" --check >"$dir/check.out" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		dm_tail "$dir/check.out"
		dm_die "dragomand --check rejects the control test config $dir/$name.conf (exit $rc)"
	fi
	DM_CONF=$dir/$name.conf
	DM_API=http://127.0.0.1:$api_port
}

# dm_api METHOD PATH [TOKEN [BODY]]: one request with curl (TOKEN empty: no
# Authorization header; BODY given, even empty: sent as JSON, @FILE for a
# file's content). Sets DM_API_STATUS (000: no answer), DM_API_BODY and
# DM_API_HEADERS (files). Call it directly, not in $(...).
dm_api() {
	local method=$1 path=$2 tok=${3:-}
	DM_API_N=$((DM_API_N + 1))
	DM_API_BODY=$DM_TMP/api-$DM_API_N.body
	DM_API_HEADERS=$DM_TMP/api-$DM_API_N.headers
	local args=(-sS -o "$DM_API_BODY" -D "$DM_API_HEADERS" -w '%{http_code}' -X "$method"
		--max-time 10)
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
	[ -n "${DM_API_CACERT:-}" ] && args+=(--cacert "$DM_API_CACERT")
	DM_API_STATUS=$(curl "${args[@]}" "$DM_API$path" 2>>"$DM_TMP/curl.err") || true
	[ -n "$DM_API_STATUS" ] || DM_API_STATUS=000
	touch "$DM_API_BODY"
}

# dm_check_api DESC STATUS METHOD PATH [TOKEN [BODY]]: the request is answered
# STATUS; the answer is printed either way.
dm_check_api() {
	local desc=$1 want=$2
	shift 2
	dm_api "$@"
	dm_say "$1 $2 -> $DM_API_STATUS $(head -c 300 "$DM_API_BODY")"
	dm_check_str "$desc: HTTP status" "$DM_API_STATUS" = "$want"
}

# dm_api_wait TIMEOUT_S: waits until GET /api/v1/state answers 200.
dm_api_wait() {
	local t=$1 i=0
	while :; do
		dm_api GET /api/v1/state "${DM_TOK[technician]}"
		[ "$DM_API_STATUS" = 200 ] && return 0
		[ "$i" -ge $((t * 10)) ] && dm_die "control API $DM_API: no 200 within $t s (last $DM_API_STATUS)"
		sleep 0.1
		i=$((i + 1))
	done
}

# dm_jget FILE EXPR: a Python expression over the JSON document j of FILE,
# printed as JSON (strings bare); by_id(list, id) finds a member. Empty output
# when the file is not JSON or the expression fails.
# e.g. dm_jget "$DM_API_BODY" 'by_id(j["consoles"], "fr-2")["mic"]' -> true
dm_jget() {
	"$DM_PYTHON" - "$1" "$2" <<'EOPY' 2>/dev/null || true
import json, sys
def by_id(lst, i):
    return next((x for x in lst if x.get("id") == i), None)
j = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"j": j, "by_id": by_id})
print(v if isinstance(v, str) else json.dumps(v))
EOPY
}

# dm_state FIELD_EXPR: dm_jget of a fresh GET /api/v1/state (technician).
dm_state() {
	dm_api GET /api/v1/state "${DM_TOK[technician]}"
	dm_jget "$DM_API_BODY" "$1"
}

# dm_events_start NAME [TOKEN]: follows GET /api/v1/events with curl -N into
# $DM_TMP/events-NAME.txt until the end of the test; waits for the
# subscription's first bytes. Sets DM_EVENTS_PID.
dm_events_start() {
	local name=$1 tok=${2:-${DM_TOK[technician]}} i=0
	dm_bg "events-$name" curl -sN -H "Authorization: Bearer $tok" "$DM_API/api/v1/events"
	# shellcheck disable=SC2034 # for the scripts that source this file
	DM_EVENTS_PID=$DM_BG_PID
	while ! grep -q subscribed "$DM_TMP/events-$name.out" 2>/dev/null; do
		[ "$i" -ge 50 ] && dm_die "event stream $name: not subscribed within 5 s"
		sleep 0.1
		i=$((i + 1))
	done
}

# dm_events_count NAME PYEXPR: how many events e (the JSON of each `data:`
# line) of the stream NAME satisfy PYEXPR, e.g. 'e["type"] == "call"'.
dm_events_count() {
	"$DM_PYTHON" - "$DM_TMP/events-$1.out" "$2" <<'EOPY' 2>/dev/null || echo 0
import json, sys
n = 0
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("data: "):
        try:
            e = json.loads(line[6:])
        except ValueError:
            continue
        try:
            if eval(sys.argv[2], {"e": e}):
                n += 1
        except Exception:
            pass
print(n)
EOPY
}

# dm_events_wait NAME PYEXPR TIMEOUT_S: waits for one such event; 1 if none came.
dm_events_wait() {
	local i=0
	while [ "$(dm_events_count "$1" "$2")" -lt 1 ]; do
		[ "$i" -ge $(($3 * 10)) ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# dm_rec_programs TAG SECONDS CH...: records dragoman:<CH>.program of each CH
# at once (24-bit) and splits them into $DM_TMP/TAG-<CH>.wav.
dm_rec_programs() {
	local tag=$1 d=$2 ports=() ch i=1
	shift 2
	for ch in "$@"; do
		ports+=("${DM_CLIENT:-dragoman}:$ch.program")
	done
	jack_rec -b 24 -f "$DM_TMP/$tag.wav" -d "$d" "${ports[@]}" >"$DM_TMP/$tag.wav.log" 2>&1 ||
		dm_fail "jack_rec ${ports[*]} failed"
	for ch in "$@"; do
		dm_wav_channel "$DM_TMP/$tag.wav" "$i" "$DM_TMP/$tag-$ch.wav"
		i=$((i + 1))
	done
}

# ---------------------------------------------------------------- RTP flow (recording, issue 4)
# A watcher of one channel's RTP packets on the wire, to know exactly how long
# the engine streamed: it joins GROUP:PORT on loopback before the engine
# starts and ends by itself once packets stopped for IDLE_S (or after MAX_S).
# Its JSON line: packets (received), sent (the sequence-number span, first to
# last, wraps unfolded: what the engine sent meanwhile), first_seq, t_first,
# t_last (CLOCK_REALTIME seconds at reception), ssrcs (distinct SSRCs).
# shellcheck disable=SC2016 # Python source, not shell
DM_RTP_WATCH_PY='
import json, socket, sys, time
group, port, iface = sys.argv[1], int(sys.argv[2]), sys.argv[3]
idle, max_s = float(sys.argv[4]), float(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind((group, port))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             socket.inet_aton(group) + socket.inet_aton(iface))
print("ready", flush=True)
n = 0
ext = first_ext = first_seq = prev = t_first = t_last = None
ssrcs = set()
deadline = time.monotonic() + max_s
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    s.settimeout(min(left, idle) if n else left)
    try:
        b = s.recv(65536)
    except socket.timeout:
        if n:
            break
        continue
    t = time.time()
    if len(b) < 12 or b[0] >> 6 != 2:
        continue
    seq = b[2] << 8 | b[3]
    ssrcs.add(int.from_bytes(b[8:12], "big"))
    if prev is None:
        ext = first_ext = first_seq = seq
        t_first = t
    else:
        d = (seq - prev) & 0xFFFF
        if d < 0x8000:
            ext += d
    prev = seq
    n += 1
    t_last = t
print(json.dumps({"packets": n, "sent": (ext - first_ext + 1) if n else 0,
                  "first_seq": first_seq, "t_first": t_first, "t_last": t_last,
                  "ssrcs": len(ssrcs)}, separators=(",", ":")), flush=True)
'

# dm_rtp_watch_start NAME GROUP [PORT [IDLE_S [MAX_S]]]: starts a watcher
# (defaults: $DM_PORT, 1 s, 120 s) and waits until it has joined. Sets
# DM_RTP_PID.
dm_rtp_watch_start() {
	local name=$1 group=$2 port=${3:-$DM_PORT} idle=${4:-1} max=${5:-120} i=0
	dm_bg "rtp-$name" "$DM_PYTHON" -c "$DM_RTP_WATCH_PY" "$group" "$port" 127.0.0.1 \
		"$idle" "$max"
	DM_RTP_PID=$DM_BG_PID
	while ! grep -qx ready "$DM_TMP/rtp-$name.out" 2>/dev/null; do
		if ! dm_alive "$DM_RTP_PID" || [ "$i" -ge 50 ]; then
			dm_tail "$DM_TMP/rtp-$name.err"
			dm_die "RTP watcher $name on $group:$port did not start"
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

# dm_rtp_watch_wait NAME PID TIMEOUT_S: waits for the watcher's end; its JSON
# is then in $DM_TMP/rtp-NAME.json (read it with dm_json).
dm_rtp_watch_wait() {
	local name=$1 pid=$2 t=$3
	if ! dm_wait_pid_exit "$pid" "$t"; then
		dm_fail "RTP watcher $name still running after $t s"
		dm_stop "$pid" 3
	fi
	wait "$pid" 2>/dev/null || true
	grep '^{' "$DM_TMP/rtp-$name.out" | tail -n 1 >"$DM_TMP/rtp-$name.json" || true
	if [ -s "$DM_TMP/rtp-$name.json" ]; then
		dm_say "RTP watcher $name: $(cat "$DM_TMP/rtp-$name.json")"
	else
		dm_fail "RTP watcher $name printed nothing"
		dm_tail "$DM_TMP/rtp-$name.err"
	fi
}
