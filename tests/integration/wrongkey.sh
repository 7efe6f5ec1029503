#!/bin/bash
# wrongkey: a listener without the right key hears nothing and says why.
#  - config mode with another conference secret (a second keygen): no audio,
#    auth_failed > 0, received == 0;
#  - SDP mode with a tampered a=crypto key: the same;
#  - control: a listener with the right secret, at the same time, gets the tone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_mcast_check
dm_jackd_start 128

dm_make_conf "$DM_TMP/conf"
conf=$DM_CONF
# same conference, channels and groups, but its own secret
dm_make_conf "$DM_TMP/wrong"
wrong=$DM_CONF
if cmp -s "$DM_TMP/conf/test.secret" "$DM_TMP/wrong/test.secret"; then
	dm_die "two keygens wrote the same secret"
fi
sdp=$DM_TMP/sdp
dm_engine_start "$conf" "$sdp"
dm_tones_start tones 'floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic' \
	'es1=700@-12>dragoman:es-1.mic'
dm_wait_sdps "$sdp" 10 fr

# An SDP with a wrong key: same length, first base64 character changed.
key=$(dm_sdp_crypto "$sdp/fr.sdp")
[ -n "$key" ] || dm_die "no a=crypto inline: key in $sdp/fr.sdp"
first=${key:0:1}
if [ "$first" = A ]; then repl=B; else repl=A; fi
bad=$DM_TMP/bad-fr.sdp
sed "s|inline:$first|inline:$repl|" "$sdp/fr.sdp" >"$bad"
chmod 600 "$bad"
dm_check_str "tampered SDP key differs" "$(dm_sdp_crypto "$bad")" != "$key"

dur=3
dm_listen_start right --config "$conf" --channel fr --out "wav:$DM_TMP/right.wav" \
	--duration "$dur" --interface 127.0.0.1
p_right=$DM_LISTEN_PID
dm_listen_start wrong --config "$wrong" --channel fr --out "wav:$DM_TMP/wrong.wav" \
	--duration "$dur" --interface 127.0.0.1
p_wrong=$DM_LISTEN_PID
dm_listen_start badsdp --sdp "$bad" --out "wav:$DM_TMP/badsdp.wav" --duration "$dur" \
	--interface 127.0.0.1
p_bad=$DM_LISTEN_PID
dm_listen_wait right "$p_right" $((dur + 10))
dm_listen_wait wrong "$p_wrong" $((dur + 10))
dm_listen_wait badsdp "$p_bad" $((dur + 10))

dm_check_tone "right key" "$DM_TMP/right.wav" 500
dm_check "right key: received" "$(dm_stat right received)" ">" 100
dm_check "right key: auth_failed" "$(dm_stat right auth_failed)" == 0

for l in wrong badsdp; do
	dm_check_silent "$l: no audio" "$DM_TMP/$l.wav"
	dm_check "$l: received (authenticated)" "$(dm_stat "$l" received)" == 0
	dm_check "$l: auth_failed" "$(dm_stat "$l" auth_failed)" ">" 0
	dm_say "$l: auth_failed $(dm_stat "$l" auth_failed) unknown_ssrc $(dm_stat "$l" unknown_ssrc)" \
		"concealed_frames $(dm_stat "$l" concealed_frames)"
done

dm_engine_stop
dm_finish
