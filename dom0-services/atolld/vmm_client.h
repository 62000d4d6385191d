/* The atoll-vmm control socket client (docs/vmm-control.md) and the
 * internal interfaces between supervisor.c, stats.c, console.c and
 * events.c.  Not part of the API other atolld modules use: that is
 * atolld.h.  See docs/supervision.md. */
#ifndef ATOLLD_VMM_CLIENT_H
#define ATOLLD_VMM_CLIENT_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

#include "atolld.h"

/* ---- vmm_client.c: async JSON-lines client on the default main context */

typedef struct VmmClient VmmClient;

/* One reply.  `reply` is the VMM's object when it said "ok": true, else
 * NULL and `error` says why: G_IO_ERROR_FAILED with the VMM's message,
 * G_IO_ERROR_CONNECTION_CLOSED when the connection dropped before the
 * reply, G_IO_ERROR_CANCELLED when the client was freed. */
typedef void (*VmmReplyFunc)(JsonObject *reply, const GError *error,
			     gpointer user_data);
/* The connection came up (connected = true) or went down. */
typedef void (*VmmConnFunc)(VmmClient *c, bool connected, gpointer user_data);

/* Connects to the unix socket at `path`, retrying until it exists, and
 * reconnects whenever the connection drops (the VMM re-creates its socket
 * when it restarts the domain), until freed. */
VmmClient *vmm_client_new(const char *path, VmmConnFunc on_conn,
			  gpointer user_data);
/* Frees the client; pending callbacks run with G_IO_ERROR_CANCELLED. */
void vmm_client_free(VmmClient *c);
bool vmm_client_connected(const VmmClient *c);
/* Sends {"cmd": cmd, ...args} (args may be NULL; its members are copied).
 * Requests made while disconnected wait for the next connection. */
void vmm_client_request(VmmClient *c, const char *cmd, JsonObject *args,
			VmmReplyFunc cb, gpointer user_data);

/* ---- supervisor.c internals, exposed for stats.c, console.c and tests */

/* The control client of a running domain, or NULL. */
VmmClient *supervisor_control(Domain *dom);
/* Paths under run_dir/vmm. */
char *supervisor_path(const Atolld *d, const char *name, const char *suffix);
/* atoll-vmm's argv (NULL-terminated, argv[0] = d->vmm_path).  nic_fds[i]
 * is the tap fd the VMM gets as fd 3 + i for NIC i, or -1 for a NIC that
 * is given by name in nic_taps[i]. */
GPtrArray *supervisor_build_argv(const Atolld *d, const DomainDef *def,
				 const int *nic_fds, char *const *nic_taps,
				 GError **error);
/* passt (user networking): its directory (run_dir/passt, owned by nobody
 * when atolld is root, since passt drops to nobody before binding), NIC
 * i's socket in it, and passt's argv (NULL-terminated) serving that socket. */
char *supervisor_passt_dir(const Atolld *d);
char *supervisor_passt_socket(const Atolld *d, const char *name, unsigned i);
GPtrArray *supervisor_passt_argv(const char *passt, const char *socket_path);
/* The exit reason for a waitpid status; last_line is the VMM's last log
 * line (for "vmm-error: ..."), may be NULL. */
char *supervisor_exit_reason(int wait_status, const char *last_line);
/* The exit reason told by the VMM's log, for a VMM whose exit status is
 * unknown (adopted, not our child); *code gets the matching exit code or
 * -1.  Never NULL. */
char *supervisor_reason_from_log(const char *log_path, int *code);
/* The last line the VMM wrote to its log in its current run, or NULL. */
char *supervisor_last_log_line(const char *log_path);
/* Pid file: written atomically; read returns 0 when absent or bad. */
bool supervisor_write_pidfile(const char *path, int pid, GError **error);
int supervisor_read_pidfile(const char *path);
/* Whether pid is an atoll-vmm serving control socket `control_path`. */
bool supervisor_is_our_vmm(const Atolld *d, int pid, const char *control_path);

/* ---- stats.c */
void stats_attach(Domain *dom);   /* new run: clear, sample every second */
void stats_detach(Domain *dom);   /* stop sampling, keep the history */
void stats_forget(Domain *dom);   /* free everything */
void stats_push(Domain *dom, const StatsSample *s);
#define STATS_RING_SAMPLES 3600

/* ---- console.c */
void console_attach(Domain *dom, const char *socket_path);
void console_detach(Domain *dom);   /* VMM gone: keep the log and viewers */
void console_forget(Domain *dom);   /* free everything, close viewers */
#define CONSOLE_MEM_BYTES (256 * 1024)

/* ---- events.c: WebSocket peers whose unread backlog atolld bounds, so a
 * client that stops reading costs bounded memory and never blocks. */
typedef struct _SoupWebsocketConnection SoupWebsocketConnection;
typedef struct {
	SoupWebsocketConnection *ws;
	GSocket *sock;        /* for the kernel's send-queue level */
	size_t backlog;       /* bytes queued while the kernel buffer was full */
	char *what;           /* for log lines */
} WsPeer;
#define WS_PEER_MAX_BACKLOG (1024 * 1024)
WsPeer *ws_peer_new(SoupWebsocketConnection *ws, GSocket *sock, const char *what);
void ws_peer_free(WsPeer *p);
/* Sends one message; returns false (and closes the peer, with a log line)
 * when the peer is too far behind or no longer open. */
bool ws_peer_send(WsPeer *p, bool binary, const void *data, size_t len);
/* Closes all subscribers and frees d->events (daemon exit). */
void events_free(Atolld *d);
/* Number of connected /v1/events subscribers (tests, diagnostics). */
unsigned events_subscribers(Atolld *d);

#endif
