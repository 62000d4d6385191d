/* atolld's shared types: the daemon, its domains, and the interfaces
 * between its modules (store, supervisor, API, stats, events, console).
 * See docs/api.md for the API contract and docs/architecture.md. */
#ifndef ATOLLD_H
#define ATOLLD_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#define ATOLLD_ERROR atolld_error_quark()
GQuark atolld_error_quark(void);

/* Error kinds; each maps to one HTTP status (docs/api.md). */
typedef enum {
	ATOLLD_ERROR_BAD_REQUEST,   /* 400, GError message names the field */
	ATOLLD_ERROR_NOT_FOUND,     /* 404 */
	ATOLLD_ERROR_CONFLICT,      /* 409 */
	ATOLLD_ERROR_TOO_LARGE,     /* 413 */
	ATOLLD_ERROR_HOST,          /* 500: the host failed; message says what to do */
} AtolldError;

typedef enum {
	DOMAIN_SHUTOFF,
	DOMAIN_STARTING,
	DOMAIN_RUNNING,
	DOMAIN_PAUSED,
	DOMAIN_SHUTTING_DOWN,
	DOMAIN_CRASHED,
	DOMAIN_BROKEN,   /* the definition on disk does not load */
} DomainState;

const char *domain_state_name(DomainState s);

typedef enum { NIC_NETWORK, NIC_ISOLATED, NIC_USER } NicType;

typedef struct {
	char *path;
	bool readonly;
	char *serial;
} DiskDef;

typedef struct {
	NicType type;
	char *network;      /* NIC_NETWORK: libvirt network name ("default") */
	char mac[18];       /* "52:54:00:xx:xx:xx", generated if not given */
} NicDef;

typedef enum { GRAPHICS_NONE, GRAPHICS_SPICE } GraphicsType;
typedef enum { GPU_VIRTIO, GPU_BOCHS } GpuModel;

/* "graphics": a screen, keyboard and tablet, served over SPICE on
 * run_dir/vmm/NAME.spice.  All zero is "none". */
typedef struct {
	GraphicsType type;
	GpuModel gpu;       /* GRAPHICS_SPICE only */
} GraphicsDef;

/* "pci": a host PCI function passed through (VFIO); host is normalised
 * "0000:01:00.0".  rom: an option ROM file for the guest (GPUs). */
typedef struct {
	char host[13];
	char *rom;
} PciDef;

/* "usb": a host USB device, "VID:PID" or "BUS-PORT" ("1-4.2"),
 * normalised to lower-case hex. */
typedef struct {
	char *host;
} UsbDef;

/* A domain definition: the VM description plus management data. */
typedef struct {
	char *name;
	uint64_t memory_mib;
	unsigned vcpus;
	char *kernel, *initrd, *cmdline;
	GPtrArray *disks;   /* DiskDef* */
	GPtrArray *nics;    /* NicDef* */
	char *on_poweroff, *on_reboot, *on_crash;
	unsigned shutdown_timeout_s;
	bool autostart;
	char *label;
	GraphicsDef graphics;
	GPtrArray *pci;     /* PciDef* */
	GPtrArray *usb;     /* UsbDef* */
	bool usb_controller; /* an xHCI even without usb entries (hot-plug) */
	char *firmware;     /* "kernel" (NULL), "uefi" or "bios" (docs/uefi.md) */
	char *boot_order;   /* firmware: "disk0,net0,...", NULL: its default */
} DomainDef;

/* definition.c: JSON <-> DomainDef, strict validation.  Errors are
 * ATOLLD_ERROR_BAD_REQUEST with a message that starts with the field path
 * ("disks[1].path: ..."). */
DomainDef *domain_def_from_json(JsonNode *node, GError **error);
JsonNode *domain_def_to_json(const DomainDef *def);
void domain_def_free(DomainDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainDef, domain_def_free)
bool domain_name_valid(const char *name);

/* One stats sample (stats.c keeps one per second per running domain). */
typedef struct {
	int64_t t;                  /* unix time, seconds */
	double cpu_time_s;
	uint64_t memory_rss_bytes;
	uint64_t disk_rd_bytes, disk_wr_bytes, disk_rd_ops, disk_wr_ops;
	uint64_t net_rx_bytes, net_tx_bytes;
} StatsSample;

typedef struct Domain Domain;
typedef struct Atolld Atolld;

struct Domain {
	Atolld *daemon;
	DomainDef *def;          /* NULL when state == DOMAIN_BROKEN */
	char *name;
	char *broken_reason;     /* why the file did not load */
	DomainState state;
	int pid;                 /* VMM pid, 0 when not running */
	int64_t started_at;
	char *last_exit_reason;  /* "poweroff", "reboot", "crash", "destroyed", "vmm-error: ..." */
	int last_exit_code;
	int64_t last_exit_at;
	void *vmm;               /* supervisor.c's per-VMM state */
	void *stats;             /* stats.c's ring of StatsSample */
	void *console;           /* console.c's serial bridge and bounded log */
	/* passthrough.c, while the VMM runs: the PCI functions bound to
	 * vfio-pci for it, and its USB devices (the definition's and the
	 * hot-attached ones) as given and as resolved to bus-port paths. */
	GPtrArray *pci_held;     /* "0000:01:00.0" */
	GPtrArray *usb_held;     /* UsbHeld* (passthrough.c) */
};

struct Atolld {
	char *state_dir;         /* /var/lib/atoll: domains/, images/, ... */
	char *run_dir;           /* /run/atoll: atolld.sock, vmm/NAME.{pid,control,console} */
	char *vmm_path;          /* the atoll-vmm binary */
	GHashTable *domains;     /* name -> Domain* */
	void *server;            /* api.c */
	void *events;            /* events.c */
	void *libvirt;           /* dom0-services/libvirt host resources */
	void *usb_watch;         /* usb_watch.c: host USB hot-plug */
	char *sysfs_root;        /* "/sys", or $ATOLL_SYSFS_ROOT (tests) */
	/* Tests: the sysfs writer passthrough uses (HostPciWriteFn), or NULL. */
	void *pci_write_fn, *pci_write_data;
};

/* store.c: one file per domain in state_dir/domains, atomic writes. */
void store_load_all(Atolld *d);   /* broken files become DOMAIN_BROKEN entries */
bool store_save(Atolld *d, const DomainDef *def, GError **error);
bool store_delete(Atolld *d, const char *name, GError **error);
/* A UEFI domain's variable store, state_dir/nvram/NAME_VARS.fd: created
 * from the OVMF template (atomically) unless it exists; deleted only with
 * the disks (undefine ?delete_disks=true). */
char *store_nvram_path(const Atolld *d, const char *name);
bool store_nvram_create(const Atolld *d, const char *name, GError **error);
bool store_nvram_delete(const Atolld *d, const char *name, GError **error);

/* supervisor.c: runs and re-adopts atoll-vmm processes. */
bool supervisor_start(Domain *dom, GError **error);
bool supervisor_shutdown(Domain *dom, unsigned timeout_s, GError **error);
bool supervisor_destroy(Domain *dom, GError **error);
bool supervisor_reboot(Domain *dom, GError **error);
bool supervisor_pause(Domain *dom, bool pause, GError **error);
void supervisor_adopt_all(Atolld *d);   /* after a daemon restart */
/* Warm atoll-vmm's kernel cache for def's kernel in the background
 * (`atoll-vmm --prepare-kernel`), so its first boot is as fast as later
 * ones.  Failures only cost that speed-up. */
void supervisor_prepare_kernel(Atolld *d, const DomainDef *def);
/* Where a SPICE client connects to the domain ("spice+unix:///..."), as
 * the running VMM reported it (control `spice-info`); NULL when the domain
 * is not running, has no SPICE console or the VMM has not answered yet. */
const char *supervisor_spice_uri(Domain *dom);
/* Stop watching the domain's VMM without touching the process, and free
 * the supervisor, stats and console state of the domain.  Call it before
 * freeing a Domain (undefine, daemon exit); a running VMM keeps running
 * and is re-adopted by the next daemon. */
void supervisor_forget(Domain *dom);

/* The HTTP server (api.c); other modules add their WebSocket routes. */
typedef struct _SoupServer SoupServer;
void events_register(Atolld *d, SoupServer *server);    /* /v1/events */
void console_register(Atolld *d, SoupServer *server);   /* /v1/domains/{name}/console */
/* console.c: the bounded serial log of a domain, or NULL. */
GBytes *console_log(Domain *dom);

/* stats.c: samples with t > `since` (unix seconds), oldest first; the
 * last hour of the current (or last) run of the VMM. */
GArray *stats_history(Domain *dom, int64_t since);   /* of StatsSample */

/* events.c: broadcast to /v1/events subscribers. */
void events_emit_state(Atolld *d, Domain *dom, const char *reason);
void events_emit(Atolld *d, JsonNode *event);   /* takes ownership */

/* Set dom->state and emit the event. */
void domain_set_state(Domain *dom, DomainState state, const char *reason);

/* daemon.c: the daemon object and its domain table. */
#define ATOLLD_MAX_BODY (1024 * 1024)   /* larger request bodies: 413 */
/* Creates state_dir/domains, state_dir/images, run_dir and run_dir/vmm. */
Atolld *atolld_new(const char *state_dir, const char *run_dir,
		   const char *vmm_path, GError **error);
void atolld_free(Atolld *d);   /* leaves running VMMs running */
Domain *atolld_lookup(Atolld *d, const char *name);
/* A new shutoff entry that takes ownership of def. */
Domain *atolld_add_domain(Atolld *d, DomainDef *def);
/* A DOMAIN_BROKEN entry for a file that does not load. */
Domain *atolld_add_broken(Atolld *d, const char *name, const char *reason);
void atolld_remove_domain(Atolld *d, const char *name);
/* True while a VMM process exists for the domain (any state). */
bool domain_is_active(const Domain *dom);
/* Starts the shutoff domains marked autostart (needs the supervisor). */
void atolld_autostart(Atolld *d);

/* daemon.c, when built with libvirt: the daemon's libvirt connection
 * (dom0-services/libvirt/hostres.h), opened on first use from
 * $ATOLL_LIBVIRT_URI or qemu:///system; kept in d->libvirt. */
struct AtollLibvirt;
struct AtollLibvirt *atolld_libvirt(Atolld *d, GError **error);
/* Forget a connection that failed, so that the next use reconnects. */
void atolld_libvirt_reset(Atolld *d);

/* passthrough.c: host PCI and USB devices for domains (docs/api.md).
 * The JSON routes return a reply or NULL with an ATOLLD_ERROR. */
JsonNode *passthrough_host_pci(Atolld *d, GError **error);
JsonNode *passthrough_preflight(Atolld *d, const char *bdf, bool force,
				GError **error);
JsonNode *passthrough_assignable_list(Atolld *d, GError **error);
/* group: also take the group's other endpoints from their host drivers
 * (without it, that is refused, naming them). */
JsonNode *passthrough_assignable_add(Atolld *d, const char *bdf, bool group,
				     GError **error);
JsonNode *passthrough_assignable_remove(Atolld *d, const char *bdf,
					GError **error);
JsonNode *passthrough_host_usb(Atolld *d, GError **error);
/* A definition's pci entries against this host: functions of one device
 * must go together.  Errors name the field ("pci[0].host: ..."). */
bool passthrough_check_definition(Atolld *d, const DomainDef *def,
				  GError **error);
/* Domain start: no device used by another running domain, preflight,
 * then the groups bound to vfio-pci; on failure nothing stays bound. */
bool passthrough_domain_prepare(Domain *dom, GError **error);
/* The VMM is gone (or never started): original drivers back. */
void passthrough_domain_release(Domain *dom);
/* A VMM re-adopted after an atolld restart holds what its definition says. */
void passthrough_domain_adopt(Domain *dom);
/* --pci host=BDF[,rom=FILE] and --usb host=SPEC for atoll-vmm's argv. */
void passthrough_add_argv(const DomainDef *def, GPtrArray *argv);
/* Hot-plug through the VMM's control socket: done gets the VMM's reply
 * ({"id", "port"} for attach) or an error. */
typedef void (*PassthroughDone)(JsonNode *reply, const GError *error,
				gpointer data);
void passthrough_usb_attach(Domain *dom, const char *spec, PassthroughDone done,
			    gpointer data);
void passthrough_usb_detach(Domain *dom, const char *spec, PassthroughDone done,
			    gpointer data);
/* The domain's USB devices while it runs: [{"host", "path"}]. */
JsonNode *passthrough_domain_usb(Domain *dom);
/* The running domain that holds the device of a GET /v1/host/usb entry
 * (id "VID:PID", path "1-4.2"; id_unique: no twin of it is plugged in),
 * or NULL.  _unplugged also makes that domain forget the device, which
 * has left the host (usb_watch.c), so it can be attached again. */
Domain *passthrough_usb_user(Atolld *d, const char *id, const char *path,
			     bool id_unique);
Domain *passthrough_usb_unplugged(Atolld *d, const char *id, const char *path,
				  bool id_unique);

/* api.c: the HTTP server on run_dir/atolld.sock. */
/* clone.c: POST /v1/domains/{name}/clone (answers at once, copies in a
 * thread, reports "clone-*" events) and POST /v1/images (a new sparse raw
 * image under state_dir/images).  Both return the reply body. */
JsonNode *clone_start(Atolld *d, Domain *src, JsonNode *body, GError **error);
bool clone_busy(Atolld *d, const char *name);   /* source or target of a clone */
JsonNode *image_create(Atolld *d, JsonNode *body, GError **error);

bool api_start(Atolld *d, GError **error);
void api_stop(Atolld *d);   /* closes the socket and removes its file */

#endif
