/* atoll-vmm: run one domain.  See docs/vm-config.md for the description
 * format and the exit codes. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "backends/chardev.h"
#include "boot/kernel_image.h"
#include "config.h"
#include "log.h"
#include "sandbox.h"
#include "vm.h"

enum {
	EXIT_POWEROFF = 0,
	EXIT_VMM_ERROR = 1,
	EXIT_REBOOT = 2,
	EXIT_CRASH = 3,
	EXIT_FORCED = 4,
};

static struct termios saved_tty;
static bool tty_saved;

static void restore_tty(void)
{
	if (tty_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
}

/* Signals go to the event loop's signalfd (and SIGUSR1 only to vCPU
 * threads, which unblock it), so block them before any thread starts. */
static void block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Boot the domain again from scratch: a fresh process is the surest
 * reset of every device and of KVM's state. */
static void restart(char **argv)
{
	const char *count = getenv("ATOLL_VMM_BOOT_COUNT");
	char next[24];
	snprintf(next, sizeof(next), "%d", (count ? atoi(count) : 1) + 1);
	setenv("ATOLL_VMM_BOOT_COUNT", next, 1);
	log_info("restarting the domain");
	chardev_flush_all();
	restore_tty();
	execv("/proc/self/exe", argv);
	log_error("cannot restart: exec /proc/self/exe: %s", strerror(errno));
	exit(EXIT_VMM_ERROR);
}

static void preserve(void)
{
	sigset_t set;
	int sig;
	log_info("keeping the stopped domain for inspection (on_* = preserve); "
		 "send SIGTERM to end it");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigwait(&set, &sig);
}

static int apply(enum lifecycle_action action, int code, char **argv)
{
	if (action == ACTION_RESTART)
		restart(argv);
	if (action == ACTION_PRESERVE)
		preserve();
	return code;
}

static int finish(const struct vm_config *cfg, enum vm_exit_reason reason,
		  const char *err, char **argv)
{
	switch (reason) {
	case VM_EXIT_POWEROFF:
		log_info("the guest powered off");
		return apply(cfg->on_poweroff, EXIT_POWEROFF, argv);
	case VM_EXIT_REBOOT:
		log_info("the guest rebooted (on_reboot = %s)",
			 lifecycle_action_name(cfg->on_reboot));
		return apply(cfg->on_reboot, EXIT_REBOOT, argv);
	case VM_EXIT_CRASH:
		log_error("the guest crashed (on_crash = %s)",
			  lifecycle_action_name(cfg->on_crash));
		return apply(cfg->on_crash, EXIT_CRASH, argv);
	case VM_EXIT_FORCED:
		log_info("the domain was forced off");
		return EXIT_FORCED;
	default:
		log_error("%s", err[0] ? err : "the VMM failed (see above)");
		return EXIT_VMM_ERROR;
	}
}

int main(int argc, char **argv)
{
	struct vm_config cfg;
	struct vm vm;
	char err[512] = "";

	if (argc == 3 && !strcmp(argv[1], "--prepare-kernel")) {
		if (kernel_image_prepare(argv[2], NULL, err, sizeof(err)) < 0) {
			fprintf(stderr, "atoll-vmm: %s\n", err);
			return EXIT_VMM_ERROR;
		}
		char *dir = kernel_cache_dir();
		printf("atoll-vmm: %s is prepared in %s\n", argv[2], dir);
		free(dir);
		return 0;
	}
	tty_saved = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tty) == 0;
	block_signals();
	vm_config_init(&cfg);
	int ret = vm_config_parse_args(&cfg, argc, argv, err, sizeof(err));
	if (ret == 1)
		return 0;
	if (ret < 0 || vm_config_validate(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "atoll-vmm: %s\nTry 'atoll-vmm --help'.\n", err);
		return EXIT_VMM_ERROR;
	}
	log_set_prefix(cfg.name ? cfg.name : "atoll-vmm");

	enum vm_exit_reason reason = VM_EXIT_ERROR;
	/* The sandbox goes on once the VM is built (devices and backends are
	 * open) and before the guest runs a single instruction. */
	if (vm_create(&vm, &cfg, err, sizeof(err)) == 0 &&
	    (cfg.no_sandbox || sandbox_enter(err, sizeof(err)) == 0))
		reason = vm_run(&vm, err, sizeof(err));
	vm_destroy(&vm);
	restore_tty();
	int code = finish(&cfg, reason, err, argv);
	vm_config_free(&cfg);
	return code;
}
