#!/bin/bash
# remote_netns: a remote delegate on another "host" (issue 5): a network
# namespace joined to ours by a link with 40 ms delay and 5 % loss each way:
# a veth pair with netem where the kernel has it, else two TUN devices and
# tests/integration/lossy_link.py between them (the test says which). The
# listener there reaches the engine's HTTPS API and UDP port on 10.213.7.1.
#
#   the right tone arrives on each of two channels (fr, es)
#   5 % loss stays inaudible by the listener's own statistics: concealed
#   frames under 6 % of the frames played; most lost frames are rebuilt from
#   the next packet's in-band FEC (internet profile), counted apart
#   the engine restarts: the listener resumes by itself within 5 s (it
#   creates a new session; its WAV has the tone again within 5 s of the
#   engine's API answering)
# Needs root (ip netns); skips (77) otherwise.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/remote_lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
	echo "SKIP: needs root and ip(8) for network namespaces" >&2
	exit 77
fi
dm_init
dm_require_cmd curl openssl sox soxi
dm_mcast_check
dm_jackd_start 128

ns=dmremote$$
host_if=dmh$$
ns_if=dmr$$
link_pid=""
cleanup_ns() {
	[ -n "$link_pid" ] && kill -TERM "$link_pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null || true
	ip link del "$host_if" 2>/dev/null || true
}
trap 'rc=$?; set +e; cleanup_ns; (exit $rc); dm_cleanup' EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
# The link: a veth pair with netem (40 ms, 5 % loss, each way) where the
# kernel has netem; else two TUN devices joined by tests/integration/
# lossy_link.py, which does the same in user space.
link=none
ip link add "$host_if" type veth peer name "$ns_if"
ip link set "$ns_if" netns "$ns"
if ip netns exec "$ns" tc qdisc add dev "$ns_if" root netem delay 40ms loss 5% \
	2>"$DM_TMP/tc.err" && tc qdisc add dev "$host_if" root netem delay 40ms loss 5% \
	2>>"$DM_TMP/tc.err"; then
	link="veth + netem"
else
	ip link del "$host_if" 2>/dev/null || true
	[ -c /dev/net/tun ] || dm_die "neither netem ($(cat "$DM_TMP/tc.err")) nor /dev/net/tun"
	"$DM_PYTHON" "$(dirname "$0")/lossy_link.py" --here "$host_if" --there-ns "$ns" \
		--there "$ns_if" --delay-ms 40 --loss 0.05 --seed "$$" --ready "$DM_TMP/link.ready" \
		>"$DM_TMP/link.out" 2>"$DM_TMP/link.err" &
	link_pid=$!
	dm_wait_file "$DM_TMP/link.ready" 5 || dm_die "lossy_link.py did not start: $(cat "$DM_TMP/link.err")"
	link="TUN + lossy_link.py (no netem: $(head -c 60 "$DM_TMP/tc.err"))"
fi
ip addr add 10.213.7.1/24 dev "$host_if"
ip link set "$host_if" up
ip -n "$ns" addr add 10.213.7.2/24 dev "$ns_if"
ip -n "$ns" link set "$ns_if" up
dm_say "namespace $ns (10.213.7.2) via $host_if (10.213.7.1): 40 ms + 5 % loss each way by $link"
ping_rtt=$(ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 10.213.7.1 2>/dev/null | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p' || true)
dm_say "ping from the namespace: mean rtt ${ping_rtt:-?} ms"

dm_make_remote_conf "$DM_TMP/conf" api_listen=10.213.7.1
conf=$DM_CONF
dm_engine_start "$conf" "$DM_TMP/sdp"
dm_api_wait 10
dm_tones_start tones 'floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic' \
	'es1=700@-12>dragoman:es-1.mic'
dm_delegate_add "Delegate F" f
dm_delegate_add "Delegate E" e

remote_listen() { # NAME VAR CHANNEL DURATION
	dm_bg "listen-$1" ip netns exec "$ns" "$DRAGOMAN_LISTEN" --stats --remote "$DM_API" \
		--token-file "${DM_DELEGATE_TOKF[$2]}" --ca-file "$DM_CERT" --channel "$3" \
		--out "wav:$DM_TMP/$1.wav" --duration "$4"
	DM_LISTEN_PID=$DM_BG_PID
}
remote_listen f f fr 12
pf=$DM_LISTEN_PID
# E runs until the test stops it, once it has played on after the restart:
# how long the restart takes varies by seconds (F's exit ends its session
# over the lossy link, TCP retransmissions included)
remote_listen e e es 120
pe=$DM_LISTEN_PID
dm_listen_wait f "$pf" 16
loss=$(dm_calc "$(dm_stat f lost) / ($(dm_stat f received) + $(dm_stat f lost) + 0.001)")
dm_say "F: network loss seen $loss ($link)"
dm_check "F: the link lost packets (fraction)" "$loss" ">" 0.01
frames=$(dm_calc "$(dm_stat f decoded_frames) + $(dm_stat f fec_frames) + $(dm_stat f concealed_frames)")
dm_say "F: $frames frames played: $(dm_stat f fec_frames) rebuilt from in-band FEC, $(dm_stat f concealed_frames) concealed"
dm_check "F: concealed frames / frames played (< 6 %)" \
	"$(dm_calc "$(dm_stat f concealed_frames) / ($frames + 0.001)")" "<" 0.06
dm_check "F: lost frames rebuilt from in-band FEC" "$(dm_stat f fec_frames)" ">" 0
dm_check "F: auth_failed" "$(dm_stat f auth_failed)" == 0
dm_check_tone "F (fr)" "$DM_TMP/f.wav" 500 300,500,700 1

# ---- engine restart while E listens: it notices the silence, opens a new
# session once the API answers again, and plays on
dm_engine_stop
sleep 1
dm_engine_start "$conf" "$DM_TMP/sdp" engine2
dm_api_wait 10
t_api=$(date +%s.%N)
resumed=""
while [ "$(dm_calc "$(date +%s.%N) - $t_api < 10")" = 1 ]; do
	if grep -q 'new remote session' "$DM_TMP/listen-e.err"; then
		resumed=$(dm_calc "$(date +%s.%N) - $t_api")
		break
	fi
	sleep 0.05
done
dm_say "E: new session ${resumed:-never} s after the API answered again"
dm_check "E: new session after the restart (s after the API answered, polled every 50 ms)" \
	"${resumed:-99}" "<" 5
size_at=$(stat -c %s "$DM_TMP/e.wav")
# 3 s of audio after the new session (48 kHz, 16 bit), within 15 s
t_new=$(date +%s.%N)
while [ $(($(stat -c %s "$DM_TMP/e.wav") - size_at)) -le 288000 ] &&
	[ "$(dm_calc "$(date +%s.%N) - $t_new < 15")" = 1 ]; do
	sleep 0.2
done
kill -TERM "$pe" 2>/dev/null || true
dm_listen_wait e "$pe" 10
dm_check "E: session restarts" "$(dm_stat e session_restarts)" ">=" 1
dm_check "E: auth_failed" "$(dm_stat e auth_failed)" == 0
dm_check "E: audio written after the new session (bytes)" \
	"$(($(stat -c %s "$DM_TMP/e.wav") - size_at))" ">" 96000
w=$DM_TMP/e.wav
dm_segments "$w" 20 300,500,700 >"$DM_TMP/e.seg"
dm_say "E time line: $(dm_seg_runs "$DM_TMP/e.seg" | tr '\n' ';')"
dm_check_str "E: the last run is 700 Hz (es after the restart)" \
	"$(dm_seg_runs "$DM_TMP/e.seg" | awk 'END { print $1 }')" = 700
dm_finish
