#!/bin/bash
# listen_switch: a delegate switches channel by typing on dragoman-listen's stdin.
# The floor plays 300 Hz (en carries it: no live English console, fallback
# floor), fr-1 500 Hz (fr), es-1 700 Hz (es). Two listeners start on en, their
# stdin a FIFO of ours; 2 s later both get "fr", 2 s after that "3" (es, by number):
#  - A: --out wav: the WAV holds 300, then 500, then 700 Hz, each in its time
#    window, in that order, and nothing else;
#  - B: --out jack, recorded in real time by jack_rec: the silence between the
#    old channel's tone and the new one's is the switch as a delegate hears it
#    (the old channel stops at once: its group is left on the command). Asserts
#    it under 200 ms per switch. If the stats line has switch_ms (first packet
#    of the new channel -> first decoded frame), asserts it under 50 ms.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_mcast_check
dm_jackd_start 128

dm_make_conf "$DM_TMP/conf"
conf=$DM_CONF
sdp=$DM_TMP/sdp
dm_engine_start "$conf" "$sdp"
dm_tones_start tones 'floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic' \
	'es1=700@-12>dragoman:es-1.mic'
dm_wait_sdps "$sdp" 10 en fr es

# The FIFOs are held open read-write here, so that the listeners' open for
# reading does not block and they never see end-of-file.
mkfifo "$DM_TMP/cmd-wav" "$DM_TMP/cmd-jack"
exec 7<>"$DM_TMP/cmd-wav" 8<>"$DM_TMP/cmd-jack"

dur=6.5
"$DRAGOMAN_LISTEN" --stats --config "$conf" --channel en --out "wav:$DM_TMP/wav.wav" \
	--duration "$dur" --interface 127.0.0.1 <"$DM_TMP/cmd-wav" \
	>"$DM_TMP/listen-wav.out" 2>"$DM_TMP/listen-wav.err" &
p_wav=$!
DM_PIDS+=("$p_wav")
"$DRAGOMAN_LISTEN" --stats --config "$conf" --channel en --out jack --name swj \
	--duration "$dur" --interface 127.0.0.1 <"$DM_TMP/cmd-jack" \
	>"$DM_TMP/listen-jack.out" 2>"$DM_TMP/listen-jack.err" &
p_jack=$!
DM_PIDS+=("$p_jack")
t0=$(date +%s.%N)
dm_wait_port swj:out 5 || {
	dm_tail "$DM_TMP/listen-jack.err"
	dm_die "dragoman-listen --out jack: port swj:out did not appear"
}
jack_rec -f "$DM_TMP/jack.wav" -d 6 swj:out >"$DM_TMP/jack_rec.log" 2>&1 &
p_rec=$!
DM_PIDS+=("$p_rec")

# sleep_until S: until S seconds after t0
sleep_until() {
	local left
	left=$(dm_calc "$1 - ($(date +%s.%N) - $t0)")
	sleep "$(dm_calc "($left > 0 ? $left : 0)")"
}
sleep_until 2
# The WAV's size when the command goes: how much audio was written before it.
size1=$(stat -c %s "$DM_TMP/wav.wav")
echo fr >&7
echo fr >&8
t1=$EPOCHREALTIME
sleep_until 4
size2=$(stat -c %s "$DM_TMP/wav.wav")
echo 3 >&7
echo 3 >&8
t2=$EPOCHREALTIME
s1=$(dm_calc "$t1 - $t0")
s2=$(dm_calc "$t2 - $t0")
dm_say "commands at +$s1 s (fr) and +$s2 s (3 = es) after the listeners started"

dm_listen_wait wav "$p_wav" 12
dm_listen_wait jack "$p_jack" 12
wait "$p_rec" 2>/dev/null || dm_fail "jack_rec failed: $(cat "$DM_TMP/jack_rec.log")"
exec 7>&- 8>&-
for l in wav jack; do
	dm_check "listener $l: says 'channel fr'" "$(grep -c 'channel fr' "$DM_TMP/listen-$l.err" || true)" == 1
	dm_check "listener $l: says 'channel es'" "$(grep -c 'channel es' "$DM_TMP/listen-$l.err" || true)" == 1
	dm_check "listener $l: auth_failed" "$(dm_stat "$l" auth_failed)" == 0
done

# ---- A: the WAV's windows (WAV time ~ time since the listener started: the
# WAV gets a frame per packet, so a switch leaves no gap in it)
w=$DM_TMP/wav.wav
cut() { # cut LABEL FROM LENGTH FREQ
	cp "$w" "$DM_TMP/wav-$1.wav"
	dm_tone "$DM_TMP/wav-$1.wav" --skip "$2" --length "$3" --freqs 300,500,700
	dm_check "WAV $1 window (+$2 s, $3 s): dominant frequency (Hz)" \
		"$(dm_json "$DM_TMP/wav-$1.wav.json" freq)" == "$4"
	dm_check "WAV $1 window: margin over the other channels' tones (dB)" \
		"$(dm_json "$DM_TMP/wav-$1.wav.json" freq_db_margin)" ">=" 20
}
cut en 0.3 "$(dm_calc "$s1 - 0.6")" 300
cut fr "$(dm_calc "$s1 + 0.3")" "$(dm_calc "$s2 - $s1 - 0.6")" 500
cut es "$(dm_calc "$s2 + 0.3")" "$(dm_calc "$dur - $s2 - 0.8")" 700

dm_segments "$w" 5 300,500,700 >"$DM_TMP/wav.seg"
dm_say "WAV time line (class start end, runs >= 100 ms): $(dm_seg_runs "$DM_TMP/wav.seg" | tr '\n' ';')"
dm_check_str "WAV: the long runs are 300, 500, 700 Hz in that order" \
	"$(dm_seg_runs "$DM_TMP/wav.seg" | awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 }')" = "300 500 700"
read -r e1 b1 < <(dm_seg_switch "$DM_TMP/wav.seg" 300 500)
read -r e2 b2 < <(dm_seg_switch "$DM_TMP/wav.seg" 500 700)
dm_say "WAV: en->fr at +$b1 s (command +$s1), fr->es at +$b2 s (command +$s2)"
dm_check "WAV: 500 Hz starts near the 'fr' command (s off)" \
	"$(dm_calc "(($b1 - $s1) < 0 ? $s1 - $b1 : $b1 - $s1)")" "<" 0.4
dm_check "WAV: 700 Hz starts near the '3' command (s off)" \
	"$(dm_calc "(($b2 - $s2) < 0 ? $s2 - $b2 : $b2 - $s2)")" "<" 0.4
# command -> first frame of the new channel, on the WAV's own time line: the
# position the file had reached when the command went vs where the new tone starts
frames=$(soxi -s "$w")
header=$(( $(stat -c %s "$w") - 2 * frames ))
p1=$(dm_calc "($size1 - $header) / 2 / 48000")
p2=$(dm_calc "($size2 - $header) / 2 / 48000")
dm_say "WAV: $frames frames, header $header bytes; the commands went at WAV time +$p1 s and +$p2 s"
dm_check "WAV: command 'fr' -> first 500 Hz (ms, 5 ms windows)" "$(dm_calc "($b1 - $p1) * 1000")" "<" 200
dm_check "WAV: command '3' -> first 700 Hz (ms, 5 ms windows)" "$(dm_calc "($b2 - $p2) * 1000")" "<" 200
dm_say "WAV: the old channel's tone went on $(dm_calc "($e1 - $p1) * 1000") ms and" \
	"$(dm_calc "($e2 - $p2) * 1000") ms after the commands (break before make: it stops when the" \
	"receiver thread takes the command)"
dm_say "WAV: gap in the file en->fr $(dm_calc "($b1 - $e1) * 1000") ms, fr->es $(dm_calc "($b2 - $e2) * 1000") ms" \
	"(frames are written as packets come: informative only)"

# ---- B: the real-time output, as heard
j=$DM_TMP/jack.wav
if [ ! -s "$j" ]; then
	dm_fail "jack_rec wrote nothing"
else
	dm_segments "$j" 5 300,500,700 >"$DM_TMP/jack.seg"
	dm_say "JACK output time line (runs >= 100 ms): $(dm_seg_runs "$DM_TMP/jack.seg" | tr '\n' ';')"
	dm_say "JACK output around the switches: $(awk '$2 > 0.5 && $1 <= 0 || $3 - $2 < 0.1' "$DM_TMP/jack.seg" | tr '\n' ';')"
	dm_check_str "JACK output: the long runs are 300, 500, 700 Hz in that order" \
		"$(dm_seg_runs "$DM_TMP/jack.seg" | awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 }')" = "300 500 700"
	read -r e1 b1 < <(dm_seg_switch "$DM_TMP/jack.seg" 300 500)
	read -r e2 b2 < <(dm_seg_switch "$DM_TMP/jack.seg" 500 700)
	gap1=$(dm_calc "($b1 - $e1) * 1000")
	gap2=$(dm_calc "($b2 - $e2) * 1000")
	dm_check "switch en -> fr as heard: end of 300 Hz to start of 500 Hz (ms, 20 ms windows)" "$gap1" "<" 200
	dm_check "switch fr -> es as heard: end of 500 Hz to start of 700 Hz (ms, 20 ms windows)" "$gap2" "<" 200
	# to the sample: the output's underrun (exact zeros) around each switch
	k=0
	for b in "$b1" "$b2"; do
		k=$((k + 1))
		cp "$j" "$DM_TMP/jack-sw$k.wav"
		dm_tone "$DM_TMP/jack-sw$k.wav" --skip "$(dm_calc "($b > 0.2 ? $b - 0.2 : 0)")" --length 0.4
		z=$(dm_calc "$(dm_json "$DM_TMP/jack-sw$k.wav.json" zero_run_max_s) * 1000")
		dm_check "switch $k as heard: longest digital silence around it (ms)" "$z" "<" 200
	done
	dm_check "JACK output: switches 2 s apart as commanded (s)" "$(dm_calc "$b2 - $b1")" ">" 1.7
	dm_check "JACK output: switches 2 s apart as commanded (s)" "$(dm_calc "$b2 - $b1")" "<" 2.3
	dm_say "listener jack: buffer_ms max $(dm_stat jack buffer_ms.max) (old audio still" \
		"queued when the command comes, added to the gap for command -> new audio)"
fi

for l in wav jack; do
	if dm_stat_has "$l" switch_ms; then
		dm_check "listener $l: switch_ms (first packet of the new channel -> first frame)" \
			"$(dm_stat "$l" switch_ms)" "<" 50
	else
		dm_say "listener $l: no switch_ms in the stats line (not asserted)"
	fi
done

dm_engine_stop
dm_say "jackd xruns logged: $(dm_jackd_xruns)"
dm_finish
