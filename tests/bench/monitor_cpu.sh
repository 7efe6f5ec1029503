#!/bin/bash
# Benchmark (issue 4, performance): the CPU of dragoman-monitor, which
# redraws 10 times a second, against a real engine whose meters move.
#
#   a private jackd -d dummy; the engine with its control API, 8 channels and
#   the floor, 8 consoles (7 live); tones on the floor and every mic, half of
#   them in bursts (250 ms every 600 ms) so that the meters change at every
#   10 Hz update and the monitor has something new to draw each time
#
# For each terminal size (120x40, then 80x24) the monitor runs in a tmux pane
# for MONITOR_CPU_S (30) seconds; its CPU (utime + stime of every thread,
# /proc/PID/stat) is measured over the last MONITOR_CPU_MEASURE_S (20). Its
# refresh rate is observed through tmux pipe-pane: the bytes it writes to the
# terminal, timestamped as they come; writes less than 20 ms apart count as one
# screen update (ncurses writes nothing when nothing changed, so this is the
# rate of visible changes, at most the redraw rate). Also prints the engine's
# own CPU meanwhile. Prints, per size:
#   dragoman-monitor at 10 Hz: X.XX % of a core (target 2 %) ...
# Asserts nothing about speed: exits non-zero only when it cannot measure.
set -euo pipefail
# lib.sh names its temporary folder and log lines after this script
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

RUN_S=${MONITOR_CPU_S:-30}
MEASURE_S=${MONITOR_CPU_MEASURE_S:-20}
[ "$MEASURE_S" -lt "$RUN_S" ] || dm_die "MONITOR_CPU_MEASURE_S must be below MONITOR_CPU_S"

dm_init
dm_require_cmd curl python3 tmux
dm_require_prog DRAGOMAN_MONITOR dragoman-monitor
dm_mcast_check
dm_jackd_start 128

# The control tests' tokens and secret, then a bigger conference in the same
# files: 8 channels and 8 consoles (fr-1, fr-2 and es-1, which
# dm_engine_start waits for, among them).
dm_make_ctl_conf "$DM_TMP/conf"
B=$DM_GROUP_BASE
P=$DM_PORT
api_port=${DM_API##*:}
cat >"$DM_CONF" <<EOF
# written by $DM_TEST_NAME (tests/bench/monitor_cpu.sh)
conference = { id = "dmbench"; name = "dragoman monitor bench"; secret_file = "test.secret"; profile = "lan"; };
jack = { client_name = "dragoman"; };
network = { interface = "127.0.0.1"; ttl = 1; };
floor = { name = "Floor"; group = "$B.0"; port = $P; };
channels = (
  { id = "en"; name = "English"; group = "$B.1"; port = $P; fallback = "floor"; },
  { id = "fr"; name = "Français"; group = "$B.2"; port = $P; fallback = "floor"; },
  { id = "es"; name = "Español"; group = "$B.3"; port = $P; fallback = "floor"; },
  { id = "de"; name = "Deutsch"; group = "$B.4"; port = $P; fallback = "floor"; },
  { id = "it"; name = "Italiano"; group = "$B.5"; port = $P; fallback = "floor"; },
  { id = "pt"; name = "Português"; group = "$B.6"; port = $P; fallback = "floor"; },
  { id = "ru"; name = "Russian"; group = "$B.7"; port = $P; fallback = "floor"; },
  { id = "zh"; name = "Chinese"; group = "$B.8"; port = $P; fallback = "floor"; }
);
booths = (
  { id = "fr"; consoles = ( { id = "fr-1"; a = "fr"; live = true; }, { id = "fr-2"; a = "fr"; } ); },
  { id = "es"; consoles = ( { id = "es-1"; a = "es"; b = "en"; live = true; } ); },
  { id = "en"; consoles = ( { id = "en-1"; a = "en"; live = true; } ); },
  { id = "de"; consoles = ( { id = "de-1"; a = "de"; live = true; } ); },
  { id = "it"; consoles = ( { id = "it-1"; a = "it"; live = true; } ); },
  { id = "pt"; consoles = ( { id = "pt-1"; a = "pt"; live = true; } ); },
  { id = "ru"; consoles = ( { id = "ru-1"; a = "ru"; live = true; } ); }
);
control = { listen = "127.0.0.1:$api_port"; tokens_file = "ctl.tokens"; };
EOF
rc=0
"$DRAGOMAND" --config "$DM_CONF" --check >"$DM_TMP/check.out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
	dm_tail "$DM_TMP/check.out"
	dm_die "dragomand --check rejects the bench config $DM_CONF (exit $rc)"
fi
dm_engine_start "$DM_CONF" "$DM_TMP/sdp"
ENGINE_PID=$DM_ENGINE_PID
dm_api_wait 10
dm_tones_start steady 'floor=300@-12>dragoman:floor' 'fr1=500@-14>dragoman:fr-1.mic' \
	'es1=700@-18>dragoman:es-1.mic' 'en1=400@-20>dragoman:en-1.mic' \
	'fr2=550@-30>dragoman:fr-2.mic'
dm_tones_start bursts --burst 250/600 'de1=600@-10>dragoman:de-1.mic' \
	'it1=800@-16>dragoman:it-1.mic' 'pt1=900@-22>dragoman:pt-1.mic' \
	'ru1=1000@-8>dragoman:ru-1.mic'
dm_api GET /api/v1/meters "${DM_TOK[technician]}"
METERS_STATUS=$DM_API_STATUS
[ "$METERS_STATUS" = 200 ] ||
	dm_say "GET /api/v1/meters answers $METERS_STATUS: the meters will not move on the screen"

# Timestamps the bytes tmux copies from the pane: "seconds bytes" per read.
cat >"$DM_TMP/stamp.py" <<'EOF'
import os, sys, time
out = open(sys.argv[1], "w", buffering=1)
while True:
    b = os.read(0, 65536)
    if not b:
        break
    out.write("%.6f %d\n" % (time.monotonic(), len(b)))
EOF

SEQ=0
# measure COLS ROWS: one monitor in a COLSxROWS tmux pane; prints the figures.
measure() {
	local cols=$1 rows=$2
	SEQ=$((SEQ + 1))
	local sock=dm-moncpu-$$-$SEQ tag=${cols}x$rows
	tm() { tmux -L "$sock" -f /dev/null "$@"; }
	cat >"$DM_TMP/run-monitor-$tag.sh" <<EOF
#!/bin/sh
export JACK_DEFAULT_SERVER='$JACK_DEFAULT_SERVER'
exec '$DRAGOMAN_MONITOR' --url '$DM_API' --token-file '${DM_TOKF[technician]}' \\
	--config '$DM_CONF' 2>'$DM_TMP/monitor-$tag.err'
EOF
	tm new-session -d -x "$cols" -y "$rows" -s mon "sh $DM_TMP/run-monitor-$tag.sh"
	local server
	server=$(tm display-message -p '#{pid}')
	DM_PIDS+=("$server")
	# the pane's sh execs the monitor: same pid, once it has
	local mon comm="" i=0
	mon=$(tm list-panes -t mon -F '#{pane_pid}')
	[ -n "$mon" ] || dm_die "$tag: no process in the tmux pane"
	while [ "$comm" != dragoman-monito ] && [ "$i" -lt 50 ]; do
		sleep 0.1
		comm=$(cat "/proc/$mon/comm" 2>/dev/null || true)
		i=$((i + 1))
	done
	[ "$comm" = dragoman-monito ] || dm_die "$tag: the pane runs '$comm', not dragoman-monitor"
	tm pipe-pane -o -t mon "exec $DM_PYTHON -u $DM_TMP/stamp.py $DM_TMP/writes-$tag.txt"
	local t_start
	t_start=$(dm_mono_now)
	sleep $((RUN_S - MEASURE_S))
	dm_alive "$mon" || dm_die "$tag: dragoman-monitor exited (see $DM_TMP/monitor-$tag.err)"
	local c0 e0 w0 c1 e1 w1
	c0=$(dm_cpu_ticks "$mon")
	e0=$(dm_cpu_ticks "$ENGINE_PID")
	w0=$(dm_mono_now)
	sleep "$MEASURE_S"
	c1=$(dm_cpu_ticks "$mon")
	e1=$(dm_cpu_ticks "$ENGINE_PID")
	w1=$(dm_mono_now)
	dm_alive "$mon" || dm_die "$tag: dragoman-monitor exited (see $DM_TMP/monitor-$tag.err)"
	tm capture-pane -p -t mon >"$DM_TMP/screen-$tag.txt" 2>/dev/null || true
	tm kill-server 2>/dev/null || true
	dm_wait_pid_exit "$mon" 5 || kill -KILL "$mon" 2>/dev/null || true
	dm_say "the screen at $tag:"
	sed 's/^/    | /' "$DM_TMP/screen-$tag.txt" >&2
	local cpu ecpu
	cpu=$(dm_calc "($c1 - $c0) / $DM_CLK_TCK / ($w1 - $w0) * 100")
	ecpu=$(dm_calc "($e1 - $e0) / $DM_CLK_TCK / ($w1 - $w0) * 100")
	# Screen updates in the window: bursts of writes separated by >= 20 ms.
	local upd
	upd=$(awk -v a="$w0" -v b="$w1" '
		$1 >= a && $1 <= b { if (n == 0 || $1 - last >= 0.020) u++; n++; last = $1; bytes += $2 }
		END { if (u) printf "%.1f %.0f", u / (b - a), bytes / (b - a); else print "0 0" }' \
		"$DM_TMP/writes-$tag.txt" 2>/dev/null || echo "0 0")
	local ups=${upd% *} bps=${upd#* }
	printf '%s: monitor pid %s, %s s after start, CPU over %s s: %s ticks (CLK_TCK %s); ' \
		"$tag" "$mon" "$(dm_calc "$w0 - $t_start")" "$(dm_calc "$w1 - $w0")" \
		"$(dm_calc "$c1 - $c0")" "$DM_CLK_TCK"
	printf 'screen updates %s/s (%s bytes/s to the terminal); engine CPU %s %% of a core\n' \
		"$ups" "$bps" "$(printf '%.2f' "$ecpu")"
	printf 'dragoman-monitor at 10 Hz: %.2f %% of a core (target 2 %%) at %s, 9 channels, 8 consoles\n' \
		"$cpu" "$tag"
	MEASURED=$((MEASURED + 1))
}

MEASURED=0
printf 'dragoman-monitor against dragomand (9 channels, 8 consoles, meters %s); %s s per size, CPU over the last %s s; load average %s\n' \
	"$([ "$METERS_STATUS" = 200 ] && echo moving || echo "not served: $METERS_STATUS")" \
	"$RUN_S" "$MEASURE_S" "$(cut -d' ' -f1-3 /proc/loadavg)"
measure 120 40
measure 80 24
[ "$MEASURED" -eq 2 ] || dm_die "measured $MEASURED sizes of 2"
exit 0
