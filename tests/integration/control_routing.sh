#!/bin/bash
# control_routing: the interpretation routing rules of issue 3, driven through
# the real HTTP control API (curl and dragomanctl) of the real engine, heard
# at the engine's JACK program ports (jack_rec) and at a real listener.
#
#   tones: floor 300 Hz, fr-1 500, fr-2 900, es-1 700, en-1 1100
#   booths: fr (fr-1 live, fr-2: A fr), es (es-1: A es, B en, live), en (en-1: A en)
#   es falls back to silence, en and fr to the floor
#
# Run 1 (interlock "block"):
#  1. start: fr 500, es 700, en 300 (floor fallback)
#  2. fr-2 mic on: handover (fr-1 off in the state, event), fr 900
#  3. es-1 output b while live: en 700, es silent (fallback silence); back to a
#  4. en-1 mic on: en 1100; es-1 output b -> 409 naming en-1, nothing changes;
#     es-1 off, output b (allowed: not live), mic on -> 409, es-1 back on a
#  5. cough on fr-2: fr silent while fr-2 still holds fr; uncough: 900
#  6. floor language fr: fr carries the floor (300) even when the booth hands
#     over; cleared (dragomanctl floor none): fr carries its console again
#  7. call slow: an event on the SSE stream; an SSE client resuming with
#     Last-Event-ID gets the events it missed; a listener on fr hears 500 (fr-1)
# Run 2 (interlock "override", en-1 live from the config): es-1 output b takes
# en over: 200, en 700, en-1 off, event taken_over (en-1, by es-1).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_require_cmd curl python3
dm_require_prog DRAGOMANCTL dragomanctl
dm_mcast_check
dm_jackd_start 128

F=300,500,700,900,1100
TECH=${DM_TOK[technician]:-}

# dm_check_tone over the 24-bit recordings, skipping the first 0.2 s
tone() { dm_check_tone "$1" "$2" "$3" "$F" 0.2; }
rec() { dm_rec_programs "$1" 1 en fr es; }
ctl() { "$DRAGOMANCTL" --url "$DM_API" "$@"; }

# ---------------------------------------------------------------- run 1: block
dm_make_ctl_conf "$DM_TMP/conf" interlock=block es_fallback=silence
TECH=${DM_TOK[technician]}
dm_engine_start "$DM_CONF" "$DM_TMP/sdp"
dm_api_wait 10
dm_check "engine logs the control API" \
	"$(grep -c "api: listening on http://127.0.0.1" "$DM_ENGINE_LOG.err" || true)" ">=" 1
dm_tones_start tones 'floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic' \
	'fr2=900@-12>dragoman:fr-2.mic' 'es1=700@-12>dragoman:es-1.mic' \
	'en1=1100@-12>dragoman:en-1.mic'
dm_events_start tech

# 1. the configuration's state
dm_state 'j' >/dev/null
dm_check_str "start: fr on air" "$(dm_jget "$DM_API_BODY" 'by_id(j["channels"], "fr")["on_air"]')" = fr-1
dm_check_str "start: en program" "$(dm_jget "$DM_API_BODY" 'by_id(j["channels"], "en")["program"]')" = floor
sleep 0.3
rec r1
tone "start: fr" "$DM_TMP/r1-fr.wav" 500
tone "start: es" "$DM_TMP/r1-es.wav" 700
tone "start: en (floor fallback)" "$DM_TMP/r1-en.wav" 300

# 2. handover within the fr booth, by the booth's own token
dm_check_api "fr-2 mic on (booth:fr)" 200 POST /api/v1/consoles/fr-2/mic "${DM_TOK[fr]}" '{"on": true}'
dm_check_str "fr-2 mic on: answer is fr-2's state" "$(dm_jget "$DM_API_BODY" 'j["mic"]')" = true
dm_state 'j' >/dev/null
dm_check_str "handover: fr-1 mic" "$(dm_jget "$DM_API_BODY" 'by_id(j["consoles"], "fr-1")["mic"]')" = false
dm_check_str "handover: fr-2 mic" "$(dm_jget "$DM_API_BODY" 'by_id(j["consoles"], "fr-2")["mic"]')" = true
dm_check_str "handover: fr on air" "$(dm_jget "$DM_API_BODY" 'by_id(j["channels"], "fr")["on_air"]')" = fr-2
dm_events_wait tech 'e["type"] == "handover" and e["console"] == "fr-1" and e["by"] == "fr-2"' 3 || true
dm_check "handover event (fr-1, by fr-2)" \
	"$(dm_events_count tech 'e["type"] == "handover" and e["console"] == "fr-1" and e["by"] == "fr-2"')" == 1
rec r2
tone "after the handover: fr" "$DM_TMP/r2-fr.wav" 900
dm_check "after the handover: fr carries no 500 Hz (dBFS)" \
	"$(dm_json "$DM_TMP/r2-fr.wav.json" levels.500)" "<" -50

# 3. es-1 moves to its B channel (en) while live: en carries it, es falls back
dm_check_api "es-1 output b while live" 200 POST /api/v1/consoles/es-1/output "${DM_TOK[es]}" \
	'{"channel": "b"}'
dm_state 'j' >/dev/null
dm_check_str "es-1 on b: en on air" "$(dm_jget "$DM_API_BODY" 'by_id(j["channels"], "en")["on_air"]')" = es-1
dm_check_str "es-1 on b: es program" "$(dm_jget "$DM_API_BODY" 'by_id(j["channels"], "es")["program"]')" = silence
dm_check_str "es-1 on b: es-1 channel" "$(dm_jget "$DM_API_BODY" 'by_id(j["consoles"], "es-1")["channel"]')" = en
rec r3
tone "es-1 on b: en" "$DM_TMP/r3-en.wav" 700
dm_check_silent "es-1 on b: es (fallback silence)" "$DM_TMP/r3-es.wav"
tone "es-1 on b: fr unchanged" "$DM_TMP/r3-fr.wav" 900
dm_check_api "es-1 output a" 200 POST /api/v1/consoles/es-1/output "${DM_TOK[es]}" '{"channel": "a"}'

# 4. cross-booth interlock: en-1 goes live on en, es-1 may not take it
dm_check_api "en-1 mic on (booth:en)" 200 POST /api/v1/consoles/en-1/mic "${DM_TOK[en]}" '{"on": true}'
dm_check_api "es-1 output b while en-1 holds en" 409 POST /api/v1/consoles/es-1/output \
	"${DM_TOK[es]}" '{"channel": "b"}'
dm_check_str "409 names the holder" "$(dm_jget "$DM_API_BODY" 'j["holder"]')" = en-1
dm_check_str "409 names the channel" "$(dm_jget "$DM_API_BODY" 'j["channel"]')" = en
dm_say "409 message: $(dm_jget "$DM_API_BODY" 'j["error"]')"
dm_events_wait tech 'e["type"] == "refused" and e["holder"] == "en-1"' 3 || true
dm_check "refusal event naming en-1" \
	"$(dm_events_count tech 'e["type"] == "refused" and e["holder"] == "en-1" and e["console"] == "es-1"')" ">=" 1
dm_state 'j' >/dev/null
dm_check_str "after the refusal: es-1 output" "$(dm_jget "$DM_API_BODY" 'by_id(j["consoles"], "es-1")["output"]')" = a
dm_check_str "after the refusal: en on air" "$(dm_jget "$DM_API_BODY" 'by_id(j["channels"], "en")["on_air"]')" = en-1
rec r4
tone "en-1 live, es-1 refused: en" "$DM_TMP/r4-en.wav" 1100
tone "en-1 live, es-1 refused: es" "$DM_TMP/r4-es.wav" 700
# not live, es-1 may preselect b; switching its mic on there is refused
dm_check_api "es-1 mic off" 200 POST /api/v1/consoles/es-1/mic "${DM_TOK[es]}" '{"on": false}'
dm_check_api "es-1 output b while not live" 200 POST /api/v1/consoles/es-1/output "${DM_TOK[es]}" \
	'{"channel": "b"}'
dm_check_api "es-1 mic on (on b, en held by en-1)" 409 POST /api/v1/consoles/es-1/mic \
	"${DM_TOK[es]}" '{"on": true}'
dm_check_str "409 (mic) names the holder" "$(dm_jget "$DM_API_BODY" 'j["holder"]')" = en-1
rec r4b
dm_check_silent "es-1 off: es (fallback silence)" "$DM_TMP/r4b-es.wav"
tone "es-1 refused on en: en still en-1" "$DM_TMP/r4b-en.wav" 1100
dm_check_api "es-1 output a" 200 POST /api/v1/consoles/es-1/output "${DM_TOK[es]}" '{"channel": "a"}'
dm_check_api "es-1 mic on (a)" 200 POST /api/v1/consoles/es-1/mic "${DM_TOK[es]}" '{"on": true}'

# 5. cough on fr-2: fr silent while fr-2 keeps the channel
dm_check_api "fr-2 mute on" 200 POST /api/v1/consoles/fr-2/mute "${DM_TOK[fr]}" '{"on": true}'
dm_state 'j' >/dev/null
dm_check_str "cough: fr on air" "$(dm_jget "$DM_API_BODY" 'by_id(j["channels"], "fr")["on_air"]')" = fr-2
dm_check_str "cough: fr-2 mute" "$(dm_jget "$DM_API_BODY" 'by_id(j["consoles"], "fr-2")["mute"]')" = true
dm_check_str "cough: fr-2 mic" "$(dm_jget "$DM_API_BODY" 'by_id(j["consoles"], "fr-2")["mic"]')" = true
rec r5
dm_tone "$DM_TMP/r5-fr.wav" --skip 0.2 --freqs "$F"
dm_check "cough: fr rms (dBFS)" "$(dm_json "$DM_TMP/r5-fr.wav.json" rms_dbfs)" "<" -50
tone "cough on fr-2: es unchanged" "$DM_TMP/r5-es.wav" 700
dm_check_api "fr-2 mute off" 200 POST /api/v1/consoles/fr-2/mute "${DM_TOK[fr]}" '{"on": false}'
rec r5b
tone "cough over: fr" "$DM_TMP/r5b-fr.wav" 900

# 6. floor language fr: the floor on fr, whatever the booth does
dm_check_api "floor language fr (technician)" 200 POST /api/v1/floor "$TECH" '{"language": "fr"}'
dm_state 'j' >/dev/null
dm_check_str "floor fr: floor_language" "$(dm_jget "$DM_API_BODY" 'j["floor_language"]')" = fr
dm_check_str "floor fr: fr program" "$(dm_jget "$DM_API_BODY" 'by_id(j["channels"], "fr")["program"]')" = floor
rec r6
tone "floor language fr: fr" "$DM_TMP/r6-fr.wav" 300
# the booth hands over meanwhile (dragomanctl, booth token): fr stays the floor
rc=0
ctl --token-file "${DM_TOKF[fr]}" mic fr-1 on >"$DM_TMP/ctl-mic.out" 2>&1 || rc=$?
dm_check "dragomanctl mic fr-1 on: exit status" "$rc" == 0
dm_say "dragomanctl: $(cat "$DM_TMP/ctl-mic.out")"
rec r6b
tone "floor language fr, fr-1 took over in the booth: fr" "$DM_TMP/r6b-fr.wav" 300
tone "floor language fr: en unchanged" "$DM_TMP/r6b-en.wav" 1100
rc=0
ctl --token-file "${DM_TOKF[technician]}" floor none >"$DM_TMP/ctl-floor.out" 2>&1 || rc=$?
dm_check "dragomanctl floor none: exit status" "$rc" == 0
dm_check_str "floor cleared: floor_language" "$(dm_state 'j["floor_language"]')" = null
rec r6c
tone "floor language cleared: fr (fr-1)" "$DM_TMP/r6c-fr.wav" 500

# 7. a call, and a listener on fr
dm_check_api "call slow (fr-1)" 200 POST /api/v1/consoles/fr-1/call "${DM_TOK[fr]}" '{"message": "slow"}'
dm_events_wait tech 'e["type"] == "call" and e["message"] == "slow"' 3 || true
dm_check "call event (fr-1, slow)" \
	"$(dm_events_count tech 'e["type"] == "call" and e["message"] == "slow" and e["console"] == "fr-1"')" == 1
dm_say "events so far: $(grep -c '^data: ' "$DM_TMP/events-tech.out" || true)"
# a client that reconnects with Last-Event-ID gets what it missed, from the
# next id on, without a gap (the stream also carries the engine's own events,
# such as meters: ids go on meanwhile)
last_id=$(grep '^id: ' "$DM_TMP/events-tech.out" | tail -n 1 | awk '{print $2}')
curl -sN --max-time 1.5 -H "Authorization: Bearer $TECH" -H "Last-Event-ID: $((last_id - 2))" \
	"$DM_API/api/v1/events" >"$DM_TMP/events-resume.out" 2>/dev/null || true
grep '^id: ' "$DM_TMP/events-resume.out" | awk '{print $2}' >"$DM_TMP/events-resume.ids" || true
dm_check "SSE resumed after id $((last_id - 2)): first id sent" \
	"$(head -n 1 "$DM_TMP/events-resume.ids")" == $((last_id - 1))
dm_check "SSE resumed: ids without a gap (count - (last - first + 1))" \
	"$(awk 'NR == 1 { f = $1 } { l = $1; n++ } END { print n - (l - f + 1) }' "$DM_TMP/events-resume.ids")" == 0
dm_check "SSE resumed: the call event (id $last_id) again" \
	"$(grep -c "^id: $last_id\$" "$DM_TMP/events-resume.out" || true)" == 1
dm_wait_sdps "$DM_TMP/sdp" 10 fr
dm_listen_start fr --config "$DM_CONF" --channel fr --out "wav:$DM_TMP/listen-fr.wav" \
	--duration 2 --interface 127.0.0.1
dm_listen_wait fr "$DM_LISTEN_PID" 12
dm_check_tone "listener on fr (fr-1)" "$DM_TMP/listen-fr.wav" 500 "$F" 0.5
dm_engine_stop

# ---------------------------------------------------------------- run 2: override
dm_make_ctl_conf "$DM_TMP/conf2" interlock=override en_live=true es_fallback=silence
TECH=${DM_TOK[technician]}
dm_engine_start "$DM_CONF" "$DM_TMP/sdp2" engine2
dm_api_wait 10
for pair in floor:floor fr1:fr-1.mic es1:es-1.mic en1:en-1.mic; do
	dm_wait_connected "tones:${pair%%:*}" "dragoman:${pair#*:}" 5 ||
		dm_die "tones:${pair%%:*} not reconnected to dragoman:${pair#*:}"
done
dm_check_str "override: interlock in the state" "$(dm_state 'j["interlock"]')" = override
dm_events_start tech2
rec o1
tone "override, start: en (en-1)" "$DM_TMP/o1-en.wav" 1100
dm_check_api "es-1 output b over en-1 (override)" 200 POST /api/v1/consoles/es-1/output \
	"${DM_TOK[es]}" '{"channel": "b"}'
dm_events_wait tech2 'e["type"] == "taken_over"' 3 || true
dm_check "taken_over event (en-1 by es-1, on en)" \
	"$(dm_events_count tech2 'e["type"] == "taken_over" and e["console"] == "en-1" and e["by"] == "es-1" and e["channel"] == "en"')" == 1
dm_say "events: $(grep '^data: ' "$DM_TMP/events-tech2.out" | tr '\n' ' ')"
dm_state 'j' >/dev/null
dm_check_str "override: en on air" "$(dm_jget "$DM_API_BODY" 'by_id(j["channels"], "en")["on_air"]')" = es-1
dm_check_str "override: en-1 mic" "$(dm_jget "$DM_API_BODY" 'by_id(j["consoles"], "en-1")["mic"]')" = false
rec o2
tone "override: en (es-1)" "$DM_TMP/o2-en.wav" 700
dm_check_silent "override: es (fallback silence)" "$DM_TMP/o2-es.wav"
dm_engine_stop

dm_say "jackd xruns logged: $(dm_jackd_xruns)"
dm_finish
