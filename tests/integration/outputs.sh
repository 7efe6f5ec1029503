#!/bin/bash
# outputs: dragoman-listen's real-time outputs, and SDP mode across an engine restart.
# fr-1 plays 500 Hz on fr.
#  1. --out jack --name lj --connect jackrec:input1: lj:out is connected to that
#     port and to nothing else, and the recorder behind it hears 500 Hz;
#  2. --out pa: with a JACK server up, PortAudio's default device is JACK's
#     "system"; its client PortAudio connects out_0 to system:playback_*; a
#     recorder on PortAudio:out_0 hears 500 Hz;
#  3. --out jack without --connect: lj2:out is connected to nothing (and plays
#     500 Hz to whoever records it);
#  4. --sdp FILE across an engine restart: a listener started on the old fr.sdp
#     picks up the new SSRC from the rewritten file; after the restart fr-1
#     plays 600 Hz, and the listener plays it within 5 s of the new fr.sdp.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_mcast_check
dm_jackd_start 128
export JACK_NO_START_SERVER=1

dm_make_conf "$DM_TMP/conf"
conf=$DM_CONF
sdp=$DM_TMP/sdp
dm_engine_start "$conf" "$sdp"
dm_tones_start tones1 'fr1=500@-12>dragoman:fr-1.mic' 'floor=300@-12>dragoman:floor'
tones1=$DM_TONES_PID
dm_wait_sdps "$sdp" 10 fr

# connections PORT: the ports PORT is connected to, space-separated
connections() {
	jack_lsp -c 2>/dev/null | awk -v p="$1" '
		/^[^ \t]/ { cur = $0; next }
		cur == p { sub(/^[ \t]+/, ""); printf "%s%s", (n++ ? " " : ""), $0 }'
}

# ---- 1. --out jack --connect
# jack_rec makes the port to connect to (jackrec:input1); what it records from
# the dummy system:capture_1 is silence.
jack_rec -f "$DM_TMP/connect.wav" -d 4.5 system:capture_1 >"$DM_TMP/rec1.log" 2>&1 &
p_rec=$!
DM_PIDS+=("$p_rec")
dm_wait_port jackrec:input1 5 || dm_die "jack_rec: no port jackrec:input1"
t_rec=$(date +%s.%N)
dm_listen_start lj --config "$conf" --channel fr --out jack --name lj --connect jackrec:input1 \
	--duration 3.5 --interface 127.0.0.1
p_lj=$DM_LISTEN_PID
t_lj=$(date +%s.%N)
dm_wait_port lj:out 5 || dm_die "dragoman-listen --out jack: no port lj:out"
sleep 1
c=$(connections lj:out)
dm_say "lj:out connected to: '$c'"
dm_check_str "--out jack --connect jackrec:input1: lj:out's connections" "$c" = "jackrec:input1"
dm_listen_wait lj "$p_lj" 10
wait "$p_rec" 2>/dev/null || dm_fail "jack_rec (connect) failed: $(cat "$DM_TMP/rec1.log")"
# the listener's 3.5 s, less its start-up
dm_check_tone "--out jack --connect: the recorder hears fr" "$DM_TMP/connect.wav" 500 300,500,700,900 \
	"$(dm_calc "$t_lj - $t_rec + 0.5")"
dm_check "--out jack --connect: decoded frames" "$(dm_stat lj decoded_frames)" ">=" 400

# ---- 2. --out pa (PortAudio -> JACK "system")
dm_listen_start pa --config "$conf" --channel fr --out pa --duration 4 --interface 127.0.0.1
p_pa=$DM_LISTEN_PID
if dm_wait_port PortAudio:out_0 5; then
	dm_say "PortAudio ports: $(jack_lsp 2>/dev/null | grep '^PortAudio' | tr '\n' ' ')"
	sleep 0.3
	c=$(connections PortAudio:out_0)
	dm_say "PortAudio:out_0 connected to: '$c'"
	dm_check "--out pa: PortAudio:out_0 goes to system:playback_1 (1 = yes)" \
		"$([[ " $c " == *" system:playback_1 "* ]] && echo 1 || echo 0)" == 1
	dm_rec 2.5 "$DM_TMP/pa.wav" PortAudio:out_0
	dm_check_tone "--out pa: PortAudio's output" "$DM_TMP/pa.wav" 500 300,500,700,900 0.3
else
	dm_fail "--out pa: no PortAudio:out_0 port in the JACK graph within 5 s"
	dm_tail "$DM_TMP/listen-pa.err"
fi
dm_listen_wait pa "$p_pa" 10
dm_check "--out pa: decoded frames" "$(dm_stat pa decoded_frames)" ">=" 400
dm_check "--out pa: buffer_ms max (PortAudio's cushion)" "$(dm_stat pa buffer_ms.max)" ">" 0

# ---- 3. --out jack, no --connect
dm_listen_start lj2 --config "$conf" --channel fr --out jack --name lj2 --duration 3.5 \
	--interface 127.0.0.1
p_lj2=$DM_LISTEN_PID
dm_wait_port lj2:out 5 || dm_die "dragoman-listen --out jack: no port lj2:out"
sleep 0.8
c=$(connections lj2:out)
dm_check_str "--out jack without --connect: lj2:out's connections" "$c" = ""
dm_rec 1.5 "$DM_TMP/lj2.wav" lj2:out
dm_check_tone "--out jack without --connect: recorded from lj2:out" "$DM_TMP/lj2.wav" 500 \
	300,500,700,900 0.3
dm_listen_wait lj2 "$p_lj2" 10

# ---- 4. --sdp across an engine restart
cp "$sdp/fr.sdp" "$DM_TMP/fr-run1.sdp"
ssrc1=$(dm_sdp_ssrc "$sdp/fr.sdp")
dur=10
dm_listen_start sdp --sdp "$sdp/fr.sdp" --out "wav:$DM_TMP/sdp.wav" --duration "$dur" \
	--interface 127.0.0.1
p_sdp=$DM_LISTEN_PID
t_start=$(date +%s.%N)
sleep 2
dm_stop "$tones1" 3
dm_engine_restart "$conf" "$sdp" fr
t_sdp=$(date +%s.%N)
ssrc2=$(dm_sdp_ssrc "$sdp/fr.sdp")
dm_check_str "restart: fr.sdp has a new SSRC" "$ssrc2" != "$ssrc1"
dm_tones_start tones2 'fr1=600@-12>dragoman:fr-1.mic' 'floor=300@-12>dragoman:floor'
t_tones=$(date +%s.%N)
dm_say "new fr.sdp at +$(dm_calc "$t_sdp - $t_start") s, 600 Hz from +$(dm_calc "$t_tones - $t_start") s"
dm_listen_wait sdp "$p_sdp" $((dur + 10))
# times from here on in seconds since the listener started (dm_calc keeps 6 digits)
r_sdp=$(dm_calc "$t_sdp - $t_start")
r_tones=$(dm_calc "$t_tones - $t_start")

dm_check "sdp listener: ssrc at the end is the new stream's" "$(dm_stat sdp ssrc)" == "$ssrc2"
dm_check "sdp listener: ssrc_changes" "$(dm_stat sdp ssrc_changes)" ">=" 1
dm_check "sdp listener: auth_failed" "$(dm_stat sdp auth_failed)" == 0
w=$DM_TMP/sdp.wav
dm_segments "$w" 10 500,600 >"$DM_TMP/sdp.seg"
dm_say "sdp WAV time line: $(awk '$3 - $2 >= 0.05' "$DM_TMP/sdp.seg" | tr '\n' ';')"
wav_len=$(soxi -D "$w" 2>/dev/null || echo 0)
end500=$(awk '$1 == 500 && $3 - $2 >= 0.1 { e = $3 } END { print e + 0 }' "$DM_TMP/sdp.seg")
start600=$(awk '$1 == 600 && $3 - $2 >= 0.1 { print $2; exit }' "$DM_TMP/sdp.seg")
dm_check "sdp WAV: run 1's 500 Hz before the restart (s)" "$end500" ">=" 1.5
if [ -z "$start600" ]; then
	dm_fail "sdp WAV: no 600 Hz (run 2) at all: the listener did not follow the restart"
else
	# WAV time runs with wall time after the pickup: what follows run 1's
	# tone in the file is the time from the pickup to the end.
	pickup=$(dm_calc "$dur - ($wav_len - $end500)")
	r600=$(dm_calc "$dur - ($wav_len - $start600)")
	dm_say "sdp WAV: $wav_len s; 500 Hz until +$end500 s, 600 Hz from +$start600 s (file);" \
		"new fr.sdp at +$r_sdp s, 600 Hz sent from +$r_tones s, the listener plays the new" \
		"stream from about +$pickup s and 600 Hz from +$r600 s (wall)"
	dm_check "sdp listener: new stream played, after the new fr.sdp (s)" \
		"$(dm_calc "$pickup - $r_sdp")" "<" 5
	dm_check "sdp listener: 600 Hz played, after the tone client came back (s)" \
		"$(dm_calc "$r600 - $r_tones")" "<" 5
	cp "$w" "$DM_TMP/sdp-tail.wav"
	dm_check_tone "sdp listener: the last 1.5 s are run 2's tone" "$DM_TMP/sdp-tail.wav" 600 500,600 \
		"$(dm_calc "($wav_len > 1.6 ? $wav_len - 1.5 : 0)")"
fi

dm_engine_stop
dm_say "jackd xruns logged: $(dm_jackd_xruns)"
dm_finish
