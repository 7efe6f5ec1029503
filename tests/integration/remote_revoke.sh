#!/bin/bash
# remote_revoke: revoking a delegate rotates every remote stream within 1 s
# (issue 5). Delegates A and R listen to fr with dragoman-listen; P, a third
# delegate (tests/integration/remote_peer.py, the hello protocol written
# independently in Python), listens to fr too. At +5 s the technician revokes
# R; from then on P forwards everything it receives to R's socket (an
# accomplice handing the revoked delegate a valid delegate's traffic).
#
#   the rotation completes within 1 s of the revocation (as the engine
#   times it; its rotation counter, polled from here, moves within 2 s), and
#   P sees the stream change SSRC once
#   R: no authentication failure before the revocation (it plays, packets
#   decode), authentication failures after it, and nothing decoded after it
#   (its decoded frames stop at the revocation)
#   A: no authentication failure, no audible gap across the rotation (its
#   WAV has the tone throughout: no silent 20 ms block), concealed frames
#   below 1 %
#   R's token is refused (401) from then on; its hellos no longer bind it
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/remote_lib.sh"

dm_init
dm_require_cmd curl openssl sox soxi
dm_mcast_check
dm_jackd_start 128

dm_make_remote_conf "$DM_TMP/conf"
conf=$DM_CONF
dm_engine_start "$conf" "$DM_TMP/sdp"
dm_api_wait 10
dm_tones_start tones 'floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic' \
	'es1=700@-12>dragoman:es-1.mic'
dm_delegate_add "Delegate A" a
dm_delegate_add "Delegate R" r
dm_delegate_add "Delegate P" p

dur=12
dm_remote_listen_start a a --channel fr --out "wav:$DM_TMP/a.wav" --duration "$dur"
pa=$DM_LISTEN_PID
dm_remote_listen_start r r --channel fr --out "wav:$DM_TMP/r.wav" --duration "$dur"
pr=$DM_LISTEN_PID
t_r0=$(date +%s.%N)
sleep 1.5
# R's address, as the engine sees it
dm_api GET /api/v1/listeners "${DM_TOK[technician]}"
raddr=$(dm_jget "$DM_API_BODY" '[r["address"] for r in j["remote"] if r["name"] == "Delegate R"][0]')
dm_check_str "R is bound to an address" "${raddr:+bound}" = bound
"$DM_PYTHON" "$DM_REMOTE_PEER" listen --api "$DM_API" --cacert "$DM_CERT" \
	--token-file "${DM_DELEGATE_TOKF[p]}" --channel fr --seconds 9 --report "$DM_TMP/p.json" \
	--forward-when "$DM_TMP/forward" --forward-to "${raddr:-127.0.0.1:9}" \
	>"$DM_TMP/peer.out" 2>"$DM_TMP/peer.err" &
pp=$!
DM_PIDS+=("$pp")
sleep 3.5
rot0=$(dm_metric dragoman_remote_key_rotations_total)
t_rev=$(date +%s.%N)
dm_check_api "revoke R" 200 DELETE "/api/v1/delegates/${DM_DELEGATE_ID[r]}" "${DM_TOK[technician]}"
touch "$DM_TMP/forward"
# the rotation counter, polled until it moves
rot=$rot0
while [ "$rot" = "$rot0" ] && [ "$(dm_calc "$(date +%s.%N) - $t_rev < 3")" = 1 ]; do
	sleep 0.05
	rot=$(dm_metric dragoman_remote_key_rotations_total)
done
t_rot=$(dm_calc "$(date +%s.%N) - $t_rev")
dm_check "rotation counter moved" "$rot" ">" "${rot0:-0}"
dm_check_api "R's token after revocation" 401 POST /api/v1/remote/sessions \
	"$(cat "${DM_DELEGATE_TOKF[r]}")" '{}'
dm_check "engine log: rotation time logged" \
	"$(grep -c 'keys rotated to generation 2' "$DM_ENGINE_LOG.err" || true)" == 1
# The engine times the rotation from the revocation's arrival to the switch
# to the new keys: that is the 1 s of the issue. The time seen from here
# adds the curl that sends the DELETE and one that polls the counter, each
# a process start on a busy 2-core VM (0.75 s measured here against 0.51 s
# in the engine): it is a bound from outside, not the figure.
rot_ms=$(sed -n 's/.*keys rotated to generation 2 in \([0-9]*\) ms.*/\1/p' "$DM_ENGINE_LOG.err" | head -1)
dm_say "rotation: $rot_ms ms by the engine's clock, $t_rot s polled from the test"
dm_check "revocation -> keys rotated (ms, the engine's clock)" "${rot_ms:-none}" "<" 1000
dm_check "revocation -> keys rotated (s, polled every 50 ms from outside)" "$t_rot" "<" 2

dm_listen_wait a "$pa" 15
dm_listen_wait r "$pr" 15
wait "$pp" 2>/dev/null || dm_fail "remote_peer.py failed: $(cat "$DM_TMP/peer.err")"
dm_say "peer: $(cat "$DM_TMP/p.json")"
dm_check "P: RTP received" "$(dm_jget "$DM_TMP/p.json" 'j["rtp"]')" ">" 300
dm_check "P: SSRCs seen (one rotation)" "$(dm_jget "$DM_TMP/p.json" 'len(j["ssrcs"])')" == 2
dm_check "P: datagrams forwarded to R" "$(dm_jget "$DM_TMP/p.json" 'j["forwarded"]')" ">" 100

dm_check "A: auth_failed" "$(dm_stat a auth_failed)" == 0
dm_check "A: received" "$(dm_stat a received)" ">" 450
dm_check "A: concealed frames (< 1 %)" "$(dm_stat a concealed_frames)" "<" \
	"$(dm_calc "$(dm_stat a decoded_frames) / 100")"
dm_check "R: auth_failed (the forwarded packets)" "$(dm_stat r auth_failed)" ">" 100
# R played until the revocation and nothing after: its WAV ends where it was
# when the revocation went, give or take the jitter buffer (it ran on, silent)
dec_r=$(dm_stat r decoded_frames)
dm_say "R: $dec_r frames decoded; revoked $(dm_calc "$t_rev - $t_r0") s after it started"
dm_check "R: audio decoded (s) <= time until the rotation (revocation + the engine's rotation time) + 0.3 s" \
	"$(dm_calc "$dec_r * 0.02")" "<=" "$(dm_calc "$t_rev - $t_r0 + ${rot_ms:-500} / 1000 + 0.3")"
dm_check "R: audio decoded before the revocation (s)" "$(dm_calc "$dec_r * 0.02")" ">" 2
# A's WAV: the tone throughout (a gap would be a silent or unclear run)
dm_segments "$DM_TMP/a.wav" 20 300,500,700 1 >"$DM_TMP/a.seg"
dm_say "A time line: $(dm_seg_runs "$DM_TMP/a.seg" | tr '\n' ';')"
# A gap would be silence, or more than one window without the tone; one
# unclear window is what an xrun of the dummy JACK server leaves in the
# source itself (counted below), in any listener's audio.
dm_check "A: silent 20 ms windows after the first second" \
	"$(awk '$1 == 0 { n += int(($3 - $2) / 0.02 + 0.5) } END { print n + 0 }' "$DM_TMP/a.seg")" == 0
dm_check "A: longest run without the tone (20 ms windows)" \
	"$(awk '$1 != 500 { k = int(($3 - $2) / 0.02 + 0.5); if (k > m) m = k } END { print m + 0 }' "$DM_TMP/a.seg")" "<=" 1
dm_say "jackd xruns logged: $(dm_jackd_xruns)"
dm_check_tone "A (fr)" "$DM_TMP/a.wav" 500 300,500,700 1
dm_finish
