/* The SPICE console lives in a module (display/, atoll-spice.so) loaded
 * only for a domain that has one: libspice-server pulls in OpenSSL,
 * GStreamer, libstdc++ and more, about 5 MiB of resident memory that a
 * VMM without a graphical console should not carry. */
#ifndef ATOLL_SPICE_MODULE_H
#define ATOLL_SPICE_MODULE_H

#include <stddef.h>

struct vm;
struct spice_config;

/* Load the module (unless cfg says none) and start serving; 0 or -1 with
 * err filled (module missing: what to install). */
int vm_spice_start(struct vm *vm, const struct spice_config *cfg, char *err, size_t errlen);
void vm_spice_stop(struct vm *vm);
/* The URI clients connect to, or NULL without a SPICE server. */
const char *vm_spice_uri(struct vm *vm);

#endif
