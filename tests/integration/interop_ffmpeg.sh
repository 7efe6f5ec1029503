#!/bin/bash
# interop_ffmpeg: ffmpeg, an independent SRTP + Opus implementation, decodes
# every channel from the SDP files the engine writes (--sdp-dir):
#   floor 300 Hz, en 300 Hz (fallback floor), fr 500 Hz, es 700 Hz.
# Negative control: the fr SDP with a tampered key decodes to no audio and
# ffmpeg reports the authentication failure.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_require_cmd ffmpeg timeout
dm_mcast_check
dm_jackd_start 128

dm_make_conf "$DM_TMP/conf"
sdp=$DM_TMP/sdp
dm_engine_start "$DM_CONF" "$sdp"
dm_tones_start tones 'floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic' \
	'es1=700@-12>dragoman:es-1.mic' 'fr2=900@-12>dragoman:fr-2.mic'
dm_wait_sdps "$sdp" 10 floor en fr es
DM_SDP_DIR=$sdp
DM_SEQ_IDS=(floor en fr es)
dm_seq_mark "${DM_SEQ_IDS[@]}"

# ffmpeg IN.sdp OUT.wav SECONDS TIMEOUT: as in TESTING.md; sets FF_RC.
ff() {
	FF_RC=0
	timeout -s INT "$4" ffmpeg -nostdin -hide_banner -nostats -y \
		-protocol_whitelist file,udp,rtp -localaddr 127.0.0.1 -i "$1" -t "$3" "$2" \
		>"$2.log" 2>&1 || FF_RC=$?
}

for pair in floor:300 en:300 fr:500 es:700; do
	id=${pair%%:*}
	dm_seq_ensure "$id"
	ff "$sdp/$id.sdp" "$DM_TMP/ff-$id.wav" 3 20
	dm_check "ffmpeg $id: exit status" "$FF_RC" == 0
	[ "$FF_RC" = 0 ] || dm_tail "$DM_TMP/ff-$id.wav.log"
	dm_check_tone "ffmpeg $id" "$DM_TMP/ff-$id.wav" "${pair#*:}" 300,500,700,900 0.5
	dm_check "ffmpeg $id: decoded seconds" "$(dm_json "$DM_TMP/ff-$id.wav.json" duration_s)" \
		">=" 2.9
done

dm_seq_ensure fr
# Negative control: a wrong key gives no audio.
key=$(dm_sdp_crypto "$sdp/fr.sdp")
if [ "${key:0:1}" = A ]; then repl=B; else repl=A; fi
sed "s|inline:${key:0:1}|inline:$repl|" "$sdp/fr.sdp" >"$DM_TMP/bad-fr.sdp"
ff "$DM_TMP/bad-fr.sdp" "$DM_TMP/ff-bad.wav" 2 8
dm_say "ffmpeg with a wrong key: exit $FF_RC"
dm_check_silent "ffmpeg fr with a wrong key" "$DM_TMP/ff-bad.wav"
dm_check "ffmpeg fr with a wrong key: HMAC errors logged" \
	"$(grep -ci 'hmac' "$DM_TMP/ff-bad.wav.log" || true)" ">=" 1

dm_engine_stop
dm_finish
