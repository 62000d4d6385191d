#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static char log_prefix[80] = "atoll-vmm";
static enum log_level log_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_prefix(const char *prefix)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[1024];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line under a lock so lines from vCPU threads and the
	 * event loop never interleave; \r first because stdin may be raw. */
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "\r%s: %s: %s\n", log_prefix, names[level], line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}
