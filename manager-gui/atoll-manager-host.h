/* atoll-manager-host.h - one atolld the manager can talk to: this
 * computer's socket, or a remote host's socket forwarded over ssh
 * (`ssh -N -L LOCAL:REMOTE user@host`; OpenSSH forwards unix sockets), so
 * the same client library serves both. */
#pragma once

#include <gio/gio.h>
#include "atoll-client.h"

G_BEGIN_DECLS

#define ATOLL_MANAGER_DEFAULT_REMOTE_SOCKET "/run/atoll/atolld.sock"
/* An ssh_config file to use instead of ~/.ssh/config (ssh -F). */
#define ATOLL_MANAGER_SSH_CONFIG_ENV "ATOLL_MANAGER_SSH_CONFIG"

typedef enum {
	ATOLL_MANAGER_HOST_IDLE,        /* remote, no tunnel yet */
	ATOLL_MANAGER_HOST_CONNECTING,
	ATOLL_MANAGER_HOST_READY,       /* atolld answered through the socket */
	ATOLL_MANAGER_HOST_FAILED,
} AtollManagerHostState;

#define ATOLL_TYPE_MANAGER_HOST (atoll_manager_host_get_type())
G_DECLARE_FINAL_TYPE(AtollManagerHost, atoll_manager_host, ATOLL, MANAGER_HOST, GObject)

/* This computer; @socket_path NULL: $ATOLL_SOCKET or the default. */
AtollManagerHost *atoll_manager_host_new_local(const char *socket_path);
/* @destination: "user@host" or "user@host:port" (or an ssh_config Host
 * alias); @remote_socket NULL: the default.  NULL with @error set when the
 * destination cannot be an ssh destination. */
AtollManagerHost *atoll_manager_host_new_remote(const char *destination,
						const char *remote_socket, GError **error);
/* TRUE when @destination is acceptable; otherwise @why says what is wrong. */
gboolean atoll_manager_host_check_destination(const char *destination, const char **why);

gboolean atoll_manager_host_is_remote(AtollManagerHost *self);
/* "This Computer" or the destination. */
const char *atoll_manager_host_get_title(AtollManagerHost *self);
const char *atoll_manager_host_get_destination(AtollManagerHost *self);
const char *atoll_manager_host_get_remote_socket(AtollManagerHost *self);
/* The client (for a remote host: on the forwarded socket; usable once
 * READY). */
AtollClient *atoll_manager_host_get_client(AtollManagerHost *self);
AtollManagerHostState atoll_manager_host_get_state(AtollManagerHost *self);
/* What went wrong and what to do, when FAILED. */
const char *atoll_manager_host_get_error(AtollManagerHost *self);
/* A one-line status for the host list ("Connected", "Connecting…", the
 * error). */
char *atoll_manager_host_describe(AtollManagerHost *self);

/* Remote: starts ssh (again, if it died) and checks that atolld answers
 * through the tunnel.  Local: checks that atolld answers.  Emits
 * notify::state.  Never blocks. */
void atoll_manager_host_open(AtollManagerHost *self);
/* Stops ssh and removes the forwarded socket (remote); back to IDLE. */
void atoll_manager_host_close(AtollManagerHost *self);

/* A console address atolld reported, as this computer reaches it: the
 * same for this computer's atolld; for a remote host a spice+unix:// path
 * there gets a forward of its own on the ssh connection (ssh -O forward
 * through the control socket, no new login) and the local socket's URI. */
void atoll_manager_host_map_uri_async(AtollManagerHost *self, const char *uri,
				      GCancellable *cancellable, GAsyncReadyCallback callback,
				      gpointer user_data);
char *atoll_manager_host_map_uri_finish(AtollManagerHost *self, GAsyncResult *result,
					GError **error);

/* ssh's stderr -> a message saying what went wrong and what to do (the
 * raw text when nothing is recognised).  Exposed for tests. */
char *atoll_manager_host_explain_ssh(const char *destination, const char *ssh_stderr);

G_END_DECLS
