/* The VM's SPICE console: a libspice-server instance on the VMM's event
 * loop that shows the display hub's surface (hv/display.h) to SPICE
 * clients and feeds their keyboard and pointer back into the hub.
 * docs/spice.md has the user's side. */
#ifndef ATOLL_SPICE_SERVER_H
#define ATOLL_SPICE_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct spice_config;

/* Start serving vm->display as `cfg` says (nothing for SPICE_NONE).  Call
 * on the main thread after the display and input devices exist, before
 * vCPUs run.  Returns 0, or -1 with a message in err. */
int atoll_spice_start(struct vm *vm, const struct spice_config *cfg,
		      char *err, size_t errlen);
/* Stop serving; clients are disconnected.  Safe without a server. */
void atoll_spice_stop(struct vm *vm);
/* Where clients connect ("spice+unix:///run/x.sock", "spice://127.0.0.1:5900",
 * "fd:5"), or NULL without a server.  Valid until atoll_spice_stop. */
const char *atoll_spice_uri(struct vm *vm);

/* Counters for tests and the benchmark. */
struct atoll_spice_stats {
	uint64_t updates_queued;     /* QXL drawables created */
	uint64_t updates_merged;     /* times the queue was coalesced */
	uint64_t updates_released;   /* drawables spice gave back */
	uint64_t bytes_copied;       /* pixel bytes copied into drawables */
	unsigned pending;            /* drawables waiting for spice now */
	unsigned display_clients;    /* connected display channels */
};
int atoll_spice_get_stats(struct vm *vm, struct atoll_spice_stats *st);

/* Exposed for tests: PC/XT set-1 scancode (0xE0-prefixed codes as
 * 0xE000 | code, without the release bit) to a Linux KEY_* code, 0 if
 * unknown. */
uint16_t atoll_spice_xt_to_linux(uint16_t xt);

#endif
