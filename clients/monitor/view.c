/* dragoman-monitor: the screen. Everything the engine did not say (an
 * endpoint it lacks, a null level) shows as "-". */
#include "view.h"

#include <curses.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#define METER_FLOOR_DB (-60.0) /* the left end of every bar */
#define YELLOW_DB (-18.0)      /* bar cells above this are yellow ... */
#define RED_DB (-6.0)	       /* ... and above this red */
#define CONSOLE_CELL 40	       /* width of one console in the consoles panel */
#define NAME_COLUMN_FROM 110   /* terminals this wide get the channel names */
#define BAR_MAX 60

enum { C_GREEN = 1, C_YELLOW, C_RED, C_HEAD, C_TITLE, C_DIM };

static bool colors;

void mon_view_init(void)
{
	if (!has_colors())
		return;
	start_color();
	use_default_colors();
	init_pair(C_GREEN, COLOR_GREEN, -1);
	init_pair(C_YELLOW, COLOR_YELLOW, -1);
	init_pair(C_RED, COLOR_RED, -1);
	init_pair(C_HEAD, COLOR_CYAN, -1);
	init_pair(C_TITLE, COLOR_WHITE, COLOR_BLUE);
	init_pair(C_DIM, COLOR_WHITE, -1);
	colors = true;
}

static attr_t color(int pair)
{
	if (!colors)
		return pair == C_TITLE ? A_REVERSE : pair == C_RED ? A_BOLD : A_NORMAL;
	return COLOR_PAIR(pair) | (pair == C_DIM ? A_DIM : A_NORMAL);
}

/* ------------------------------------------------------------- helpers */

static const char *str_or(json_t *v, const char *dflt)
{
	const char *s = json_string_value(v);
	return s ? s : dflt;
}

static json_t *by_id(json_t *array, const char *id)
{
	size_t i;
	json_t *v;
	if (!id)
		return NULL;
	json_array_foreach(array, i, v)
	{
		const char *vid = json_string_value(json_object_get(v, "id"));
		if (vid && strcmp(vid, id) == 0)
			return v;
	}
	return NULL;
}

/* s at (y, x) in exactly w columns: cut, or padded with spaces. Counted in
 * screen columns (wcwidth), so "Français" and CJK names line up. */
static void cell(int y, int x, const char *s, int w)
{
	if (w <= 0 || y < 0 || y >= LINES || x >= COLS)
		return;
	if (x + w > COLS)
		w = COLS - x;
	move(y, x);
	int used = 0;
	mbstate_t st;
	memset(&st, 0, sizeof st);
	for (const char *p = s ? s : ""; *p;) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, p, MB_CUR_MAX, &st);
		int cw;
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&st, 0, sizeof st);
			n = 1;
			cw = -1;
		} else {
			cw = wcwidth(wc);
		}
		if (used + (cw < 0 ? 1 : cw) > w)
			break;
		if (cw < 0) {
			addch('?');
			used++;
		} else {
			addnstr(p, (int)n);
			used += cw;
		}
		p += n;
	}
	for (; used < w; used++)
		addch(' ');
}

static void cellf(int y, int x, int w, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void cellf(int y, int x, int w, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	cell(y, x, text, w);
}

/* A level in dB, or "-" when the engine gave none. Right-aligned in w. */
static void db_cell(int y, int x, int w, json_t *v)
{
	if (!json_is_number(v)) {
		cellf(y, x, w, "%*s", w - 1, "-");
		return;
	}
	double db = json_number_value(v);
	if (db <= -100 || isinf(db))
		cellf(y, x, w, "%*s", w - 1, "-inf");
	else
		cellf(y, x, w, "%*.1f", w - 1, db);
}

static int bar_pos(double db, int w)
{
	double f = (db - METER_FLOOR_DB) / -METER_FLOOR_DB;
	if (f < 0)
		f = 0;
	if (f > 1)
		f = 1;
	return (int)lround(f * w);
}

/* [#######   |    ]: '#' up to the loudness (momentary LUFS, else RMS), '|' at
 * the peak, from -60 dBFS on the left to 0 on the right; green, then yellow
 * above -18, red above -6. meters NULL: the engine has no meters: "-". */
static void bar(int y, int x, int w, json_t *meters)
{
	if (w < 3)
		return;
	int inner = w - 2;
	mvaddch(y, x, '[');
	mvaddch(y, x + w - 1, ']');
	if (!meters) {
		attron(color(C_DIM));
		cell(y, x + 1, "-", inner);
		attroff(color(C_DIM));
		return;
	}
	json_t *lv = json_object_get(meters, "momentary_lufs");
	if (!json_is_number(lv))
		lv = json_object_get(meters, "rms_dbfs");
	json_t *pv = json_object_get(meters, "peak_dbfs");
	int fill = json_is_number(lv) ? bar_pos(json_number_value(lv), inner) : 0;
	int peak = json_is_number(pv) ? bar_pos(json_number_value(pv), inner) - 1 : -1;
	move(y, x + 1);
	for (int i = 0; i < inner; i++) {
		double cell_db = METER_FLOOR_DB - METER_FLOOR_DB * (i + 1) / inner;
		int pair = cell_db > RED_DB ? C_RED : cell_db > YELLOW_DB ? C_YELLOW : C_GREEN;
		chtype ch = i < fill ? '#' : i == peak ? '|' : ' ';
		if (ch != ' ')
			attron(color(pair));
		addch(ch);
		if (ch != ' ')
			attroff(color(pair));
	}
}

static const char *alarm_short(const char *kind)
{
	static const char *const names[][2] = {
		{"silence", "SIL"},	   {"clip", "CLIP"},	      {"xrun", "XRUN"},
		{"encoder_behind", "ENC"}, {"listener_loss", "LOSS"}, {"jack_lost", "JACK"},
		{"disk", "DISK"},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (kind && strcmp(kind, names[i][0]) == 0)
			return names[i][1];
	return kind ? kind : "?";
}

/* The short names of the active alarms about channel (or console; NULL for
 * the global ones when both are NULL), space-separated, each once. */
static void alarm_marks(json_t *alarms, const char *channel, const char *console, char *out,
			size_t cap)
{
	out[0] = '\0';
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(alarms, "alarms"), i, a)
	{
		const char *ach = json_string_value(json_object_get(a, "channel"));
		const char *aco = json_string_value(json_object_get(a, "console"));
		bool mine;
		if (!channel && !console)
			mine = !ach && !aco;
		else
			mine = (channel && ach && strcmp(channel, ach) == 0) ||
			       (console && aco && strcmp(console, aco) == 0);
		if (!mine)
			continue;
		const char *s = alarm_short(json_string_value(json_object_get(a, "kind")));
		size_t n = strlen(out), k = strlen(s);
		bool dup = false;
		for (const char *p = strstr(out, s); p; p = strstr(p + 1, s))
			dup |= (p == out || p[-1] == ' ') && (p[k] == ' ' || p[k] == '\0');
		if (!dup && n + k + 2 < cap)
			snprintf(out + n, cap - n, "%s%s", n ? " " : "", s);
	}
}

size_t mon_view_channels(const struct mon_snapshot *s, const char **ids, size_t cap)
{
	json_t *list = json_object_get(s->doc[MON_DOC_STATE], "channels");
	size_t n = 0, i;
	json_t *v;
	json_array_foreach(list, i, v)
	{
		const char *id = json_string_value(json_object_get(v, "id"));
		if (!id)
			continue;
		if (n < cap)
			ids[n] = id;
		n++;
	}
	return n;
}

/* ------------------------------------------------------------- regions */

static void title(const struct mon_snapshot *s, const struct mon_view *v)
{
	json_t *st = s->doc[MON_DOC_STATE];
	json_t *conf = json_object_get(st, "conference");
	char left[256], right[128], marks[64], clock[16];
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(clock, sizeof clock, "%H:%M:%S", &tm);
	if (st)
		snprintf(left, sizeof left, " dragoman-monitor  floor: %s  %s %s",
			 str_or(json_object_get(st, "floor_language"), "none"),
			 str_or(json_object_get(conf, "id"), "?"),
			 str_or(json_object_get(conf, "name"), ""));
	else
		snprintf(left, sizeof left, " dragoman-monitor  %s", v->url);
	alarm_marks(s->doc[MON_DOC_ALARMS], NULL, NULL, marks, sizeof marks);
	const char *link = s->link == MON_LINK_UP	 ? (s->events_up ? "up" : "up, no events")
			   : s->link == MON_LINK_DOWN	 ? "UNREACHABLE"
			   : s->link == MON_LINK_REFUSED ? "TOKEN REFUSED"
							 : "connecting";
	snprintf(right, sizeof right, "  %s%sengine %s  %s ", marks, marks[0] ? "  " : "", link,
		 clock);
	int rw = (int)strlen(right);
	if (rw > COLS / 2)
		rw = COLS / 2;
	attron(color(C_TITLE) | A_BOLD);
	cell(0, 0, left, COLS - rw);
	cell(0, COLS - rw, right, rw);
	attroff(color(C_TITLE) | A_BOLD);
}

struct columns {
	int mark, id, lang, name, onair, bar, peak, lufs, lis, loss, alarms;
};

static struct columns channel_columns(json_t *channels)
{
	struct columns c = {.mark = 2,
			    .id = 5,
			    .lang = 6,
			    .onair = 10,
			    .peak = 7,
			    .lufs = 6,
			    .lis = 7,
			    .loss = 6};
	size_t i;
	json_t *v;
	json_array_foreach(channels, i, v)
	{
		int n = (int)strlen(str_or(json_object_get(v, "id"), ""));
		if (n + 1 > c.id)
			c.id = n + 1 > 11 ? 11 : n + 1;
		json_t *air = json_object_get(v, "on_air");
		n = (int)strlen(str_or(air, ""));
		if (n + 1 > c.onair)
			c.onair = n + 1 > 12 ? 12 : n + 1;
	}
	if (COLS >= NAME_COLUMN_FROM)
		c.name = 14;
	int fixed = c.mark + c.id + c.lang + c.name + c.onair + c.peak + c.lufs + c.lis + c.loss;
	int rest = COLS - fixed;
	c.bar = rest - 10; /* at least 10 for the alarm marks */
	if (c.bar > BAR_MAX + 2)
		c.bar = BAR_MAX + 2;
	if (c.bar < 5)
		c.bar = 5;
	c.alarms = rest - c.bar;
	return c;
}

static void channel_heading(int y, const struct columns *c)
{
	int x = 0;
	attron(color(C_HEAD) | A_BOLD);
	cell(y, x, "", c->mark);
	cell(y, x += c->mark, "CH", c->id);
	cell(y, x += c->id, "LANG", c->lang);
	if (c->name)
		cell(y, x += c->lang, "NAME", c->name);
	else
		x += c->lang;
	cell(y, x += c->name, "ON AIR", c->onair);
	cell(y, x += c->onair, c->bar >= 28 ? "LEVEL (# loudness, | peak)" : "LEVEL", c->bar);
	cellf(y, x += c->bar, c->peak, "%*s", c->peak - 1, "PEAK");
	cellf(y, x += c->peak, c->lufs, "%*s", c->lufs - 1, "LUFS");
	cellf(y, x += c->lufs, c->lis, "%*s", c->lis - 1, "LIS");
	cellf(y, x += c->lis, c->loss, "%*s", c->loss - 1, "LOSS");
	cell(y, x += c->loss, "ALARMS", c->alarms);
	attroff(color(C_HEAD) | A_BOLD);
}

static void channel_row(int y, const struct columns *c, const struct mon_snapshot *s,
			const struct mon_view *v, json_t *ch)
{
	const char *id = str_or(json_object_get(ch, "id"), "?");
	bool sel = v->selected && strcmp(v->selected, id) == 0;
	bool listening = v->listening && strcmp(v->listening, id) == 0;
	json_t *meters = s->doc[MON_DOC_METERS]
				 ? by_id(json_object_get(s->doc[MON_DOC_METERS], "channels"), id)
				 : NULL;
	json_t *lis = by_id(json_object_get(s->doc[MON_DOC_LISTENERS], "channels"), id);
	json_t *air = json_object_get(ch, "on_air");
	char onair[64], marks[128];
	const char *program = str_or(json_object_get(ch, "program"), "-");
	/* The floor language's channel carries the floor even with a console
	 * live; a channel with no console live carries its fallback, shown in
	 * brackets. */
	bool fallback = false;
	if (strcmp(id, "floor") == 0 || (json_is_string(air) && strcmp(program, "floor") == 0))
		snprintf(onair, sizeof onair, "floor");
	else if (json_is_string(air))
		snprintf(onair, sizeof onair, "%s", json_string_value(air));
	else {
		snprintf(onair, sizeof onair, "(%s)", program);
		fallback = true;
	}
	alarm_marks(s->doc[MON_DOC_ALARMS], id, json_string_value(air), marks, sizeof marks);

	attr_t base = sel ? A_REVERSE : A_NORMAL;
	attron(base);
	int x = 0;
	cellf(y, x, c->mark, "%c%c", sel ? '>' : ' ', listening ? '*' : ' ');
	attron(A_BOLD);
	cell(y, x += c->mark, id, c->id);
	attroff(A_BOLD);
	cell(y, x += c->id, str_or(json_object_get(ch, "language"), "-"), c->lang);
	if (c->name)
		cell(y, x += c->lang, str_or(json_object_get(ch, "name"), ""), c->name);
	else
		x += c->lang;
	if (fallback)
		attron(color(C_DIM));
	cell(y, x += c->name, onair, c->onair);
	attroff(color(C_DIM));
	attroff(base);
	bar(y, x += c->onair, c->bar,
	    s->doc[MON_DOC_METERS] ? (meters ? meters : json_null()) : NULL);
	attron(base);
	db_cell(y, x += c->bar, c->peak, json_object_get(meters, "peak_dbfs"));
	db_cell(y, x += c->peak, c->lufs, json_object_get(meters, "momentary_lufs"));
	json_t *n = json_object_get(lis, "listeners");
	json_t *rn = json_object_get(lis, "remote");
	x += c->lufs;
	if (json_is_integer(n) && json_integer_value(rn) > 0) {
		/* in the room + remote */
		char both[32];
		snprintf(both, sizeof both, "%lld+%lld", (long long)json_integer_value(n),
			 (long long)json_integer_value(rn));
		cellf(y, x, c->lis, "%*s", c->lis - 1, both);
	} else if (json_is_integer(n))
		cellf(y, x, c->lis, "%*lld", c->lis - 1, (long long)json_integer_value(n));
	else
		cellf(y, x, c->lis, "%*s", c->lis - 1, "-");
	json_t *loss = json_object_get(lis, "loss_ratio_max");
	if (json_is_number(loss)) {
		double pct = json_number_value(loss) * 100;
		if (pct > 5)
			attron(color(C_RED) | A_BOLD);
		cellf(y, x += c->lis, c->loss, "%*.1f%%", c->loss - 2, pct);
		attroff(color(C_RED) | A_BOLD);
	} else {
		cellf(y, x += c->lis, c->loss, "%*s", c->loss - 1, "-");
	}
	attroff(base);
	attron(color(C_RED) | A_BOLD);
	cell(y, x += c->loss, s->doc[MON_DOC_ALARMS] ? marks : "-", c->alarms);
	attroff(color(C_RED) | A_BOLD);
}

/* One console in a cell of width w: id, booth, mic, output, source, level, alarms. */
struct ccols {
	int id, booth, mic, out, src, bar, alarms;
};

static struct ccols console_columns(int w, json_t *consoles)
{
	struct ccols c = {.id = 5, .booth = 4, .mic = 5, .out = 5, .src = 7, .alarms = 5};
	size_t i;
	json_t *v;
	json_array_foreach(consoles, i, v)
	{
		int n = (int)strlen(str_or(json_object_get(v, "id"), ""));
		if (n + 1 > c.id)
			c.id = n + 1 > 10 ? 10 : n + 1;
	}
	c.bar = w - 1 - (c.id + c.booth + c.mic + c.out + c.src + c.alarms);
	if (c.bar < 3) {
		c.alarms = 0;
		c.bar = 3;
	}
	return c;
}

static void console_heading(int y, int x, const struct ccols *c)
{
	attron(color(C_HEAD) | A_BOLD);
	cell(y, x, "CONS", c->id);
	cell(y, x += c->id, "BTH", c->booth);
	cell(y, x += c->booth, "MIC", c->mic);
	cell(y, x += c->mic, "OUT", c->out);
	cell(y, x += c->out, "SOURCE", c->src);
	cell(y, x += c->src, "LEVEL", c->bar);
	cell(y, x += c->bar, "AL", c->alarms);
	attroff(color(C_HEAD) | A_BOLD);
}

static void console_cell(int y, int x, const struct ccols *c, const struct mon_snapshot *s,
			 json_t *co)
{
	const char *id = str_or(json_object_get(co, "id"), "?");
	json_t *meters = s->doc[MON_DOC_METERS]
				 ? by_id(json_object_get(s->doc[MON_DOC_METERS], "consoles"), id)
				 : NULL;
	bool mic = json_is_true(json_object_get(co, "mic"));
	bool mute = json_is_true(json_object_get(co, "mute"));
	char out[32], src[32], marks[64];
	snprintf(out, sizeof out, "%c %s",
		 strcmp(str_or(json_object_get(co, "output"), "a"), "b") == 0 ? 'B' : 'A',
		 str_or(json_object_get(co, "channel"), "-"));
	json_t *sv = json_object_get(co, "source");
	snprintf(src, sizeof src, "<%s", json_is_string(sv) ? json_string_value(sv) : "floor");
	alarm_marks(s->doc[MON_DOC_ALARMS], NULL, id, marks, sizeof marks);

	attron(A_BOLD);
	cell(y, x, id, c->id);
	attroff(A_BOLD);
	cell(y, x += c->id, str_or(json_object_get(co, "booth"), "-"), c->booth);
	attr_t ma = !mic ? color(C_DIM) : mute ? color(C_YELLOW) | A_BOLD : color(C_GREEN) | A_BOLD;
	attron(ma);
	cell(y, x += c->booth, !mic ? "off" : mute ? "MUTE" : "LIVE", c->mic);
	attroff(ma);
	cell(y, x += c->mic, out, c->out);
	cell(y, x += c->out, src, c->src);
	bar(y, x += c->src, c->bar - 1,
	    s->doc[MON_DOC_METERS] ? (meters ? meters : json_null()) : NULL);
	attron(color(C_RED) | A_BOLD);
	cell(y, x += c->bar, s->doc[MON_DOC_ALARMS] ? marks : "-", c->alarms);
	attroff(color(C_RED) | A_BOLD);
}

static int compare_raised(const void *a, const void *b)
{
	const char *ra = str_or(json_object_get(*(json_t *const *)a, "raised_at"), "");
	const char *rb = str_or(json_object_get(*(json_t *const *)b, "raised_at"), "");
	return strcmp(rb, ra); /* ISO 8601 UTC sorts as text: newest first */
}

/* The active alarms (newest first), then the event log (newest first). */
static void alarms_and_calls(int y, int rows, const struct mon_snapshot *s)
{
	if (rows <= 0)
		return;
	json_t *alarms = json_object_get(s->doc[MON_DOC_ALARMS], "alarms");
	size_t na = json_array_size(alarms);
	attron(color(C_HEAD) | A_BOLD);
	if (s->doc[MON_DOC_ALARMS])
		cellf(y, 0, COLS, "ALARMS (%zu active) AND CALLS", na);
	else
		cellf(y, 0, COLS, "ALARMS (-%s) AND CALLS",
		      s->missing[MON_DOC_ALARMS] ? ": the engine has no /api/v1/alarms" : "");
	attroff(color(C_HEAD) | A_BOLD);
	int line = y + 1, end = y + rows;

	json_t **sorted = na ? calloc(na, sizeof *sorted) : NULL;
	for (size_t i = 0; sorted && i < na; i++)
		sorted[i] = json_array_get(alarms, i);
	if (sorted)
		qsort(sorted, na, sizeof *sorted, compare_raised);
	for (size_t i = 0; sorted && i < na && line < end; i++) {
		json_t *a = sorted[i];
		char when[16];
		mon_time_local(str_or(json_object_get(a, "raised_at"), NULL), when, sizeof when);
		const char *who = str_or(json_object_get(a, "channel"), NULL);
		if (!who)
			who = str_or(json_object_get(a, "console"), "");
		attron(color(C_RED) | A_BOLD);
		cellf(line++, 0, COLS, "!! %s %-6s %-6s %s", when,
		      alarm_short(json_string_value(json_object_get(a, "kind"))), who,
		      str_or(json_object_get(a, "text"), ""));
		attroff(color(C_RED) | A_BOLD);
	}
	free(sorted);
	for (size_t k = s->nevents; k > 0 && line < end; k--) {
		const struct mon_event *e = &s->events[k - 1];
		attr_t a = e->kind == MON_EV_CALL    ? color(C_YELLOW) | A_BOLD
			   : e->kind == MON_EV_ALARM ? color(C_RED) | A_BOLD
			   : e->kind == MON_EV_ERROR ? color(C_RED)
			   : e->kind == MON_EV_INFO  ? color(C_DIM)
						     : A_NORMAL;
		attron(a);
		cellf(line++, 0, COLS, "   %s %s", e->time, e->text);
		attroff(a);
	}
}

static void status_line(const struct mon_view *v)
{
	int y = LINES - 1;
	if (v->prompt) {
		attron(A_BOLD);
		cellf(y, 0, COLS, "%s%s_", v->prompt, v->input ? v->input : "");
		attroff(A_BOLD);
		return;
	}
	/* Right: what the listen-in does; the reminder that it needs
	 * --config gives way to a message. */
	const char *r = v->listen_status && v->listen_status[0] ? v->listen_status
			: !v->can_listen && !v->message		? "listen: needs --config"
								: "";
	char right[160];
	snprintf(right, sizeof right, "  %s ", r);
	int rw = (int)strlen(right);
	if (rw > COLS / 2)
		rw = COLS / 2;
	if (rw < 1)
		rw = 1;
	if (v->message) {
		attron(A_BOLD);
		cell(y, 0, v->message, COLS - rw);
		attroff(A_BOLD);
	} else {
		attron(color(C_DIM));
		cell(y, 0, "Up/Down select  Enter listen  s stop  f floor  q quit", COLS - rw);
		attroff(color(C_DIM));
	}
	attron(color(C_GREEN));
	/* not the very last cell: curses would scroll */
	cell(y, COLS - rw, right, rw - 1);
	attroff(color(C_GREEN));
}

static void unreachable(int y, const struct mon_snapshot *s, const struct mon_view *v)
{
	double down = mon_now() - s->link_since;
	attron(color(C_RED) | A_BOLD);
	switch (s->link) {
	case MON_LINK_DOWN:
		cellf(y, 0, COLS, "  The engine at %s is unreachable", v->url);
		attroff(A_BOLD);
		cellf(y + 1, 0, COLS, "  %s", s->why);
		cellf(y + 2, 0, COLS, "  Reconnecting by itself, every second (down for %.0f s)",
		      down);
		break;
	case MON_LINK_REFUSED:
		cellf(y, 0, COLS, "  The engine at %s refuses the token", v->url);
		attroff(A_BOLD);
		cellf(y + 1, 0, COLS, "  %s", s->why);
		cellf(y + 2, 0, COLS, "  Trying again every 5 s (check --token-file)");
		break;
	default:
		attroff(color(C_RED) | A_BOLD);
		cellf(y, 0, COLS, "  Connecting to %s ...", v->url);
		break;
	}
	attroff(color(C_RED) | A_BOLD);
}

/* Remote delegates (GET /api/v1/listeners "remote"), in at most rows lines
 * (heading included); returns the lines used. */
static int remote_panel(int y, int rows, const struct mon_snapshot *s)
{
	json_t *list = json_object_get(s->doc[MON_DOC_LISTENERS], "remote");
	size_t n = json_array_size(list);
	if (n == 0 || rows < 2)
		return 0;
	attron(color(C_HEAD) | A_BOLD);
	cellf(y, 0, COLS, "%-24s %-6s %6s %7s %7s  %s", "REMOTE DELEGATE", "CHAN", "LOSS", "JITTER",
	      "RTT", "ADDRESS");
	attroff(color(C_HEAD) | A_BOLD);
	int used = 1;
	for (size_t i = 0; i < n && used < rows; i++, used++) {
		json_t *r = json_array_get(list, i);
		if (used == rows - 1 && i + 1 < n) {
			cellf(y + used, 0, COLS, "+%zu more remote delegates", n - i);
			used++;
			break;
		}
		double loss = json_number_value(json_object_get(r, "loss")) * 100;
		json_t *rtt = json_object_get(r, "rtt_ms");
		json_t *addr = json_object_get(r, "address");
		char rtt_s[16];
		if (json_is_number(rtt))
			snprintf(rtt_s, sizeof rtt_s, "%.0fms", json_number_value(rtt));
		else
			snprintf(rtt_s, sizeof rtt_s, "-");
		if (loss > 5)
			attron(color(C_RED) | A_BOLD);
		if (json_is_null(addr))
			attron(color(C_DIM));
		cellf(y + used, 0, COLS, "%-24.24s %-6.6s %5.1f%% %5.1fms %7s  %s",
		      str_or(json_object_get(r, "name"), "?"),
		      str_or(json_object_get(r, "channel"), "-"), loss,
		      json_number_value(json_object_get(r, "jitter_ms")), rtt_s,
		      json_is_string(addr) ? json_string_value(addr) : "(no hello)");
		attroff(color(C_RED) | A_BOLD);
		attroff(color(C_DIM));
	}
	return used;
}

void mon_view_draw(const struct mon_snapshot *s, const struct mon_view *v)
{
	erase();
	if (LINES < 6 || COLS < 40) {
		mvaddstr(0, 0, "dragoman-monitor: the terminal is too small");
		return;
	}
	title(s, v);
	json_t *st = s->doc[MON_DOC_STATE];
	json_t *channels = json_object_get(st, "channels");
	json_t *consoles = json_object_get(st, "consoles");
	size_t nch = json_array_size(channels), nco = json_array_size(consoles);

	/* Lines: title, body..., status. The channels come first, then the
	 * consoles, then alarms and calls get what is left (3 lines at least
	 * when the consoles can give them up). */
	int body = LINES - 2, y = 1;
	if (!st || s->link != MON_LINK_UP) {
		unreachable(y, s, v);
		alarms_and_calls(y + 4, body - 4, s);
		status_line(v);
		return;
	}
	int per_row = COLS / CONSOLE_CELL;
	if (per_row < 1)
		per_row = 1;
	int cw = COLS / per_row;
	int ch_rows = 1 + (int)nch;
	int co_rows = nco ? 1 + (int)((nco + (size_t)per_row - 1) / (size_t)per_row) : 0;
	int ev_min = 3;
	if (ch_rows > body - 1)
		ch_rows = body - 1;
	if (co_rows > body - ch_rows - ev_min)
		co_rows = body - ch_rows - ev_min;
	if (co_rows < 2)
		co_rows = body - ch_rows >= 2 && nco ? 2 : 0;
	if (co_rows > body - ch_rows)
		co_rows = body - ch_rows;

	/* channels, scrolled so that the selection is visible */
	struct columns c = channel_columns(channels);
	channel_heading(y++, &c);
	int visible = ch_rows - 1, first = 0, sel = -1;
	for (size_t i = 0; i < nch; i++)
		if (v->selected &&
		    strcmp(v->selected,
			   str_or(json_object_get(json_array_get(channels, i), "id"), "")) == 0)
			sel = (int)i;
	if (sel >= visible)
		first = sel - visible + 1;
	for (int i = 0; i < visible && (size_t)(first + i) < nch; i++)
		channel_row(y + i, &c, s, v, json_array_get(channels, (size_t)(first + i)));
	y += visible;

	if (co_rows > 0) {
		struct ccols cc = console_columns(cw, consoles);
		for (int k = 0; k < per_row && (size_t)k < nco; k++)
			console_heading(y, k * cw, &cc);
		y++;
		size_t shown = (size_t)(co_rows - 1) * (size_t)per_row;
		if (shown < nco && shown > 0)
			shown--; /* room for "+N more" */
		for (size_t i = 0; i < nco && i < shown; i++)
			console_cell(y + (int)(i / (size_t)per_row),
				     (int)(i % (size_t)per_row) * cw, &cc, s,
				     json_array_get(consoles, i));
		if (shown < nco)
			cellf(y + (int)(shown / (size_t)per_row),
			      (int)(shown % (size_t)per_row) * cw, cw, "+%zu more consoles",
			      nco - shown);
		y += co_rows - 1;
	}
	y += remote_panel(y, LINES - 1 - y - 3, s);
	alarms_and_calls(y, LINES - 1 - y, s);
	status_line(v);
}
