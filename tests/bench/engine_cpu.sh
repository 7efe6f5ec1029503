#!/bin/bash
# Benchmark (issue 4, performance): the whole engine's CPU on the reference
# event, configs/ministerial.conf (the floor and 7 languages, 7 booths of 2
# consoles, recording of every channel), with and without its recording.
#
#   a private jackd -d dummy -p 128; the engine on ministerial.conf as it is
#   committed but for the test's groups, ports, secret and tokens; a tone on
#   the floor and on each of the 14 mics, so that every channel and console
#   meter works on a signal
#
# Four runs in turn: without recording, with it, without, with (a run
# after another swings with whatever else the shared machine does, so the
# two kinds alternate). Each runs ENGINE_CPU_WARM_S (5) s, then its CPU
# (utime + stime of every thread, /proc/PID/stat) is measured over
# ENGINE_CPU_S (20) s. Prints each run and the closing lines
#   engine on the reference event: X.XX % of a core without recording, ...
#   recording 8 channels: +X.X % of the engine's CPU
# The meters cannot be switched off in the engine; their own cost is the
# overhead benchmark's (bench_overhead). Asserts nothing about speed: exits
# non-zero only when it cannot measure.
set -euo pipefail
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

WARM_S=${ENGINE_CPU_WARM_S:-5}
MEASURE_S=${ENGINE_CPU_S:-20}
REF=$(cd "$(dirname "$0")/../.." && pwd)/configs/ministerial.conf

dm_init
dm_mcast_check
[ -r "$REF" ] || dm_die "no $REF"
dm_jackd_start 128

# The control tests' tokens and secret; the reference event's shape.
dm_make_ctl_conf "$DM_TMP/conf"
B=$DM_GROUP_BASE
P=$DM_PORT
api_port=${DM_API##*:}
mkdir -p "$DM_TMP/conf/recordings"
# make_conf FILE RECORDING(0|1)
make_conf() {
	sed -e 's|secret_file = "ministerial.secret"|secret_file = "test.secret"|' \
		-e "s|239\.255\.43\.|$B.|g" -e "s|port = 5004|port = $P|g" \
		-e "s|listen = \"127.0.0.1:8470\"|listen = \"127.0.0.1:$api_port\"|" \
		-e 's|tokens_file = "ministerial.tokens"|tokens_file = "ctl.tokens"|' \
		"$REF" >"$1"
	[ "$2" = 1 ] || sed -i '/^recording = /d' "$1"
	local rc=0
	"$DRAGOMAND" --config "$1" --check >"$DM_TMP/check.out" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		dm_tail "$DM_TMP/check.out"
		dm_die "dragomand --check rejects $1 (exit $rc)"
	fi
}
make_conf "$DM_TMP/conf/plain.conf" 0
make_conf "$DM_TMP/conf/rec.conf" 1

tones=('floor=300@-12>dragoman:floor')
f=400
for b in ar zh en fr ru es de; do
	for k in 1 2; do
		tones+=("$b$k=$f@-18>dragoman:$b-$k.mic")
		f=$((f + 37))
	done
done

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now_mono() { "$DM_PYTHON" -c 'import time; print("%.6f" % time.monotonic())'; }
HZ=$(getconf CLK_TCK)

declare -a CPU_PLAIN CPU_REC
SEQ=0
# run KIND(plain|rec): one engine, measured; appends to CPU_PLAIN / CPU_REC.
run() {
	local kind=$1
	SEQ=$((SEQ + 1))
	dm_engine_start "$DM_TMP/conf/$kind.conf" "$DM_TMP/sdp-$SEQ" "engine-$SEQ"
	dm_tones_start "tones-$SEQ" "${tones[@]}"
	local tones_pid=$DM_TONES_PID
	sleep "$WARM_S"
	dm_alive "$DM_ENGINE_PID" || dm_die "run $SEQ: dragomand exited"
	local c0 w0 c1 w1
	c0=$(ticks "$DM_ENGINE_PID")
	w0=$(now_mono)
	sleep "$MEASURE_S"
	c1=$(ticks "$DM_ENGINE_PID")
	w1=$(now_mono)
	local cpu
	cpu=$(dm_calc "($c1 - $c0) / $HZ / ($w1 - $w0) * 100")
	local files=0
	[ "$kind" = plain ] || files=$(find "$DM_TMP/conf/recordings" -name '*.opus' | wc -l)
	printf 'run %d, %-22s %6.2f %% of a core over %.1f s (load average %s)%s\n' "$SEQ" \
		"$([ "$kind" = plain ] && echo 'without recording:' || echo 'with recording:')" \
		"$cpu" "$(dm_calc "$w1 - $w0")" "$(cut -d' ' -f1 /proc/loadavg)" \
		"$([ "$kind" = plain ] || echo ", $files recording files so far")"
	if [ "$kind" = plain ]; then CPU_PLAIN+=("$cpu"); else CPU_REC+=("$cpu"); fi
	dm_stop "$tones_pid" 5
	dm_stop "$DM_ENGINE_PID" 5
	[ "$DM_STOP_RC" = 0 ] || dm_die "run $SEQ: dragomand exit status $DM_STOP_RC"
}

printf 'dragomand on the reference event (%s: floor + 7 channels, 14 consoles), tones on the floor and every mic; JACK period 128\n' \
	"configs/ministerial.conf"
run plain
run rec
run plain
run rec
mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.2f", s / NR }'; }
mp=$(mean "${CPU_PLAIN[@]}")
mr=$(mean "${CPU_REC[@]}")
printf 'engine on the reference event: %s %% of a core without recording, %s %% with it (means of 2 runs each)\n' "$mp" "$mr"
printf 'recording 8 channels: %+.1f %% of the engine'"'"'s CPU\n' "$(dm_calc "($mr - $mp) / $mp * 100")"
