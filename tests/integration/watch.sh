#!/bin/bash
# watch: the technicians' view of issue 4 through the real HTTP API of the real
# engine: meters, /metrics, the silence and clip alarms (list and SSE events),
# and listener counts from the receiver reports of real dragoman-listen.
#
#   conference of the control tests (lib.sh dm_make_ctl_conf) + alarms.silence_s = 3
#   + recording (for dragoman_recording_cpu_seconds_total)
#   tones: floor 1 kHz at -20 dBFS, fr-1 500 Hz at -20 dBFS; es-1 (live on es)
#   not fed at first
#
#  1. meters: floor and en (floor fallback) peak -20 +/- 0.5 dBFS, momentary
#     -23 +/- 0.5 LUFS (a full-scale sine reads -3.01 LUFS); es (es-1 silent)
#     at the meter floor, -120
#  2. /metrics without a token (loopback): levels, packets sent and the
#     meters' own CPU time growing,
#     listeners, xruns, alarms active
#  3. silence: es-1 live and silent raises "silence" (console es-1) about 3 s
#     after the start, in /alarms and as an event; a tone on es-1.mic clears it
#     (event raised false) within 2 s; cut again, it comes back after ~3 s
#  4. clip: 0 dBFS square bursts on fr-1.mic (on air on fr) raise "clip" on fr
#  5. listeners: three dragoman-listen on fr and one on es for 20 s are counted
#     3 and 1 within 15 s, and 0 within 35 s after they stop
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_require_cmd curl python3 jack_connect jack_disconnect
dm_mcast_check
dm_jackd_start 128

SILENCE_S=3
dm_make_ctl_conf "$DM_TMP/conf" es_fallback=silence
TECH=${DM_TOK[technician]}
printf 'alarms = { silence_s = %d; };\n' "$SILENCE_S" >>"$DM_CONF"
# Recording on, for its CPU counter in /metrics.
mkdir -p "$DM_TMP/conf/rec"
printf 'recording = { dir = "rec"; };\n' >>"$DM_CONF"
rc=0
"$DRAGOMAND" --config "$DM_CONF" --check >"$DM_TMP/check-alarms.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { dm_tail "$DM_TMP/check-alarms.out"; dm_die "dragomand --check rejects alarms.silence_s"; }

now() { date +%s.%N; }
since() { dm_calc "$(now) - $1"; }

# m FILE EXPR: dm_jget with meter(kind, id) for the GET /api/v1/meters document
m() { dm_jget "$1" "$2"; }

# metric NAME LABELS: the value of one sample of the last /metrics scrape
metric() {
	awk -v k="$1$2" '$1 == k { print $2; exit }' "$DM_TMP/metrics.txt"
}
scrape() {
	dm_api GET /metrics ""
	cp "$DM_API_BODY" "$DM_TMP/metrics.txt"
	DM_METRICS_STATUS=$DM_API_STATUS
}

# alarm_on KIND FIELD ID: 1 when GET /api/v1/alarms lists it, else 0
alarm_on() {
	dm_api GET /api/v1/alarms "$TECH"
	dm_jget "$DM_API_BODY" \
		"int(any(a['kind'] == '$1' and a.get('$2') == '$3' for a in j['alarms']))"
}

# wait_alarm KIND FIELD ID WANT(0|1) TIMEOUT_S [T0]: polls every 0.1 s (each
# poll costs a request and a python3); prints the seconds since T0 (default:
# now), or "timeout"
wait_alarm() {
	local t0=${6:-$(now)}
	while [ "$(alarm_on "$1" "$2" "$3")" != "$4" ]; do
		if [ "$(dm_calc "($(now) - $t0 > $5)")" = 1 ]; then
			echo timeout
			return 0
		fi
		sleep 0.1
	done
	since "$t0"
}

# ---------------------------------------------------------------- engine, tones
dm_engine_start "$DM_CONF" "$DM_TMP/sdp"
T_START=$(now)
dm_api_wait 10
dm_events_start tech
dm_say "API and event stream up $(since "$T_START") s after the engine's ports"
dm_tones_start tones 'floor=1000@-20>dragoman:floor' 'fr1=500@-20>dragoman:fr-1.mic'

# ---------------------------------------------------------------- 1. meters
# momentary loudness is over 400 ms; the meters update at 10 Hz
sleep 1
dm_check_api "GET /api/v1/meters (technician)" 200 GET /api/v1/meters "$TECH"
METERS=$DM_API_BODY
for ch in floor en; do
	dm_check "meters: $ch peak (dBFS)" \
		"$(m "$METERS" "by_id(j['channels'], '$ch')['peak_dbfs']")" ">=" -20.5
	dm_check "meters: $ch peak (dBFS)" \
		"$(m "$METERS" "by_id(j['channels'], '$ch')['peak_dbfs']")" "<=" -19.5
	dm_check "meters: $ch momentary (LUFS)" \
		"$(m "$METERS" "by_id(j['channels'], '$ch')['momentary_lufs']")" ">=" -23.5
	dm_check "meters: $ch momentary (LUFS)" \
		"$(m "$METERS" "by_id(j['channels'], '$ch')['momentary_lufs']")" "<=" -22.5
done
dm_check "meters: fr (fr-1, 500 Hz) peak (dBFS)" \
	"$(m "$METERS" "by_id(j['channels'], 'fr')['peak_dbfs']")" ">=" -20.5
for k in peak_dbfs rms_dbfs momentary_lufs; do
	dm_check "meters: es (es-1 silent) $k" \
		"$(m "$METERS" "by_id(j['channels'], 'es')['$k']")" == -120
done
dm_check "meters: console es-1 peak (dBFS)" \
	"$(m "$METERS" "by_id(j['consoles'], 'es-1')['peak_dbfs']")" == -120
dm_check "meters: console fr-1 peak (dBFS)" \
	"$(m "$METERS" "by_id(j['consoles'], 'fr-1')['peak_dbfs']")" ">=" -20.5
dm_check "meter events on the stream" \
	"$(dm_events_count tech 'e["type"] == "meters"')" ">=" 5

# ---------------------------------------------------------------- 2. /metrics
scrape
dm_check_str "GET /metrics without a token (loopback): HTTP status" "$DM_METRICS_STATUS" = 200
dm_check "metrics: floor peak (dBFS)" \
	"$(metric dragoman_level_dbfs '{channel="floor",kind="peak"}')" ">=" -20.5
dm_check "metrics: floor peak (dBFS)" \
	"$(metric dragoman_level_dbfs '{channel="floor",kind="peak"}')" "<=" -19.5
dm_check "metrics: floor momentary (LUFS)" \
	"$(metric dragoman_level_dbfs '{channel="floor",kind="momentary_lufs"}')" ">=" -23.5
dm_check "metrics: console fr-1 peak" \
	"$(metric dragoman_console_level_dbfs '{console="fr-1",kind="peak"}')" ">=" -20.5
pk1=$(metric dragoman_packets_sent_total '{channel="floor"}')
by1=$(metric dragoman_bytes_sent_total '{channel="floor"}')
mc1=$(metric dragoman_meters_cpu_seconds_total '')
rc1=$(metric dragoman_recording_cpu_seconds_total '')
dm_check "metrics: dragoman_listeners{channel=\"fr\"}" \
	"$(metric dragoman_listeners '{channel="fr"}')" ">=" 0
dm_check "metrics: dragoman_listener_loss_ratio{channel=\"fr\"}" \
	"$(metric dragoman_listener_loss_ratio '{channel="fr"}')" ">=" 0
dm_check "metrics: dragoman_xruns_total" "$(metric dragoman_xruns_total '')" ">=" 0
dm_check "metrics: dragoman_alarms_active" "$(metric dragoman_alarms_active '')" ">=" 0
dm_check "metrics: # TYPE lines" "$(grep -c '^# TYPE dragoman_' "$DM_TMP/metrics.txt" || true)" ">=" 8
sleep 1
scrape
pk2=$(metric dragoman_packets_sent_total '{channel="floor"}')
dm_check "metrics: floor packets sent, 1 s apart ($pk1 -> $pk2)" \
	"$(dm_calc "${pk2:-0} - ${pk1:-0}")" ">=" 100
dm_check "metrics: floor bytes sent grow" \
	"$(dm_calc "$(metric dragoman_bytes_sent_total '{channel="floor"}') - ${by1:-0}")" ">" 0
# The meters' own CPU time: it grows while they work, and stays far below
# the second that passed (7 meters cost well under 1 % of a core).
mc2=$(metric dragoman_meters_cpu_seconds_total '')
dm_check "metrics: meters' CPU time grows, 1 s apart (${mc1:-none} -> ${mc2:-none} s)" \
	"$(dm_calc "${mc2:-0} - ${mc1:-0}")" ">" 0
dm_check "metrics: meters' CPU time is below 0.1 s a second" \
	"$(dm_calc "${mc2:-0} - ${mc1:-0}")" "<" 0.1
# The same of the recording thread (the channels are recorded here).
rc2=$(metric dragoman_recording_cpu_seconds_total '')
dm_check "metrics: recording's CPU time grows, 1 s apart (${rc1:-none} -> ${rc2:-none} s)" \
	"$(dm_calc "${rc2:-0} - ${rc1:-0}")" ">" 0
dm_check "metrics: recording's CPU time is below 0.1 s a second" \
	"$(dm_calc "${rc2:-0} - ${rc1:-0}")" "<" 0.1
dm_check "metrics: recordings written" "$(find "$DM_TMP/conf/rec" -name '*.opus' | wc -l)" ">=" 1
dm_check_api "GET /api/v1/meters without a token" 401 GET /api/v1/meters ""

# ---------------------------------------------------------------- 3. silence
# es-1 is live and silent since the start
# (the meters and /metrics took longer than silence_s: the time is only a bound)
T_SIL=$(wait_alarm silence console es-1 1 8 "$T_START")
dm_say "silence alarm on es-1 listed when polled, ${T_SIL} s after the engine's ports" \
	"(silence_s $SILENCE_S)"
dm_check_str "silence alarm listed (es-1)" "$T_SIL" != timeout
dm_events_wait tech 'e["type"] == "alarm" and e["kind"] == "silence" and e["console"] == "es-1" and e["raised"] is True' 3 || true
dm_check "alarm event: silence es-1 raised" \
	"$(dm_events_count tech 'e["type"] == "alarm" and e["kind"] == "silence" and e["console"] == "es-1" and e["raised"] is True')" == 1
dm_check "metrics: dragoman_alarms_active with the silence alarm" \
	"$(scrape && metric dragoman_alarms_active '')" ">=" 1
dm_tones_start es1 'es1=700@-20>dragoman:es-1.mic'
ES1_PID=$DM_TONES_PID
t=$(wait_alarm silence console es-1 0 5)
dm_say "silence alarm cleared ${t} s after the tone reached es-1.mic"
dm_check "silence alarm gone from /alarms (s)" "$t" "<=" 2
dm_events_wait tech 'e["type"] == "alarm" and e["kind"] == "silence" and e["console"] == "es-1" and e["raised"] is False' 3 || true
dm_check "alarm event: silence es-1 cleared" \
	"$(dm_events_count tech 'e["type"] == "alarm" and e["kind"] == "silence" and e["console"] == "es-1" and e["raised"] is False')" == 1
# dm-jack-tones reconnects what is disconnected: stop it to cut es-1.mic
T_CUT=$(now)
dm_stop "$ES1_PID" 3
t=$(wait_alarm silence console es-1 1 8 "$T_CUT")
dm_say "silence alarm raised again ${t} s after es-1.mic was cut"
dm_events_wait tech 'e["type"] == "alarm" and e["kind"] == "silence" and e["console"] == "es-1" and e["raised"] is True' 3 || true
dm_check "alarm events: silence es-1 raised twice" \
	"$(dm_events_count tech 'e["type"] == "alarm" and e["kind"] == "silence" and e["console"] == "es-1" and e["raised"] is True')" == 2
dm_check "silence alarm again after the cut (s)" "$t" ">=" $((SILENCE_S - 1))
dm_check "silence alarm again after the cut (s)" "$t" "<=" $((SILENCE_S + 2))
dm_check "no clip alarm so far" "$(alarm_on clip channel fr)" == 0

# ---------------------------------------------------------------- 4. clip
dm_bg clip "$DM_JACK_TONES" --name clip --wait 10 --burst 100/200 'sq=500>dragoman:fr-1.mic'
CLIP_PID=$DM_BG_PID
t=$(wait_alarm clip channel fr 1 5)
dm_say "clip alarm on fr ${t} s after the bursts started (client start included)"
dm_check_str "clip alarm listed (fr)" "$t" != timeout
dm_events_wait tech 'e["type"] == "alarm" and e["kind"] == "clip" and e["channel"] == "fr" and e["raised"] is True' 3 || true
dm_check "alarm event: clip fr raised" \
	"$(dm_events_count tech 'e["type"] == "alarm" and e["kind"] == "clip" and e["channel"] == "fr" and e["raised"] is True')" ">=" 1
dm_api GET /api/v1/meters "$TECH"
dm_check "meters: fr clips counted" "$(m "$DM_API_BODY" "by_id(j['channels'], 'fr')['clips']")" ">" 0
dm_check "meters: floor clips (none)" "$(m "$DM_API_BODY" "by_id(j['channels'], 'floor')['clips']")" == 0
dm_stop "$CLIP_PID" 3

# ---------------------------------------------------------------- 5. listeners
dm_wait_sdps "$DM_TMP/sdp" 10 fr es
LPIDS=()
for l in fr1 fr2 fr3 es1; do
	ch=${l%[0-9]}
	dm_listen_start "$l" --config "$DM_CONF" --channel "$ch" --out wav:/dev/null \
		--duration 20 --interface 127.0.0.1
	LPIDS+=("$DM_LISTEN_PID")
done
T_L=$(now)
counts() {
	dm_api GET /api/v1/listeners "$TECH"
	dm_jget "$DM_API_BODY" \
		"'%s %s' % (by_id(j['channels'], 'fr')['listeners'], by_id(j['channels'], 'es')['listeners'])"
}
c=""
while :; do
	c=$(counts)
	[ "$c" = "3 1" ] && break
	[ "$(dm_calc "($(now) - $T_L > 20)")" = 1 ] && break
	sleep 1
done
T_UP=$(since "$T_L")
dm_say "listeners counted '$c' (fr es) ${T_UP} s after the four started"
dm_check_str "listeners fr es" "$c" = "3 1"
dm_check "listeners counted within (s)" "$T_UP" "<=" 15
dm_api GET /api/v1/listeners "$TECH"
dm_say "GET /api/v1/listeners: $(head -c 700 "$DM_API_BODY")"
scrape
dm_check "metrics: dragoman_listeners{channel=\"fr\"}" \
	"$(metric dragoman_listeners '{channel="fr"}')" == 3
i=0
for l in fr1 fr2 fr3 es1; do
	dm_listen_wait "$l" "${LPIDS[$i]}" 30
	i=$((i + 1))
done
T_END=$(now)
while :; do
	c=$(counts)
	[ "$c" = "0 0" ] && break
	[ "$(dm_calc "($(now) - $T_END > 40)")" = 1 ] && break
	sleep 1
done
T_DOWN=$(since "$T_END")
dm_say "listeners counted '$c' ${T_DOWN} s after the four stopped"
dm_check_str "listeners after they stopped" "$c" = "0 0"
dm_check "listeners gone within (s)" "$T_DOWN" "<=" 35

dm_engine_stop
dm_say "jackd xruns logged: $(dm_jackd_xruns)"
dm_finish
