#!/bin/bash
# cli: the command lines' answers to good and bad input, no JACK needed.
#  - dragomand --config X --check: exit 0 and "X: ok" on a valid config; exit 2
#    and one "FILE:LINE: message" per problem, at the right line, on a config
#    with many problems (written here with known line numbers), and on one
#    whose secret file is missing;
#  - dragomand --keygen F: mode 0600 (even under umask 000), base64 of 32
#    bytes; a second --keygen F fails and leaves F as it was;
#  - dragomand on an interface address this host does not have: exits
#    non-zero at once, naming the address;
#  - dragomand with no arguments / an unknown option: exit 2 and the usage;
#  - dragoman-listen with a bad --out, without --channel, with an unknown
#    channel, with a bad --duration: non-zero exit and a message saying so.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
d=$DM_TMP

# dm_run NAME CMD...: runs CMD with a 10 s limit, stdout/stderr in $d/NAME.{out,err}; sets RC.
dm_run() {
	local name=$1
	shift
	RC=0
	timeout 10 "$@" >"$d/$name.out" 2>"$d/$name.err" </dev/null || RC=$?
}

# check_line NAME LINE REGEX: NAME's output has "FILE:LINE: <message matching REGEX>".
check_line() {
	local name=$1 file=$2 line=$3 re=$4
	DM_CHECKS=$((DM_CHECKS + 1))
	local hit
	hit=$(cat "$d/$name.out" "$d/$name.err" | grep -F -- "$file:$line: " | grep -E -- "$re" |
		head -n 1 || true)
	if [ -n "$hit" ]; then
		dm_ok "$name: line $line: $hit"
	else
		dm_fail "$name: no '$file:$line: ...$re...' in the output"
	fi
}

# ---- --keygen
# shellcheck disable=SC2016 # $0 and $1 are the inner shell's
dm_run keygen bash -c 'umask 000 && exec "$0" --keygen "$1"' "$DRAGOMAND" "$d/k.secret"
dm_check "--keygen: exit status" "$RC" == 0
dm_check_str "--keygen: mode (umask 000)" "$(stat -c %a "$d/k.secret" 2>/dev/null)" = 600
bytes=$(base64 -d <"$d/k.secret" 2>/dev/null | wc -c)
dm_check "--keygen: base64 decodes to 32 bytes" "$bytes" == 32
dm_check "--keygen: one line of base64" \
	"$(grep -cE '^[A-Za-z0-9+/]{43}=$' "$d/k.secret" || true)" == 1
sum1=$(sha256sum <"$d/k.secret")
dm_run keygen2 "$DRAGOMAND" --keygen "$d/k.secret"
dm_say "second --keygen: exit $RC: $(cat "$d/keygen2.err")"
dm_check "second --keygen on an existing file: exit status" "$RC" "!=" 0
dm_check_str "second --keygen: file unchanged" "$(sha256sum <"$d/k.secret")" = "$sum1"
dm_check_str "second --keygen: mode unchanged" "$(stat -c %a "$d/k.secret")" = 600
dm_check "second --keygen: says why" "$(grep -ciE 'exist|overwrite' "$d/keygen2.err" || true)" ">=" 1
dm_run keygen3 "$DRAGOMAND" --keygen "$d/no/such/dir/k.secret"
dm_check "--keygen into a missing folder: exit status" "$RC" "!=" 0

# ---- a valid config
dm_make_conf "$d/good"
good=$DM_CONF
dm_run check-good "$DRAGOMAND" --config "$good" --check
dm_check "--check on a valid config: exit status" "$RC" == 0
dm_check "--check on a valid config: '$good: ok'" "$(grep -cxF "$good: ok" "$d/check-good.out" || true)" == 1
dm_check "--check on a valid config: nothing on stderr (bytes)" "$(wc -c <"$d/check-good.err")" == 0

# ---- a config with many problems; the line numbers below are this heredoc's
mkdir -p "$d/bad"
cp "$d/k.secret" "$d/bad/open.secret"
chmod 640 "$d/bad/open.secret"
bad=$d/bad/bad.conf
cat >"$bad" <<EOF
conference = {
  id = "bad";
  name = "Bad";
  secret_file = "open.secret";
  profile = "studio";
};
network = { interface = "127.0.0.1"; };
floor = { group = "$DM_GROUP_BASE.0"; port = 5004; };
channels = (
  { id = "en";
    group = "$DM_GROUP_BASE.1";
    port = 5004; },
  { id = "en";
    group = "$DM_GROUP_BASE.2";
    port = 5004; },
  { id = "fr";
    group = "$DM_GROUP_BASE.1";
    port = 5004; },
  { id = "es";
    group = "10.0.0.1";
    port = 5004; }
);
booths = (
  { id = "fr"; consoles = (
    { id = "fr-1";
      a = "de"; } ); }
);
EOF
dm_run check-bad "$DRAGOMAND" --config "$bad" --check
dm_say "--check on bad.conf (exit $RC):"
sed 's/^/    /' "$d/check-bad.out" "$d/check-bad.err" >&2
dm_check "--check on a bad config: exit status" "$RC" == 2
check_line check-bad "$bad" 4 'secret.*open\.secret.*(readable|group|others)'
check_line check-bad "$bad" 5 "unknown profile 'studio'"
check_line check-bad "$bad" 13 "duplicate.*'en'"
check_line check-bad "$bad" 17 "$DM_GROUP_BASE\\.1:5004.*(already used|en)"
check_line check-bad "$bad" 20 "10\\.0\\.0\\.1.*multicast"
check_line check-bad "$bad" 26 "unknown channel 'de'"
dm_check "--check on a bad config: problem lines (6 problems, nothing else)" \
	"$(cat "$d/check-bad.out" "$d/check-bad.err" | grep -cF "$bad:" || true)" == 6
dm_check "--check on a bad config: no 'ok'" "$(grep -c ': ok$' "$d/check-bad.out" || true)" == 0

# the same config, run for real: refused before anything starts
dm_run run-bad "$DRAGOMAND" --config "$bad"
dm_check "dragomand on a bad config: exit status" "$RC" == 2
check_line run-bad "$bad" 26 "unknown channel 'de'"

# missing secret file: config line 1 names it
nosec=$d/good/nosecret.conf
sed 's/secret_file = "[^"]*"/secret_file = "missing.secret"/' "$good" | grep -v '^#' >"$nosec"
line=$(grep -n 'missing.secret' "$nosec" | cut -d: -f1)
dm_run check-nosec "$DRAGOMAND" --config "$nosec" --check
dm_say "--check, missing secret (exit $RC): $(cat "$d/check-nosec.err")"
dm_check "--check with a missing secret file: exit status" "$RC" == 2
check_line check-nosec "$nosec" "$line" 'missing\.secret.*(does not exist|no such|missing)'

# ---- an interface address this host does not have
sed 's/interface = "127.0.0.1"/interface = "10.254.254.254"/' "$good" >"$d/good/far.conf"
t0=$(date +%s.%N)
dm_run far "$DRAGOMAND" --config "$d/good/far.conf" --sdp-dir "$d"
el=$(dm_calc "$(date +%s.%N) - $t0")
dm_say "interface 10.254.254.254: exit $RC after $el s: $(tr '\n' ' ' <"$d/far.err")"
dm_check "dragomand on an interface not on this host: exit status" "$RC" "!=" 0
dm_check "... not a timeout (exit status)" "$RC" "!=" 124
dm_check "... message names 10.254.254.254" "$(grep -c '10\.254\.254\.254' "$d/far.err" || true)" ">=" 1

# ---- usage
dm_run noargs "$DRAGOMAND"
dm_check "dragomand without arguments: exit status" "$RC" == 2
dm_check "dragomand without arguments: usage on stderr" "$(grep -c '^usage: dragomand' "$d/noargs.err" || true)" ">=" 1
dm_run badopt "$DRAGOMAND" --frobnicate
dm_check "dragomand --frobnicate: exit status" "$RC" == 2
dm_check "dragomand --frobnicate: usage on stderr" "$(grep -c '^usage: dragomand' "$d/badopt.err" || true)" ">=" 1
dm_check "dragomand --frobnicate: names the option" "$(grep -c 'frobnicate' "$d/badopt.err" || true)" ">=" 1
dm_run help "$DRAGOMAND" --help
dm_check "dragomand --help: exit status" "$RC" == 0
dm_check "dragomand --help: usage on stdout" "$(grep -c '^usage: dragomand' "$d/help.out" || true)" ">=" 1

# ---- dragoman-listen
dm_run l-badout "$DRAGOMAN_LISTEN" --config "$good" --channel fr --out bogus --duration 1
dm_say "listen --out bogus: exit $RC: $(cat "$d/l-badout.err")"
dm_check "listen --out bogus: exit status" "$RC" "!=" 0
dm_check "listen --out bogus: message names it" "$(grep -c 'bogus' "$d/l-badout.err" || true)" ">=" 1

dm_run l-badwav "$DRAGOMAN_LISTEN" --config "$good" --channel fr --out "wav:$d/no/such/dir/x.wav" \
	--duration 1
dm_say "listen --out wav:<missing folder>: exit $RC: $(cat "$d/l-badwav.err")"
dm_check "listen --out wav:<missing folder>: exit status" "$RC" "!=" 0
dm_check "listen --out wav:<missing folder>: message names the file" \
	"$(grep -c 'no/such/dir/x.wav' "$d/l-badwav.err" || true)" ">=" 1

dm_run l-nochan "$DRAGOMAN_LISTEN" --config "$good" --out "wav:$d/x.wav" --duration 1
dm_say "listen without --channel: exit $RC: $(head -n 2 "$d/l-nochan.err" | tr '\n' ' ')"
dm_check "listen --config without --channel: exit status" "$RC" "!=" 0
dm_check "listen --config without --channel: a message (not only the usage) names --channel" \
	"$(grep -c -- '^dragoman-listen:.*--channel' "$d/l-nochan.err" || true)" ">=" 1

dm_run l-unkchan "$DRAGOMAN_LISTEN" --config "$good" --channel de --out "wav:$d/x.wav" --duration 1
dm_say "listen --channel de: exit $RC: $(cat "$d/l-unkchan.err")"
dm_check "listen --channel de (unknown): exit status" "$RC" "!=" 0
dm_check "listen --channel de (unknown): message names the channel" \
	"$(grep -cE "(no channel|unknown channel).*de" "$d/l-unkchan.err" || true)" ">=" 1
dm_run l-unknum "$DRAGOMAN_LISTEN" --config "$good" --channel 9 --out "wav:$d/x.wav" --duration 1
dm_check "listen --channel 9 (4 channels): exit status" "$RC" "!=" 0

dm_run l-baddur "$DRAGOMAN_LISTEN" --config "$good" --channel fr --out "wav:$d/x.wav" --duration soon
dm_check "listen --duration soon: exit status" "$RC" "!=" 0
dm_check "listen --duration soon: message" "$(grep -c 'duration' "$d/l-baddur.err" || true)" ">=" 1

dm_run l-both "$DRAGOMAN_LISTEN" --config "$good" --channel fr --sdp "$d/x.sdp" --out "wav:$d/x.wav"
dm_check "listen --config and --sdp together: exit status" "$RC" "!=" 0
dm_check "listen --config and --sdp together: message" \
	"$(grep -c -- '^dragoman-listen:.*--sdp.*--config' "$d/l-both.err" || true)" ">=" 1

dm_run l-nosdp "$DRAGOMAN_LISTEN" --sdp "$d/missing.sdp" --out "wav:$d/x.wav" --duration 1
dm_say "listen --sdp <missing>: exit $RC: $(cat "$d/l-nosdp.err")"
dm_check "listen --sdp <missing file>: exit status" "$RC" "!=" 0
dm_check "listen --sdp <missing file>: message names the file" \
	"$(grep -c 'missing.sdp' "$d/l-nosdp.err" || true)" ">=" 1

dm_run l-nosec "$DRAGOMAN_LISTEN" --config "$nosec" --channel fr --out "wav:$d/x.wav" --duration 1
dm_say "listen, missing secret: exit $RC: $(head -n 1 "$d/l-nosec.err")"
dm_check "listen with a missing secret file: exit status" "$RC" "!=" 0
dm_check "listen with a missing secret file: message names it" \
	"$(grep -c 'missing.secret' "$d/l-nosec.err" || true)" ">=" 1

dm_finish
