/* The VMM's sandbox: once the VM is built, the process may no longer do
 * what a VMM never needs (load kernel modules, mount, trace other
 * processes, change the clock, ...), whatever the guest makes it do. */
#ifndef ATOLL_SANDBOX_H
#define ATOLL_SANDBOX_H

#include <stddef.h>

/* Set no_new_privs and install a seccomp filter on every thread of the
 * process (present and future).  Denied calls fail with EPERM rather than
 * killing the VMM, so a library that probes one keeps working. */
int sandbox_enter(char *err, size_t errlen);

#endif
