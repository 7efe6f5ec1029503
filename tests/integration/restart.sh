#!/bin/bash
# restart: a restarted engine streams with a new SSRC and new keys, and
# packets captured from the previous run cannot be replayed into it.
#  1. run 1, fr-1 plays 500 Hz: capture 200 fr packets with dm-udp;
#  2. SIGTERM (clean exit 0), start again: fr.sdp's a=ssrc and a=crypto changed;
#  3. run 2, fr-1 now plays 600 Hz; two listeners (config mode and SDP mode)
#     record fr while the old packets are replayed into the group twice.
# Asserts: the replay is counted (replayed + auth_failed + unknown_ssrc + stale rose),
# no old audio is played (the 500 Hz of run 1 stays 40 dB under the 600 Hz of
# run 2), the listeners stay on the new stream (received not inflated by the
# replay), and the tone is clean.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_mcast_check
dm_jackd_start 128

dm_make_conf "$DM_TMP/conf"
conf=$DM_CONF
sdp=$DM_TMP/sdp
dm_engine_start "$conf" "$sdp" engine1
dm_tones_start tones1 'floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic'
dm_wait_sdps "$sdp" 10 fr
group=$(dm_sdp_group "$sdp/fr.sdp")
port=$(dm_sdp_port "$sdp/fr.sdp")
ssrc1=$(dm_sdp_ssrc "$sdp/fr.sdp")
key1=$(dm_sdp_crypto "$sdp/fr.sdp")
if [ -z "$group" ] || [ -z "$port" ] || [ -z "$ssrc1" ] || [ -z "$key1" ]; then
	dm_die "cannot read fr.sdp"
fi
dm_say "run 1: fr $group:$port ssrc $ssrc1"

rc=0
"$DM_UDP" capture --group "$group" --port "$port" --iface 127.0.0.1 --count 200 \
	--out "$DM_TMP/old.bin" --timeout 10 >"$DM_TMP/capture.json" 2>"$DM_TMP/capture.err" || rc=$?
dm_say "captured: $(cat "$DM_TMP/capture.json")"
dm_check "dm-udp capture of 200 fr packets: exit status" "$rc" == 0
dm_check_str "captured packets carry run 1's SSRC" \
	"$(grep -o '"ssrcs":\[[0-9]*' "$DM_TMP/capture.json" | grep -o '[0-9]*$')" = "$ssrc1"

dm_engine_stop
dm_stop "$DM_TONES_PID" 3
mv "$sdp" "$DM_TMP/sdp-run1"

dm_engine_start "$conf" "$sdp" engine2
dm_tones_start tones2 'floor=300@-12>dragoman:floor' 'fr1=600@-12>dragoman:fr-1.mic'
dm_wait_sdps "$sdp" 10 fr
ssrc2=$(dm_sdp_ssrc "$sdp/fr.sdp")
key2=$(dm_sdp_crypto "$sdp/fr.sdp")
dm_say "run 2: fr ssrc $ssrc2"
dm_check_str "a=ssrc changed across the restart" "$ssrc2" != "$ssrc1"
dm_check_str "a=crypto key changed across the restart" "$key2" != "$key1"
dm_check_str "group unchanged" "$(dm_sdp_group "$sdp/fr.sdp")" = "$group"

dur=7
dm_listen_start cfg --config "$conf" --channel fr --out "wav:$DM_TMP/cfg.wav" \
	--duration "$dur" --interface 127.0.0.1
p_cfg=$DM_LISTEN_PID
dm_listen_start sdp --sdp "$sdp/fr.sdp" --out "wav:$DM_TMP/sdp.wav" --duration "$dur" \
	--interface 127.0.0.1
p_sdp=$DM_LISTEN_PID
t0=$(date +%s.%N)
sleep 2
# 200 packets at 200 pps, twice: about 2 s of run 1's audio
t_replay=$(date +%s.%N)
"$DM_UDP" replay --in "$DM_TMP/old.bin" --group "$group" --port "$port" --iface 127.0.0.1 \
	--rate 200 --loops 2 >"$DM_TMP/replay.json"
dm_say "replayed: $(cat "$DM_TMP/replay.json")"
dm_listen_wait cfg "$p_cfg" $((dur + 10))
dm_listen_wait sdp "$p_sdp" $((dur + 10))

ptime=$(dm_sdp_ptime "$sdp/fr.sdp")
expected=$(dm_calc "$dur * 1000 / $ptime")
for l in cfg sdp; do
	dm_check_tone "$l: run 2's tone" "$DM_TMP/$l.wav" 600 500,600 1
	# The replay window alone (WAV time ~ wall time since the listener
	# started), so that even a few old packets would show: all of them
	# would put 500 Hz about 2 dB under 600 Hz, 10 ms of them about -25 dB;
	# the codec's noise floor reads about -40 dB.
	cp "$DM_TMP/$l.wav" "$DM_TMP/$l-window.wav"
	dm_tone "$DM_TMP/$l-window.wav" --skip "$(dm_calc "$t_replay - $t0 - 0.3")" --length 2.6 \
		--freqs 500,600
	dm_check "$l: run 1's 500 Hz (old audio) vs run 2's 600 Hz during the replay (dB)" \
		"$(dm_calc "$(dm_json "$DM_TMP/$l-window.wav.json" levels.500) - $(dm_json "$DM_TMP/$l-window.wav.json" levels.600)")" \
		"<" -30
	dm_check "$l: purity (dB)" "$(dm_json "$DM_TMP/$l.wav.json" purity_db)" ">" -1
	dm_check "$l: quietest 20 ms block (dBFS, no dropout)" \
		"$(dm_json "$DM_TMP/$l.wav.json" block_rms_min_dbfs)" ">" -30
	received=$(dm_stat "$l" received)
	dm_check "$l: received (new stream)" "$received" ">=" "$(dm_calc "$expected * 0.6")"
	dm_check "$l: received not inflated by the 400 replayed packets" "$received" "<=" \
		"$(dm_calc "$expected * 1.1 + 20")"
	rej=$(dm_calc "$(dm_stat "$l" replayed) + $(dm_stat "$l" auth_failed) + $(dm_stat "$l" unknown_ssrc) + $(dm_stat "$l" stale)")
	dm_say "$l: replayed $(dm_stat "$l" replayed) auth_failed $(dm_stat "$l" auth_failed)" \
		"unknown_ssrc $(dm_stat "$l" unknown_ssrc) stale $(dm_stat "$l" stale) ssrc_changes $(dm_stat "$l" ssrc_changes)"
	dm_check "$l: replayed packets rejected (replayed + auth_failed + unknown_ssrc + stale)" "$rej" \
		">=" 200
done

dm_engine_stop
dm_finish
