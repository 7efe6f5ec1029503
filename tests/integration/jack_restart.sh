#!/bin/bash
# jack_restart: the engine outlives its JACK server.
#  1. dragomand started before any JACK server exists logs that JACK is not
#     running and stays up; SIGINT while it waits exits cleanly (status 0);
#  2. jackd starts (the name the engine looks for): the engine's ports appear
#     within 3 s; a tone client on fr-1.mic (500 Hz) is heard by a listener on fr;
#  3. jackd is stopped (SIGTERM, waited for): the engine keeps running and logs
#     the loss;
#  4. jackd starts again with the same name: the ports come back within 3 s,
#     and the ENGINE reconnects the tone client when it comes back (the new
#     tone client connects nothing itself); a listener started after the
#     restart hears 500 Hz on fr again (and the floor's 300 Hz on en).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_mcast_check

server="dmtest-$$-jr"
export JACK_DEFAULT_SERVER=$server
export JACK_NO_START_SERVER=1 # no tool may start a server of its own here
if [ "$(jack_wait -c 2>/dev/null)" != "not running" ]; then
	dm_die "a JACK server $server is already running"
fi

dm_make_conf "$DM_TMP/conf"
conf=$DM_CONF
sdp=$DM_TMP/sdp
mkdir -p "$sdp"

# ---- 1b. SIGINT while waiting for JACK: clean exit
dm_bg engine-int "$DRAGOMAND" --config "$conf"
p_int=$DM_BG_PID
sleep 1.5
dm_check "engine without JACK, after 1.5 s: running (1 = yes)" "$(dm_alive "$p_int" && echo 1 || echo 0)" == 1
kill -INT "$p_int"
if dm_wait_pid_exit "$p_int" 5; then
	rc=0
	wait "$p_int" 2>/dev/null || rc=$?
	dm_check "SIGINT while waiting for JACK: exit status" "$rc" == 0
else
	dm_fail "SIGINT while waiting for JACK: still running after 5 s"
	dm_stop "$p_int" 3
fi
dm_check "SIGINT while waiting for JACK: logged 'stopping'" \
	"$(grep -c 'stopping' "$DM_TMP/engine-int.err" || true)" ">=" 1

# ---- 1. the engine waits for JACK
dm_bg engine "$DRAGOMAND" --config "$conf" --sdp-dir "$sdp"
engine=$DM_BG_PID
DM_ENGINE_PID=$engine
DM_ENGINE_LOG=$DM_TMP/engine
sleep 2.5
dm_check "engine without JACK, after 2.5 s: running (1 = yes)" "$(dm_alive "$engine" && echo 1 || echo 0)" == 1
dm_say "engine log: $(tr '\n' '|' <"$DM_TMP/engine.err")"
dm_check "engine logs that JACK is not running" \
	"$(grep -ciE 'JACK.*not running' "$DM_TMP/engine.err" || true)" ">=" 1
dm_check "no JACK port of the engine yet (jack_lsp fails: no server)" \
	"$(jack_lsp 2>/dev/null | grep -c '^dragoman:' || true)" == 0

# ---- 2. jackd appears
dm_jackd_start_as "$server" 128
t_up=$(date +%s.%N)
if dm_wait_port dragoman:fr-1.mic 10; then
	dt=$(dm_calc "$(date +%s.%N) - $t_up")
	dm_check "engine ports after jackd started (s)" "$dt" "<=" 3
else
	dm_tail "$DM_TMP/engine.err"
	dm_die "engine ports did not appear within 10 s of jackd"
fi
for p in floor fr-2.mic es-1.mic fr.program en.program; do
	dm_check "port dragoman:$p registered (1 = yes)" "$(dm_port_exists "dragoman:$p" && echo 1 || echo 0)" == 1
done
dm_tones_start tones 'fr1=500@-12>dragoman:fr-1.mic' 'floor=300@-12>dragoman:floor'
tones1=$DM_TONES_PID
dm_wait_sdps "$sdp" 10 fr en
ssrc1=$(dm_sdp_ssrc "$sdp/fr.sdp")
dm_listen_start before --config "$conf" --channel fr --out "wav:$DM_TMP/before.wav" --duration 3 \
	--interface 127.0.0.1
dm_listen_wait before "$DM_LISTEN_PID" 13
dm_check_tone "fr before the JACK restart" "$DM_TMP/before.wav" 500 300,500,700,900
sleep 1 # the engine remembers its connections every second

# ---- 3. jackd goes away
dm_jackd_stop
sleep 1.5
dm_check "engine after jackd stopped: running (1 = yes)" "$(dm_alive "$engine" && echo 1 || echo 0)" == 1
dm_check "engine logs the loss of JACK" \
	"$(grep -ciE 'JACK.*(went away|lost|gone)' "$DM_TMP/engine.err" || true)" ">=" 1
dm_wait_pid_exit "$tones1" 5 || dm_say "tone client still running without a server?"
dm_say "first tone client exited: $(tail -n 1 "$DM_TMP/tones-tones.err" 2>/dev/null)"

# ---- 4. jackd comes back with the same name
dm_jackd_start_as "$server" 128
t_up=$(date +%s.%N)
if dm_wait_port dragoman:fr-1.mic 10; then
	dt=$(dm_calc "$(date +%s.%N) - $t_up")
	dm_check "engine ports after jackd restarted (s)" "$dt" "<=" 3
else
	dm_tail "$DM_TMP/engine.err"
	dm_die "engine ports did not come back within 10 s of the new jackd"
fi
dm_check "engine still the same process (1 = yes)" "$(dm_alive "$engine" && echo 1 || echo 0)" == 1
mv "$DM_TMP/tones-tones.err" "$DM_TMP/tones-tones-run1.err"
# the same client and port names, no destinations: only the engine can connect them
dm_tones_start tones 'fr1=500@-12' 'floor=300@-12'
t_tones=$(date +%s.%N)
for pair in fr1:fr-1.mic floor:floor; do
	if dm_wait_connected "tones:${pair%%:*}" "dragoman:${pair#*:}" 5; then
		dm_check "engine reconnected tones:${pair%%:*} -> dragoman:${pair#*:} (s after the client came back)" \
			"$(dm_calc "$(date +%s.%N) - $t_tones")" "<=" 3
	else
		dm_fail "engine did not reconnect tones:${pair%%:*} -> dragoman:${pair#*:} within 5 s"
		jack_lsp -c >&2 || true
	fi
done
dm_check "engine logs the reconnections" "$(grep -c 'reconnected' "$DM_TMP/engine.err" || true)" ">=" 2

dm_listen_start after --config "$conf" --channel fr --out "wav:$DM_TMP/after.wav" --duration 3 \
	--interface 127.0.0.1
p_after=$DM_LISTEN_PID
dm_listen_start after-en --config "$conf" --channel en --out "wav:$DM_TMP/after-en.wav" \
	--duration 3 --interface 127.0.0.1
p_after_en=$DM_LISTEN_PID
dm_listen_wait after "$p_after" 13
dm_listen_wait after-en "$p_after_en" 13
dm_check_tone "fr after the JACK restart" "$DM_TMP/after.wav" 500 300,500,700,900
dm_check_tone "en (floor fallback) after the JACK restart" "$DM_TMP/after-en.wav" 300 300,500,700,900
dm_check "fr after the restart: packets received" "$(dm_stat after received)" ">=" 300
dm_check "fr after the restart: auth_failed" "$(dm_stat after auth_failed)" == 0
dm_say "fr ssrc before $ssrc1, after $(dm_stat after ssrc) (the stream outlives JACK)"

dm_engine_stop
dm_say "jackd xruns logged: $(dm_jackd_xruns)"
dm_finish
