#!/bin/bash
# garbage: while a listener plays fr, dm-udp floods fr's group and port with
#  - RTP-looking packets with random SSRC, sequence and payload,
#  - RTP-looking packets forged with fr's real SSRC (random seq, no valid tag),
#  - random bytes, and truncated datagrams of 0..20 bytes (one in eight of each).
# Asserts: the listener still plays fr's 500 Hz tone with no dropout, keeps
# receiving the real stream, counts the garbage as dropped
# (auth_failed + malformed + unknown_ssrc + replayed), accepts none of it (received does
# not exceed what the engine sent) and its sequence tracking is not disturbed
# (lost stays small).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_mcast_check
dm_jackd_start 128

dm_make_conf "$DM_TMP/conf"
conf=$DM_CONF
sdp=$DM_TMP/sdp
dm_engine_start "$conf" "$sdp"
dm_tones_start tones 'floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic'
dm_wait_sdps "$sdp" 10 fr
group=$(dm_sdp_group "$sdp/fr.sdp")
port=$(dm_sdp_port "$sdp/fr.sdp")
ssrc=$(dm_sdp_ssrc "$sdp/fr.sdp")
ptime=$(dm_sdp_ptime "$sdp/fr.sdp")
dm_say "fr: $group:$port ssrc $ssrc ptime $ptime"
if [ -z "$group" ] || [ -z "$port" ] || [ -z "$ssrc" ]; then dm_die "cannot read fr.sdp"; fi

dur=8
dm_listen_start fr --config "$conf" --channel fr --out "wav:$DM_TMP/fr.wav" --duration "$dur" \
	--interface 127.0.0.1
lp=$DM_LISTEN_PID
sleep 1.5
sent=0
flood() {
	local name=$1
	shift
	"$DM_UDP" garbage --group "$group" --port "$port" --iface 127.0.0.1 --rate 2000 "$@" \
		>"$DM_TMP/$name.json"
	dm_say "garbage $name: $(cat "$DM_TMP/$name.json")"
	sent=$((sent + $(dm_json "$DM_TMP/$name.json" sent)))
}
flood rtp --count 3000 --rtp-like --seed 1
flood forged --count 3000 --rtp-like --ssrc "$ssrc" --seed 2
flood random --count 3000 --seed 3
dm_listen_wait fr "$lp" $((dur + 10))

# The tone, in the part recorded during the flood, and no dropout anywhere
# after the start.
dm_check_tone "fr during the flood" "$DM_TMP/fr.wav" 500 300,500,700,900 1.5
dm_check "fr: quietest 20 ms block (dBFS, no dropout)" \
	"$(dm_json "$DM_TMP/fr.wav.json" block_rms_min_dbfs)" ">" -30
expected=$(dm_calc "$dur * 1000 / $ptime")
received=$(dm_stat fr received)
dm_check "fr: packets received (stream went on)" "$received" ">=" "$(dm_calc "$expected * 0.6")"
dm_check "fr: received not more than the engine sent (no garbage accepted)" "$received" "<=" \
	"$(dm_calc "$expected * 1.1 + 20")"
for k in malformed unknown_ssrc; do
	dm_stat_has fr "$k" || dm_fail "stats line has no '$k' counter"
done
auth=$(dm_stat fr auth_failed)
malformed=$(dm_stat fr malformed)
unknown=$(dm_stat fr unknown_ssrc)
# libsrtp runs its replay check before authentication: a forged packet whose
# random sequence number lies behind the window counts as replayed.
replayed=$(dm_stat fr replayed)
dropped=$(dm_calc "$auth + $malformed + $unknown + $replayed")
dm_say "sent $sent garbage datagrams; listener: auth_failed $auth malformed $malformed" \
	"unknown_ssrc $unknown replayed $replayed duplicates $(dm_stat fr duplicates)"
dm_check "fr: garbage counted as dropped (auth_failed + malformed + unknown_ssrc + replayed)" \
	"$dropped" \
	">=" "$(dm_calc "$sent * 0.5")"
dm_check "fr: forged packets with the real SSRC rejected (auth_failed + replayed)" \
	"$(dm_calc "$auth + $replayed")" ">=" "$(dm_calc "$(dm_json "$DM_TMP/forged.json" rtp_like) * 0.5")"
dm_check "fr: malformed (truncated, not RTP)" "$malformed" ">=" 100
dm_check "fr: lost (sequence tracking undisturbed)" "$(dm_stat fr lost)" "<=" \
	"$(dm_calc "$received * 0.05 + 10")"
dm_check "dragomand still running" "$(dm_alive "$DM_ENGINE_PID" && echo 1 || echo 0)" == 1

dm_engine_stop
dm_say "jackd xruns logged: $(dm_jackd_xruns)"
dm_finish
