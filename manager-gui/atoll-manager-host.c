/* atoll-manager-host.c - see atoll-manager-host.h.
 *
 * ssh runs with BatchMode (a GUI cannot answer password or host-key
 * prompts on a terminal it does not have), ExitOnForwardFailure (a
 * forward that cannot be set up is an error, not a silent tunnel to
 * nothing) and StreamLocalBindUnlink (a stale socket of an earlier run is
 * replaced).  The tunnel is ready when ssh has created the local socket;
 * whether atolld listens at the far end shows only when a request goes
 * through, so a GET /v1/host decides READY. */
#include "atoll-manager-host.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define POLL_MS 100
#define TUNNEL_TIMEOUT_MS 30000
#define STDERR_MAX 16384
/* ssh reports a refused forward a moment after the request failed. */
#define STDERR_SETTLE_MS 300

struct _AtollManagerHost {
	GObject parent;

	char *destination, *remote_socket, *local_socket, *control, *error;
	GHashTable *forwards;   /* remote socket path -> local path (ssh -O forward) */
	guint forward_count;
	AtollClient *client;
	AtollManagerHostState state;

	GSubprocess *ssh;
	GString *ssh_stderr;
	GCancellable *cancel;
	guint poll_id, poll_ms;
};

G_DEFINE_FINAL_TYPE(AtollManagerHost, atoll_manager_host, G_TYPE_OBJECT)

enum { PROP_0, PROP_STATE, N_PROPS };
static GParamSpec *props[N_PROPS];

static void set_state(AtollManagerHost *self, AtollManagerHostState state, const char *error)
{
	g_free(self->error);
	self->error = g_strdup(error);
	self->state = state;
	g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]);
}

/* ---- explaining ssh's failures ---- */

static const char *host_part(const char *destination)
{
	const char *at = strrchr(destination, '@');
	return at ? at + 1 : destination;
}

/* The last non-empty line of @text, without a trailing "\r". */
static char *last_line(const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
	for (int i = (int)g_strv_length(lines) - 1; i >= 0; i--) {
		g_strstrip(lines[i]);
		if (*lines[i])
			return g_strdup(lines[i]);
	}
	return NULL;
}

char *atoll_manager_host_explain_ssh(const char *destination, const char *ssh_stderr)
{
	const char *e = ssh_stderr ? ssh_stderr : "";
	const char *host = host_part(destination);
	if (strstr(e, "Host key verification failed") || strstr(e, "REMOTE HOST IDENTIFICATION"))
		return g_strdup_printf(_("ssh does not know the host key of %s yet, or it "
			"changed. Connect once in a terminal with “ssh %s” to check and accept "
			"it, then retry."), host, destination);
	if (strstr(e, "Permission denied (") || strstr(e, "Too many authentication failures"))
		return g_strdup_printf(_("%s did not accept your ssh key. Install your public "
			"key there (“ssh-copy-id %s”) or load it into your ssh agent, then retry; "
			"the manager cannot ask for passwords."), host, destination);
	if (strstr(e, "Could not resolve hostname"))
		return g_strdup_printf(_("There is no host called “%s”. Check the name."), host);
	if (strstr(e, "Connection refused"))
		return g_strdup_printf(_("%s refused the ssh connection. Is sshd running "
			"there, on the port you gave?"), host);
	if (strstr(e, "timed out") || strstr(e, "No route to host") ||
	    strstr(e, "Network is unreachable"))
		return g_strdup_printf(_("%s cannot be reached over the network (%s). Check "
			"that it is up and the address is right."), host,
			strstr(e, "timed out") ? _("timed out") : _("no route"));
	if (strstr(e, "forwarding") && strstr(e, "disabled"))
		return g_strdup_printf(_("The ssh server on %s does not allow socket "
			"forwarding. Set “AllowStreamLocalForwarding yes” in its sshd_config."),
			host);
	g_autofree char *line = last_line(e);
	return g_strdup_printf(_("ssh to %s failed: %s"), destination,
			       line ? line : _("it exited without saying why"));
}

/* GET /v1/host failed through a tunnel that ssh set up. */
static char *explain_unreachable(AtollManagerHost *self, const GError *error)
{
	const char *e = self->ssh_stderr->str;
	const char *host = host_part(self->destination);
	if (strstr(e, "open failed") && strstr(e, "Permission denied"))
		return g_strdup_printf(_("atolld runs on %s, but your user there may not use "
			"its socket %s. Add the user to group atoll there (“sudo usermod -aG "
			"atoll USER”), then retry."), host, self->remote_socket);
	if (strstr(e, "open failed") || g_error_matches(error, ATOLL_CLIENT_ERROR,
							ATOLL_CLIENT_ERROR_UNREACHABLE))
		return g_strdup_printf(_("ssh reached %s, but atolld is not running there "
			"(nothing answers on %s). Start it there with “systemctl start "
			"atolld”, then retry."), host, self->remote_socket);
	return g_strdup_printf(_("atolld on %s answered: %s"), host, error->message);
}

/* ---- ssh ---- */

static void read_stderr(AtollManagerHost *self);

static void stderr_ready(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(AtollManagerHost) self = data;
	g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish(G_INPUT_STREAM(src), res, NULL);
	if (!bytes || g_bytes_get_size(bytes) == 0)
		return;
	gsize n;
	const char *text = g_bytes_get_data(bytes, &n);
	if (self->ssh_stderr->len < STDERR_MAX)
		g_string_append_len(self->ssh_stderr, text, (gssize)MIN(n, STDERR_MAX));
	if (!g_cancellable_is_cancelled(self->cancel))
		read_stderr(self);
}

static void read_stderr(AtollManagerHost *self)
{
	GInputStream *err = g_subprocess_get_stderr_pipe(self->ssh);
	g_input_stream_read_bytes_async(err, 4096, G_PRIORITY_DEFAULT, self->cancel,
					stderr_ready, g_object_ref(self));
}

static gboolean explain_exit(gpointer data)
{
	AtollManagerHost *self = data;
	self->poll_id = 0;
	g_autofree char *why = atoll_manager_host_explain_ssh(self->destination,
							      self->ssh_stderr->str);
	if (self->state == ATOLL_MANAGER_HOST_READY) {
		g_autofree char *msg = g_strdup_printf(_("The ssh connection to %s closed. %s"),
						       self->destination, why);
		set_state(self, ATOLL_MANAGER_HOST_FAILED, msg);
	} else {
		set_state(self, ATOLL_MANAGER_HOST_FAILED, why);
	}
	return G_SOURCE_REMOVE;
}

static void ssh_exited(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(AtollManagerHost) self = data;
	if (!g_subprocess_wait_finish(G_SUBPROCESS(src), res, NULL) ||
	    (GSubprocess *)src != self->ssh)
		return;   /* cancelled: closed on purpose */
	g_clear_object(&self->ssh);
	g_clear_handle_id(&self->poll_id, g_source_remove);
	/* Let the last of stderr arrive before explaining. */
	self->poll_id = g_timeout_add(STDERR_SETTLE_MS, explain_exit, self);
}

static void host_checked(GObject *src, GAsyncResult *res, gpointer data);

static gboolean delayed_fail(gpointer data)
{
	AtollManagerHost *self = data;
	GError *error = g_object_steal_data(G_OBJECT(self), "atoll-pending-error");
	self->poll_id = 0;
	g_autofree char *why = explain_unreachable(self, error);
	g_error_free(error);
	set_state(self, ATOLL_MANAGER_HOST_FAILED, why);
	return G_SOURCE_REMOVE;
}

static void host_checked(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(AtollManagerHost) self = data;
	GError *error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_request_finish(ATOLL_CLIENT(src), res, &error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_error_free(error);
		return;
	}
	if (reply) {
		set_state(self, ATOLL_MANAGER_HOST_READY, NULL);
		return;
	}
	if (!self->destination) {
		set_state(self, ATOLL_MANAGER_HOST_FAILED, error->message);
		g_error_free(error);
		return;
	}
	g_object_set_data(G_OBJECT(self), "atoll-pending-error", error);
	self->poll_id = g_timeout_add(STDERR_SETTLE_MS, delayed_fail, self);
}

static void check_atolld(AtollManagerHost *self)
{
	atoll_client_request_async(self->client, "GET", "/v1/host", NULL, self->cancel,
				   host_checked, g_object_ref(self));
}

static gboolean poll_tunnel(gpointer data)
{
	AtollManagerHost *self = data;
	if (g_file_test(self->local_socket, G_FILE_TEST_EXISTS)) {
		self->poll_id = 0;
		check_atolld(self);
		return G_SOURCE_REMOVE;
	}
	self->poll_ms += POLL_MS;
	if (self->poll_ms < TUNNEL_TIMEOUT_MS)
		return G_SOURCE_CONTINUE;
	self->poll_id = 0;
	g_autofree char *msg = g_strdup_printf(_("ssh to %s did not set up the forwarded "
		"socket within %d seconds. Check that “ssh %s” works in a terminal, then "
		"retry."), self->destination, TUNNEL_TIMEOUT_MS / 1000, self->destination);
	atoll_manager_host_close(self);
	set_state(self, ATOLL_MANAGER_HOST_FAILED, msg);
	return G_SOURCE_REMOVE;
}

/* "host:port" -> port, when the part after the last ':' is a number and
 * there is only one ':' (not an IPv6 literal). */
static char *split_port(const char *destination, char **port)
{
	const char *colon = strchr(destination, ':');
	*port = NULL;
	if (!colon || strchr(colon + 1, ':') || !colon[1])
		return g_strdup(destination);
	for (const char *p = colon + 1; *p; p++)
		if (!g_ascii_isdigit(*p))
			return g_strdup(destination);
	*port = g_strdup(colon + 1);
	return g_strndup(destination, (gsize)(colon - destination));
}

static gboolean spawn_ssh(AtollManagerHost *self, GError **error)
{
	g_autofree char *port = NULL;
	g_autofree char *dest = split_port(self->destination, &port);
	g_autofree char *forward = g_strdup_printf("%s:%s", self->local_socket,
						   self->remote_socket);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_ptr_array_add(argv, "ssh");
	const char *config = g_getenv(ATOLL_MANAGER_SSH_CONFIG_ENV);
	if (config && *config) {
		g_ptr_array_add(argv, "-F");
		g_ptr_array_add(argv, (char *)config);
	}
	/* A control socket: consoles get their own forwards on this
	 * connection later (ssh -O forward), without logging in again. */
	g_autofree char *master = g_strdup_printf("ControlPath=%s", self->control);
	g_ptr_array_add(argv, "-o");
	g_ptr_array_add(argv, "ControlMaster=yes");
	g_ptr_array_add(argv, "-o");
	g_ptr_array_add(argv, master);
	const char *fixed[] = { "-N", "-T", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
				"-o", "StreamLocalBindUnlink=yes", "-o", "ConnectTimeout=15",
				"-o", "ServerAliveInterval=15", "-L", forward };
	for (gsize i = 0; i < G_N_ELEMENTS(fixed); i++)
		g_ptr_array_add(argv, (char *)fixed[i]);
	if (port) {
		g_ptr_array_add(argv, "-p");
		g_ptr_array_add(argv, port);
	}
	g_ptr_array_add(argv, "--");
	g_ptr_array_add(argv, dest);
	g_ptr_array_add(argv, NULL);
	g_unlink(self->local_socket);
	self->ssh = g_subprocess_newv((const char *const *)argv->pdata,
				      G_SUBPROCESS_FLAGS_STDIN_PIPE |
				      G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
				      G_SUBPROCESS_FLAGS_STDERR_PIPE, error);
	if (!self->ssh)
		return FALSE;
	g_string_truncate(self->ssh_stderr, 0);
	read_stderr(self);
	g_subprocess_wait_async(self->ssh, self->cancel, ssh_exited, g_object_ref(self));
	return TRUE;
}

/* ---- public ---- */

void atoll_manager_host_open(AtollManagerHost *self)
{
	if (self->state == ATOLL_MANAGER_HOST_CONNECTING)
		return;
	if (!self->destination) {
		if (!self->cancel)
			self->cancel = g_cancellable_new();
		set_state(self, ATOLL_MANAGER_HOST_CONNECTING, NULL);
		check_atolld(self);
		return;
	}
	if (self->ssh) {
		/* The tunnel stands; atolld may have come back. */
		set_state(self, ATOLL_MANAGER_HOST_CONNECTING, NULL);
		check_atolld(self);
		return;
	}
	atoll_manager_host_close(self);
	self->cancel = g_cancellable_new();
	g_autoptr(GError) error = NULL;
	if (!spawn_ssh(self, &error)) {
		g_autofree char *msg = g_strdup_printf(_("Could not run ssh: %s. Install the "
			"OpenSSH client (package openssh-client)."), error->message);
		set_state(self, ATOLL_MANAGER_HOST_FAILED, msg);
		return;
	}
	self->poll_ms = 0;
	self->poll_id = g_timeout_add(POLL_MS, poll_tunnel, self);
	set_state(self, ATOLL_MANAGER_HOST_CONNECTING, NULL);
}

static void drop_forwards(AtollManagerHost *self)
{
	if (!self->forwards)
		return;
	GHashTableIter it;
	gpointer local;
	g_hash_table_iter_init(&it, self->forwards);
	while (g_hash_table_iter_next(&it, NULL, &local))
		g_unlink(local);
	g_hash_table_remove_all(self->forwards);
	if (self->control)
		g_unlink(self->control);
}

void atoll_manager_host_close(AtollManagerHost *self)
{
	if (self->cancel)
		g_cancellable_cancel(self->cancel);
	g_clear_object(&self->cancel);
	g_clear_handle_id(&self->poll_id, g_source_remove);
	GError *pending = g_object_steal_data(G_OBJECT(self), "atoll-pending-error");
	if (pending)
		g_error_free(pending);
	if (self->ssh) {
		g_subprocess_send_signal(self->ssh, SIGTERM);
		g_clear_object(&self->ssh);
	}
	if (self->local_socket)
		g_unlink(self->local_socket);
	drop_forwards(self);
	if (self->destination && self->state != ATOLL_MANAGER_HOST_IDLE)
		set_state(self, ATOLL_MANAGER_HOST_IDLE, NULL);
}

gboolean atoll_manager_host_check_destination(const char *destination, const char **why)
{
	const char *dummy;
	why = why ? why : &dummy;
	if (!destination || !*destination) {
		*why = _("Give the host as user@host, user@host:port or an ssh alias");
		return FALSE;
	}
	if (destination[0] == '-') {
		*why = _("A host name cannot start with “-”");
		return FALSE;
	}
	for (const char *p = destination; *p; p++)
		if (g_ascii_isspace(*p) || g_ascii_iscntrl(*p) || *p == '/' || *p == '\\') {
			*why = _("No spaces, slashes or control characters: user@host or user@host:port");
			return FALSE;
		}
	const char *at = strrchr(destination, '@');
	if (at && (at == destination || !at[1])) {
		*why = _("Give both the user and the host: user@host");
		return FALSE;
	}
	*why = NULL;
	return TRUE;
}

static char *runtime_socket(void)
{
	static guint counter;
	g_autofree char *dir = g_build_filename(g_get_user_runtime_dir(), "atoll-manager", NULL);
	g_mkdir_with_parents(dir, 0700);
	g_autofree char *name = g_strdup_printf("ssh-%d-%u.sock", (int)getpid(), ++counter);
	return g_build_filename(dir, name, NULL);
}

AtollManagerHost *atoll_manager_host_new_local(const char *socket_path)
{
	AtollManagerHost *self = g_object_new(ATOLL_TYPE_MANAGER_HOST, NULL);
	self->client = atoll_client_new(socket_path);
	return self;
}

AtollManagerHost *atoll_manager_host_new_remote(const char *destination,
						const char *remote_socket, GError **error)
{
	const char *why;
	if (!atoll_manager_host_check_destination(destination, &why)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s", why);
		return NULL;
	}
	if (remote_socket && *remote_socket && remote_socket[0] != '/') {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    _("Give the full path of atolld's socket on the host, starting with /"));
		return NULL;
	}
	AtollManagerHost *self = g_object_new(ATOLL_TYPE_MANAGER_HOST, NULL);
	self->destination = g_strdup(destination);
	self->remote_socket = g_strdup(remote_socket && *remote_socket ? remote_socket :
				       ATOLL_MANAGER_DEFAULT_REMOTE_SOCKET);
	self->local_socket = runtime_socket();
	g_autofree char *base = g_strndup(self->local_socket, strlen(self->local_socket) - 5);
	self->control = g_strconcat(base, ".ctl", NULL);
	self->client = atoll_client_new(self->local_socket);
	return self;
}

gboolean atoll_manager_host_is_remote(AtollManagerHost *self)
{
	return self->destination != NULL;
}

const char *atoll_manager_host_get_title(AtollManagerHost *self)
{
	return self->destination ? self->destination : _("This Computer");
}

const char *atoll_manager_host_get_destination(AtollManagerHost *self)
{
	return self->destination;
}

const char *atoll_manager_host_get_remote_socket(AtollManagerHost *self)
{
	return self->remote_socket;
}

AtollClient *atoll_manager_host_get_client(AtollManagerHost *self)
{
	return self->client;
}

AtollManagerHostState atoll_manager_host_get_state(AtollManagerHost *self)
{
	return self->state;
}

const char *atoll_manager_host_get_error(AtollManagerHost *self)
{
	return self->error;
}

char *atoll_manager_host_describe(AtollManagerHost *self)
{
	switch (self->state) {
	case ATOLL_MANAGER_HOST_CONNECTING:
		return g_strdup(self->destination ? _("Connecting over ssh…") : _("Connecting…"));
	case ATOLL_MANAGER_HOST_READY:
		return self->destination ?
			g_strdup_printf(_("Connected over ssh · %s"), self->remote_socket) :
			g_strdup_printf(_("Connected · %s"),
					atoll_client_get_socket_path(self->client));
	case ATOLL_MANAGER_HOST_FAILED:
		return g_strdup(self->error);
	case ATOLL_MANAGER_HOST_IDLE:
	default:
		return g_strdup(self->destination ? _("Not connected; select to connect") :
				atoll_client_get_socket_path(self->client));
	}
}

/* ---- GObject ---- */

static void atoll_manager_host_get_property(GObject *object, guint id, GValue *value,
					    GParamSpec *pspec)
{
	AtollManagerHost *self = ATOLL_MANAGER_HOST(object);
	if (id == PROP_STATE)
		g_value_set_int(value, self->state);
	else
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void atoll_manager_host_dispose(GObject *object)
{
	AtollManagerHost *self = ATOLL_MANAGER_HOST(object);
	if (self->cancel)
		g_cancellable_cancel(self->cancel);
	g_clear_object(&self->cancel);
	g_clear_handle_id(&self->poll_id, g_source_remove);
	if (self->ssh) {
		g_subprocess_send_signal(self->ssh, SIGTERM);
		g_clear_object(&self->ssh);
	}
	if (self->local_socket)
		g_unlink(self->local_socket);
	drop_forwards(self);
	G_OBJECT_CLASS(atoll_manager_host_parent_class)->dispose(object);
}

static void atoll_manager_host_finalize(GObject *object)
{
	AtollManagerHost *self = ATOLL_MANAGER_HOST(object);
	GError *pending = g_object_steal_data(object, "atoll-pending-error");
	if (pending)
		g_error_free(pending);
	g_clear_object(&self->client);
	g_string_free(self->ssh_stderr, TRUE);
	g_free(self->destination);
	g_free(self->remote_socket);
	g_free(self->local_socket);
	g_free(self->control);
	g_clear_pointer(&self->forwards, g_hash_table_unref);
	g_free(self->error);
	G_OBJECT_CLASS(atoll_manager_host_parent_class)->finalize(object);
}

static void atoll_manager_host_class_init(AtollManagerHostClass *klass)
{
	GObjectClass *oc = G_OBJECT_CLASS(klass);
	oc->get_property = atoll_manager_host_get_property;
	oc->dispose = atoll_manager_host_dispose;
	oc->finalize = atoll_manager_host_finalize;
	props[PROP_STATE] = g_param_spec_int("state", NULL, NULL, 0, ATOLL_MANAGER_HOST_FAILED,
					     0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
	g_object_class_install_properties(oc, N_PROPS, props);
}

static void atoll_manager_host_init(AtollManagerHost *self)
{
	self->ssh_stderr = g_string_new(NULL);
}

/* ---- consoles of remote domains ---- */

typedef struct {
	char *remote, *local;
} Forward;

static void forward_free(Forward *f)
{
	g_free(f->remote);
	g_free(f->local);
	g_free(f);
}

static void forward_done(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	AtollManagerHost *self = g_task_get_source_object(task);
	Forward *f = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	if (!g_subprocess_wait_check_finish(G_SUBPROCESS(src), res, &error)) {
		g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED,
			_("ssh could not forward the console %s from %s: %s"), f->remote,
			self->destination, error->message);
		return;
	}
	if (!self->forwards)
		self->forwards = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_hash_table_insert(self->forwards, g_strdup(f->remote), g_strdup(f->local));
	g_task_return_pointer(task, g_strconcat("spice+unix://", f->local, NULL), g_free);
}

void atoll_manager_host_map_uri_async(AtollManagerHost *self, const char *uri,
				      GCancellable *cancellable, GAsyncReadyCallback callback,
				      gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	const char *path = g_str_has_prefix(uri, "spice+unix://") ? uri + strlen("spice+unix://") : NULL;
	/* Local atolld, or an address that is not a path on the far host. */
	if (!self->destination || !path) {
		g_task_return_pointer(task, g_strdup(uri), g_free);
		return;
	}
	const char *known = self->forwards ? g_hash_table_lookup(self->forwards, path) : NULL;
	if (known) {
		g_task_return_pointer(task, g_strconcat("spice+unix://", known, NULL), g_free);
		return;
	}
	if (!self->ssh || self->state != ATOLL_MANAGER_HOST_READY) {
		g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
					_("ssh to %s is not connected"), self->destination);
		return;
	}
	Forward *f = g_new0(Forward, 1);
	f->remote = g_strdup(path);
	g_autofree char *base = g_strndup(self->local_socket, strlen(self->local_socket) - 5);
	f->local = g_strdup_printf("%s-console-%u.sock", base, ++self->forward_count);
	g_task_set_task_data(task, f, (GDestroyNotify)forward_free);
	g_autofree char *spec = g_strdup_printf("%s:%s", f->local, f->remote);
	g_autofree char *port = NULL;
	g_autofree char *dest = split_port(self->destination, &port);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_ptr_array_add(argv, "ssh");
	const char *config = g_getenv(ATOLL_MANAGER_SSH_CONFIG_ENV);
	if (config && *config) {
		g_ptr_array_add(argv, "-F");
		g_ptr_array_add(argv, (char *)config);
	}
	const char *fixed[] = { "-S", self->control, "-O", "forward", "-L", spec };
	for (gsize i = 0; i < G_N_ELEMENTS(fixed); i++)
		g_ptr_array_add(argv, (char *)fixed[i]);
	if (port) {
		g_ptr_array_add(argv, "-p");
		g_ptr_array_add(argv, port);
	}
	g_ptr_array_add(argv, "--");
	g_ptr_array_add(argv, dest);
	g_ptr_array_add(argv, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) p = g_subprocess_newv((const char *const *)argv->pdata,
		G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
	if (!p) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_subprocess_wait_check_async(p, cancellable, forward_done, g_steal_pointer(&task));
}

char *atoll_manager_host_map_uri_finish(AtollManagerHost *self, GAsyncResult *result,
					GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}
