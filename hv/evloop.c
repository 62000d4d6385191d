#include "evloop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct evloop_watch {
	int fd;
	bool owns_fd;       /* timers own their timerfd */
	bool repeat;
	bool removed;
	struct evloop_watch *next_dead;
	evloop_fn fn;
	void *opaque;
};

int evloop_init(struct evloop *loop)
{
	loop->stop = false;
	loop->dead = NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd < 0 ? -errno : 0;
}

static void free_dead(struct evloop *loop);

void evloop_destroy(struct evloop *loop)
{
	free_dead(loop);
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

struct evloop_watch *evloop_add(struct evloop *loop, int fd, uint32_t events,
				evloop_fn fn, void *opaque)
{
	struct evloop_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	*w = (struct evloop_watch){ .fd = fd, .fn = fn, .opaque = opaque };
	struct epoll_event ev = { .events = events, .data.ptr = w };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		free(w);
		errno = e;
		return NULL;
	}
	return w;
}

int evloop_modify(struct evloop *loop, struct evloop_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void evloop_remove(struct evloop *loop, struct evloop_watch *w)
{
	if (!w)
		return;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	if (w->owns_fd)
		close(w->fd);
	/* Other events for w may still sit in the batch being dispatched:
	 * free it only after the batch. */
	w->removed = true;
	w->next_dead = loop->dead;
	loop->dead = w;
}

static void free_dead(struct evloop *loop)
{
	while (loop->dead) {
		struct evloop_watch *w = loop->dead;
		loop->dead = w->next_dead;
		free(w);
	}
}

static void timer_fired(void *opaque, uint32_t events)
{
	(void)events;
	struct evloop_watch *w = opaque;
	uint64_t n;
	if (read(w->fd, &n, sizeof(n)) != sizeof(n))
		return;
	w->fn(w->opaque, EPOLLIN);
}

struct evloop_watch *evloop_timer(struct evloop *loop, uint64_t ms, bool repeat,
				  evloop_fn fn, void *opaque)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0)
		return NULL;
	struct itimerspec its = {
		.it_value = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 },
	};
	if (repeat)
		its.it_interval = its.it_value;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		close(fd);
		return NULL;
	}
	/* The epoll entry points at an inner watch that reads the timerfd and
	 * then calls the user's function; the caller holds the inner one. */
	struct evloop_watch *w = calloc(1, sizeof(*w));
	if (!w) {
		close(fd);
		return NULL;
	}
	*w = (struct evloop_watch){ .fd = fd, .owns_fd = true, .repeat = repeat,
				    .fn = fn, .opaque = opaque };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		free(w);
		return NULL;
	}
	return w;
}

int evloop_run_once(struct evloop *loop, int timeout_ms)
{
	struct epoll_event evs[32];
	int n = epoll_wait(loop->epfd, evs, 32, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n && !loop->stop; i++) {
		struct evloop_watch *w = evs[i].data.ptr;
		if (w->removed)
			continue;
		if (w->owns_fd)
			timer_fired(w, evs[i].events);
		else
			w->fn(w->opaque, evs[i].events);
	}
	free_dead(loop);
	return n;
}

int evloop_run(struct evloop *loop)
{
	while (!loop->stop) {
		int ret = evloop_run_once(loop, -1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void evloop_stop(struct evloop *loop)
{
	loop->stop = true;
}
