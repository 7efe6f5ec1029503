#include "dragoman/log.h"

#include <stdarg.h>
#include <stdio.h>

static dm_log_fn log_fn;
static void *log_user;
static enum dm_log_level log_max = DM_LOG_INFO;

void dm_log_set(dm_log_fn fn, void *user, enum dm_log_level max_level)
{
	log_fn = fn;
	log_user = user;
	log_max = max_level;
}

void dm_log(enum dm_log_level level, const char *fmt, ...)
{
	if (!log_fn || level > log_max)
		return;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	log_fn(log_user, level, buf);
}

void dm_log_stderr(void *user, enum dm_log_level level, const char *msg)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	const char *prefix = user ? (const char *)user : "dragoman";
	fprintf(stderr, "%s: %s: %s\n", prefix, names[level & 3], msg);
}
