/* The SPICE agent channel ("vdagent" char device) of a console.  Private
 * to display/. */
#ifndef ATOLL_SPICE_AGENT_H
#define ATOLL_SPICE_AGENT_H

#include <spice.h>
#include <stdbool.h>
#include <stddef.h>

struct vm;
struct spice_agent;

/* Attach the agent channel to `server`: the guest's spice-vdagent on the
 * VM's virtio-console port com.redhat.spice.0 while the guest has it open,
 * otherwise a stub inside the VMM that only takes monitor configs (so a
 * client's window size still reaches the display device).  Main thread,
 * after spice_server_init.  NULL with err filled on failure. */
struct spice_agent *spice_agent_start(SpiceServer *server, struct vm *vm,
				      char *err, size_t errlen);
/* Detach from the port and the server (before spice_server_destroy). */
void spice_agent_stop(struct spice_agent *a);
/* Whether the guest's own agent holds the channel now (then it, not the
 * display device, gets the client's monitor config). */
bool spice_agent_guest_active(const struct spice_agent *a);

#endif
