/* The VMM's event loop: epoll on the main thread.  Device queue work,
 * console input, timers and signals run here, never on a vCPU thread. */
#ifndef ATOLL_EVLOOP_H
#define ATOLL_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

typedef void (*evloop_fn)(void *opaque, uint32_t events);

struct evloop_watch;

struct evloop {
	int epfd;
	volatile bool stop;
	struct evloop_watch *dead; /* removed during dispatch, freed after it */
};

int evloop_init(struct evloop *loop);
void evloop_destroy(struct evloop *loop);
/* Watch `fd` for `events` (EPOLLIN...).  Returns NULL with errno set. */
struct evloop_watch *evloop_add(struct evloop *loop, int fd, uint32_t events,
				evloop_fn fn, void *opaque);
int evloop_modify(struct evloop *loop, struct evloop_watch *w, uint32_t events);
void evloop_remove(struct evloop *loop, struct evloop_watch *w);

/* A timer: fires fn once after `ms` (periodic if `repeat`).  Returns NULL
 * with errno set. */
struct evloop_watch *evloop_timer(struct evloop *loop, uint64_t ms, bool repeat,
				  evloop_fn fn, void *opaque);

/* Wait up to timeout_ms (-1: forever) and dispatch one batch of events.
 * Returns the number of events dispatched or a negative errno. */
int evloop_run_once(struct evloop *loop, int timeout_ms);
/* Run until evloop_stop(); returns 0. */
int evloop_run(struct evloop *loop);
void evloop_stop(struct evloop *loop);

#endif
