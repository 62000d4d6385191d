#include "sandbox.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

/* System calls no part of a running VMM makes.  A deny list, not an allow
 * list: the VMM links GLib, json-glib and (with SPICE) a large library
 * stack whose exact system calls vary between versions, and a missed
 * entry in an allow list would kill a running domain.  An allow list is
 * the next step once the VMM's dependencies are pinned down. */
static const char *const denied[] = {
	"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
	"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	"init_module", "finit_module", "delete_module",
	"kexec_load", "kexec_file_load", "reboot",
	"ptrace", "process_vm_readv", "process_vm_writev",
	"bpf", "perf_event_open", "userfaultfd",
	"keyctl", "add_key", "request_key",
	"unshare", "setns",
	"swapon", "swapoff", "acct", "quotactl",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"iopl", "ioperm", "open_by_handle_at", "name_to_handle_at",
	"personality", "lookup_dcookie", "syslog", "vhangup",
	"sethostname", "setdomainname", "uselib",
};

int sandbox_enter(char *err, size_t errlen)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "sandbox: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		snprintf(err, errlen, "sandbox: seccomp_init failed");
		return -1;
	}
	int ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (size_t i = 0; !ret && i < sizeof(denied) / sizeof(denied[0]); i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);
		/* Names this libseccomp or architecture does not know are
		 * simply absent here. */
		if (nr != __NR_SCMP_ERROR)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
	}
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret) {
		snprintf(err, errlen, "sandbox: cannot install the seccomp filter: %s — "
			 "run with --no-sandbox to go without (not recommended)",
			 strerror(-ret));
		return -1;
	}
	return 0;
}
