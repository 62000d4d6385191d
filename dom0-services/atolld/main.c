/* atolld: the dom0 daemon.  See docs/atolld.md. */
#include "atolld.h"
#include "usb_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef ATOLL_VMM_DEFAULT
#define ATOLL_VMM_DEFAULT "/usr/local/bin/atoll-vmm"
#endif

static gboolean on_signal(gpointer loop)
{
	/* Only the daemon stops: VMMs keep running and are re-adopted by the
	 * next atolld. */
	g_message("stopping (running domains keep running)");
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

/* Forks into the background before GLib starts any thread; the parent
 * exits once the child reports (through the pipe) that it is serving, so
 * `atolld && atoll list` works and startup errors give a failure status. */
static int detach(void)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		char c;
		_exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	return p[1];
}

static char *default_vmm(void)
{
	const char *env = g_getenv("ATOLL_VMM");
	return g_strdup(env && *env ? env : ATOLL_VMM_DEFAULT);
}

/* Runs the daemon until SIGTERM/SIGINT; returns the exit status. */
static int serve(const char *state_dir, const char *run_dir, const char *vmm,
		 bool foreground)
{
	/* stderr stays open: the log goes where the caller sent it. */
	int ready = foreground ? -1 : detach();
	if (!foreground && ready < 0)
		g_warning("cannot detach: %s — staying in the foreground",
			  g_strerror(errno));
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGTERM, on_signal, loop);
	g_unix_signal_add(SIGINT, on_signal, loop);
	signal(SIGPIPE, SIG_IGN);

	g_autoptr(GError) err = NULL;
	Atolld *d = atolld_new(state_dir, run_dir, vmm, &err);
	if (!d) {
		g_printerr("atolld: %s\n", err->message);
		return 1;
	}
	store_load_all(d);
#ifdef ATOLLD_HAVE_SUPERVISOR
	supervisor_adopt_all(d);
#endif
	if (!api_start(d, &err)) {
		g_printerr("atolld: %s\n", err->message);
		atolld_free(d);
		return 1;
	}
	usb_watch_start(d);
	atolld_autostart(d);
	if (ready >= 0) {
		if (write(ready, "1", 1) != 1)
			g_warning("cannot tell the parent process that atolld is ready");
		close(ready);
	}
	g_message("listening on %s/atolld.sock, %u domains", run_dir,
		  g_hash_table_size(d->domains));
	g_main_loop_run(loop);
	atolld_free(d);
	return 0;
}

int main(int argc, char **argv)
{
	g_autofree char *state_dir = NULL, *run_dir = NULL, *vmm = NULL;
	gboolean foreground = FALSE;
	GOptionEntry entries[] = {
		{ "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir,
		  "Definitions and images (default /var/lib/atoll)", "DIR" },
		{ "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &run_dir,
		  "Socket and VMM runtime files (default /run/atoll)", "DIR" },
		{ "vmm", 0, 0, G_OPTION_ARG_FILENAME, &vmm,
		  "The atoll-vmm binary (default $ATOLL_VMM or " ATOLL_VMM_DEFAULT ")",
		  "PATH" },
		{ "foreground", 0, 0, G_OPTION_ARG_NONE, &foreground,
		  "Stay in the foreground (log to stderr)", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- the Atoll daemon");
	g_option_context_add_main_entries(ctx, entries, NULL);
	g_autoptr(GError) err = NULL;
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		g_printerr("atolld: %s (see atolld --help)\n", err->message);
		return 2;
	}
	if (!state_dir)
		state_dir = g_strdup("/var/lib/atoll");
	if (!run_dir)
		run_dir = g_strdup("/run/atoll");
	if (!vmm)
		vmm = default_vmm();
	if (access(vmm, X_OK) < 0)
		g_warning("%s is not executable: domains cannot start — install "
			  "atoll-vmm or pass --vmm PATH", vmm);

	return serve(state_dir, run_dir, vmm, foreground);
}
