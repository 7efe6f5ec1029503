#!/bin/bash
# Benchmark (issue 4, performance): the whole engine's CPU on the reference
# event, configs/ministerial.conf (the floor and 7 languages, 7 booths of 2
# consoles, recording of every channel), with and without its recording, and
# the meters' share of it.
#
# Two engines run side by side, each on a private jackd -d dummy -p 128 of
# its own, on ministerial.conf as it is committed but for the test's groups,
# ports, secret and tokens, with a tone on the floor and on each of the 14
# mics (every channel and console meter works on a signal): one with its
# recording, one without. Whatever else the shared machine does weighs on
# both alike: runs one after another swung by up to 30 % here (one run of
# 12 % of a core among runs of 9 %), more than recording costs. In
# ENGINE_CPU_PHASES (2) phases the two swap roles (the engines restart), so
# that a difference between the two servers cancels out. Each phase warms up
# ENGINE_CPU_WARM_S (5) s, then measures ENGINE_CPU_WINDOWS (8) windows of
# ENGINE_CPU_S (10) s: the CPU (utime + stime of every thread,
# /proc/PID/stat) of both engines over the same window. Prints each window
# and the closing lines
#   engine on the reference event: X.XX % of a core without recording, ...
#   recording 8 channels: +X.X % of the engine's CPU (median of N windows, ...)
#   metering everything (...): X.X % of the engine's CPU (median ...)
#   recording 8 channels + metering everything: +X.X % of the engine's CPU
#   recording thread (...): X.X % of the engine's CPU (median ...)
#   by the engine's own counts, recording thread + metering: X.X % ...
# The meters' share is the engine's own count of the CPU time its control
# loop spends metering (dragoman_meters_cpu_seconds_total in /metrics) over
# the engine's whole CPU time in the same window; the recording thread's
# share likewise (dragoman_recording_cpu_seconds_total, of the recording
# engine). The with/without difference swings by +-15 % window to window on
# this VM; the counts by +-0.3.
#
# A last run (with recording, alone) is sampled by perf, when it is
# installed and allowed (ENGINE_CPU_PROFILE=0 skips it): the share of the
# engine's CPU time spent in the meters' own functions (src/core/meter.c,
# meter_all in watch.c: the filters, without the copies out of the rings) and
# in recording's user-space part (src/net/recorder.c, the workers' queueing
# in src/rt/pktq.c, and libogg). Prints
#   profile (perf, ...): meters (22: 8 channels, 14 mics) X.XX % of the
#   engine's CPU; recording, user space (recorder.c, pktq.c, libogg) X.XX %
# and the ENGINE_CPU_TOP (15) busiest functions. ENGINE_CPU_PERF_HZ (1999)
# is perf's sampling rate; ENGINE_CPU_PERF_KEEP=FILE keeps its data there
# (for perf annotate). ENGINE_CPU_AA=1 runs the A/A control: the "recording"
# engine does not record either (its recording lines then show the method's
# own noise; the profile run still records).
# Asserts nothing about speed: exits non-zero only when it cannot measure.
set -euo pipefail
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

WARM_S=${ENGINE_CPU_WARM_S:-5}
MEASURE_S=${ENGINE_CPU_S:-10}
WINDOWS=${ENGINE_CPU_WINDOWS:-8}
PHASES=${ENGINE_CPU_PHASES:-2}
REF=$(cd "$(dirname "$0")/../.." && pwd)/configs/ministerial.conf

dm_init
dm_mcast_check
[ -r "$REF" ] || dm_die "no $REF"
dm_jackd_start 128
SRV[0]=$JACK_DEFAULT_SERVER
dm_jackd_start 128
SRV[1]=$JACK_DEFAULT_SERVER

# The control tests' tokens and secret; the reference event's shape.
dm_make_ctl_conf "$DM_TMP/conf"
B=$DM_GROUP_BASE
mkdir -p "$DM_TMP/conf/recordings"
# make_conf FILE RECORDING(0|1) PORT API_PORT: the engines differ by port.
make_conf() {
	sed -e 's|secret_file = "ministerial.secret"|secret_file = "test.secret"|' \
		-e "s|239\.255\.43\.|$B.|g" -e "s|port = 5004|port = $3|g" \
		-e "s|listen = \"127.0.0.1:8470\"|listen = \"127.0.0.1:$4\"|" \
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
API_PORT[0]=${DM_API##*:}
API_PORT[1]=$(dm_free_port)
for e in 0 1; do
	make_conf "$DM_TMP/conf/plain-$e.conf" 0 $((DM_PORT + 2 * e)) "${API_PORT[$e]}"
	make_conf "$DM_TMP/conf/rec-$e.conf" 1 $((DM_PORT + 2 * e)) "${API_PORT[$e]}"
done

tones=('floor=300@-12>dragoman:floor')
f=400
for b in ar zh en fr ru es de; do
	for k in 1 2; do
		tones+=("$b$k=$f@-18>dragoman:$b-$k.mic")
		f=$((f + 37))
	done
done

# metric_s E NAME: engine E's counter NAME (its /metrics).
metric_s() {
	curl -s --max-time 5 "http://127.0.0.1:${API_PORT[$1]}/metrics" |
		awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }'
}
meter_s() { metric_s "$1" dragoman_meters_cpu_seconds_total; }
recording_s() { metric_s "$1" dragoman_recording_cpu_seconds_total; }

SEQ=0
# start E KIND(plain|rec): engine E (0|1) on its own server, with its tones;
# sets ENG_PID[E] and TONES_PID[E].
start() {
	local e=$1 kind=$2
	SEQ=$((SEQ + 1))
	export JACK_DEFAULT_SERVER=${SRV[$e]}
	dm_engine_start "$DM_TMP/conf/$kind-$e.conf" "$DM_TMP/sdp-$SEQ" "engine-$SEQ"
	ENG_PID[e]=$DM_ENGINE_PID
	dm_tones_start "tones-$SEQ" "${tones[@]}"
	TONES_PID[e]=$DM_TONES_PID
}
stop() {
	local e=$1
	dm_stop "${TONES_PID[$e]}" 5
	dm_stop "${ENG_PID[$e]}" 5
	[ "$DM_STOP_RC" = 0 ] || dm_die "engine $e: dragomand exit status $DM_STOP_RC"
}

declare -a CPU_PLAIN CPU_REC RATIO METERS RECT
printf 'dragomand on the reference event (%s: floor + 7 channels, 14 consoles), tones on the floor and every mic; JACK period 128; two engines side by side, one recording\n' \
	"configs/ministerial.conf"
for ((ph = 0; ph < PHASES; ph++)); do
	rec=$((ph % 2)) # the engine that records in this phase
	start $((1 - rec)) plain
	start "$rec" "$([ "${ENGINE_CPU_AA:-0}" = 1 ] && echo plain || echo rec)"
	sleep "$WARM_S"
	for ((wi = 0; wi < WINDOWS; wi++)); do
		for e in 0 1; do
			dm_alive "${ENG_PID[$e]}" || dm_die "phase $ph: engine $e exited"
		done
		m0=$(meter_s $((1 - rec)))
		t0=$(recording_s "$rec")
		p0=$(dm_cpu_ticks "${ENG_PID[$((1 - rec))]}")
		r0=$(dm_cpu_ticks "${ENG_PID[$rec]}")
		w0=$(dm_mono_now)
		sleep "$MEASURE_S"
		p1=$(dm_cpu_ticks "${ENG_PID[$((1 - rec))]}")
		r1=$(dm_cpu_ticks "${ENG_PID[$rec]}")
		w1=$(dm_mono_now)
		m1=$(meter_s $((1 - rec)))
		t1=$(recording_s "$rec")
		cp=$(dm_calc "($p1 - $p0) / $DM_CLK_TCK / ($w1 - $w0) * 100")
		cr=$(dm_calc "($r1 - $r0) / $DM_CLK_TCK / ($w1 - $w0) * 100")
		CPU_PLAIN+=("$cp")
		CPU_REC+=("$cr")
		RATIO+=("$(dm_calc "($cr - $cp) / $cp * 100")")
		# The meters' CPU over (about) the same window, of the same engine.
		mp=$(dm_calc "($m1 - $m0) / ($w1 - $w0) * 100 / $cp * 100")
		METERS+=("$mp")
		# The recording thread's own count, of the recording engine.
		rt=$(dm_calc "($t1 - $t0) / ($w1 - $w0) * 100 / $cr * 100")
		RECT+=("$rt")
		printf 'phase %d (engine %d records), window %d: without recording %6.2f %% (meters %.2f %% of it), with %6.2f %% of a core (recording thread %.2f %% of it) over %.1f s (load average %s)\n' \
			"$ph" "$rec" "$wi" "$cp" "$mp" "$cr" "$rt" "$(dm_calc "$w1 - $w0")" "$(cut -d' ' -f1 /proc/loadavg)"
	done
	files=$(find "$DM_TMP/conf/recordings" -name '*.opus' | wc -l)
	[ "$files" -gt 0 ] || [ "${ENGINE_CPU_AA:-0}" = 1 ] || dm_die "phase $ph: no recording files"
	stop 0
	stop 1
done
median() {
	printf '%s\n' "$@" | sort -g |
		awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
range() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%+.1f..%+.1f", lo, hi }'; }
n=${#RATIO[@]}
printf 'engine on the reference event: %s %% of a core without recording, %s %% with it (medians of %d windows)\n' \
	"$(median "${CPU_PLAIN[@]}")" "$(median "${CPU_REC[@]}")" "$n"
printf 'recording 8 channels: %+.1f %% of the engine'"'"'s CPU (median of %d windows, %s %%)\n' \
	"$(median "${RATIO[@]}")" "$n" "$(range "${RATIO[@]}")"
printf 'metering everything (22 meters, 10 Hz event; dragoman_meters_cpu_seconds_total): %.1f %% of the engine'"'"'s CPU (median of %d windows, %s %%)\n' \
	"$(median "${METERS[@]}")" "$n" "$(range "${METERS[@]}" | tr -d +)"
printf 'recording 8 channels + metering everything: %+.1f %% of the engine'"'"'s CPU (target 5 %%)\n' \
	"$(dm_calc "$(median "${RATIO[@]}") + $(median "${METERS[@]}")")"
printf 'recording thread (dragoman_recording_cpu_seconds_total; the workers'"'"' queueing is in the profile): %.1f %% of the engine'"'"'s CPU (median of %d windows, %s %%)\n' \
	"$(median "${RECT[@]}")" "$n" "$(range "${RECT[@]}" | tr -d +)"
printf 'by the engine'"'"'s own counts, recording thread + metering: %.1f %% of the engine'"'"'s CPU (target 5 %%)\n' \
	"$(dm_calc "$(median "${RECT[@]}") + $(median "${METERS[@]}")")"

# The profile run: perf samples the engine's every thread (cpu-clock, about
# 2 kHz) over MEASURE_S; shares are of all its samples.
profile() {
	local data=$DM_TMP/perf.data
	SEQ=$((SEQ + 1))
	export JACK_DEFAULT_SERVER=${SRV[0]}
	dm_engine_start "$DM_TMP/conf/rec-0.conf" "$DM_TMP/sdp-$SEQ" "engine-$SEQ"
	dm_tones_start "tones-$SEQ" "${tones[@]}"
	local tones_pid=$DM_TONES_PID
	sleep "$WARM_S"
	if ! perf record -q -e cpu-clock -F "${ENGINE_CPU_PERF_HZ:-1999}" -p "$DM_ENGINE_PID" -o "$data" \
		-- sleep "$MEASURE_S" >"$DM_TMP/perf.out" 2>&1; then
		dm_say "perf record failed: no profile"
		dm_tail "$DM_TMP/perf.out"
	else
		[ -z "${ENGINE_CPU_PERF_KEEP:-}" ] || cp "$data" "$ENGINE_CPU_PERF_KEEP"
		perf report -i "$data" --stdio --no-children --sort dso,sym 2>/dev/null |
			awk '
			/^ *[0-9.]+%/ {
				pct = $1; sub(/%/, "", pct)
				line = $0
				total += pct
				if (line ~ /\[\.\] (dm_meter_|meter_lanes|lane_store|maybe_end_window|feed_lanes|end_window|publish(_floor)? *$|meter_all)/)
					meters += pct
				else if (line ~ /libogg|\[\.\] (dm_recorder_|dm_pktq_|oldest|write_page|write_pages|packet_in|ring_push|write_all|recording_main)/)
					rec += pct
			}
			END {
				printf "profile (perf, %d s, %.0f %% of the samples listed): meters (22: 8 channels, 14 mics) %.2f %% of the engine'"'"'s CPU; recording, user space (recorder.c, pktq.c, libogg) %.2f %%\n", '"$MEASURE_S"', total, meters, rec
			}'
		perf report -i "$data" --stdio --no-children --sort dso,sym 2>/dev/null |
			awk -v top="${ENGINE_CPU_TOP:-15}" '/^ *[0-9.]+%/ && n++ < top { print "  top: " $0 }'
	fi
	dm_stop "$tones_pid" 5
	dm_stop "$DM_ENGINE_PID" 5
	[ "$DM_STOP_RC" = 0 ] || dm_die "run $SEQ: dragomand exit status $DM_STOP_RC"
}
if [ "${ENGINE_CPU_PROFILE:-1}" != 0 ] && command -v perf >/dev/null 2>&1; then
	profile
else
	dm_say "no profile run (perf not installed, or ENGINE_CPU_PROFILE=0)"
fi
