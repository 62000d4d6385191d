/* Runs one atoll-vmm per running domain, watches it through a pidfd,
 * drives it through its control socket and re-adopts it after a daemon
 * restart.  A VMM never dies because atolld does: it runs in its own
 * session, writes its output straight to a file, and everything atolld
 * needs to find it again is under run_dir/vmm.  See docs/supervision.md. */
#include "vmm_client.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <glib/gstdio.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib-unix.h>

#ifdef ATOLLD_HAVE_LIBVIRT
#include "hostres.h"
#endif

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define LOG_MAX_BYTES (1024 * 1024)   /* NAME.log is rotated to NAME.log.1 beyond */
#define LOG_CHECK_S 5
#define DESTROY_GRACE_S 5             /* control "destroy", then SIGKILL */
#define SHUTDOWN_GRACE_S 10           /* beyond the VMM's own forced-off */
#define START_MARKER "atolld: starting atoll-vmm"
#define UNIX_PATH_MAX_LEN 107
#define MAX_NICS 8                    /* atoll-vmm's limit (docs/vm-config.md) */
#define PASST_WAIT_MS 5000            /* for passt's socket to appear */

static void stop_passt(const Atolld *d, const char *name);
static void child_setup(gpointer data);

static void teardown_taps(const char *name);

typedef struct {
	Domain *dom;
	int pid;
	int pidfd;
	GSource *pid_source;
	bool own_child;
	bool destroy_requested;
	bool named_taps;              /* persistent taps to delete at exit */
	VmmClient *ctl;
	char *control_path, *console_path, *pid_path, *log_path, *spice_path;
	char *spice_uri;              /* from the VMM's spice-info, or NULL */
	guint kill_timer, shutdown_timer, log_timer;
	int64_t boot_count;
	bool queried;
	const char *connect_reason;   /* for the first state event */
} Vmm;

static Vmm *vmm_of(Domain *dom)
{
	return dom ? dom->vmm : NULL;
}

VmmClient *supervisor_control(Domain *dom)
{
	Vmm *v = vmm_of(dom);
	return v ? v->ctl : NULL;
}

char *supervisor_path(const Atolld *d, const char *name, const char *suffix)
{
	return g_strdup_printf("%s/vmm/%s%s", d->run_dir, name, suffix);
}

/* ---------------------------------------------------------------- argv */

static void add(GPtrArray *argv, const char *flag, const char *value)
{
	g_ptr_array_add(argv, g_strdup(flag));
	if (value)
		g_ptr_array_add(argv, g_strdup(value));
}

/* In --disk/--net values a comma is written ",,". */
static char *escape_commas(const char *s)
{
	GString *out = g_string_new(NULL);
	for (; *s; s++) {
		g_string_append_c(out, *s);
		if (*s == ',')
			g_string_append_c(out, ',');
	}
	return g_string_free(out, FALSE);
}

static void add_disk(GPtrArray *argv, const DiskDef *disk)
{
	g_autofree char *path = escape_commas(disk->path);
	GString *v = g_string_new("path=");
	g_string_append(v, path);
	if (disk->readonly)
		g_string_append(v, ",readonly=on");
	if (disk->serial && disk->serial[0]) {
		g_autofree char *serial = escape_commas(disk->serial);
		g_string_append_printf(v, ",serial=%s", serial);
	}
	add(argv, "--disk", v->str);
	g_string_free(v, TRUE);
}

GPtrArray *supervisor_build_argv(const Atolld *d, const DomainDef *def,
				 const int *nic_fds, char *const *nic_taps,
				 GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *control = supervisor_path(d, def->name, ".control");
	g_autofree char *console = supervisor_path(d, def->name, ".console");
	g_autofree char *spice = supervisor_path(d, def->name, ".spice");
	if (strlen(control) > UNIX_PATH_MAX_LEN || strlen(console) > UNIX_PATH_MAX_LEN ||
	    strlen(spice) > UNIX_PATH_MAX_LEN) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "the socket path %s is longer than %d bytes: give atolld a "
			    "shorter run directory", control, UNIX_PATH_MAX_LEN);
		return NULL;
	}
	if (!def->kernel && !def->firmware) {
		g_set_error_literal(error, ATOLLD_ERROR, ATOLLD_ERROR_BAD_REQUEST,
				    "kernel: the domain has no kernel to boot; set one "
				    "or \"firmware\": \"uefi\" or \"bios\"");
		return NULL;
	}
	g_ptr_array_add(argv, g_strdup(d->vmm_path));
	add(argv, "--name", def->name);
	g_ptr_array_add(argv, g_strdup("--memory"));
	g_ptr_array_add(argv, g_strdup_printf("%" G_GUINT64_FORMAT, def->memory_mib));
	g_ptr_array_add(argv, g_strdup("--vcpus"));
	g_ptr_array_add(argv, g_strdup_printf("%u", def->vcpus));
	if (def->firmware)
		add(argv, "--firmware", def->firmware);
	if (def->firmware && !strcmp(def->firmware, "uefi")) {
		/* UEFI: the domain's own variable store (store.c). */
		g_autofree char *vars = store_nvram_path(d, def->name);
		if (!store_nvram_create(d, def->name, error))
			return NULL;
		add(argv, "--firmware-vars", vars);
	}
	if (def->boot_order)
		add(argv, "--boot-order", def->boot_order);
	if (def->kernel)
		add(argv, "--kernel", def->kernel);
	if (def->initrd)
		add(argv, "--initrd", def->initrd);
	if (def->cmdline)
		add(argv, "--cmdline", def->cmdline);
	for (guint i = 0; def->disks && i < def->disks->len; i++)
		add_disk(argv, g_ptr_array_index(def->disks, i));
	for (guint i = 0; def->nics && i < def->nics->len; i++) {
		const NicDef *nic = g_ptr_array_index(def->nics, i);
		g_autofree char *v = NULL;
		if (nic->type == NIC_USER) {
			g_autofree char *sock = supervisor_passt_socket(d, def->name, i);
			g_autofree char *esc = escape_commas(sock);
			if (strlen(sock) > UNIX_PATH_MAX_LEN) {
				g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
					    "nics[%u]: the passt socket path %s is longer than %d "
					    "bytes: give atolld a shorter run directory", i, sock,
					    UNIX_PATH_MAX_LEN);
				return NULL;
			}
			v = g_strdup_printf("socket=%s", esc);
		} else if (nic_fds && nic_fds[i] >= 0)
			v = g_strdup_printf("fd=%u", 3 + i);
		else if (nic_taps && nic_taps[i])
			v = g_strdup_printf("tap=%s", nic_taps[i]);
		else {
			g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
				    "nics[%u]: no tap device was prepared for this NIC", i);
			return NULL;
		}
		if (nic->mac[0]) {
			char *with_mac = g_strdup_printf("%s,mac=%s", v, nic->mac);
			g_free(v);
			v = with_mac;
		}
		add(argv, "--net", v);
	}
	if (def->on_poweroff)
		add(argv, "--on-poweroff", def->on_poweroff);
	if (def->on_reboot)
		add(argv, "--on-reboot", def->on_reboot);
	if (def->on_crash)
		add(argv, "--on-crash", def->on_crash);
	g_ptr_array_add(argv, g_strdup("--shutdown-timeout"));
	g_ptr_array_add(argv, g_strdup_printf("%u", def->shutdown_timeout_s));
	add(argv, "--control", control);
	g_ptr_array_add(argv, g_strdup("--serial"));
	g_ptr_array_add(argv, g_strdup_printf("unix:%s", console));
	if (def->graphics.type == GRAPHICS_SPICE) {
		add(argv, "--gpu", def->graphics.gpu == GPU_BOCHS ? "bochs" : "virtio");
		/* --input takes its value only after '=' (an optional argument) */
		add(argv, "--input=on", NULL);
		g_ptr_array_add(argv, g_strdup("--spice"));
		g_ptr_array_add(argv, g_strdup_printf("unix:%s", spice));
	}
	passthrough_add_argv(def, argv);
	g_ptr_array_add(argv, NULL);
	return g_steal_pointer(&argv);
}

/* ------------------------------------------------------- exit reasons */

char *supervisor_exit_reason(int status, const char *last_line)
{
	if (WIFSIGNALED(status))
		return g_strdup_printf("killed by signal %d (%s)", WTERMSIG(status),
				       g_strsignal(WTERMSIG(status)));
	if (!WIFEXITED(status))
		return g_strdup_printf("vmm-error: unexpected wait status 0x%x", status);
	switch (WEXITSTATUS(status)) {
	case 0: return g_strdup("poweroff");
	case 2: return g_strdup("reboot");
	case 3: return g_strdup("crash");
	case 4: return g_strdup("destroyed");
	case 1:
		return g_strdup_printf("vmm-error: %s", last_line && *last_line ? last_line
				       : "the VMM failed without a message (see its log)");
	default:
		return g_strdup_printf("vmm-error: unexpected exit status %d",
				       WEXITSTATUS(status));
	}
}

static int exit_code_of(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The lines of the VMM's current run: after the last start marker, with
 * the \r the VMM puts first (its stdin may be a raw tty) stripped. */
static char **current_run_lines(const char *log_path)
{
	g_autofree char *text = NULL;
	gsize len = 0;
	if (!g_file_get_contents(log_path, &text, &len, NULL))
		return NULL;
	/* Only the tail matters and the file is bounded, but stay cheap. */
	const char *start = len > 65536 ? text + len - 65536 : text;
	const char *marker = g_strrstr(start, START_MARKER);
	if (marker) {
		const char *nl = strchr(marker, '\n');
		start = nl ? nl + 1 : marker + strlen(marker);
	}
	char **lines = g_strsplit(start, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_strdelimit(*l, "\r", ' ');
		g_strstrip(*l);
	}
	return lines;
}

/* "NAME: error: message" -> "message"; other lines unchanged. */
static const char *strip_level(const char *line, const char **level)
{
	static const char *const levels[] = { "error", "warning", "info", "debug" };
	const char *colon = strstr(line, ": ");
	*level = NULL;
	if (!colon)
		return line;
	for (unsigned i = 0; i < G_N_ELEMENTS(levels); i++) {
		size_t n = strlen(levels[i]);
		if (strncmp(colon + 2, levels[i], n) == 0 && strncmp(colon + 2 + n, ": ", 2) == 0) {
			*level = levels[i];
			return colon + 2 + n + 2;
		}
	}
	return line;
}

char *supervisor_last_log_line(const char *log_path)
{
	g_auto(GStrv) lines = current_run_lines(log_path);
	const char *last = NULL, *prev = NULL;
	for (char **l = lines; l && *l; l++) {
		/* the usage hint after a flag error says nothing about the cause */
		if (**l && !g_str_has_prefix(*l, "Try '")) {
			prev = last;
			last = *l;
		}
	}
	if (!last)
		return NULL;
	const char *level;
	const char *msg = strip_level(last, &level);
	/* "...: cannot attach (see above)": the cause is the line before */
	if (prev && strstr(msg, "(see above)")) {
		const char *cause = strip_level(prev, &level);
		return g_strdup_printf("%s; %s", cause, msg);
	}
	return g_strdup(msg);
}

char *supervisor_reason_from_log(const char *log_path, int *code)
{
	g_auto(GStrv) lines = current_run_lines(log_path);
	const char *reason = NULL, *last = NULL;
	const char *last_level = NULL;
	*code = -1;
	for (char **l = lines; l && *l; l++) {
		if (!**l)
			continue;
		const char *level;
		const char *msg = strip_level(*l, &level);
		last = msg;
		last_level = level;
		if (g_str_has_prefix(msg, "the guest powered off"))
			reason = "poweroff", *code = 0;
		else if (g_str_has_prefix(msg, "the guest rebooted"))
			reason = "reboot", *code = 2;
		else if (g_str_has_prefix(msg, "the guest crashed"))
			reason = "crash", *code = 3;
		else if (g_str_has_prefix(msg, "the domain was forced off"))
			reason = "destroyed", *code = 4;
		else if (g_str_has_prefix(msg, "restarting the domain"))
			reason = NULL, *code = -1;
	}
	if (reason && g_strcmp0(last, "restarting the domain") != 0)
		return g_strdup(reason);
	if (last && g_strcmp0(last_level, "error") == 0) {
		*code = 1;
		return g_strdup_printf("vmm-error: %s", last);
	}
	*code = -1;
	if (last)
		return g_strdup_printf("unknown: the VMM was not atolld's child, so its "
				       "exit status is lost; its last message was: %s", last);
	return g_strdup_printf("unknown: the VMM was not atolld's child, so its exit "
			       "status is lost, and %s says nothing", log_path);
}

/* ------------------------------------------------------------ pid file */

bool supervisor_write_pidfile(const char *path, int pid, GError **error)
{
	g_autofree char *text = g_strdup_printf("%d\n", pid);
	return g_file_set_contents_full(path, text, -1,
		G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
		0644, error);
}

int supervisor_read_pidfile(const char *path)
{
	g_autofree char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	char *end;
	errno = 0;
	long pid = strtol(text, &end, 10);
	if (errno || end == text || (*end && *end != '\n') || pid <= 1 || pid > INT_MAX)
		return 0;
	return (int)pid;
}

static char *exe_basename(const char *path)
{
	g_autofree char *copy = g_strdup(path);
	/* an upgraded binary shows as "/usr/bin/atoll-vmm (deleted)" */
	if (g_str_has_suffix(copy, " (deleted)"))
		copy[strlen(copy) - strlen(" (deleted)")] = '\0';
	return g_path_get_basename(copy);
}

static bool cmdline_has_control(int pid, const char *control_path)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", pid);
	g_autofree char *buf = NULL;
	gsize len = 0;
	if (!g_file_get_contents(path, &buf, &len, NULL))
		return false;
	g_autofree char *joined = g_strconcat("--control=", control_path, NULL);
	const char *prev = NULL;
	for (const char *p = buf; p < buf + len; p += strlen(p) + 1) {
		if (strcmp(p, joined) == 0 ||
		    (prev && strcmp(prev, "--control") == 0 && strcmp(p, control_path) == 0))
			return true;
		prev = p;
	}
	return false;
}

bool supervisor_is_our_vmm(const Atolld *d, int pid, const char *control_path)
{
	g_autofree char *link = g_strdup_printf("/proc/%d/exe", pid);
	g_autofree char *exe = g_file_read_link(link, NULL);
	if (!exe)
		return false;
	g_autofree char *real = realpath(d->vmm_path, NULL);
	g_autofree char *have = exe_basename(exe);
	g_autofree char *want = exe_basename(real ? real : d->vmm_path);
	if (strcmp(have, want) != 0)
		return false;
	return cmdline_has_control(pid, control_path);
}

/* ------------------------------------------------------------ the VMM */

static void vmm_free(Vmm *v)
{
	g_clear_handle_id(&v->kill_timer, g_source_remove);
	g_clear_handle_id(&v->shutdown_timer, g_source_remove);
	g_clear_handle_id(&v->log_timer, g_source_remove);
	if (v->pid_source) {
		g_source_destroy(v->pid_source);
		g_source_unref(v->pid_source);
	}
	if (v->pidfd >= 0)
		close(v->pidfd);
	vmm_client_free(v->ctl);
	g_free(v->control_path);
	g_free(v->console_path);
	g_free(v->pid_path);
	g_free(v->log_path);
	g_free(v->spice_path);
	g_free(v->spice_uri);
	g_free(v);
}

static DomainState state_from_vmm(const char *s)
{
	if (g_strcmp0(s, "paused") == 0)
		return DOMAIN_PAUSED;
	if (g_strcmp0(s, "shutting-down") == 0)
		return DOMAIN_SHUTTING_DOWN;
	return DOMAIN_RUNNING;
}

static void query_done(JsonObject *reply, const GError *error, gpointer data)
{
	Vmm *v = data;
	if (!reply) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_warning("domain %s: query failed: %s", v->dom->name, error->message);
		return;
	}
	DomainState st = state_from_vmm(json_object_get_string_member_with_default(reply, "state", "running"));
	int64_t boots = json_object_get_int_member_with_default(reply, "boot_count", 1);
	const char *reason = v->connect_reason;
	if (v->queried && boots != v->boot_count)
		reason = "rebooted";
	v->boot_count = boots;
	v->connect_reason = NULL;
	if (!v->queried || reason || st != v->dom->state)
		domain_set_state(v->dom, st, reason);
	v->queried = true;
}

const char *supervisor_spice_uri(Domain *dom)
{
	Vmm *v = vmm_of(dom);
	return v ? v->spice_uri : NULL;
}

/* Group atoll may use atolld's API, which can do anything to a domain, so
 * it may see the domain's screen too: the VMM makes its SPICE socket 0600,
 * atolld hands it to root:atoll 0660 and makes run_dir/vmm 0750 root:atoll
 * so that clients can reach it.  The other sockets there stay 0600 and the
 * logs 0640 with atolld's own group. */
static void grant_spice_access(Vmm *v)
{
	struct group *gr = getgrnam("atoll");
	if (!gr) {
		g_message("domain %s: group atoll does not exist: only root can open "
			  "the SPICE console %s (create it with `groupadd atoll`)",
			  v->dom->name, v->spice_path);
		return;
	}
	g_autofree char *dir = g_path_get_dirname(v->spice_path);
	struct stat st;
	/* lstat, lchown: only a socket the VMM made, never through a link */
	if (lstat(v->spice_path, &st) != 0 || !S_ISSOCK(st.st_mode))
		return;
	if (lchown(v->spice_path, (uid_t)-1, gr->gr_gid) != 0 ||
	    chmod(v->spice_path, 0660) != 0 ||
	    lchown(dir, (uid_t)-1, gr->gr_gid) != 0 || chmod(dir, 0750) != 0)
		g_warning("domain %s: cannot give %s to group atoll: %s; only %s's "
			  "owner can open the SPICE console", v->dom->name,
			  v->spice_path, g_strerror(errno), v->spice_path);
}

static void spice_done(JsonObject *reply, const GError *error, gpointer data)
{
	Vmm *v = data;
	g_clear_pointer(&v->spice_uri, g_free);
	if (!reply) {
		/* An older VMM without spice-info has no SPICE console either. */
		g_debug("domain %s: spice-info: %s", v->dom->name, error->message);
		return;
	}
	JsonNode *uri = json_object_get_member(reply, "uri");
	if (!uri || !JSON_NODE_HOLDS_VALUE(uri) ||
	    json_node_get_value_type(uri) != G_TYPE_STRING)
		return;
	v->spice_uri = g_strdup(json_node_get_string(uri));
	g_autofree char *ours = g_strconcat("spice+unix://", v->spice_path, NULL);
	if (strcmp(v->spice_uri, ours) == 0)
		grant_spice_access(v);
}

/* Every (re)connection: learn the state, e.g. after a guest reboot, when
 * the VMM re-created its sockets.  spice-info goes first so that the URI is
 * known by the time the domain is reported running. */
static void on_control(VmmClient *c, bool connected, gpointer data)
{
	Vmm *v = data;
	if (!connected) {
		g_clear_pointer(&v->spice_uri, g_free);
		return;
	}
	vmm_client_request(c, "spice-info", NULL, spice_done, v);
	vmm_client_request(c, "query", NULL, query_done, v);
}

static gboolean log_check(gpointer data)
{
	Vmm *v = data;
	GStatBuf st;
	if (g_stat(v->log_path, &st) != 0 || st.st_size <= LOG_MAX_BYTES)
		return G_SOURCE_CONTINUE;
	/* The VMM holds the file with O_APPEND, so truncating it in place is
	 * safe: its next write lands at the new end. */
	g_autofree char *old = g_strconcat(v->log_path, ".1", NULL);
	g_autofree char *text = NULL;
	gsize len;
	if (g_file_get_contents(v->log_path, &text, &len, NULL))
		g_file_set_contents(old, text, (gssize)len, NULL);
	if (truncate(v->log_path, 0) != 0)
		g_warning("domain %s: cannot truncate %s: %s", v->dom->name,
			  v->log_path, g_strerror(errno));
	return G_SOURCE_CONTINUE;
}

static void remove_run_files(Vmm *v)
{
	/* The VMM removes its sockets at exit but not when killed. */
	g_unlink(v->pid_path);
	g_unlink(v->control_path);
	g_unlink(v->console_path);
	g_unlink(v->spice_path);
}

static void vmm_exited(Vmm *v)
{
	Domain *dom = v->dom;
	siginfo_t si = { 0 };
	g_autofree char *reason = NULL;
	int code = -1;

	if (waitid((idtype_t)P_PIDFD, (id_t)v->pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid) {
		int status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0)
						      : W_EXITCODE(0, si.si_status);
		g_autofree char *last = supervisor_last_log_line(v->log_path);
		reason = supervisor_exit_reason(status, last);
		code = exit_code_of(status);
		if (v->destroy_requested && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
			g_free(reason);
			reason = g_strdup("destroyed");
		}
	} else {
		/* Not our child (adopted): the status went to our parent. */
		reason = supervisor_reason_from_log(v->log_path, &code);
	}
	g_message("domain %s: atoll-vmm (pid %d) exited: %s", dom->name, v->pid, reason);

	g_free(dom->last_exit_reason);
	dom->last_exit_reason = g_strdup(reason);
	dom->last_exit_code = code;
	dom->last_exit_at = g_get_real_time() / G_USEC_PER_SEC;
	dom->pid = 0;
	remove_run_files(v);
	if (v->named_taps)
		teardown_taps(dom->name);
	stop_passt(dom->daemon, dom->name);
	passthrough_domain_release(dom);
	stats_detach(dom);
	console_detach(dom);
	dom->vmm = NULL;
	vmm_free(v);
	domain_set_state(dom, strcmp(reason, "crash") == 0 ? DOMAIN_CRASHED : DOMAIN_SHUTOFF,
			 reason);
}

static gboolean pidfd_ready(gint fd, GIOCondition cond, gpointer data)
{
	(void)fd;
	(void)cond;
	vmm_exited(data);
	return G_SOURCE_REMOVE;
}

/* Watch, connect, sample and log: the same for a new and an adopted VMM. */
static Vmm *vmm_watch(Domain *dom, int pid, int pidfd, bool own_child)
{
	Atolld *d = dom->daemon;
	Vmm *v = g_new0(Vmm, 1);
	v->dom = dom;
	v->pid = pid;
	v->pidfd = pidfd;
	v->own_child = own_child;
	v->control_path = supervisor_path(d, dom->name, ".control");
	v->console_path = supervisor_path(d, dom->name, ".console");
	v->pid_path = supervisor_path(d, dom->name, ".pid");
	v->log_path = supervisor_path(d, dom->name, ".log");
	v->spice_path = supervisor_path(d, dom->name, ".spice");
	v->pid_source = g_unix_fd_source_new(pidfd, G_IO_IN);
	g_source_set_callback(v->pid_source, G_SOURCE_FUNC(pidfd_ready), v, NULL);
	g_source_attach(v->pid_source, NULL);
	v->log_timer = g_timeout_add_seconds(LOG_CHECK_S, log_check, v);
	dom->vmm = v;
	dom->pid = pid;
	v->ctl = vmm_client_new(v->control_path, on_control, v);
	stats_attach(dom);
	console_attach(dom, v->console_path);
	return v;
}

/* ------------------------------------------------------------ starting */

static bool ensure_dir(const char *path, int mode, GError **error)
{
	if (g_mkdir_with_parents(path, mode) == 0)
		return true;
	int e = errno;
	g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
		    "cannot create %s: %s; check that atolld may write there",
		    path, g_strerror(e));
	return false;
}

/* A tap nobody else uses: the VMM gets the only fd, so the interface goes
 * away with the VMM. */
G_GNUC_UNUSED static int open_isolated_tap(unsigned index, GError **error)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "nics[%u]: cannot open /dev/net/tun: %s; load the tun module "
			    "(modprobe tun) and run atolld with CAP_NET_ADMIN", index, g_strerror(e));
		return -1;
	}
	struct ifreq ifr = { 0 };
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "atoll%%d");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "nics[%u]: cannot create a tap device: %s; atolld needs "
			    "CAP_NET_ADMIN", index, g_strerror(e));
		return -1;
	}
	return fd;
}

static void close_fds(GArray *fds)
{
	for (guint i = 0; i < fds->len; i++)
		if (g_array_index(fds, int, i) >= 0)
			close(g_array_index(fds, int, i));
}

/* Persistent named taps (the libvirt module's) outlive the VMM: delete
 * them once it is gone. */
static void teardown_taps(const char *name)
{
#ifdef ATOLLD_HAVE_LIBVIRT
	g_autoptr(GError) error = NULL;
	if (!atoll_libvirt_nics_teardown(name, MAX_NICS, &error))
		g_warning("domain %s: %s", name, error->message);
#else
	(void)name;
#endif
}

#ifdef ATOLLD_HAVE_LIBVIRT
static AtolldError libvirt_error_kind(const GError *e)
{
	switch (e->code) {
	case ATOLL_LIBVIRT_ERROR_NOT_FOUND:
	case ATOLL_LIBVIRT_ERROR_UNSUPPORTED:
	case ATOLL_LIBVIRT_ERROR_INVALID:
		return ATOLLD_ERROR_BAD_REQUEST;
	case ATOLL_LIBVIRT_ERROR_INACTIVE:
		return ATOLLD_ERROR_CONFLICT;
	default:
		return ATOLLD_ERROR_HOST;
	}
}

/* A tap from the libvirt module: on the network's bridge, or on none. */
static char *libvirt_tap(Atolld *d, const DomainDef *def, unsigned i, GError **error)
{
	const NicDef *nic = g_ptr_array_index(def->nics, i);
	const char *type = nic->type == NIC_NETWORK ? "network" : "isolated";
	g_autoptr(GError) e = NULL;
	/* The connection is opened on first use (here or by /v1/networks),
	 * also after an atolld restart. */
	if (nic->type == NIC_NETWORK && !atolld_libvirt(d, &e)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "nics[%u]: network \"%s\" needs libvirt: %s", i,
			    nic->network ? nic->network : "", e->message);
		return NULL;
	}
	char *tap = atoll_libvirt_nic_setup(d->libvirt, def->name, i, type, nic->network,
					    nic->mac[0] ? nic->mac : NULL, &e);
	if (!tap)
		g_set_error_literal(error, ATOLLD_ERROR, libvirt_error_kind(e), e->message);
	return tap;
}
#endif

/* ------------------------------------------------------------ passt */

char *supervisor_passt_dir(const Atolld *d)
{
	return g_build_filename(d->run_dir, "passt", NULL);
}

char *supervisor_passt_socket(const Atolld *d, const char *name, unsigned i)
{
	g_autofree char *dir = supervisor_passt_dir(d);
	g_autofree char *base = g_strdup_printf("%s.%u.sock", name, i);
	return g_build_filename(dir, base, NULL);
}

GPtrArray *supervisor_passt_argv(const char *passt, const char *socket_path)
{
	GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
	/* --mtu 1500: passt's default (65520) would have the guest send and
	 * expect frames larger than virtio-net's receive buffers without
	 * offloads.  No --one-off: in passt 2023-03 it exits before any
	 * client connects. */
	const char *const args[] = { passt, "--socket", socket_path, "--foreground",
				     "--quiet", "--mtu", "1500" };
	for (size_t i = 0; i < G_N_ELEMENTS(args); i++)
		g_ptr_array_add(argv, g_strdup(args[i]));
	g_ptr_array_add(argv, NULL);
	return argv;
}

/* passt drops root for "nobody" before it binds its socket: give it a
 * directory of its own that nobody may write, and only nobody (and root). */
static bool passt_dir_ready(const Atolld *d, GError **error)
{
	g_autofree char *dir = supervisor_passt_dir(d);
	if (!ensure_dir(dir, 0700, error))
		return false;
	if (geteuid() != 0)
		return true;
	const struct passwd *pw = getpwnam("nobody");
	if (!pw || chown(dir, pw->pw_uid, pw->pw_gid) < 0) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "cannot hand %s to user nobody (passt runs as nobody): %s",
			    dir, pw ? g_strerror(errno) : "no such user");
		return false;
	}
	return true;
}

static char *passt_pidfile(const Atolld *d, const char *name, unsigned i)
{
	g_autofree char *dir = supervisor_passt_dir(d);
	g_autofree char *base = g_strdup_printf("%s.%u.pid", name, i);
	return g_build_filename(dir, base, NULL);
}

static void passt_reaped(GPid pid, gint status, gpointer data)
{
	(void)status;
	(void)data;
	g_spawn_close_pid(pid);
}

static bool is_passt(int pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/comm", pid);
	g_autofree char *comm = NULL;
	return g_file_get_contents(path, &comm, NULL, NULL) && g_str_has_prefix(comm, "passt");
}

/* The domain's passt processes (also ones an earlier atolld started, from
 * their pid files): stop them and remove their files. */
static void stop_passt(const Atolld *d, const char *name)
{
	for (unsigned i = 0; i < MAX_NICS; i++) {
		g_autofree char *pidfile = passt_pidfile(d, name, i);
		g_autofree char *sock = supervisor_passt_socket(d, name, i);
		int pid = supervisor_read_pidfile(pidfile);
		if (pid > 0 && is_passt(pid))
			kill(pid, SIGTERM);
		g_unlink(pidfile);
		g_unlink(sock);
	}
}

/* Wait until passt listens (or exits: a host without a usable network
 * interface makes it refuse to start). */
static bool passt_wait(GPid pid, const char *sock, unsigned i, const char *log_path,
		       GError **error)
{
	for (int waited = 0; waited < PASST_WAIT_MS; waited += 20) {
		GStatBuf st;
		if (g_stat(sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
			/* bind() comes just before listen(). */
			g_usleep(20 * 1000);
			return true;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
				    "nics[%u]: passt exited at start (see %s; a host without a "
				    "network interface with a default route cannot give user "
				    "networking)", i, log_path);
			return false;
		}
		g_usleep(20 * 1000);
	}
	kill(pid, SIGKILL);
	g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
		    "nics[%u]: passt did not create its socket %s within %d s (see %s)",
		    i, sock, PASST_WAIT_MS / 1000, log_path);
	return false;
}

static bool start_passt(const Atolld *d, const char *name, unsigned i, GError **error)
{
	g_autofree char *passt = g_find_program_in_path("passt");
	if (!passt) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "nics[%u]: \"user\" networking needs passt, which is not "
			    "installed; install the passt package", i);
		return false;
	}
	if (!passt_dir_ready(d, error))
		return false;
	g_autofree char *sock = supervisor_passt_socket(d, name, i);
	g_autofree char *log_path = supervisor_path(d, name, ".log");
	g_unlink(sock);
	int logfd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	g_autoptr(GPtrArray) argv = supervisor_passt_argv(passt, sock);
	g_autoptr(GError) e = NULL;
	GPid pid = 0;
	bool ok = g_spawn_async_with_pipes_and_fds(NULL, (const char *const *)argv->pdata, NULL,
		G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL |
		(logfd < 0 ? G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL : 0),
		child_setup, NULL, -1, logfd, logfd, NULL, NULL, 0, &pid, NULL, NULL, NULL, &e);
	if (logfd >= 0)
		close(logfd);
	if (!ok) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST, "nics[%u]: cannot run %s: %s",
			    i, passt, e->message);
		return false;
	}
	ok = passt_wait(pid, sock, i, log_path, error);
	if (ok) {
		g_autofree char *pidfile = passt_pidfile(d, name, i);
		g_autoptr(GError) perr = NULL;
		if (!supervisor_write_pidfile(pidfile, pid, &perr))
			g_warning("domain %s: %s; passt will not be stopped if atolld restarts",
				  name, perr->message);
		g_child_watch_add(pid, passt_reaped, NULL);
	} else if (waitpid(pid, NULL, WNOHANG) != pid) {
		g_child_watch_add(pid, passt_reaped, NULL);
	}
	return ok;
}

/* One entry per NIC in fds (an fd for the VMM, or -1) and taps (a tap
 * name, or NULL). */
static bool prepare_nics(Atolld *d, const DomainDef *def, GArray *fds,
			 GPtrArray *taps, bool *named, GError **error)
{
	*named = false;
	for (guint i = 0; def->nics && i < def->nics->len; i++) {
		const NicDef *nic = g_ptr_array_index(def->nics, i);
		int fd = -1;
		char *tap = NULL;
		if (nic->type == NIC_USER) {
			if (!start_passt(d, def->name, i, error))
				return false;
			g_array_append_val(fds, fd);
			g_ptr_array_add(taps, tap);
			continue;
		}
#ifdef ATOLLD_HAVE_LIBVIRT
		*named = true;
		tap = libvirt_tap(d, def, i, error);
		if (!tap)
			return false;
#else
		(void)d;
		if (nic->type == NIC_NETWORK) {
			g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
				    "nics[%u]: network NICs need atolld built with libvirt "
				    "support; use {\"type\": \"isolated\"}", i);
			return false;
		}
		fd = open_isolated_tap(i, error);
		if (fd < 0)
			return false;
#endif
		g_array_append_val(fds, fd);
		g_ptr_array_add(taps, tap);
	}
	return true;
}

static void child_setup(gpointer data)
{
	(void)data;
	/* Its own session: a signal to atolld's process group (Ctrl-C in a
	 * terminal, a service manager stopping atolld) must not reach it. */
	setsid();
}

static int open_log(const char *path, const char *name, GError **error)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		int e = errno;
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST, "cannot open %s: %s",
			    path, g_strerror(e));
		return -1;
	}
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree char *when = g_date_time_format_iso8601(now);
	g_autofree char *marker = g_strdup_printf("%s for %s at %s\n", START_MARKER, name, when);
	if (write(fd, marker, strlen(marker)) < 0)
		g_warning("cannot write to %s: %s", path, g_strerror(errno));
	return fd;
}

static bool spawn_vmm(Domain *dom, GPtrArray *argv, GArray *nic_fds, GPid *pid,
		      GError **error)
{
	g_autofree char *log_path = supervisor_path(dom->daemon, dom->name, ".log");
	int logfd = open_log(log_path, dom->name, error);
	if (logfd < 0)
		return false;
	/* NIC i's fd becomes 3 + i (supervisor_build_argv's fd=); a NIC on a
	 * named tap has no fd (-1), which GLib would try to dup2 and fail. */
	g_autofree int *sources = g_new(int, nic_fds->len + 1);
	g_autofree int *targets = g_new(int, nic_fds->len + 1);
	guint nfds = 0;
	for (guint i = 0; i < nic_fds->len; i++) {
		if (g_array_index(nic_fds, int, i) < 0)
			continue;
		sources[nfds] = g_array_index(nic_fds, int, i);
		targets[nfds++] = 3 + (int)i;
	}
	g_autoptr(GError) e = NULL;
	bool ok = g_spawn_async_with_pipes_and_fds(NULL,
		(const char *const *)argv->pdata, NULL,
		G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL,
		child_setup, NULL, -1, logfd, logfd,
		sources, targets, nfds,
		pid, NULL, NULL, NULL, &e);
	close(logfd);
	if (!ok)
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "cannot run %s: %s; check atolld's VMM path", dom->daemon->vmm_path,
			    e->message);
	return ok;
}

/* MemAvailable from /proc/meminfo in MiB, or 0 when unknown. */
static uint64_t host_available_mib(void)
{
	g_autofree char *text = NULL;
	if (!g_file_get_contents("/proc/meminfo", &text, NULL, NULL))
		return 0;
	const char *line = strstr(text, "MemAvailable:");
	return line ? g_ascii_strtoull(line + strlen("MemAvailable:"), NULL, 10) / 1024 : 0;
}

static bool check_startable(Domain *dom, GError **error)
{
	if (!dom->def) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT,
			    "domain %s cannot start: its definition does not load (%s); "
			    "fix or replace it", dom->name,
			    dom->broken_reason ? dom->broken_reason : "unknown error");
		return false;
	}
	if (dom->vmm) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT,
			    "domain %s is already running (pid %d)", dom->name, dom->pid);
		return false;
	}
	/* Guest RAM is only reserved at start, so a domain the host cannot
	 * hold would start and then be killed by the kernel's OOM killer. */
	uint64_t avail = host_available_mib();
	if (avail && dom->def->memory_mib > avail) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "domain %s needs %" G_GUINT64_FORMAT " MiB of memory but the host "
			    "has only %" G_GUINT64_FORMAT " MiB available; stop other domains "
			    "or give this one less memory (memory_mib)", dom->name,
			    (guint64)dom->def->memory_mib, (guint64)avail);
		return false;
	}
	if (!g_file_test(dom->daemon->vmm_path, G_FILE_TEST_IS_EXECUTABLE)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "the VMM %s is missing or not executable; install atoll-vmm "
			    "or point atolld at it", dom->daemon->vmm_path);
		return false;
	}
	return true;
}

bool supervisor_start(Domain *dom, GError **error)
{
	if (!check_startable(dom, error))
		return false;
	Atolld *d = dom->daemon;
	g_autofree char *vmm_dir = g_build_filename(d->run_dir, "vmm", NULL);
	if (!ensure_dir(vmm_dir, 0700, error))
		return false;

	/* Host devices first: they are what most often refuses. */
	if (!passthrough_domain_prepare(dom, error))
		return false;
	g_autoptr(GArray) nic_fds = g_array_new(FALSE, FALSE, sizeof(int));
	g_autoptr(GPtrArray) nic_taps = g_ptr_array_new_with_free_func(g_free);
	bool named = false;
	bool ok = prepare_nics(d, dom->def, nic_fds, nic_taps, &named, error);
	g_autoptr(GPtrArray) argv = NULL;
	if (ok)
		argv = supervisor_build_argv(d, dom->def, (const int *)(void *)nic_fds->data,
					     (char *const *)nic_taps->pdata, error);
	GPid pid = 0;
	ok = argv && spawn_vmm(dom, argv, nic_fds, &pid, error);
	close_fds(nic_fds);
	if (!ok) {
		if (named)
			teardown_taps(dom->name);
		stop_passt(d, dom->name);
		passthrough_domain_release(dom);
		return false;
	}

	int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		int e = errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		passthrough_domain_release(dom);
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
			    "pidfd_open: %s; atolld needs Linux 5.3 or newer", g_strerror(e));
		return false;
	}
	g_autofree char *pid_path = supervisor_path(d, dom->name, ".pid");
	g_autoptr(GError) perr = NULL;
	if (!supervisor_write_pidfile(pid_path, pid, &perr))
		/* Keep it running: only re-adoption after a restart suffers. */
		g_warning("domain %s: %s; it will not be re-adopted if atolld restarts",
			  dom->name, perr->message);

	dom->started_at = g_get_real_time() / G_USEC_PER_SEC;
	Vmm *v = vmm_watch(dom, pid, pidfd, true);
	v->named_taps = named;
	v->connect_reason = "started";
	g_message("domain %s: started atoll-vmm, pid %d", dom->name, pid);
	domain_set_state(dom, DOMAIN_STARTING, NULL);
	return true;
}

/* ------------------------------------------------------------ controls */

static Vmm *running_vmm(Domain *dom, GError **error)
{
	Vmm *v = vmm_of(dom);
	if (!v)
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT,
			    "domain %s is not running", dom->name);
	return v;
}

static void send_signal(Vmm *v, int sig)
{
	if (pidfd_send_signal(v->pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
		g_warning("domain %s: cannot signal pid %d: %s", v->dom->name, v->pid,
			  g_strerror(errno));
}

static gboolean kill_now(gpointer data)
{
	Vmm *v = data;
	v->kill_timer = 0;
	g_warning("domain %s: atoll-vmm (pid %d) did not stop; killing it",
		  v->dom->name, v->pid);
	send_signal(v, SIGKILL);
	return G_SOURCE_REMOVE;
}

static void log_reply(JsonObject *reply, const GError *error, gpointer data)
{
	Vmm *v = data;
	if (!reply && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
	    !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
		g_warning("domain %s: the VMM refused a request: %s", v->dom->name,
			  error->message);
}

bool supervisor_destroy(Domain *dom, GError **error)
{
	Vmm *v = running_vmm(dom, error);
	if (!v)
		return false;
	v->destroy_requested = true;
	if (!vmm_client_connected(v->ctl)) {
		send_signal(v, SIGKILL);
		return true;
	}
	vmm_client_request(v->ctl, "destroy", NULL, log_reply, v);
	if (!v->kill_timer)
		v->kill_timer = g_timeout_add_seconds(DESTROY_GRACE_S, kill_now, v);
	return true;
}

static gboolean shutdown_overdue(gpointer data)
{
	Vmm *v = data;
	v->shutdown_timer = 0;
	g_warning("domain %s: still running after its shutdown timeout; destroying it",
		  v->dom->name);
	supervisor_destroy(v->dom, NULL);
	return G_SOURCE_REMOVE;
}

bool supervisor_shutdown(Domain *dom, unsigned timeout_s, GError **error)
{
	Vmm *v = running_vmm(dom, error);
	if (!v)
		return false;
	if (vmm_client_connected(v->ctl)) {
		g_autoptr(JsonObject) args = json_object_new();
		json_object_set_int_member(args, "timeout_s", timeout_s);
		vmm_client_request(v->ctl, "shutdown", args, log_reply, v);
	} else {
		/* SIGTERM is the VMM's own graceful shutdown (its configured
		 * timeout), e.g. while it is still starting. */
		send_signal(v, SIGTERM);
	}
	/* The VMM forces the guest off itself; this is for a VMM that hangs. */
	g_clear_handle_id(&v->shutdown_timer, g_source_remove);
	v->shutdown_timer = g_timeout_add_seconds(timeout_s + SHUTDOWN_GRACE_S,
						  shutdown_overdue, v);
	domain_set_state(dom, DOMAIN_SHUTTING_DOWN, "shutdown requested");
	return true;
}

static Vmm *connected_vmm(Domain *dom, GError **error)
{
	Vmm *v = running_vmm(dom, error);
	if (v && !vmm_client_connected(v->ctl)) {
		g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_CONFLICT,
			    "domain %s is still starting (its control socket is not up); "
			    "try again in a moment", dom->name);
		return NULL;
	}
	return v;
}

bool supervisor_reboot(Domain *dom, GError **error)
{
	Vmm *v = connected_vmm(dom, error);
	if (!v)
		return false;
	vmm_client_request(v->ctl, "reboot", NULL, log_reply, v);
	return true;
}

static void pause_done(JsonObject *reply, const GError *error, gpointer data)
{
	Vmm *v = data;
	if (!reply) {
		log_reply(reply, error, data);
		return;
	}
	/* The VMM is the authority on the state. */
	vmm_client_request(v->ctl, "query", NULL, query_done, v);
}

bool supervisor_pause(Domain *dom, bool pause, GError **error)
{
	Vmm *v = connected_vmm(dom, error);
	if (!v)
		return false;
	vmm_client_request(v->ctl, pause ? "pause" : "resume", NULL, pause_done, v);
	return true;
}

/* ------------------------------------------------------------ adoption */

static int64_t file_mtime(const char *path)
{
	GStatBuf st;
	return g_stat(path, &st) == 0 ? (int64_t)st.st_mtime : g_get_real_time() / G_USEC_PER_SEC;
}

/* The VMM ended while no atolld watched it: record what its log says. */
static void record_missed_exit(Domain *dom, const char *pid_path)
{
	g_autofree char *log_path = supervisor_path(dom->daemon, dom->name, ".log");
	int code;
	g_autofree char *reason = supervisor_reason_from_log(log_path, &code);
	g_message("domain %s: its VMM exited while atolld was not running: %s",
		  dom->name, reason);
	g_free(dom->last_exit_reason);
	dom->last_exit_reason = g_strdup(reason);
	dom->last_exit_code = code;
	dom->last_exit_at = file_mtime(log_path);
	g_unlink(pid_path);
	g_autofree char *control = supervisor_path(dom->daemon, dom->name, ".control");
	g_autofree char *console = supervisor_path(dom->daemon, dom->name, ".console");
	g_autofree char *spice = supervisor_path(dom->daemon, dom->name, ".spice");
	g_unlink(control);
	g_unlink(console);
	g_unlink(spice);
	if (dom->def && dom->def->nics && dom->def->nics->len)
		teardown_taps(dom->name);
	stop_passt(dom->daemon, dom->name);
	passthrough_domain_release(dom);
	domain_set_state(dom, strcmp(reason, "crash") == 0 ? DOMAIN_CRASHED : DOMAIN_SHUTOFF,
			 reason);
}

static void adopt_one(Atolld *d, const char *name, const char *pid_path)
{
	Domain *dom = g_hash_table_lookup(d->domains, name);
	int pid = supervisor_read_pidfile(pid_path);
	if (!dom) {
		g_warning("%s: no domain %s is defined; leaving its VMM (pid %d) alone",
			  pid_path, name, pid);
		return;
	}
	if (dom->vmm)
		return;
	g_autofree char *control = supervisor_path(d, name, ".control");
	/* pidfd first: it pins the process, so the checks below cannot be
	 * fooled by the pid being reused in between. */
	int pidfd = pid ? pidfd_open(pid, 0) : -1;
	if (pidfd < 0 || !supervisor_is_our_vmm(d, pid, control) ||
	    pidfd_send_signal(pidfd, 0, NULL, 0) < 0) {
		if (pidfd >= 0)
			close(pidfd);
		record_missed_exit(dom, pid_path);
		return;
	}
	dom->started_at = file_mtime(pid_path);
	Vmm *v = vmm_watch(dom, pid, pidfd, false);
#ifdef ATOLLD_HAVE_LIBVIRT
	v->named_taps = dom->def && dom->def->nics && dom->def->nics->len;
#endif
	v->connect_reason = "adopted";
	passthrough_domain_adopt(dom);
	g_message("domain %s: re-adopted atoll-vmm, pid %d", name, pid);
	domain_set_state(dom, DOMAIN_STARTING, "adopted");
}

void supervisor_adopt_all(Atolld *d)
{
	g_autofree char *dir_path = g_build_filename(d->run_dir, "vmm", NULL);
	g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
	const char *entry;
	while (dir && (entry = g_dir_read_name(dir))) {
		if (!g_str_has_suffix(entry, ".pid"))
			continue;
		g_autofree char *name = g_strndup(entry, strlen(entry) - 4);
		g_autofree char *pid_path = g_build_filename(dir_path, entry, NULL);
		adopt_one(d, name, pid_path);
	}
}

void supervisor_forget(Domain *dom)
{
	Vmm *v = vmm_of(dom);
	if (v) {
		dom->vmm = NULL;
		vmm_free(v);
	}
	stats_forget(dom);
	console_forget(dom);
}

void supervisor_prepare_kernel(Atolld *d, const DomainDef *def)
{
	g_autoptr(GError) err = NULL;
	char *argv[] = { d->vmm_path, (char *)"--prepare-kernel", def->kernel, NULL };

	if (!def->kernel || !d->vmm_path)
		return;
	/* Without DO_NOT_REAP_CHILD GLib double-forks: nothing to wait for. */
	if (!g_spawn_async(NULL, argv, NULL,
			   G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
			   NULL, NULL, NULL, &err))
		g_message("%s: cannot prepare kernel %s: %s", def->name, def->kernel,
			  err->message);
}
