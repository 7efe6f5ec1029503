#!/bin/bash
# control_tls: the control API over HTTPS and the technician's delegate
# commands (issue 5), with a real engine (remote section, self-signed
# certificate made by openssl):
#
#   dragomand --check refuses a TLS key that others may read
#   the engine logs https; curl trusts it only with the certificate as CA;
#   plain HTTP on its port gets no answer
#   dragomanctl: --ca-file and --pin (as openssl prints it, and bare
#   lowercase hex) work; a wrong pin is refused (exit 1, says so); a
#   malformed pin, or --pin with --ca-file, is a usage error (exit 2)
#   dragomanctl delegate add (readable and --json) / list / revoke; a revoked
#   token answers 401 "revoked delegate token", logged with the delegate's id
#   and never the token; delegate tokens get 403 on everything but the
#   remote session routes, booth tokens 403 on the delegates
#   the state file is 0600 and holds no token; after an engine restart the
#   tokens are still known (valid one: 403 on the state, revoked one: 401)
# Skipped (77) without openssl.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/remote_lib.sh"

if ! command -v openssl >/dev/null 2>&1; then
	echo "control_tls: openssl is not installed: skipped" >&2
	exit 77
fi
dm_init
dm_require_cmd curl
dm_require_prog DRAGOMANCTL dragomanctl
dm_jackd_start 128

dm_make_remote_conf "$DM_TMP/conf"
conf=$DM_CONF
state=$DM_TMP/conf/remote.state

# ---- --check: the key is the server's identity
chmod 644 "$DM_CERT_KEY"
rc=0
"$DRAGOMAND" --config "$conf" --check >"$DM_TMP/check.out" 2>&1 || rc=$?
dm_check "--check with a key readable by others: exit status" "$rc" == 2
dm_check "--check names the key and the fix" \
	"$(grep -c "tls_key $DM_CERT_KEY is readable by group or others.*chmod 600" "$DM_TMP/check.out" || true)" == 1
chmod 600 "$DM_CERT_KEY"

dm_engine_start "$conf" "$DM_TMP/sdp"
dm_api_wait 10
dm_check "engine log: listening on https" \
	"$(grep -c "listening on https://127.0.0.1:${DM_API##*:}" "$DM_ENGINE_LOG.err" || true)" ">=" 1
dm_check "no warning about TLS" "$(grep -c 'without TLS' "$DM_ENGINE_LOG.err" || true)" == 0

# ---- only HTTPS, only with the certificate trusted
tech=${DM_TOK[technician]}
rc=0
curl -sS --max-time 10 -H "Authorization: Bearer $tech" "$DM_API/api/v1/state" \
	>/dev/null 2>"$DM_TMP/curl-noca.err" || rc=$?
dm_check "curl without the CA: certificate refused (exit 60)" "$rc" == 60
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tech" \
	"http://127.0.0.1:${DM_API##*:}/api/v1/state" || true)
dm_check_str "plain HTTP on the HTTPS port: no answer" "$code" = 000
dm_check_api "curl --cacert: the state" 200 GET /api/v1/state "$tech"

ctl() {
	CTL_RC=0
	"$DRAGOMANCTL" --url "$DM_API" --token-file "${DM_TOKF[technician]}" "$@" \
		>"$DM_TMP/ctl.out" 2>"$DM_TMP/ctl.err" || CTL_RC=$?
	dm_say "dragomanctl $*: exit $CTL_RC, out '$(head -c 300 "$DM_TMP/ctl.out")', err '$(cat "$DM_TMP/ctl.err")'"
}
bare_pin=$(printf '%s' "$DM_PIN" | tr -d : | tr 'A-F' 'a-f')
# the same fingerprint with its first digit changed
if [ "${bare_pin:0:1}" = 0 ]; then wrong_pin=1${bare_pin:1}; else wrong_pin=0${bare_pin:1}; fi

ctl --ca-file "$DM_CERT" state
dm_check "dragomanctl --ca-file state: exit status" "$CTL_RC" == 0
ctl --pin "$(openssl x509 -in "$DM_CERT" -noout -fingerprint -sha256)" state
dm_check "dragomanctl --pin (openssl's line) state: exit status" "$CTL_RC" == 0
ctl --pin "$bare_pin" state
dm_check "dragomanctl --pin (bare lowercase) state: exit status" "$CTL_RC" == 0
ctl state
dm_check "dragomanctl without CA or pin: exit status" "$CTL_RC" == 1
dm_check "dragomanctl without CA or pin: says the certificate is not trusted" \
	"$(grep -c 'certificate is not trusted' "$DM_TMP/ctl.err" || true)" == 1
ctl --pin "$wrong_pin" state
dm_check "dragomanctl with a wrong pin: exit status" "$CTL_RC" == 1
dm_check "dragomanctl with a wrong pin: says so" \
	"$(grep -c 'not the one --pin names' "$DM_TMP/ctl.err" || true)" == 1
dm_check "dragomanctl with a wrong pin: prints nothing" "$(wc -c <"$DM_TMP/ctl.out")" == 0
ctl --pin "${bare_pin:0:62}" state
dm_check "dragomanctl with a short pin: usage error" "$CTL_RC" == 2
ctl --pin "$bare_pin" --ca-file "$DM_CERT" state
dm_check "dragomanctl --pin with --ca-file: usage error" "$CTL_RC" == 2

# ---- delegates, through dragomanctl
ctl --pin "$DM_PIN" delegate add "Ms Example (FR)" --valid-s 3600
dm_check "delegate add: exit status" "$CTL_RC" == 0
id_a=$(awk '$1 == "id" { print $2 }' "$DM_TMP/ctl.out")
tok_a=$(awk '$1 == "token" { print $2 }' "$DM_TMP/ctl.out")
dm_check "delegate add: an id d + 8 hex" "$(grep -cE '^id d[0-9a-f]{8}$' "$DM_TMP/ctl.out" || true)" == 1
dm_check "delegate add: a token of 64 hex" "$(grep -cE '^token [0-9a-f]{64}$' "$DM_TMP/ctl.out" || true)" == 1
ctl --pin "$DM_PIN" --json delegate add "Mr Example"
dm_check "delegate add --json: exit status" "$CTL_RC" == 0
id_b=$(dm_jget "$DM_TMP/ctl.out" 'j["id"]')
tok_b=$(dm_jget "$DM_TMP/ctl.out" 'j["token"]')
dm_check "delegate add --json: expires 7 days after created" \
	"$(dm_jget "$DM_TMP/ctl.out" 'j["expires"] - j["created"]')" == $((7 * 24 * 3600))
ctl --pin "$DM_PIN" delegate list
dm_check "delegate list: exit status" "$CTL_RC" == 0
dm_check "delegate list: both valid" \
	"$(grep -cE "^($id_a|$id_b) .* valid$" "$DM_TMP/ctl.out" || true)" == 2
dm_check "delegate list: no token" "$(grep -c "$tok_a" "$DM_TMP/ctl.out" || true)" == 0

dm_check_api "delegate token on the state" 403 GET /api/v1/state "$tok_b"
dm_check_api "delegate token on the listeners" 403 GET /api/v1/listeners "$tok_b"
dm_check_api "delegate token on the delegates" 403 GET /api/v1/delegates "$tok_b"
dm_check_api "delegate token (tokens file) on the state" 403 GET /api/v1/state "${DM_TOK[delegate]}"
dm_check_api "booth token on the delegates" 403 POST /api/v1/delegates "${DM_TOK[fr]}" '{"name": "x"}'
dm_check_api "unknown token" 401 GET /api/v1/delegates "$(dm_token)"

ctl --pin "$DM_PIN" delegate revoke "$id_a"
dm_check "delegate revoke: exit status" "$CTL_RC" == 0
dm_check "delegate revoke: says so" "$(grep -c "delegate $id_a revoked" "$DM_TMP/ctl.out" || true)" == 1
ctl --pin "$DM_PIN" delegate revoke d00000000
dm_check "delegate revoke of an unknown id: exit status" "$CTL_RC" == 1
dm_check "delegate revoke of an unknown id: the server's 404" \
	"$(grep -c '404: no such delegate' "$DM_TMP/ctl.err" || true)" == 1
ctl --pin "$DM_PIN" delegate list
dm_check "delegate list: A revoked" "$(grep -cE "^$id_a .* revoked$" "$DM_TMP/ctl.out" || true)" == 1
dm_check_api "revoked token on a remote session" 401 POST /api/v1/remote/sessions "$tok_a" '{}'
dm_check_str "revoked token: the error" "$(dm_jget "$DM_API_BODY" 'j["error"]')" = "revoked delegate token"
dm_check "revoked token: logged with the delegate's id" \
	"$(grep -c "refused: revoked delegate token (delegate $id_a" "$DM_ENGINE_LOG.err" || true)" ">=" 1
dm_check "no token in the engine's log" \
	"$(grep -cE "$tok_a|$tok_b|$tech" "$DM_ENGINE_LOG.err" || true)" == 0

dm_check_str "state file mode" "$(stat -c %a "$state")" = 600
dm_check "state file: no token in clear" "$(grep -cE "$tok_a|$tok_b" "$state" || true)" == 0
dm_check "state file: both delegates" "$(dm_jget "$state" 'len(j["delegates"])')" == 2

# ---- an engine restart: the same tokens
dm_engine_stop
dm_engine_start "$conf" "$DM_TMP/sdp" engine2
dm_api_wait 10
dm_check_api "after a restart: the valid token is known (403 on the state)" 403 GET \
	/api/v1/state "$tok_b"
dm_check_api "after a restart: the revoked token stays revoked" 401 GET /api/v1/state "$tok_a"
ctl --ca-file "$DM_CERT" delegate list
dm_check "after a restart: delegate list has both" \
	"$(grep -cE "^($id_a|$id_b) " "$DM_TMP/ctl.out" || true)" == 2
dm_engine_stop

dm_finish
