/* The VMM's control socket: JSON lines over a unix stream socket
 * (docs/vmm-control.md).  atolld supervises domains through it. */
#ifndef ATOLL_CONTROL_H
#define ATOLL_CONTROL_H

#include <stddef.h>

struct vm;
struct control;

struct control *control_open(struct vm *vm, const char *path, char *err, size_t errlen);
void control_close(struct control *c);
/* Handle one request line; returns the reply line (no newline), malloc'd.
 * Exposed for unit tests. */
char *control_handle(struct vm *vm, const char *line, size_t len);

#endif
