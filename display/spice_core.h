/* libspice-server's event-loop interface (SpiceCoreInterface) on the VMM's
 * epoll loop.  Private to display/. */
#ifndef ATOLL_SPICE_CORE_H
#define ATOLL_SPICE_CORE_H

#include <spice.h>

#include "evloop.h"

/* Called on the main thread for every channel connect/disconnect. */
typedef void (*spice_core_channel_fn)(int event, const SpiceChannelEventInfo *info);

/* The core interface bound to `loop`.  Spice's callbacks carry no context,
 * so one loop serves every server in the process; binding a second,
 * different loop while the first is in use fails (NULL).  Each successful
 * call must be paired with spice_core_put. */
SpiceCoreInterface *spice_core_get(struct evloop *loop, spice_core_channel_fn on_channel);
void spice_core_put(void);

#endif
