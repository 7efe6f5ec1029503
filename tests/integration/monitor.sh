#!/bin/bash
# monitor: dragoman-monitor driven in tmux (80x24: send-keys, capture-pane)
# against the real engine with its control API on.
#
#   tones: floor 300 Hz, fr-1 500 (a client of its own, to stop it), es-1 700
#   fr-1 live on fr, es-1 live on es, en falls back to the floor
#
#  1. a row for every channel (floor en fr es); on air: fr-1 on fr, es-1 on
#     es, the floor fallback on en; the consoles panel
#  2. meters, only if the engine serves GET /api/v1/meters (else: '-' shown,
#     and said): the fr bar full with fr-1's tone, empty when it stops, full
#     again when it is back; with alarms.silence_s = 1 and GET /api/v1/alarms,
#     fr-1's silence is marked SIL on the fr row, its console and in the
#     alarms panel, and the mark goes when the tone is back
#  3. CPU of the monitor over DM_MONITOR_CPU_S (3) seconds from
#     /proc/PID/stat: reported, not asserted
#  4. Down Down Enter listens to fr through PortAudio (its default device is
#     JACK's "system" while jackd runs): PortAudio:out_0 carries 500 Hz;
#     Up Enter switches to en: 300 Hz (the floor); s stops: the port goes
#  5. a call (dragomanctl call fr-1 slow) shows; f fr Enter sets the floor
#     language (the API says fr, the title too, fr's on-air column says
#     floor); f none Enter clears it
#  6. engine stopped: the screen says unreachable; started again: the rows
#     come back by themselves
#  7. q: exit status 0
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dm_init
dm_require_cmd curl python3 tmux pgrep
dm_require_prog DRAGOMANCTL dragomanctl
dm_require_prog DRAGOMAN_MONITOR dragoman-monitor
dm_mcast_check
dm_jackd_start 128

F=300,500,700,900
dm_make_ctl_conf "$DM_TMP/conf" es_fallback=silence
TECH=${DM_TOK[technician]}
# a silence alarm after 1 s, where the engine knows alarms.silence_s
cp "$DM_CONF" "$DM_CONF.orig"
printf 'alarms = { silence_s = 1; };\n' >>"$DM_CONF"
SILENCE_ALARM=1
if ! "$DRAGOMAND" --config "$DM_CONF" --check >/dev/null 2>&1; then
	cp "$DM_CONF.orig" "$DM_CONF"
	SILENCE_ALARM=0
fi
dm_engine_start "$DM_CONF" "$DM_TMP/sdp"
dm_api_wait 10
dm_tones_start tones 'floor=300@-12>dragoman:floor' 'es1=700@-12>dragoman:es-1.mic'
dm_tones_start fr1 'fr1=500@-12>dragoman:fr-1.mic'
FR1_PID=$DM_TONES_PID

# ---------------------------------------------------------------- tmux
TM_SOCK=dm-monitor-$$
tm() { tmux -L "$TM_SOCK" -f /dev/null "$@"; }
cat >"$DM_TMP/run-monitor.sh" <<EOF
#!/bin/sh
export JACK_DEFAULT_SERVER='$JACK_DEFAULT_SERVER'
'$DRAGOMAN_MONITOR' --url '$DM_API' --token-file '${DM_TOKF[technician]}' \\
	--config '$DM_CONF' 2>'$DM_TMP/monitor.err'
echo \$? >'$DM_TMP/monitor.rc'
EOF
tm new-session -d -x 80 -y 24 -s mon "sh $DM_TMP/run-monitor.sh"
DM_PIDS+=("$(tm display-message -p '#{pid}')")
PANE_PID=$(tm list-panes -t mon -F '#{pane_pid}')

SCREEN_N=0
# screen: captures the pane into $DM_TMP/screen-N.txt (SCREEN).
screen() {
	SCREEN_N=$((SCREEN_N + 1))
	SCREEN=$DM_TMP/screen-$SCREEN_N.txt
	tm capture-pane -p -t mon >"$SCREEN" 2>/dev/null || : >"$SCREEN"
}
# row ID: the channel row of ID in the last capture (two marker columns, then the id).
row() { awk -v id="$1" 'NR > 1 && substr($0, 3) ~ ("^" id " ") { print; exit }' "$SCREEN"; }
# field ID N: the Nth word of ID's row after the markers (1 id, 2 language, 3 on air).
field() { row "$1" | cut -c3- | awk -v n="$2" '{ print $n }'; }
# after ID N: the Nth word after ID's meter bar (1 peak, 2 LUFS, 3 listeners,
# 4 loss, 5... alarm marks).
after() { row "$1" | sed 's/^[^]]*\]//' | awk -v n="$2" '{ print $n }'; }
# hashes ID: how many '#' the meter bar of ID's row shows.
hashes() { row "$1" | grep -o '\[[^]]*\]' | head -n 1 | tr -cd '#' | wc -c; }
marker() { row "$1" | cut -c1-2; }
on_screen() { grep -q -- "$1" "$SCREEN"; }
rows_all() {
	local id
	for id in floor en fr es; do
		[ -n "$(row "$id")" ] || return 1
	done
}
# wait_screen TIMEOUT_S CMD...: captures until CMD succeeds; 1 when it never did.
wait_screen() {
	local t=$1 i=0
	shift
	while :; do
		screen
		"$@" && return 0
		[ "$i" -ge $((t * 10)) ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}
keys() { tm send-keys -t mon "$@"; }
show() { sed 's/^/    | /' "$SCREEN" >&2; }
fr_bar_ge() { [ "$(hashes fr)" -ge "$1" ]; }
fr_bar_le() { [ "$(hashes fr)" -le "$1" ]; }
# fr_alarm MARK: the fr row's alarm column shows MARK.
fr_alarm() { row fr | sed 's/^[^]]*\]//' | awk '{ for (i = 5; i <= NF; i++) print $i }' | grep -qx "$1"; }
fr_no_alarm() { ! fr_alarm "$1"; }
fr_on_air() { [ "$(field fr 3)" = "$1" ]; }
fr_listeners_ge() { [ "$(after fr 3)" -ge "$1" ] 2>/dev/null; }
selected() { [ "$(marker "$1" | cut -c1)" = ">" ]; }

# 1. rows
if ! wait_screen 10 rows_all; then
	show
	dm_tail "$DM_TMP/monitor.err"
	dm_die "no channel rows on the monitor's screen within 10 s"
fi
wait_screen 3 on_screen "es-1" || true
dm_say "the screen at 80x24:"
show
DM_CHECKS=$((DM_CHECKS + 1))
dm_ok "rows for floor, en, fr and es"
dm_check_str "on air on fr" "$(field fr 3)" = fr-1
dm_check_str "on air on es" "$(field es 3)" = es-1
dm_check_str "on air on en (its fallback)" "$(field en 3)" = "(floor)"
dm_check_str "the first channel is selected" "$(marker floor | cut -c1)" = ">"
dm_check "consoles panel: fr-1 LIVE" "$(grep -c '^fr-1 *fr *LIVE' "$SCREEN" || true)" == 1
dm_check "consoles panel: fr-2 off" "$(grep -c 'fr-2 *fr *off' "$SCREEN" || true)" == 1
dm_check "screen width (columns)" "$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$SCREEN")" "<=" 80

# 2. meters
dm_api GET /api/v1/meters "$TECH"
if [ "$DM_API_STATUS" = 200 ]; then
	wait_screen 5 fr_bar_ge 10 || true
	dm_check "fr bar with fr-1's tone at -12 dBFS ('#')" "$(hashes fr)" ">=" 10
	dm_say "fr row: $(row fr)"
	dm_stop "$FR1_PID" 3
	wait_screen 5 fr_bar_le 1 || true
	dm_check "fr bar with fr-1 silent ('#')" "$(hashes fr)" "<=" 1
	dm_say "fr row: $(row fr)"
	dm_api GET /api/v1/alarms "$TECH"
	if [ "$SILENCE_ALARM" = 1 ] && [ "$DM_API_STATUS" = 200 ]; then
		if wait_screen 6 fr_alarm SIL; then
			dm_ok "fr-1 silent: SIL on the fr row"
		else
			dm_fail "fr-1 silent: no SIL on the fr row within 6 s"
			show
		fi
		DM_CHECKS=$((DM_CHECKS + 1))
		dm_check "fr-1 silent: SIL on its console" \
			"$(grep -cE '^fr-1 .*\] SIL' "$SCREEN" || true)" == 1
		dm_check "fr-1 silent: a line in the alarms panel" \
			"$(grep -cE '^!! [0-9:]{8} SIL +fr-1' "$SCREEN" || true)" == 1
		show
	else
		dm_say "SKIP the silence alarm (alarms.silence_s accepted: $SILENCE_ALARM," \
			"GET /api/v1/alarms: $DM_API_STATUS)"
	fi
	dm_tones_start fr1b 'fr1=500@-12>dragoman:fr-1.mic'
	wait_screen 5 fr_bar_ge 10 || true
	dm_check "fr bar with the tone back ('#')" "$(hashes fr)" ">=" 10
	dm_say "fr row: $(row fr)"
	if [ "$SILENCE_ALARM" = 1 ] && [ "$DM_API_STATUS" = 200 ]; then
		wait_screen 5 fr_no_alarm SIL || true
		dm_check "the tone back: SIL gone from the fr row (0 = gone)" \
			"$( (fr_alarm SIL && echo 1) || echo 0)" == 0
	fi
else
	dm_say "SKIP the meter bars: GET /api/v1/meters answers $DM_API_STATUS (not served)"
	dm_check_str "no meters: the fr bar says '-'" "$(row fr | grep -o '\[-' | head -n 1)" = "[-"
fi

# 3. CPU
MON_PID=$(pgrep -P "$PANE_PID" -x dragoman-monito || pgrep -P "$PANE_PID" | head -n 1 || true)
[ -n "$MON_PID" ] || dm_die "no dragoman-monitor process under the tmux pane $PANE_PID"
CPU_S=${DM_MONITOR_CPU_S:-3}
t0=$(dm_cpu_ticks "$MON_PID")
w0=$(date +%s.%N)
sleep "$CPU_S"
t1=$(dm_cpu_ticks "$MON_PID")
w1=$(date +%s.%N)
cpu=$(dm_calc "($t1 - $t0) / $DM_CLK_TCK / ($w1 - $w0) * 100")
dm_say "monitor CPU: $cpu % of a core over $(dm_calc "$w1 - $w0") s (pid $MON_PID, meters HTTP $DM_API_STATUS)"
# A figure for the closing note, not a verdict: speeds belong to benchmarks.

# 4. listen-in
keys Down Down
wait_screen 3 selected fr || true
dm_check_str "Down Down selects fr" "$(marker fr | cut -c1)" = ">"
keys Enter
if dm_wait_port PortAudio:out_0 10; then
	sleep 0.5
	dm_rec 2.5 "$DM_TMP/pa-fr.wav" PortAudio:out_0
	dm_check_tone "listen-in fr at PortAudio:out_0" "$DM_TMP/pa-fr.wav" 500 "$F" 0.3
	screen
	dm_check_str "fr marked as listened to" "$(marker fr)" = ">*"
	dm_check "the screen says listening to fr" "$(grep -c 'listening to fr' "$SCREEN" || true)" ">=" 1
	# the listen-in sends receiver reports like any listener: it is counted
	dm_api GET /api/v1/listeners "$TECH"
	if [ "$DM_API_STATUS" = 200 ]; then
		wait_screen 8 fr_listeners_ge 1 || true
		dm_check "listening: the fr row counts a listener" "$(after fr 3)" ">=" 1
	else
		dm_say "SKIP listener counts: GET /api/v1/listeners answers $DM_API_STATUS"
	fi
	keys Up Enter
	sleep 0.8
	dm_rec 2.5 "$DM_TMP/pa-en.wav" PortAudio:out_0
	dm_check_tone "listen-in switched to en (the floor)" "$DM_TMP/pa-en.wav" 300 "$F" 0.3
	keys s
	i=0
	while dm_port_exists PortAudio:out_0 && [ "$i" -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	dm_check "s stops listening: PortAudio:out_0 gone (1 = gone)" \
		"$(dm_port_exists PortAudio:out_0 && echo 0 || echo 1)" == 1
else
	screen
	show
	dm_tail "$DM_TMP/monitor.err"
	dm_fail "Enter on fr: no PortAudio:out_0 in the JACK graph within 10 s"
fi

# 5. a call and the floor language
"$DRAGOMANCTL" --url "$DM_API" --token-file "${DM_TOKF[fr]}" call fr-1 slow >/dev/null
wait_screen 3 on_screen "call from fr-1" || true
dm_check "the call shows" "$(grep -c 'call from fr-1 (booth fr): slow' "$SCREEN" || true)" == 1
keys f
sleep 0.2
keys -l fr
keys Enter
wait_screen 3 on_screen "floor: fr" || true
dm_check_str "f fr Enter: the engine's floor language" "$(dm_state 'j["floor_language"]')" = fr
dm_check "f fr Enter: the title says floor: fr" "$(head -n 1 "$SCREEN" | grep -c 'floor: fr' || true)" == 1
wait_screen 3 fr_on_air floor || true
dm_check_str "floor language fr: fr carries the floor" "$(field fr 3)" = floor
keys f
sleep 0.2
keys -l none
keys Enter
wait_screen 3 on_screen "floor: none" || true
dm_check_str "f none Enter: the engine's floor language" "$(dm_state 'j["floor_language"]')" = null

# 6. engine stopped and started again
dm_engine_stop
if wait_screen 5 on_screen unreachable; then
	dm_ok "engine stopped: the screen says unreachable"
	show
else
	dm_fail "engine stopped: the screen does not say unreachable within 5 s"
	show
fi
DM_CHECKS=$((DM_CHECKS + 1))
dm_check "engine stopped: no channel rows" "$( (rows_all && echo 1) || echo 0)" == 0
dm_engine_start "$DM_CONF" "$DM_TMP/sdp" engine-r1
if wait_screen 10 rows_all; then
	dm_ok "engine started again: the rows are back"
else
	dm_fail "engine started again: no rows within 10 s"
	show
fi
DM_CHECKS=$((DM_CHECKS + 1))
wait_screen 3 fr_on_air fr-1 || true
dm_check_str "after the restart: on air on fr" "$(field fr 3)" = fr-1

# 7. q
keys q
if dm_wait_file "$DM_TMP/monitor.rc" 5; then
	dm_check "q: exit status" "$(cat "$DM_TMP/monitor.rc")" == 0
else
	dm_fail "q: the monitor did not exit within 5 s"
	screen
	show
fi
# its stderr is a file here: the monitor copies there what it caught
dm_check "sanitizer reports in the monitor's stderr" \
	"$(grep -cE 'runtime error|Sanitizer' "$DM_TMP/monitor.err" || true)" == 0
dm_finish
