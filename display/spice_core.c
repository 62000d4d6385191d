/* SpiceCoreInterface on the VMM's epoll loop.
 *
 * Timers are timerfds and watches plain evloop watches, all on the main
 * thread: libspice-server's own worker thread (the display channel) runs a
 * GLib loop of its own and never calls these.  channel_event is funnelled
 * to the main thread by libspice, but a lock keeps it safe either way. */
#include "spice_core.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"

struct SpiceTimer {
	int fd;
	struct evloop_watch *watch;
	SpiceTimerFunc func;
	void *opaque;
};

struct SpiceWatch {
	int fd;
	int mask;                    /* SPICE_WATCH_EVENT_* */
	struct evloop_watch *watch;  /* NULL while mask is 0 */
	SpiceWatchFunc func;
	void *opaque;
};

static pthread_mutex_t core_lock = PTHREAD_MUTEX_INITIALIZER;
static struct evloop *core_loop;
static unsigned core_users;
static spice_core_channel_fn core_on_channel;

static void timer_ready(void *opaque, uint32_t events)
{
	(void)events;
	SpiceTimer *t = opaque;
	uint64_t n;

	/* A timer cancelled after it expired but before this batch ran has
	 * nothing to read: spice asked for it not to fire. */
	if (read(t->fd, &n, sizeof(n)) != sizeof(n))
		return;
	t->func(t->opaque);
}

static SpiceTimer *timer_add(SpiceTimerFunc func, void *opaque)
{
	SpiceTimer *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->func = func;
	t->opaque = opaque;
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->fd < 0 || !(t->watch = evloop_add(core_loop, t->fd, EPOLLIN, timer_ready, t))) {
		log_error("spice: cannot create a timer: %s", strerror(errno));
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		return NULL;
	}
	return t;
}

static void timer_set(SpiceTimer *t, uint32_t ms)
{
	struct itimerspec its = {
		.it_value = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L },
	};

	/* 0 would disarm: spice's "as soon as possible" is 1 ns. */
	if (ms == 0)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(t->fd, 0, &its, NULL) < 0)
		log_warn("spice: timerfd_settime: %s", strerror(errno));
}

static void timer_start(SpiceTimer *t, uint32_t ms)
{
	timer_set(t, ms);
}

static void timer_cancel(SpiceTimer *t)
{
	struct itimerspec its = { 0 };

	if (timerfd_settime(t->fd, 0, &its, NULL) < 0)
		log_warn("spice: timerfd_settime: %s", strerror(errno));
}

static void timer_remove(SpiceTimer *t)
{
	if (!t)
		return;
	evloop_remove(core_loop, t->watch);
	close(t->fd);
	free(t);
}

static uint32_t epoll_events(int mask)
{
	return (mask & SPICE_WATCH_EVENT_READ ? EPOLLIN : 0) |
	       (mask & SPICE_WATCH_EVENT_WRITE ? EPOLLOUT : 0);
}

static void watch_ready(void *opaque, uint32_t events)
{
	SpiceWatch *w = opaque;
	int ev = 0;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		ev |= SPICE_WATCH_EVENT_READ;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		ev |= SPICE_WATCH_EVENT_WRITE;
	ev &= w->mask;
	/* One call with both events: the callback may remove the watch. */
	if (ev)
		w->func(w->fd, ev, w->opaque);
}

/* A watch with an empty mask leaves epoll altogether: epoll reports
 * hang-ups even for an empty event set, and nobody would consume them. */
static int watch_apply(SpiceWatch *w, int mask)
{
	w->mask = mask;
	if (!mask) {
		evloop_remove(core_loop, w->watch);
		w->watch = NULL;
		return 0;
	}
	if (w->watch)
		return evloop_modify(core_loop, w->watch, epoll_events(mask));
	w->watch = evloop_add(core_loop, w->fd, epoll_events(mask), watch_ready, w);
	return w->watch ? 0 : -errno;
}

static SpiceWatch *watch_add(int fd, int mask, SpiceWatchFunc func, void *opaque)
{
	SpiceWatch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	*w = (SpiceWatch){ .fd = fd, .func = func, .opaque = opaque };
	int ret = watch_apply(w, mask);
	if (ret) {
		log_error("spice: cannot watch fd %d: %s", fd, strerror(-ret));
		free(w);
		return NULL;
	}
	return w;
}

static void watch_update_mask(SpiceWatch *w, int mask)
{
	int ret = watch_apply(w, mask);
	if (ret)
		log_warn("spice: cannot update the watch on fd %d: %s", w->fd, strerror(-ret));
}

static void watch_remove(SpiceWatch *w)
{
	if (!w)
		return;
	evloop_remove(core_loop, w->watch);
	free(w);
}

static void channel_event(int event, SpiceChannelEventInfo *info)
{
	pthread_mutex_lock(&core_lock);
	spice_core_channel_fn fn = core_on_channel;
	pthread_mutex_unlock(&core_lock);
	if (fn)
		fn(event, info);
}

static SpiceCoreInterface core = {
	.base = {
		.type = SPICE_INTERFACE_CORE,
		.description = "atoll-vmm epoll loop",
		.major_version = SPICE_INTERFACE_CORE_MAJOR,
		.minor_version = SPICE_INTERFACE_CORE_MINOR,
	},
	.timer_add = timer_add,
	.timer_start = timer_start,
	.timer_cancel = timer_cancel,
	.timer_remove = timer_remove,
	.watch_add = watch_add,
	.watch_update_mask = watch_update_mask,
	.watch_remove = watch_remove,
	.channel_event = channel_event,
};

SpiceCoreInterface *spice_core_get(struct evloop *loop, spice_core_channel_fn on_channel)
{
	SpiceCoreInterface *ret = NULL;

	pthread_mutex_lock(&core_lock);
	if (!core_users || core_loop == loop) {
		core_loop = loop;
		core_on_channel = on_channel;
		core_users++;
		ret = &core;
	}
	pthread_mutex_unlock(&core_lock);
	return ret;
}

void spice_core_put(void)
{
	pthread_mutex_lock(&core_lock);
	if (core_users && --core_users == 0) {
		core_loop = NULL;
		core_on_channel = NULL;
	}
	pthread_mutex_unlock(&core_lock);
}
