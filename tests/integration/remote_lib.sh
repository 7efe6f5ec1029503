# shellcheck shell=bash
# Helpers of the remote_*.sh tests (issue 5), sourced after lib.sh.

DM_REMOTE_PEER=$(dirname "${BASH_SOURCE[0]}")/remote_peer.py

# dm_make_cert DIR [IP...]: a self-signed certificate for 127.0.0.1 (and the
# IPs given) in DIR/cert.pem, its key in DIR/key.pem (0600). Sets DM_CERT,
# DM_CERT_KEY and DM_PIN (the SHA-256 fingerprint as openssl prints it).
dm_make_cert() {
	local dir=$1 san=IP:127.0.0.1 ip
	shift
	for ip in "$@"; do san+=",IP:$ip"; done
	mkdir -p "$dir"
	(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-days 2 -subj /CN=dragoman-test -addext "subjectAltName=$san" \
		-keyout "$dir/key.pem" -out "$dir/cert.pem" >"$dir/openssl.log" 2>&1) ||
		dm_die "openssl could not make a certificate: $(cat "$dir/openssl.log")"
	DM_CERT=$dir/cert.pem
	DM_CERT_KEY=$dir/key.pem
	DM_PIN=$(openssl x509 -in "$DM_CERT" -noout -fingerprint -sha256 | sed 's/^.*=//')
}

# dm_make_remote_conf DIR [tls=true|false] [remote_listen=ADDR:PORT]
#   [api_listen=ADDR] [poll=true|false] [dm_make_ctl_conf settings...]: the control tests'
#   conference plus a remote section (profile internet, state file
#   DIR/remote.state) and, with tls=true (the default), HTTPS with a
#   self-signed certificate (dm_make_cert). Sets what dm_make_ctl_conf sets,
#   DM_API to the https URL, DM_API_CACERT, DM_REMOTE_PORT.
dm_make_remote_conf() {
	local dir=$1 tls=true rl="" api_listen=127.0.0.1 poll="" kv pass=() extra_ips=()
	shift
	for kv in "$@"; do
		case $kv in
		tls=*) tls=${kv#tls=} ;;
		remote_listen=*) rl=${kv#remote_listen=} ;;
		poll=*) poll=" poll = ${kv#poll=};" ;;
		api_listen=*) api_listen=${kv#api_listen=}; extra_ips+=("$api_listen") ;;
		*) pass+=("$kv") ;;
		esac
	done
	dm_make_ctl_conf "$dir" "${pass[@]}"
	local port=${DM_API##*:}
	if [ -z "$rl" ]; then
		DM_REMOTE_PORT=$("$DM_PYTHON" -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		rl=0.0.0.0:$DM_REMOTE_PORT
	fi
	DM_REMOTE_PORT=${rl##*:}
	local tls_lines=""
	if [ "$tls" = true ]; then
		[ "$api_listen" = 127.0.0.1 ] && extra_ips=()
		dm_make_cert "$dir" "${extra_ips[@]}"
		tls_lines=" tls_cert = \"cert.pem\"; tls_key = \"key.pem\";"
	fi
	sed -i "s|^control = { listen = \"127.0.0.1:$port\"; tokens_file = \"\\(.*\\)\"; };|control = { listen = \"$api_listen:$port\"; tokens_file = \"\\1\";$tls_lines };|" "$DM_CONF"
	printf 'remote = { listen = "%s"; profile = "internet"; state_file = "remote.state";%s };\n' \
		"$rl" "$poll" >>"$DM_CONF"
	local rc=0
	"$DRAGOMAND" --config "$DM_CONF" --check >"$dir/check-remote.out" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		dm_tail "$dir/check-remote.out"
		dm_die "dragomand --check rejects the remote test config $DM_CONF (exit $rc)"
	fi
	if [ "$tls" = true ]; then
		DM_API=https://$api_listen:$port
		DM_API_CACERT=$DM_CERT
	else
		DM_API=http://$api_listen:$port
		DM_API_CACERT=
	fi
}

# dm_delegate_add NAME VAR: a delegate token issued through the API, written
# to $DM_TMP/delegate-VAR.token (0600); sets DM_DELEGATE_ID[VAR] and
# DM_DELEGATE_TOKF[VAR].
declare -A DM_DELEGATE_ID DM_DELEGATE_TOKF
dm_delegate_add() {
	local name=$1 var=$2
	dm_api POST /api/v1/delegates "${DM_TOK[technician]}" "{\"name\": \"$name\"}"
	[ "$DM_API_STATUS" = 201 ] || dm_die "POST /api/v1/delegates $name: $DM_API_STATUS $(cat "$DM_API_BODY")"
	DM_DELEGATE_ID[$var]=$(dm_jget "$DM_API_BODY" 'j["id"]')
	DM_DELEGATE_TOKF[$var]=$DM_TMP/delegate-$var.token
	(umask 077 && dm_jget "$DM_API_BODY" 'j["token"]' >"${DM_DELEGATE_TOKF[$var]}")
	dm_say "delegate $name: ${DM_DELEGATE_ID[$var]}"
}

# dm_remote_listen_start NAME DELEGATE_VAR ARGS...: dragoman-listen --remote on
# $DM_API with the delegate's token and the CA file.
dm_remote_listen_start() {
	local name=$1 var=$2
	shift 2
	local tls=()
	[ -n "${DM_API_CACERT:-}" ] && tls=(--ca-file "$DM_API_CACERT")
	dm_listen_start "$name" --remote "$DM_API" --token-file "${DM_DELEGATE_TOKF[$var]}" \
		"${tls[@]}" "$@"
}

# dm_metric NAME[{labels}]: a value from GET /metrics (empty when absent).
dm_metric() {
	dm_api GET /metrics "${DM_TOK[technician]}"
	awk -v m="$1" 'index($0, m " ") == 1 { print $2; exit }' "$DM_API_BODY"
}
