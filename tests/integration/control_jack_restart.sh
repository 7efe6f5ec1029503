#!/bin/bash
# control_jack_restart: the interpretation state set through the control API
# survives a restart of the JACK server (issue 3: "State survives a JACK
# server restart"), and the API keeps working while JACK is away.
#
#   tones: floor 300 Hz, fr-1 500 (live in the config), fr-2 900, es-1 700
#  1. API: fr-2 mic on (handover): fr carries 900 at the JACK port
#  2. jackd stops: the engine stays up; the API still answers, still says
#     fr-2, and takes a change meanwhile (es-1 to its B channel, en)
#  3. jackd starts again with the same name; a new tone client (the old one
#     ended with its server) connects: fr carries 900 (fr-2), not the
#     config's fr-1; en carries es-1 (700), es falls back to silence; the
#     same at a listener on fr after the restart
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_require_cmd curl python3
dm_mcast_check

server="dmtest-$$-cjr"
export JACK_NO_START_SERVER=1
dm_jackd_start_as "$server" 128

F=300,500,700,900
dm_make_ctl_conf "$DM_TMP/conf" es_fallback=silence
conf=$DM_CONF
dm_engine_start "$conf" "$DM_TMP/sdp"
dm_api_wait 10
tone_specs=('floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic'
	'fr2=900@-12>dragoman:fr-2.mic' 'es1=700@-12>dragoman:es-1.mic')
dm_tones_start tones "${tone_specs[@]}"
tones1=$DM_TONES_PID

# 1. fr-2 takes over through the API
dm_check_api "fr-2 mic on" 200 POST /api/v1/consoles/fr-2/mic "${DM_TOK[fr]}" '{"on": true}'
sleep 0.2
dm_rec_programs before 1 fr es
dm_check_tone "before the JACK restart: fr (fr-2)" "$DM_TMP/before-fr.wav" 900 "$F" 0.2
dm_check_tone "before the JACK restart: es (es-1)" "$DM_TMP/before-es.wav" 700 "$F" 0.2
sleep 1 # the engine remembers its connections every second

# 2. JACK goes away
dm_jackd_stop
sleep 1.5
dm_check "engine after jackd stopped: running (1 = yes)" "$(dm_alive "$DM_ENGINE_PID" && echo 1 || echo 0)" == 1
dm_check "engine logs the loss of JACK" \
	"$(grep -ciE 'JACK.*(went away|lost|gone)' "$DM_ENGINE_LOG.err" || true)" ">=" 1
dm_wait_pid_exit "$tones1" 5 || dm_say "tone client still running without a server?"
dm_state 'j' >/dev/null
dm_check_str "API while JACK is away: state HTTP status" "$DM_API_STATUS" = 200
dm_check_str "API while JACK is away: fr on air" \
	"$(dm_jget "$DM_API_BODY" 'by_id(j["channels"], "fr")["on_air"]')" = fr-2
dm_check_api "API while JACK is away: es-1 output b" 200 POST /api/v1/consoles/es-1/output \
	"${DM_TOK[es]}" '{"channel": "b"}'

# 3. JACK comes back under the same name
dm_jackd_start_as "$server" 128
t_up=$(date +%s.%N)
if dm_wait_port dragoman:fr-2.mic 10; then
	dm_check "engine ports after jackd restarted (s)" "$(dm_calc "$(date +%s.%N) - $t_up")" "<=" 3
else
	dm_tail "$DM_ENGINE_LOG.err"
	dm_die "engine ports did not come back within 10 s of the new jackd"
fi
dm_check "engine still the same process (1 = yes)" "$(dm_alive "$DM_ENGINE_PID" && echo 1 || echo 0)" == 1
mv "$DM_TMP/tones-tones.err" "$DM_TMP/tones-tones-run1.err"
mv "$DM_TMP/tones-tones.out" "$DM_TMP/tones-tones-run1.out"
dm_tones_start tones "${tone_specs[@]}"
sleep 0.3
dm_state 'j' >/dev/null
dm_check_str "after the JACK restart: fr on air" \
	"$(dm_jget "$DM_API_BODY" 'by_id(j["channels"], "fr")["on_air"]')" = fr-2
dm_check_str "after the JACK restart: en on air" \
	"$(dm_jget "$DM_API_BODY" 'by_id(j["channels"], "en")["on_air"]')" = es-1
dm_rec_programs after 1 fr en es
dm_check_tone "after the JACK restart: fr (fr-2, not the config's fr-1)" "$DM_TMP/after-fr.wav" 900 "$F" 0.2
dm_check "after the JACK restart: fr carries no 500 Hz of fr-1 (dBFS)" \
	"$(dm_json "$DM_TMP/after-fr.wav.json" levels.500)" "<" -50
dm_check_tone "after the JACK restart: en (es-1 on B, set while JACK was away)" \
	"$DM_TMP/after-en.wav" 700 "$F" 0.2
dm_check_silent "after the JACK restart: es (fallback silence)" "$DM_TMP/after-es.wav"

dm_wait_sdps "$DM_TMP/sdp" 10 fr
dm_listen_start fr --config "$conf" --channel fr --out "wav:$DM_TMP/listen-fr.wav" --duration 2 \
	--interface 127.0.0.1
dm_listen_wait fr "$DM_LISTEN_PID" 12
dm_check_tone "listener on fr after the JACK restart (fr-2)" "$DM_TMP/listen-fr.wav" 900 "$F" 0.5
dm_check "listener on fr: auth_failed" "$(dm_stat fr auth_failed)" == 0

dm_engine_stop
dm_say "jackd xruns logged: $(dm_jackd_xruns)"
dm_finish
