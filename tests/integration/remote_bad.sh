#!/bin/bash
# remote_bad: hellos that must not make the engine send anything (issue 5),
# from tests/integration/remote_peer.py (the protocol written independently):
# forged hellos (random session ids and tags), hellos for a real session
# under a wrong key, a valid hello replayed from another address, hellos for
# another session under our own key, a flood of 2,000 hellos in a second
# (for a real session, with random tags),
# and a valid hello from an address that never answers the engine's
# challenge (what a forged source address looks like).
#
#   none of the attacking sockets receives a single datagram, but the last,
#   which gets one 36-byte challenge (its hello is 72) and no media
#   the engine counts each kind: bad_auth, replayed, unknown_session,
#   rate_limited (GET /metrics)
#   the session whose hello was replayed keeps its own address (its socket
#   receives the stream; the replayer's does not)
#   a real listener on fr meanwhile (--out jack, recorded with jack_rec): no
#   loss, no authentication failure, its tone
#   a session that sends one hello and falls silent gets the stream for
#   DM_REMOTE_TIMEOUT_S (15 s), then nothing
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/remote_lib.sh"

dm_init
dm_require_cmd curl openssl
dm_mcast_check
dm_jackd_start 128

dm_make_remote_conf "$DM_TMP/conf"
conf=$DM_CONF
dm_engine_start "$conf" "$DM_TMP/sdp"
dm_api_wait 10
dm_tones_start tones 'floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic'
dm_delegate_add "Delegate A" a
dm_delegate_add "Mallory" m

dm_remote_listen_start a a --channel fr --out jack --name rbad --duration 9
pa=$DM_LISTEN_PID
dm_wait_port rbad:out 5 || dm_die "dragoman-listen --remote --out jack: no port rbad:out"
jack_rec -f "$DM_TMP/a.wav" -d 5 rbad:out >"$DM_TMP/jack_rec.log" 2>&1 &
p_rec=$!
DM_PIDS+=("$p_rec")
"$DM_PYTHON" "$DM_REMOTE_PEER" once --api "$DM_API" --cacert "$DM_CERT" \
	--token-file "${DM_DELEGATE_TOKF[a]}" --channel es --seconds 19 --report "$DM_TMP/once.json" \
	>"$DM_TMP/once.out" 2>"$DM_TMP/once.err" &
p_once=$!
DM_PIDS+=("$p_once")
sleep 1
rc=0
"$DM_PYTHON" "$DM_REMOTE_PEER" attack --api "$DM_API" --cacert "$DM_CERT" \
	--token-file "${DM_DELEGATE_TOKF[m]}" --seconds 3 --report "$DM_TMP/attack.json" \
	>"$DM_TMP/attack.out" 2>"$DM_TMP/attack.err" || rc=$?
dm_check "remote_peer.py attack: exit status" "$rc" == 0
dm_say "attack: $(cat "$DM_TMP/attack.json" 2>/dev/null)"
for k in forged wrong_key replay foreign flood mute; do
	dm_check "attack $k: datagrams sent" "$(dm_jget "$DM_TMP/attack.json" "j['sent']['$k']")" ">" 0
done
for k in forged wrong_key replay foreign flood; do
	dm_check "attack $k: datagrams the engine sent back" \
		"$(dm_jget "$DM_TMP/attack.json" "j['received']['$k']")" == 0
done
# a valid hello from an address that does not answer the challenge (as a
# forged source would not): one 36-byte challenge, never media
dm_check "valid hello, challenge unanswered: datagrams back" \
	"$(dm_jget "$DM_TMP/attack.json" "j['received']['mute']")" == 1
dm_check "valid hello, challenge unanswered: challenges back" \
	"$(dm_jget "$DM_TMP/attack.json" "j['kinds']['mute'].get('challenge', 0)")" == 1
dm_check "the replayed hello's own socket gets the stream" \
	"$(dm_jget "$DM_TMP/attack.json" 'j["victim_received"]')" ">" 5
for k in bad_auth replayed unknown_session rate_limited; do
	dm_check "engine counted $k hellos" \
		"$(dm_metric "dragoman_remote_hellos_total{result=\"$k\"}")" ">" 0
done
dm_check "engine: rate-limited hellos (most of the flood)" \
	"$(dm_metric 'dragoman_remote_hellos_total{result="rate_limited"}')" ">" 1500
dm_listen_wait a "$pa" 12
dm_check "A: auth_failed" "$(dm_stat a auth_failed)" == 0
dm_check "A: lost" "$(dm_stat a lost)" == 0
wait "$p_rec" 2>/dev/null || dm_fail "jack_rec failed: $(cat "$DM_TMP/jack_rec.log")"
dm_check_tone "A (fr, its JACK output)" "$DM_TMP/a.wav" 500 300,500 1
wait "$p_once" 2>/dev/null || dm_fail "remote_peer.py once failed: $(cat "$DM_TMP/once.err")"
dm_say "one hello, then silence: $(cat "$DM_TMP/once.json" 2>/dev/null)"
dm_check "silent session: first packet after its hello (s)" \
	"$(dm_jget "$DM_TMP/once.json" 'j["first_s"]')" "<" 1
dm_check "silent session: still served 12 s after its hello (last packet, s)" \
	"$(dm_jget "$DM_TMP/once.json" 'j["last_s"]')" ">" 12
dm_check "silent session: nothing sent 16 s after its hello (last packet, s)" \
	"$(dm_jget "$DM_TMP/once.json" 'j["last_s"]')" "<" 16
dm_check_str "engine log: stopped sending to it" \
	"$(grep -c 'no hello from its address for 15 s, stopped sending' "$DM_ENGINE_LOG.err" | awk '{ print ($1 >= 1) ? "yes" : "no" }')" = yes
dm_finish
