#!/bin/bash
# routing: distinct tones on the floor and on each console's mic prove which
# input each channel carries, at the engine's program ports (jack_rec) and at
# real listeners on loopback multicast (dragoman-listen --out wav).
#
#   floor 300 Hz, fr-1 mic 500 Hz (live on fr), es-1 mic 700 Hz (live on es),
#   fr-2 mic 900 Hz (NOT live: must be heard nowhere)
#   expected: floor 300, fr 500, es 700, en 300 (no live console: fallback floor)
# Variant 2: es-1 not live, es falls back to silence: es must be silent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_mcast_check
dm_jackd_start 128

dm_make_conf "$DM_TMP/conf"
conf=$DM_CONF
sdp=$DM_TMP/sdp
dm_engine_start "$conf" "$sdp"
dm_tones_start tones \
	'floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic' \
	'es1=700@-12>dragoman:es-1.mic' 'fr2=900@-12>dragoman:fr-2.mic'
dm_wait_sdps "$sdp" 10 floor en fr es

# SDPs hold keys: mode 0600
for id in floor en fr es; do
	dm_check_str "$id.sdp mode" "$(stat -c %a "$sdp/$id.sdp")" = 600
done

# Engine side: the program ports, straight from the JACK graph.
sleep 0.5
dm_rec 2 "$DM_TMP/programs.wav" dragoman:floor.program dragoman:en.program \
	dragoman:fr.program dragoman:es.program
i=1
for pair in floor:300 en:300 fr:500 es:700; do
	id=${pair%%:*}
	dm_wav_channel "$DM_TMP/programs.wav" "$i" "$DM_TMP/program-$id.wav"
	dm_check_tone "$id.program (JACK)" "$DM_TMP/program-$id.wav" "${pair#*:}" \
		300,500,700,900 0.3
	i=$((i + 1))
done

# Network side: one listener per channel, all at once.
dur=4
declare -A lpid
for id in floor en fr es; do
	dm_listen_start "$id" --config "$conf" --channel "$id" --out "wav:$DM_TMP/$id.wav" \
		--duration "$dur" --interface 127.0.0.1
	lpid[$id]=$DM_LISTEN_PID
done
ptime=$(dm_sdp_ptime "$sdp/fr.sdp")
expected=$(dm_calc "$dur * 1000 / $ptime")
dm_say "ptime $ptime ms: about $expected packets per listener"
for id in floor en fr es; do
	dm_listen_wait "$id" "${lpid[$id]}" $((dur + 10))
done

for pair in floor:300 en:300 fr:500 es:700; do
	id=${pair%%:*}
	dm_check_tone "$id (listener)" "$DM_TMP/$id.wav" "${pair#*:}"
	# fr-2 is not live: its 900 Hz must not leak into any channel
	dm_check "$id (listener): 900 Hz of the non-live console (dBFS)" \
		"$(dm_json "$DM_TMP/$id.wav.json" levels.900)" "<" -45
	received=$(dm_stat "$id" received)
	dm_check "$id: packets received" "$received" ">=" "$(dm_calc "$expected * 0.6")"
	dm_check "$id: packets received (not more than sent)" "$received" "<=" \
		"$(dm_calc "$expected * 1.1 + 20")"
	dm_check "$id: auth_failed" "$(dm_stat "$id" auth_failed)" == 0
	dm_check "$id: replayed" "$(dm_stat "$id" replayed)" == 0
	dm_check "$id: lost" "$(dm_stat "$id" lost)" "<=" "$(dm_calc "$received * 0.02 + 5")"
	dm_say "$id: buffer_ms mean $(dm_stat "$id" buffer_ms.mean) max $(dm_stat "$id" buffer_ms.max)," \
		"concealed $(dm_stat "$id" concealed_frames), late $(dm_stat "$id" late)"
done
dm_engine_stop

# Variant 2: nobody live on es, es falls back to silence.
dm_make_conf "$DM_TMP/conf2" es_live=false es_fallback=silence
conf2=$DM_CONF
dm_engine_start "$conf2" "$DM_TMP/sdp2" engine2
# dm-jack-tones reconnects to the new engine's ports by itself
for pair in floor:floor fr1:fr-1.mic es1:es-1.mic fr2:fr-2.mic; do
	dm_wait_connected "tones:${pair%%:*}" "dragoman:${pair#*:}" 5 ||
		dm_die "tones:${pair%%:*} not reconnected to dragoman:${pair#*:}"
done
dm_wait_sdps "$DM_TMP/sdp2" 10 es en
dm_rec 2 "$DM_TMP/programs2.wav" dragoman:es.program
dm_check_silent "es.program (JACK), es-1 not live, fallback silence" "$DM_TMP/programs2.wav"
dm_listen_start es2 --config "$conf2" --channel es --out "wav:$DM_TMP/es2.wav" --duration 3 \
	--interface 127.0.0.1
p_es=$DM_LISTEN_PID
dm_listen_start en2 --config "$conf2" --channel en --out "wav:$DM_TMP/en2.wav" --duration 3 \
	--interface 127.0.0.1
p_en=$DM_LISTEN_PID
dm_listen_wait es2 "$p_es" 13
dm_listen_wait en2 "$p_en" 13
dm_check_silent "es (listener), fallback silence" "$DM_TMP/es2.wav"
dm_say "es2: received $(dm_stat es2 received) (silence may or may not be sent)"
dm_check "es2: auth_failed" "$(dm_stat es2 auth_failed)" == 0
dm_check_tone "en (listener), variant 2" "$DM_TMP/en2.wav" 300
dm_engine_stop

dm_say "jackd xruns logged: $(dm_jackd_xruns)"
dm_finish
