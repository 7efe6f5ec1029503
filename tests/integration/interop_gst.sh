#!/bin/bash
# interop_gst: GStreamer's srtpdec (libsrtp) + rtpopusdepay + opusdec decode
# every channel, with caps built from the engine's SDP files (address, port,
# a=ssrc, a=crypto suite and key converted from base64 to hex):
#   floor 300 Hz, en 300 Hz (fallback floor), fr 500 Hz, es 700 Hz.
# Negative control: the fr caps with a wrong key decode to no audio.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_require_cmd gst-launch-1.0 gst-inspect-1.0 timeout base64 od
for el in udpsrc srtpdec rtpjitterbuffer rtpopusdepay opusdec audioconvert wavenc; do
	gst-inspect-1.0 --exists "$el" || dm_die "GStreamer element $el is not installed"
done
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

# gst SDP OUT.wav SECONDS [HEXKEY]: records SECONDS of the stream; sets GST_RC.
gst() {
	local f=$1 out=$2 secs=$3 hex=${4:-} group port ssrc suite b64 cipher auth
	group=$(dm_sdp_group "$f")
	port=$(dm_sdp_port "$f")
	ssrc=$(dm_sdp_ssrc "$f")
	suite=$(dm_sdp_suite "$f")
	b64=$(dm_sdp_crypto "$f")
	[ -n "$hex" ] || hex=$(printf '%s' "$b64" | base64 -d | od -An -v -tx1 | tr -d ' \n')
	case $suite in
	AES_CM_128_HMAC_SHA1_80) cipher=aes-128-icm auth=hmac-sha1-80 ;;
	AES_CM_128_HMAC_SHA1_32) cipher=aes-128-icm auth=hmac-sha1-32 ;;
	AEAD_AES_128_GCM) cipher=aes-128-gcm auth=null ;;
	AEAD_AES_256_GCM) cipher=aes-256-gcm auth=null ;;
	*) dm_die "$f: unknown crypto suite '$suite'" ;;
	esac
	dm_say "gst $(basename "$f"): $group:$port ssrc $ssrc $suite key ${#hex} hex digits"
	local caps="application/x-srtp, media=(string)audio, clock-rate=(int)48000,"
	caps+=" encoding-name=(string)OPUS, payload=(int)111, ssrc=(uint)$ssrc,"
	caps+=" srtp-key=(buffer)$hex, srtp-cipher=(string)$cipher, srtp-auth=(string)$auth,"
	caps+=" srtcp-cipher=(string)$cipher, srtcp-auth=(string)$auth"
	GST_RC=0
	timeout -s INT "$secs" gst-launch-1.0 -e \
		udpsrc address="$group" port="$port" multicast-iface=lo caps="$caps" ! \
		srtpdec ! rtpjitterbuffer ! rtpopusdepay ! opusdec ! audioconvert ! \
		wavenc ! filesink location="$out" >"$out.log" 2>&1 || GST_RC=$?
}

for pair in floor:300 en:300 fr:500 es:700; do
	id=${pair%%:*}
	dm_seq_ensure "$id"
	gst "$sdp/$id.sdp" "$DM_TMP/gst-$id.wav" 4
	dm_say "gst-launch $id: exit $GST_RC"
	[ -s "$DM_TMP/gst-$id.wav" ] || dm_tail "$DM_TMP/gst-$id.wav.log"
	dm_check_tone "gstreamer $id" "$DM_TMP/gst-$id.wav" "${pair#*:}" 300,500,700,900 0.5
	dm_check "gstreamer $id: decoded seconds" \
		"$(dm_json "$DM_TMP/gst-$id.wav.json" duration_s)" ">=" 2.5
done

dm_seq_ensure fr
# Negative control: the right SSRC with a wrong key.
good=$(dm_sdp_crypto "$sdp/fr.sdp" | base64 -d | od -An -v -tx1 | tr -d ' \n')
if [ "${good:0:1}" = 0 ]; then bad=1${good:1}; else bad=0${good:1}; fi
gst "$sdp/fr.sdp" "$DM_TMP/gst-bad.wav" 3 "$bad"
dm_check_silent "gstreamer fr with a wrong key" "$DM_TMP/gst-bad.wav"

dm_engine_stop
dm_finish
