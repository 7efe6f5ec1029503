/* dragoman-monitor: the technician's console in a terminal. Every channel
 * with what is on air, its level, listeners, loss and alarms; the consoles;
 * the latest alarms and calls; listen-in to any channel; the floor language.
 * The engine's control API is the only source (model.c); the screen is
 * ncurses (view.c); listening is the receive path of every listener
 * (listen.c). */
#include "listen.h"
#include "model.h"
#include "tls_pin.h"
#include "view.h"

#include "dragoman/error.h"
#include "dragoman/log.h"

#include <curl/curl.h>

#include "token.h"
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROG "dragoman-monitor"
#define DEFAULT_URL "http://127.0.0.1:8470"
#define TOKEN_MAX DM_CLIENT_TOKEN_MAX
#define FRAME_MS 100  /* the screen is redrawn at least this often */
#define MESSAGE_S 6.0 /* how long a message stays on the last line */
#define STDERR_PIPE_SZ (1 << 20)
#define PA_PREFIX "dragoman-listen: " /* out_pa.c's messages */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fputs("usage: " PROG " [--url URL] [--token-file F] [--ca-file F | --pin SHA256]\n"
	      "                        [--config FILE]\n"
	      "\n"
	      "The technician's console: every channel (on air, level, listeners, loss,\n"
	      "alarms), the consoles, the latest alarms and calls, refreshed 10 times a second.\n"
	      "\n"
	      "  --url URL        the engine's control API (default " DEFAULT_URL ")\n"
	      "  --token-file F   bearer token, first line of F (default $DRAGOMAN_TOKEN_FILE,\n"
	      "                   else ~/.config/dragoman/token); a technician's token\n"
	      "  --ca-file F      HTTPS: trust the engine's certificate through this CA file\n"
	      "  --pin SHA256     HTTPS: or by its SHA-256 fingerprint (openssl x509\n"
	      "                   -noout -fingerprint -sha256), for a self-signed one\n"
	      "  --config FILE    the conference (and so its secret): needed to listen\n"
	      "\n"
	      "keys: Up/Down select a channel, Enter listen to it (PortAudio's default\n"
	      "output; Enter again stops), s stop listening, f set the floor language,\n"
	      "q quit.\n",
	      f);
}

struct app {
	const char *url;
	struct mon_model *model;
	struct mon_listen *listen; /* NULL without --config */
	int wake[2];		   /* the model's threads say "redraw" */
	int err_pipe;		   /* our stderr while the screen is up */
	int saved_stderr;
	bool forward_stderr; /* the real stderr is a file: copy everything there */
	char errline[1024];
	size_t errlen;

	char selected[64];
	char message[256];
	double message_at;
	bool prompting;
	char input[64];
	size_t input_len;
};

static void wake(void *user)
{
	struct app *a = user;
	char c = 1;
	/* Non-blocking: a full pipe already means "redraw". */
	if (write(a->wake[1], &c, 1) < 0 && errno != EAGAIN)
		return;
}

static void say(struct app *a, enum mon_event_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct app *a, enum mon_event_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->message, sizeof a->message, fmt, ap);
	va_end(ap);
	a->message_at = mon_now();
	mon_model_note(a->model, kind, "%s", a->message);
}

/* The library's log (the receiver's warnings) goes to the event log. */
static void on_log(void *user, enum dm_log_level level, const char *msg)
{
	struct app *a = user;
	mon_model_note(a->model, level <= DM_LOG_ERROR ? MON_EV_ERROR : MON_EV_INFO, "%s", msg);
}

/* ------------------------------------------------------ stderr capture */

/* While the screen is up, whatever writes to stderr (out_pa.c, PortAudio,
 * ALSA, libjack) would scribble over it: stderr becomes a pipe that the main
 * loop reads. out_pa.c's lines become messages; the rest is noise on a
 * terminal, and is copied through when stderr is a file. */
static int capture_stderr(struct app *a)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	fcntl(p[0], F_SETPIPE_SZ, STDERR_PIPE_SZ);
	a->saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (a->saved_stderr < 0 || dup2(p[1], STDERR_FILENO) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	a->forward_stderr = !isatty(a->saved_stderr);
	a->err_pipe = p[0];
	return 0;
}

static void stderr_line(struct app *a, char *line)
{
	if (a->forward_stderr) {
		dprintf(a->saved_stderr, "%s\n", line);
	}
	if (strncmp(line, PA_PREFIX, strlen(PA_PREFIX)) == 0)
		say(a, MON_EV_ERROR, "listen: %s", line + strlen(PA_PREFIX));
}

static void read_stderr(struct app *a)
{
	char buf[4096];
	ssize_t n;
	while (a->err_pipe >= 0 && (n = read(a->err_pipe, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || a->errlen + 1 >= sizeof a->errline) {
				a->errline[a->errlen] = '\0';
				stderr_line(a, a->errline);
				a->errlen = 0;
				if (buf[i] == '\n')
					continue;
			}
			a->errline[a->errlen++] = buf[i];
		}
	}
}

static void restore_stderr(struct app *a)
{
	if (a->err_pipe < 0)
		return;
	fflush(stderr);
	read_stderr(a);
	dup2(a->saved_stderr, STDERR_FILENO);
	close(a->saved_stderr);
	close(a->err_pipe);
	a->err_pipe = -1;
}

/* ------------------------------------------------------------ actions */

/* Moves the selection by delta channels (clamped); selects the first
 * channel when none (or a vanished one) was. */
static void select_channel(struct app *a, int delta)
{
	const char *ids[256];
	const struct mon_snapshot *s = mon_model_lock(a->model);
	size_t n = mon_view_channels(s, ids, 256);
	if (n > 256)
		n = 256;
	int cur = -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(ids[i], a->selected) == 0)
			cur = (int)i;
	if (n) {
		int next = cur < 0 ? 0 : cur + delta;
		if (next < 0)
			next = 0;
		if (next >= (int)n)
			next = (int)n - 1;
		snprintf(a->selected, sizeof a->selected, "%s", ids[next]);
	}
	mon_model_unlock(a->model);
}

static void listen_toggle(struct app *a)
{
	if (!a->listen) {
		say(a, MON_EV_ERROR,
		    "listening needs --config FILE (the conference and its secret)");
		return;
	}
	if (!a->selected[0]) {
		say(a, MON_EV_ERROR, "no channel selected");
		return;
	}
	const char *now = mon_listen_channel(a->listen);
	if (now && strcmp(now, a->selected) == 0) {
		mon_listen_stop(a->listen);
		say(a, MON_EV_INFO, "stopped listening to %s", a->selected);
		return;
	}
	char msg[256];
	int rc = mon_listen_play(a->listen, a->selected, msg, sizeof msg);
	/* The device's own complaint (stderr) is more precise: read it first. */
	read_stderr(a);
	say(a, rc < 0 ? MON_EV_ERROR : MON_EV_INFO, "%s", msg);
}

static void floor_submit(struct app *a)
{
	a->prompting = false;
	const char *target = a->input_len ? a->input : a->selected;
	if (!target[0]) {
		say(a, MON_EV_ERROR, "floor: no channel given");
		return;
	}
	char msg[256];
	mon_model_set_floor(a->model, strcmp(target, "none") == 0 ? NULL : target, msg, sizeof msg);
	say(a, MON_EV_INFO, "%s", msg);
}

/* Returns false to quit. */
static bool on_key(struct app *a, int key)
{
	if (a->prompting) {
		if (key == '\n' || key == '\r' || key == KEY_ENTER) {
			floor_submit(a);
		} else if (key == 27) { /* Esc */
			a->prompting = false;
		} else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
			if (a->input_len)
				a->input[--a->input_len] = '\0';
		} else if (key >= 0x20 && key < 0x7f && a->input_len + 1 < sizeof a->input) {
			a->input[a->input_len++] = (char)key;
			a->input[a->input_len] = '\0';
		}
		return true;
	}
	switch (key) {
	case 'q':
	case 'Q': return false;
	case KEY_UP:
	case 'k': select_channel(a, -1); break;
	case KEY_DOWN:
	case 'j': select_channel(a, 1); break;
	case KEY_PPAGE:
	case KEY_HOME: select_channel(a, -1000); break;
	case KEY_NPAGE:
	case KEY_END: select_channel(a, 1000); break;
	case '\n':
	case '\r':
	case KEY_ENTER: listen_toggle(a); break;
	case 's':
		if (a->listen && mon_listen_channel(a->listen)) {
			char id[64];
			snprintf(id, sizeof id, "%s", mon_listen_channel(a->listen));
			mon_listen_stop(a->listen);
			say(a, MON_EV_INFO, "stopped listening to %s", id);
		}
		break;
	case 'f':
		a->prompting = true;
		a->input_len = 0;
		a->input[0] = '\0';
		break;
	default: break;
	}
	return true;
}

static void draw(struct app *a)
{
	char prompt[160], status[160];
	snprintf(prompt, sizeof prompt,
		 "floor language: channel id, or none (Enter: %s, Esc: cancel): ",
		 a->selected[0] ? a->selected : "-");
	mon_listen_status(a->listen, status, sizeof status);
	struct mon_view v = {
		.url = a->url,
		.selected = a->selected[0] ? a->selected : NULL,
		.listening = mon_listen_channel(a->listen),
		.listen_status = status,
		.can_listen = a->listen != NULL,
		.message =
			a->message[0] && mon_now() - a->message_at < MESSAGE_S ? a->message : NULL,
		.prompt = a->prompting ? prompt : NULL,
		.input = a->input,
	};
	const struct mon_snapshot *s = mon_model_lock(a->model);
	mon_view_draw(s, &v);
	mon_model_unlock(a->model);
	refresh();
}

static void run(struct app *a)
{
	for (;;) {
		if (!a->selected[0])
			select_channel(a, 0);
		draw(a);
		struct pollfd p[3] = {
			{.fd = STDIN_FILENO, .events = POLLIN},
			{.fd = a->wake[0], .events = POLLIN},
			{.fd = a->err_pipe, .events = POLLIN},
		};
		poll(p, 3, FRAME_MS);
		if (stop_requested)
			return;
		if (p[1].revents & POLLIN) {
			char buf[64];
			while (read(a->wake[0], buf, sizeof buf) > 0)
				;
		}
		if (p[2].revents & POLLIN)
			read_stderr(a);
		int key;
		while ((key = getch()) != ERR) {
			if (!on_key(a, key))
				return;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"token-file", required_argument, NULL, 't'},
		{"config", required_argument, NULL, 'c'},
		{"ca-file", required_argument, NULL, 'a'},
		{"pin", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *url_arg = DEFAULT_URL, *token_file = NULL, *config = NULL, *ca_file = NULL;
	uint8_t pin[DM_TLS_PIN_LEN];
	bool have_pin = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'u': url_arg = optarg; break;
		case 't': token_file = optarg; break;
		case 'c': config = optarg; break;
		case 'a': ca_file = optarg; break;
		case 'p':
			if (dm_tls_pin_parse(optarg, pin) < 0) {
				fprintf(stderr, PROG ": bad --pin '%s': 64 hex digits expected\n",
					optarg);
				return 2;
			}
			have_pin = true;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	char url[1024];
	size_t n = strlen(url_arg);
	while (n && url_arg[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof url) {
		fprintf(stderr, PROG ": bad --url '%s'\n", url_arg);
		return 2;
	}
	memcpy(url, url_arg, n);
	url[n] = '\0';

	char token[TOKEN_MAX + 1], auth[TOKEN_MAX + 32];
	int trc = dm_client_token(PROG, token_file, token, sizeof token);
	if (trc)
		return trc;
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
	memset(token, 0, sizeof token);

	struct app a = {.url = url, .err_pipe = -1, .saved_stderr = -1};
	if (config && mon_listen_new(config, &a.listen) < 0) {
		fprintf(stderr, PROG ": cannot listen with %s (see above)\n", config);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, PROG ": cannot start libcurl\n");
		mon_listen_free(a.listen);
		return 1;
	}
	int ret = 1;
	if (pipe2(a.wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
		goto out_curl;
	}
	struct mon_model_params mp = {.url = url,
				      .auth = auth,
				      .ca_file = ca_file,
				      .pin = have_pin ? pin : NULL,
				      .wake = wake,
				      .user = &a};
	if (mon_model_new(&mp, &a.model) < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out_pipe;
	}
	memset(auth, 0, sizeof auth);
	dm_log_set(on_log, &a, DM_LOG_WARN);

	setlocale(LC_ALL, "");
	SCREEN *scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		fprintf(stderr, PROG ": cannot drive this terminal (TERM=%s)\n",
			getenv("TERM") ? getenv("TERM") : "");
		goto out_model;
	}
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	mon_view_init();

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (capture_stderr(&a) < 0) {
		endwin();
		fprintf(stderr, PROG ": cannot redirect stderr: %s\n", strerror(errno));
		goto out_screen;
	}
	if (mon_model_start(a.model) < 0) {
		restore_stderr(&a);
		endwin();
		fprintf(stderr, PROG ": cannot start threads\n");
		goto out_screen;
	}
	run(&a);
	ret = 0;
	mon_listen_stop(a.listen); /* closes the device while stderr is still ours */
	endwin();
	restore_stderr(&a);
out_screen:
	delscreen(scr);
out_model:
	dm_log_set(NULL, NULL, DM_LOG_ERROR);
	mon_model_free(a.model);
out_pipe:
	close(a.wake[0]);
	close(a.wake[1]);
out_curl:
	mon_listen_free(a.listen);
	curl_global_cleanup();
	return ret;
}
