/* Character backends for consoles: stdio, a pty, a listening unix socket,
 * an output file.  Used by the 16550A UART and virtio-console. */
#ifndef ATOLL_CHARDEV_H
#define ATOLL_CHARDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../config.h"

struct evloop;
struct chardev;

/* Bytes typed into the console.  Runs on the event loop thread. */
typedef void (*chardev_input_fn)(void *opaque, const uint8_t *buf, size_t len);

/* Open the backend.  `what` names the user ("serial", "console") for
 * messages.  NULL with err filled on failure. */
struct chardev *chardev_open(struct evloop *loop, const struct chardev_config *cfg,
			     const char *what, char *err, size_t errlen);
void chardev_close(struct chardev *ch);
void chardev_set_input(struct chardev *ch, chardev_input_fn fn, void *opaque);
/* Stop/resume reading input (the device's buffer is full / has room). */
void chardev_accept_input(struct chardev *ch, bool accept);
/* Write guest output.  Any thread.  Never blocks indefinitely: with no
 * client connected to a socket, output is dropped. */
void chardev_write(struct chardev *ch, const void *buf, size_t len);
/* Write out what every backend still buffers (up to about a second) and
 * remove socket files: before the VMM re-executes itself, as exit does. */
void chardev_flush_all(void);
/* The pty or socket path, for messages ("serial console on /dev/pts/3"). */
const char *chardev_path(const struct chardev *ch);

#endif
