#!/bin/bash
# tools: the harness checks itself, without the engine, so that a failure in
# the other tests points at dragoman and not at the tools:
#  - dm-jack-tones plays phase-continuous tones at the asked level into a real
#    jackd -d dummy, connects late destinations and reconnects after one left;
#  - dm-wav-tone finds the right tone, level and silence;
#  - dm-udp capture / replay / garbage round-trip datagrams on loopback multicast.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init --no-engine
dm_require_cmd sox cmp
dm_mcast_check
dm_jackd_start 128

# --- dm-jack-tones into jack_rec, with a destination that appears late
dm_bg late "$DM_JACK_TONES" --name late --wait 10 'a=500@-6>jackrec:input1'
late_pid=$DM_BG_PID
sleep 0.5
dm_tones_start tones 'a=300@-12>system:playback_1' 'b=700@-20>system:playback_1>system:playback_2'
dm_check "dm-jack-tones: late destination still pending (alive)" "$(dm_alive "$late_pid" && echo 1 || echo 0)" == 1
# jackrec:input1 (the late client's destination) also gets the silent capture_1
dm_rec 2 "$DM_TMP/rec.wav" system:capture_1 tones:a tones:b
dm_wav_channel "$DM_TMP/rec.wav" 1 "$DM_TMP/late.wav"
dm_wav_channel "$DM_TMP/rec.wav" 2 "$DM_TMP/a.wav"
dm_wav_channel "$DM_TMP/rec.wav" 3 "$DM_TMP/b.wav"
dm_check_tone "late:a (connected late)" "$DM_TMP/late.wav" 500 300,500,700 0.5
dm_check_tone "tones:a" "$DM_TMP/a.wav" 300 300,500,700 0.2
dm_check "tones:a level (dBFS)" "$(dm_json "$DM_TMP/a.wav.json" freq_dbfs)" ">" -12.5
dm_check "tones:a level (dBFS)" "$(dm_json "$DM_TMP/a.wav.json" freq_dbfs)" "<" -11.5
dm_check_tone "tones:b" "$DM_TMP/b.wav" 700 300,500,700 0.2
dm_check "tones:b level (dBFS)" "$(dm_json "$DM_TMP/b.wav.json" freq_dbfs)" ">" -20.5
dm_check "tones:b level (dBFS)" "$(dm_json "$DM_TMP/b.wav.json" freq_dbfs)" "<" -19.5
dm_check_str "tones:a -> system:playback_1" \
	"$(dm_connected tones:a system:playback_1 && echo yes || echo no)" = yes
dm_check_str "tones:b -> system:playback_2" \
	"$(dm_connected tones:b system:playback_2 && echo yes || echo no)" = yes
# the late client connected to jack_rec's input while it existed
dm_check "late: connected to jackrec:input1 while it existed" \
	"$(grep -c 'late:a -> jackrec:input1' "$DM_TMP/late.err" || true)" ">=" 1
dm_rec 1 "$DM_TMP/rec2.wav" system:capture_1
dm_check "late: reconnected to the second jack_rec" \
	"$(grep -c 'reconnected' "$DM_TMP/late.err" || true)" ">=" 1
dm_stop "$late_pid" 3
dm_check "dm-jack-tones exit status after SIGTERM" "$DM_STOP_RC" == 0

# --- dm-jack-tones --burst and --duration
rc=0
"$DM_JACK_TONES" --name burst --duration 3 --burst 50/250 'b=1000>jackrec:input1' \
	>"$DM_TMP/burst.out" 2>"$DM_TMP/burst.err" &
bpid=$!
dm_rec 2 "$DM_TMP/burst.wav" system:capture_1
wait "$bpid" || rc=$?
dm_check "dm-jack-tones --duration exit status" "$rc" == 0
dm_tone "$DM_TMP/burst.wav" --skip 0.3
dm_check "burst: peak (dBFS)" "$(dm_json "$DM_TMP/burst.wav.json" peak_dbfs)" ">" -0.5
dm_check "burst: quietest 20 ms block (dBFS, gaps between bursts)" \
	"$(dm_json "$DM_TMP/burst.wav.json" block_rms_min_dbfs)" "<" -100
dm_check "burst: rms (dBFS, 20 % duty)" "$(dm_json "$DM_TMP/burst.wav.json" rms_dbfs)" "<" -5
dm_check "burst: frequency (Hz)" "$(dm_json "$DM_TMP/burst.wav.json" freq)" == 1000

# a destination that never appears: exit 3 after --wait
rc=0
"$DM_JACK_TONES" --name never --wait 1 'x=100>nosuch:port' >/dev/null 2>&1 || rc=$?
dm_check "dm-jack-tones: missing destination exit status" "$rc" == 3
rc=0
"$DM_JACK_TONES" 'x=abc' >/dev/null 2>&1 || rc=$?
dm_check "dm-jack-tones: bad spec exit status" "$rc" == 2

# --- dm-wav-tone on sox-made files
sox -n -r 48000 -c 1 "$DM_TMP/s440.wav" synth 2 sine 440 vol 0.5
sox -n -r 48000 -c 2 "$DM_TMP/s1230.wav" synth 2 sine 1230 vol 0.1
sox -n -r 48000 -c 1 "$DM_TMP/silence.wav" trim 0 1
sox -n -r 48000 -c 1 "$DM_TMP/mix.wav" synth 2 sine 500 synth 2 sine mix 900 vol 0.5
dm_tone "$DM_TMP/s440.wav"
dm_check "dm-wav-tone scan: 440 Hz" "$(dm_json "$DM_TMP/s440.wav.json" freq)" == 440
dm_check "dm-wav-tone scan: margin (dB)" "$(dm_json "$DM_TMP/s440.wav.json" freq_db_margin)" ">" 40
dm_check "dm-wav-tone: peak -6 dBFS" "$(dm_json "$DM_TMP/s440.wav.json" peak_dbfs)" ">" -6.1
dm_check "dm-wav-tone: rms -9 dBFS" "$(dm_json "$DM_TMP/s440.wav.json" rms_dbfs)" "<" -8.9
dm_tone "$DM_TMP/s1230.wav" --skip 0.5
dm_check "dm-wav-tone scan, stereo: 1230 Hz" "$(dm_json "$DM_TMP/s1230.wav.json" freq)" == 1230
dm_check "dm-wav-tone --skip: analysed s" "$(dm_json "$DM_TMP/s1230.wav.json" analysed_s)" == 1.5
dm_check_silent "dm-wav-tone: silence" "$DM_TMP/silence.wav"
dm_tone "$DM_TMP/mix.wav" --freqs 300,500,700,900
dm_check "dm-wav-tone: two equal tones, margin (dB)" \
	"$(dm_json "$DM_TMP/mix.wav.json" freq_db_margin)" "<" 1
dm_check "dm-wav-tone: two equal tones, purity (dB)" \
	"$(dm_json "$DM_TMP/mix.wav.json" purity_db)" "<" -2.5
dm_check "dm-wav-tone: levels.300 absent (dBFS)" \
	"$(dm_json "$DM_TMP/mix.wav.json" levels.300)" "<" -100
rc=0
"$DM_WAV_TONE" "$DM_TMP/nosuch.wav" >/dev/null 2>&1 || rc=$?
dm_check "dm-wav-tone: missing file exit status" "$rc" == 2

# --- dm-udp on loopback multicast
g=$DM_GROUP_BASE.251
dm_bg cap1 "$DM_UDP" capture --group "$g" --port "$DM_PORT" --count 400 \
	--out "$DM_TMP/cap1.bin" --timeout 10
c1=$DM_BG_PID
dm_bg cap2 "$DM_UDP" capture --group "$g" --port "$DM_PORT" --count 400 \
	--out "$DM_TMP/cap2.bin" --timeout 10
c2=$DM_BG_PID
sleep 0.3
"$DM_UDP" garbage --group "$g" --port "$DM_PORT" --count 200 --rtp-like --ssrc 0x1234 \
	--seed 7 --rate 2000 >"$DM_TMP/g1.json"
"$DM_UDP" garbage --group "$g" --port "$DM_PORT" --count 200 --seed 8 --rate 2000 \
	>"$DM_TMP/g2.json"
rc1=0 rc2=0
wait "$c1" || rc1=$?
wait "$c2" || rc2=$?
dm_check "dm-udp capture 1 exit status" "$rc1" == 0
dm_check "dm-udp capture 2 exit status" "$rc2" == 0
dm_check "dm-udp capture: datagrams" "$(dm_json "$DM_TMP/cap1.out" captured)" == 400
dm_check_str "dm-udp: two receivers on one group got the same" \
	"$(cmp -s "$DM_TMP/cap1.bin" "$DM_TMP/cap2.bin" && echo same || echo differ)" = same
dm_check "dm-udp garbage: truncated ones sent" "$(dm_json "$DM_TMP/g1.json" truncated)" ">" 5
dm_check_str "dm-udp capture: forced SSRC seen" \
	"$(grep -o '"ssrcs":\[[0-9]*' "$DM_TMP/cap1.out" | grep -o '[0-9]*$')" = 4660
dm_bg cap3 "$DM_UDP" capture --group "$g" --port "$DM_PORT" --count 400 \
	--out "$DM_TMP/cap3.bin" --timeout 10
c3=$DM_BG_PID
sleep 0.3
"$DM_UDP" replay --in "$DM_TMP/cap1.bin" --group "$g" --port "$DM_PORT" --rate 1000 \
	>"$DM_TMP/replay.json"
rc=0
wait "$c3" || rc=$?
dm_check "dm-udp replay: sent" "$(dm_json "$DM_TMP/replay.json" sent)" == 400
dm_check "dm-udp replay: took (s, at 1000 pps)" "$(dm_json "$DM_TMP/replay.json" seconds)" ">" 0.35
dm_check_str "dm-udp replay: byte-identical datagrams" \
	"$(cmp -s "$DM_TMP/cap1.bin" "$DM_TMP/cap3.bin" && echo same || echo differ)" = same
# another group on the same port is not captured
dm_bg cap4 "$DM_UDP" capture --group "$g" --port "$DM_PORT" --count 1 \
	--out "$DM_TMP/cap4.bin" --timeout 1
c4=$DM_BG_PID
sleep 0.2
"$DM_UDP" garbage --group "$DM_GROUP_BASE.252" --port "$DM_PORT" --count 20 >/dev/null
rc=0
wait "$c4" || rc=$?
dm_check "dm-udp capture: other group ignored (timeout exit 3)" "$rc" == 3

dm_finish
