#!/bin/bash
# control_auth: every authentication and bad-input case of the control API
# over real HTTP (curl), as README.md documents them, while a real listener
# on fr records: no refusal, bad request or stalled connection may touch the
# audio.
#
#   401 (with WWW-Authenticate: Bearer): no token, unknown token, not a bearer
#       token; the refusal is logged, the token never is
#   403: a booth token on another booth's console, on /api/v1/floor; a
#       delegate token on a console and on the state (delegates only use the
#       remote session routes)
#   400: malformed JSON, unknown field, missing field, wrong type, unknown
#        console, unknown channel, out-of-range volume, unknown call message,
#        output b of a console without one
#   413: a body over 64 KiB (with Content-Length, and chunked)
#   405 (with Allow): wrong method;  404: unknown paths
#   idle connections and a stalled body do not hold other requests up
#   the engine refuses a tokens file that group or others can read (exit
#   non-zero, the message names the file), and a tokens file with a bad line
#   dragomanctl: exit 0 and the new state on success, non-zero with the
#   server's message on a refusal (403, 409), 2 on a usage error; --json state
#   is valid JSON
#   the fr listener: no dropout over 20 ms (zero runs, 20 ms block rms), no
#   lost packet, no concealed frame, the tone throughout
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_require_cmd curl python3
dm_require_prog DRAGOMANCTL dragomanctl
dm_mcast_check
dm_jackd_start 128

dm_make_ctl_conf "$DM_TMP/conf" en_live=true
TECH=${DM_TOK[technician]}
conf=$DM_CONF
dm_engine_start "$conf" "$DM_TMP/sdp"
dm_api_wait 10
dm_tones_start tones 'floor=300@-12>dragoman:floor' 'fr1=500@-12>dragoman:fr-1.mic' \
	'fr2=900@-12>dragoman:fr-2.mic' 'es1=700@-12>dragoman:es-1.mic' \
	'en1=1100@-12>dragoman:en-1.mic'
dm_wait_sdps "$DM_TMP/sdp" 10 fr

listen_s=22
dm_listen_start fr --config "$conf" --channel fr --out "wav:$DM_TMP/fr.wav" \
	--duration "$listen_s" --interface 127.0.0.1
listener=$DM_LISTEN_PID
t_listen=$(date +%s)
sleep 1

api=/api/v1
ok_body='{"on": true}'

# ---- 401
dm_check_api "no token" 401 GET $api/state
dm_check "no token: WWW-Authenticate: Bearer" \
	"$(grep -ciE '^WWW-Authenticate: Bearer' "$DM_API_HEADERS" || true)" == 1
unknown=$(dm_token)
dm_check_api "unknown token" 401 POST $api/consoles/fr-1/mic "$unknown" "$ok_body"
dm_check "unknown token: WWW-Authenticate: Bearer" \
	"$(grep -ciE '^WWW-Authenticate: Bearer' "$DM_API_HEADERS" || true)" == 1
dm_api GET $api/state
dm_check_str "401 body is JSON with an error" "$(dm_jget "$DM_API_BODY" '"error" in j')" = true
DM_API_N=$((DM_API_N + 1))
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $(printf 'a:b' | base64)" \
	"$DM_API$api/state" || true)
dm_check_str "Basic authorization: HTTP status" "$st" = 401
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TECH extra" \
	"$DM_API$api/state" || true)
dm_check_str "Bearer with trailing junk: HTTP status" "$st" = 401
sleep 0.2
dm_check "engine logs the refusals" \
	"$(grep -c 'refused: unknown token' "$DM_ENGINE_LOG.err" || true)" ">=" 1
dm_check "engine never logs a token" \
	"$(cat "$DM_ENGINE_LOG.err" "$DM_ENGINE_LOG.out" | grep -cF -e "$unknown" -e "$TECH" || true)" == 0

# ---- 403
dm_check_api "booth:fr token on es-1" 403 POST $api/consoles/es-1/mic "${DM_TOK[fr]}" "$ok_body"
dm_say "403 message: $(dm_jget "$DM_API_BODY" 'j["error"]')"
dm_check "engine logs the 403" \
	"$(grep -c 'refused: forbidden to booth:fr' "$DM_ENGINE_LOG.err" || true)" ">=" 1
dm_check_api "booth:es token on fr-2 volume" 403 POST $api/consoles/fr-2/volume "${DM_TOK[es]}" \
	'{"db": 0}'
dm_check_api "booth:fr token on /floor" 403 POST $api/floor "${DM_TOK[fr]}" '{"language": "fr"}'
dm_check_api "delegate token on a console" 403 POST $api/consoles/fr-1/mute "${DM_TOK[delegate]}" \
	"$ok_body"
dm_check_api "delegate token on the state" 403 GET $api/state "${DM_TOK[delegate]}"
dm_check_api "booth:es token on its own console" 200 POST $api/consoles/es-1/volume \
	"${DM_TOK[es]}" '{"db": -3}'
dm_state 'j' >/dev/null
dm_check_str "es-1 state unchanged by the 403s: mic" "$(dm_jget "$DM_API_BODY" 'by_id(j["consoles"], "es-1")["mic"]')" = true
dm_check_str "floor language unchanged by the 403" "$(dm_jget "$DM_API_BODY" 'j["floor_language"]')" = null

# ---- 400
bad() { dm_check_api "$1" 400 POST "$2" "$TECH" "$3"; }
bad "malformed JSON" $api/consoles/es-1/mic '{"on": tru'
dm_say "400 message: $(dm_jget "$DM_API_BODY" 'j["error"]')"
bad "empty body" $api/consoles/es-1/mic ''
bad "not an object" $api/consoles/es-1/mic '[true]'
bad "unknown field" $api/consoles/es-1/mic '{"on": true, "loud": 1}'
bad "missing field" $api/consoles/es-1/mic '{}'
bad "duplicate field" $api/consoles/es-1/mic '{"on": true, "on": false}'
bad "wrong type (on)" $api/consoles/es-1/mic '{"on": "yes"}'
bad "unknown console" $api/consoles/xx-9/mic "$ok_body"
bad "unknown channel (source)" $api/consoles/es-1/source '{"source": "de"}'
bad "own output as source" $api/consoles/es-1/source '{"source": "es"}'
bad "output c" $api/consoles/es-1/output '{"channel": "c"}'
bad "output b without a B channel" $api/consoles/fr-1/output '{"channel": "b"}'
bad "volume +7 dB" $api/consoles/es-1/volume '{"db": 7}'
bad "volume -41 dB" $api/consoles/es-1/volume '{"db": -41}'
bad "volume as a string" $api/consoles/es-1/volume '{"db": "-10"}'
bad "volume 1e999" $api/consoles/es-1/volume '{"db": 1e999}'
bad "unknown call" $api/consoles/es-1/call '{"message": "coffee"}'
bad "floor language: unknown channel" $api/floor '{"language": "de"}'
bad "floor language: the floor" $api/floor '{"language": "floor"}'
bad "invalid UTF-8" $api/consoles/es-1/source "$(printf '{"source": "\xff\xfe"}')"
dm_check "es-1 volume after the bad requests" "$(dm_state 'by_id(j["consoles"], "es-1")["volume_db"]')" == -3

# ---- 413
big=$DM_TMP/big.json
"$DM_PYTHON" -c 'import sys; sys.stdout.write("{\"on\": true, \"pad\": \"" + "x" * 70000 + "\"}")' >"$big"
dm_check_api "body over 64 KiB" 413 POST $api/consoles/es-1/mic "$TECH" "@$big"
DM_API_N=$((DM_API_N + 1))
st=$(curl -s -o "$DM_TMP/chunked.body" -w '%{http_code}' -H "Authorization: Bearer $TECH" \
	-H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' --data-binary "@$big" \
	"$DM_API$api/consoles/es-1/mic" || true)
dm_check_str "chunked body over 64 KiB: HTTP status" "$st" = 413
st=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary "@$big" "$DM_API$api/consoles/es-1/mic" || true)
dm_check_str "body over 64 KiB without a token: HTTP status (401 first)" "$st" = 401

# ---- 405, 404
dm_check_api "GET on a console action" 405 GET $api/consoles/fr-1/mic "$TECH"
dm_check_str "405 Allow header" "$(grep -i '^Allow:' "$DM_API_HEADERS" | tr -d '\r' | awk '{print $2}')" = POST
dm_check_api "POST on the state" 405 POST $api/state "$TECH" '{}'
dm_check_str "405 Allow header (state)" "$(grep -i '^Allow:' "$DM_API_HEADERS" | tr -d '\r' | awk '{print $2}')" = GET
dm_check_api "DELETE on the floor" 405 DELETE $api/floor "$TECH"
dm_check_api "unknown path" 404 GET $api/nothing "$TECH"
dm_check_api "unknown version" 404 GET /api/v2/state "$TECH"
dm_check_api "root" 404 GET / "$TECH"
dm_check_api "unknown console action" 404 POST $api/consoles/fr-1/explode "$TECH" "$ok_body"
dm_check_api "console without an action" 404 POST $api/consoles/fr-1 "$TECH" "$ok_body"

# ---- stalled connections: 8 idle sockets and a body that never ends
port=${DM_API##*:}
for k in 1 2 3 4 5 6 7 8; do
	dm_bg "idle-$k" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; sleep 20"
done
dm_bg stalled bash -c "exec 3<>/dev/tcp/127.0.0.1/$port
	printf 'POST /api/v1/consoles/es-1/mic HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"on\": ' '$TECH' >&3
	sleep 20"
sleep 0.5
t0=$(date +%s.%N)
dm_check_api "a request beside 9 stalled connections" 200 GET $api/state "$TECH"
dm_check "... answered within (s)" "$(dm_calc "$(date +%s.%N) - $t0")" "<" 1

# ---- dragomanctl
ctl() {
	CTL_RC=0
	"$DRAGOMANCTL" --url "$DM_API" "$@" >"$DM_TMP/ctl.out" 2>"$DM_TMP/ctl.err" || CTL_RC=$?
	dm_say "dragomanctl $*: exit $CTL_RC, out '$(head -c 200 "$DM_TMP/ctl.out")', err '$(cat "$DM_TMP/ctl.err")'"
}
ctl --token-file "${DM_TOKF[es]}" mic es-1 off
dm_check "dragomanctl mic es-1 off (booth:es): exit status" "$CTL_RC" == 0
dm_check "dragomanctl mic es-1 off: prints the console's new state" \
	"$(grep -c 'es-1: mic off' "$DM_TMP/ctl.out" || true)" == 1
ctl --token-file "${DM_TOKF[fr]}" mic es-1 on
dm_check "dragomanctl refused (403): exit status" "$CTL_RC" "!=" 0
dm_check "dragomanctl refused (403): the server's message" \
	"$(grep -c '403: console es-1 is not in booth:fr' "$DM_TMP/ctl.err" || true)" == 1
ctl --token-file "${DM_TOKF[es]}" output es-1 b
dm_check "dragomanctl output es-1 b (not live): exit status" "$CTL_RC" == 0
ctl --token-file "${DM_TOKF[es]}" mic es-1 on
dm_check "dragomanctl refused (409): exit status" "$CTL_RC" "!=" 0
dm_check "dragomanctl refused (409): the server's message names the holder" \
	"$(grep -c '409: channel en is held by en-1' "$DM_TMP/ctl.err" || true)" == 1
ctl --token-file "${DM_TOKF[es]}" output es-1 a
ctl --token-file "${DM_TOKF[es]}" mic es-1 on
dm_check "dragomanctl mic es-1 on (a): exit status" "$CTL_RC" == 0
ctl --token-file "${DM_TOKF[es]}" volume es-1 99
dm_check "dragomanctl volume 99 (400): exit status" "$CTL_RC" "!=" 0
dm_check "dragomanctl volume 99: the server's message" \
	"$(grep -c '400: .*out of range' "$DM_TMP/ctl.err" || true)" == 1
ctl --token-file "${DM_TOKF[es]}" bogus
dm_check "dragomanctl unknown command: exit status" "$CTL_RC" == 2
ctl --token-file "$DM_TMP/conf/none.token" state
dm_check "dragomanctl with a missing token file: exit status" "$CTL_RC" "!=" 0
ctl --token-file "${DM_TOKF[technician]}" --json state
dm_check "dragomanctl --json state: exit status" "$CTL_RC" == 0
jrc=0
"$DM_PYTHON" -c 'import json, sys; json.load(sys.stdin)' <"$DM_TMP/ctl.out" || jrc=$?
dm_check "dragomanctl --json state: valid JSON (python json.load exit status)" "$jrc" == 0
dm_check_str "dragomanctl --json state: consoles" \
	"$(dm_jget "$DM_TMP/ctl.out" '",".join(c["id"] for c in j["consoles"])')" = fr-1,fr-2,es-1,en-1
ctl --token-file "${DM_TOKF[technician]}" state
dm_check "dragomanctl state (readable): exit status" "$CTL_RC" == 0
dm_check "dragomanctl state: a line for fr on air fr-1" \
	"$(grep -cE '^fr +Français +fr +fr-1 +console' "$DM_TMP/ctl.out" || true)" == 1
"$DRAGOMANCTL" --url "http://127.0.0.1:1" --token-file "${DM_TOKF[technician]}" state \
	>/dev/null 2>"$DM_TMP/ctl-down.err" && rc=0 || rc=$?
dm_check "dragomanctl with no server: exit status" "$rc" == 1

# ---- tokens files the engine refuses (another config: its own client, groups, port)
main_api=$DM_API
for mode in 640 604 660; do
	dm_make_ctl_conf "$DM_TMP/bad$mode" client=dmbad base=239.255.251 port=5304
	chmod "$mode" "$DM_TOKENS"
	rc=0
	timeout 10 "$DRAGOMAND" --config "$DM_CONF" >"$DM_TMP/bad$mode.out" 2>&1 || rc=$?
	dm_say "tokens file mode $mode: exit $rc: $(head -n 2 "$DM_TMP/bad$mode.out")"
	dm_check "tokens file mode $mode: engine exit status (non-zero, not the timeout)" \
		"$(if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then echo 1; else echo 0; fi)" == 1
	dm_check "tokens file mode $mode: the message names the file" \
		"$(grep -cF "$DM_TOKENS" "$DM_TMP/bad$mode.out" || true)" ">=" 1
done
dm_make_ctl_conf "$DM_TMP/badline" client=dmbad base=239.255.251 port=5304
echo "booth:de 0123456789abcdef0123" >>"$DM_TOKENS"
rc=0
timeout 10 "$DRAGOMAND" --config "$DM_CONF" >"$DM_TMP/badline.out" 2>&1 || rc=$?
dm_say "tokens file with an unknown booth: exit $rc: $(tr '\n' '|' <"$DM_TMP/badline.out")"
dm_check "tokens file with an unknown booth: exit status (non-zero, not the timeout)" \
	"$(if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then echo 1; else echo 0; fi)" == 1
dm_check "tokens file with an unknown booth: the message names file and line" \
	"$(grep -cF "$DM_TOKENS:7: unknown booth 'de'" "$DM_TMP/badline.out" || true)" ">=" 1

# ---- the engine, and the audio on fr, went on undisturbed
DM_API=$main_api
dm_check "engine still running (1 = yes)" "$(dm_alive "$DM_ENGINE_PID" && echo 1 || echo 0)" == 1
dm_check_api "state after everything" 200 GET $api/state "$TECH"
dm_say "requests done $(($(date +%s) - t_listen)) s into the ${listen_s} s recording"
dm_listen_wait fr "$listener" $((listen_s + 15))
w=$DM_TMP/fr.wav
dm_tone "$w" --skip 0.5 --length $((listen_s - 1)) --freqs 300,500,700,900,1100
dm_check "fr listener: 500 Hz throughout (dominant)" "$(dm_json "$w.json" freq)" == 500
dm_check "fr listener: longest run of zeros (s)" "$(dm_json "$w.json" zero_run_max_s)" "<" 0.02
# a steady -12 dBFS sine reads -15 dBFS rms in every 20 ms block; 10 ms
# missing from a block (as any 20 ms dropout leaves in one) reads -18
dm_check "fr listener: quietest 20 ms block (dBFS)" "$(dm_json "$w.json" block_rms_min_dbfs)" ">" -18
dm_check "fr listener: lost packets" "$(dm_stat fr lost)" == 0
dm_check "fr listener: concealed frames" "$(dm_stat fr concealed_frames)" == 0
dm_check "fr listener: packets received" "$(dm_stat fr received)" ">=" $(((listen_s - 2) * 200))
dm_engine_stop
dm_say "jackd xruns logged: $(dm_jackd_xruns)"
dm_finish
