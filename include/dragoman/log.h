/* dragoman: logging. Library code never prints; it reports through the
 * callback installed here. */
#ifndef DRAGOMAN_LOG_H
#define DRAGOMAN_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum dm_log_level { DM_LOG_ERROR = 0, DM_LOG_WARN = 1, DM_LOG_INFO = 2, DM_LOG_DEBUG = 3 };

/* A log sink. Called from whichever thread logs (never from a JACK process
 * callback: real-time code counts instead of logging). msg is only valid during
 * the call. */
typedef void (*dm_log_fn)(void *user, enum dm_log_level level, const char *msg);

/* Installs the process-wide log sink (NULL: drop everything) and the most
 * verbose level that reaches it. Call before starting threads. */
void dm_log_set(dm_log_fn fn, void *user, enum dm_log_level max_level);

/* Formats and delivers one message if level passes the filter. Thread-safe as
 * long as the sink is. Never call from real-time code. */
void dm_log(enum dm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A ready-made sink that writes "prefix: level: msg" lines to stderr;
 * user is the prefix (a const char *), or NULL. For executables. */
void dm_log_stderr(void *user, enum dm_log_level level, const char *msg);

#ifdef __cplusplus
}
#endif
#endif
