#!/bin/bash
# remote_tls: remote delegates over HTTPS and unicast UDP on loopback (issue 5).
#
#   the technician issues two delegate tokens (dragomanctl delegate add, over
#   TLS verified against the CA file); a wrong or missing token gets 401 on the
#   session route, a delegate token 403 on the technician's routes
#   delegate A (--ca-file) listens to fr, delegate B (--pin, the certificate's
#   SHA-256) to es and switches to en on stdin: each hears its channel's tone,
#   B's switch is heard within 100 ms of the command on its WAV's time line
#   /api/v1/listeners shows both with name, channel, and a round-trip time
#   once a hello carried a report on the engine's sender report
#   dragoman-monitor over HTTPS (--pin), in tmux at 100x30: the remote
#   delegates panel names both with their channels, the channel rows count
#   them (in the room + remote)
#   a wrong pin: the listener refuses the server and exits non-zero
#   nothing fails authentication at either listener
#   all of it with remote.poll = true (the sender polls the clock instead of
#   sleeping; the other remote tests run the default), which the engine logs
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/remote_lib.sh"

dm_init
dm_require_cmd curl openssl sox soxi tmux
dm_require_prog DRAGOMANCTL dragomanctl
dm_mcast_check
dm_jackd_start 128

dm_make_remote_conf "$DM_TMP/conf" en_live=true poll=true
conf=$DM_CONF
dm_engine_start "$conf" "$DM_TMP/sdp"
dm_api_wait 10
dm_check "engine: the remote sender polls (remote.poll = true)" \
	"$(grep -c 'remote sender polls' "$DM_ENGINE_LOG.err" || true)" == 1
dm_tones_start tones 'floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic' \
	'es1=700@-12>dragoman:es-1.mic' 'en1=1100@-12>dragoman:en-1.mic'

# ---- tokens: issued by the technician through dragomanctl over TLS
ctl=("$DRAGOMANCTL" --url "$DM_API" --token-file "${DM_TOKF[technician]}" --ca-file "$DM_CERT")
rc=0
"${ctl[@]}" --json delegate add "Delegate A" >"$DM_TMP/ctl-a.json" 2>"$DM_TMP/ctl-a.err" || rc=$?
dm_check "dragomanctl delegate add: exit status" "$rc" == 0
DM_DELEGATE_ID[a]=$(dm_jget "$DM_TMP/ctl-a.json" 'j["id"]')
DM_DELEGATE_TOKF[a]=$DM_TMP/delegate-a.token
(umask 077 && dm_jget "$DM_TMP/ctl-a.json" 'j["token"]' >"${DM_DELEGATE_TOKF[a]}")
dm_check "delegate A's token: 64 hex digits" "$(grep -cE '^[0-9a-f]{64}$' "${DM_DELEGATE_TOKF[a]}" || true)" == 1
dm_delegate_add "Delegate B" b
"${ctl[@]}" delegate list >"$DM_TMP/ctl-list.out" 2>&1 || dm_fail "dragomanctl delegate list failed"
dm_check "delegate list names both" "$(grep -cE 'Delegate (A|B)' "$DM_TMP/ctl-list.out" || true)" == 2
dm_check "delegate list shows no token" \
	"$(grep -cF "$(cat "${DM_DELEGATE_TOKF[a]}")" "$DM_TMP/ctl-list.out" || true)" == 0

# ---- refusals
dm_check_api "session without a token" 401 POST /api/v1/remote/sessions "" '{}'
dm_check_api "session with an unknown token" 401 POST /api/v1/remote/sessions "$(dm_token)" '{}'
dm_check_api "delegate token on the state" 403 GET /api/v1/state "$(cat "${DM_DELEGATE_TOKF[a]}")"
dm_check_api "delegate token issuing delegates" 403 POST /api/v1/delegates \
	"$(cat "${DM_DELEGATE_TOKF[a]}")" '{"name": "x"}'
dm_check_api "session on an unknown channel" 400 POST /api/v1/remote/sessions \
	"$(cat "${DM_DELEGATE_TOKF[a]}")" '{"channel": "xx"}'

# ---- a wrong pin: no request reaches the server, the listener exits non-zero
rc=0
timeout 10 "$DRAGOMAN_LISTEN" --remote "$DM_API" --token-file "${DM_DELEGATE_TOKF[a]}" \
	--pin "$(printf '%064d' 0)" --out "wav:$DM_TMP/never.wav" --duration 2 \
	>"$DM_TMP/wrongpin.out" 2>"$DM_TMP/wrongpin.err" || rc=$?
dm_check "wrong pin: exit status" "$rc" != 0
dm_check "wrong pin: not a timeout" "$rc" != 124
dm_say "wrong pin: $(tail -n 1 "$DM_TMP/wrongpin.err")"

# ---- two remote listeners
mkfifo "$DM_TMP/cmd-b"
exec 7<>"$DM_TMP/cmd-b"
dur=13
dm_remote_listen_start a a --channel fr --out "wav:$DM_TMP/a.wav" --duration "$dur"
pa=$DM_LISTEN_PID
"$DRAGOMAN_LISTEN" --stats --remote "$DM_API" --token-file "${DM_DELEGATE_TOKF[b]}" \
	--pin "$DM_PIN" --channel es --out "wav:$DM_TMP/b.wav" --duration "$dur" \
	<"$DM_TMP/cmd-b" >"$DM_TMP/listen-b.out" 2>"$DM_TMP/listen-b.err" &
pb=$!
DM_PIDS+=("$pb")
t0=$(date +%s.%N)

sleep 2
dm_api GET /api/v1/listeners "${DM_TOK[technician]}"
cp "$DM_API_BODY" "$DM_TMP/listeners-1.json"
dm_check "listeners: remote sessions" "$(dm_jget "$DM_TMP/listeners-1.json" 'len(j["remote"])')" == 2
dm_check_str "listeners: delegate A on fr" \
	"$(dm_jget "$DM_TMP/listeners-1.json" '[r["channel"] for r in j["remote"] if r["name"] == "Delegate A"][0]')" = fr
dm_check_str "listeners: delegate B on es" \
	"$(dm_jget "$DM_TMP/listeners-1.json" '[r["channel"] for r in j["remote"] if r["name"] == "Delegate B"][0]')" = es
dm_check "listeners: es counts one remote listener" \
	"$(dm_jget "$DM_TMP/listeners-1.json" '[c["remote"] for c in j["channels"] if c["id"] == "es"][0]')" == 1

# ---- the technician's monitor over HTTPS, trusting the pinned certificate
TM_SOCK=dm-remote-$$
tm() { tmux -L "$TM_SOCK" -f /dev/null "$@"; }
cat >"$DM_TMP/run-monitor.sh" <<EOF
#!/bin/sh
'$DRAGOMAN_MONITOR' --url '$DM_API' --token-file '${DM_TOKF[technician]}' --pin '$DM_PIN' \\
	2>'$DM_TMP/monitor.err'
EOF
tm new-session -d -x 100 -y 30 -s mon "sh $DM_TMP/run-monitor.sh"
DM_PIDS+=("$(tm display-message -p '#{pid}')")
screen=$DM_TMP/monitor-screen.txt
for _ in $(seq 50); do
	tm capture-pane -p -t mon >"$screen" 2>/dev/null || : >"$screen"
	grep -q 'Delegate B' "$screen" && break
	sleep 0.1
done
dm_say "monitor: $(grep -E 'REMOTE|Delegate' "$screen" | tr -s ' ' | tr '\n' ';')"
dm_check "monitor: remote panel heading" "$(grep -c 'REMOTE DELEGATE' "$screen" || true)" == 1
dm_check "monitor: Delegate A on fr" "$(grep -cE 'Delegate A +fr ' "$screen" || true)" == 1
dm_check "monitor: Delegate B on es" "$(grep -cE 'Delegate B +es ' "$screen" || true)" == 1
dm_check "monitor: the es row counts 0 in the room + 1 remote" \
	"$(awk 'substr($0, 3) ~ /^es / && / 0\+1 / { n++ } END { print n + 0 }' "$screen")" == 1
tm kill-server 2>/dev/null || true

# B switches to en at +7 s (after its second hello, so its report is on es)
sleep_until() {
	local left
	left=$(dm_calc "$1 - ($(date +%s.%N) - $t0)")
	sleep "$(dm_calc "($left > 0 ? $left : 0)")"
}
sleep_until 7
dm_api GET /api/v1/listeners "${DM_TOK[technician]}"
cp "$DM_API_BODY" "$DM_TMP/listeners-2.json"
dm_say "listeners: $(cat "$DM_TMP/listeners-2.json")"
for who in A B; do
	rtt=$(dm_jget "$DM_TMP/listeners-2.json" "[r['rtt_ms'] for r in j['remote'] if r['name'] == 'Delegate $who'][0]")
	dm_check "listeners: delegate $who's round-trip time measured (ms)" "$rtt" ">=" 0
	dm_check "listeners: delegate $who's round-trip time on loopback (ms)" "$rtt" "<" 50
	dm_check "listeners: delegate $who's loss" \
		"$(dm_jget "$DM_TMP/listeners-2.json" "[r['loss'] for r in j['remote'] if r['name'] == 'Delegate $who'][0]")" "<" 0.05
done
size1=$(stat -c %s "$DM_TMP/b.wav")
echo en >&7
s1=$(dm_calc "$(date +%s.%N) - $t0")
dm_say "B: 'en' at +$s1 s"

dm_listen_wait a "$pa" 15
dm_listen_wait b "$pb" 15
exec 7>&-
for l in a b; do
	dm_check "listener $l: auth_failed" "$(dm_stat "$l" auth_failed)" == 0
	dm_check "listener $l: received (packets)" "$(dm_stat "$l" received)" ">" 400
	dm_check "listener $l: concealed frames" "$(dm_stat "$l" concealed_frames)" "<" 10
done
dm_check_tone "A (fr)" "$DM_TMP/a.wav" 500 300,500,700,1100 1
w=$DM_TMP/b.wav
dm_segments "$w" 10 300,500,700,1100 >"$DM_TMP/b.seg"
dm_say "B time line: $(dm_seg_runs "$DM_TMP/b.seg" | tr '\n' ';')"
dm_check_str "B: es then en" \
	"$(dm_seg_runs "$DM_TMP/b.seg" | awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 }')" = "700 1100"
read -r _ b1 < <(dm_seg_switch "$DM_TMP/b.seg" 700 1100)
frames=$(soxi -s "$w")
header=$(($(stat -c %s "$w") - 2 * frames))
p1=$(dm_calc "($size1 - $header) / 2 / 48000")
dm_say "B: command at WAV time +$p1 s, en from +$b1 s"
dm_check "B: command 'en' -> first 1100 Hz on the WAV (ms, 10 ms windows)" \
	"$(dm_calc "($b1 - $p1) * 1000")" "<" 100
dm_finish
