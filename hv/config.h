/* The domain (VM) description atoll-vmm runs from: a JSON file and/or
 * command-line flags.  Format documented in docs/vm-config.md. */
#ifndef ATOLL_CONFIG_H
#define ATOLL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

enum lifecycle_action {
	ACTION_DESTROY,  /* the VMM exits */
	ACTION_RESTART,  /* the domain is booted again */
	ACTION_PRESERVE, /* the VMM stays, vCPUs stopped, for inspection */
};

enum chardev_kind {
	CHARDEV_NONE,
	CHARDEV_STDIO,  /* the VMM's stdin/stdout */
	CHARDEV_PTY,    /* a new pseudo-terminal; its path is logged */
	CHARDEV_UNIX,   /* a listening unix socket at `path` */
	CHARDEV_FILE,   /* output appended to `path`, no input */
};

struct chardev_config {
	enum chardev_kind kind;
	char *path;
};

struct disk_config {
	char *path;
	bool readonly;
	char *serial;    /* up to 20 bytes, shown to the guest; may be NULL */
};

struct nic_config {
	char *tap;       /* tap interface name to open (created if missing) */
	int tap_fd;      /* or an already-open tap fd handed over; -1 if none */
	char *socket;    /* or a unix stream socket speaking length-prefixed
			  * frames (passt): see backends/stream.h */
	uint8_t mac[6];
	bool has_mac;    /* else a stable MAC is derived from name + index */
};

/* A host PCI device given to the domain through VFIO (docs/vfio.md). */
struct pci_config {
	char *host;      /* DDDD:BB:DD.F, bound to vfio-pci */
	char *rom;       /* expansion ROM image instead of the device's; may be NULL */
};

enum gpu_kind {
	GPU_NONE,
	GPU_VIRTIO,   /* virtio-gpu (2D): Linux virtio_gpu */
	GPU_BOCHS,    /* QEMU's bochs-display: Linux bochs, firmware */
};

enum input_mode {
	INPUT_AUTO,   /* virtio-input when there is a display device */
	INPUT_ON,
	INPUT_OFF,
};

/* The SPICE console (docs/spice.md). */
enum spice_kind {
	SPICE_NONE,
	SPICE_UNIX,   /* listen on a unix socket (mode 0600, no password) */
	SPICE_TCP,    /* listen on host:port; a password is required */
	SPICE_FD,     /* one client on an already-connected socket handed over */
};

struct spice_config {
	enum spice_kind kind;
	char *path;       /* SPICE_UNIX */
	char *host;       /* SPICE_TCP: address to bind, default 127.0.0.1 */
	unsigned port;    /* SPICE_TCP */
	int fd;           /* SPICE_FD; -1 otherwise */
	char *password;   /* SPICE_TCP: the ticket clients must present */
	bool no_agent;    /* agent=off: no guest agent port, no clipboard */
};

/* What runs first (docs/uefi.md). */
enum firmware_kind {
	FIRMWARE_KERNEL,  /* the VMM loads a Linux kernel directly (default) */
	FIRMWARE_UEFI,    /* OVMF from flash; fw_cfg describes the machine */
	FIRMWARE_BIOS,    /* legacy BIOS: named, not implemented yet */
};

#define OVMF_CODE_DEFAULT "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define OVMF_VARS_TEMPLATE "/usr/share/OVMF/OVMF_VARS_4M.fd"

struct vm_config {
	char *name;
	uint64_t memory_mib;
	unsigned vcpus;
	char *kernel;
	char *initrd;    /* may be NULL */
	char *cmdline;   /* may be NULL */
	struct disk_config *disks;
	size_t n_disks;
	struct nic_config *nics;
	size_t n_nics;
	struct chardev_config serial;   /* 16550A on 0x3F8 */
	struct chardev_config console;  /* virtio-console; kind NONE = absent */
	bool rng;                       /* virtio-rng */
	enum lifecycle_action on_poweroff, on_reboot, on_crash;
	unsigned shutdown_timeout_s;    /* SIGTERM: power button, then force */
	char *control;                  /* control socket path (docs/vmm-control.md) */
	bool no_sandbox;                /* skip the seccomp sandbox (debugging) */
	enum gpu_kind gpu;              /* display device (docs/display.md) */
	enum input_mode input;          /* virtio-input keyboard + tablet */
	struct spice_config spice;      /* SPICE console; kind NONE = none */
	enum firmware_kind firmware;    /* docs/uefi.md */
	char *firmware_code;            /* OVMF code image (NULL: the default) */
	char *firmware_vars;            /* this domain's writable VARS file;
					 * NULL: the template, changes not kept */
	char *boot_order;               /* "disk0,net0,..." for the firmware */
	bool hyperv;                    /* Hyper-V enlightenments (docs/windows.md) */
	struct pci_config *pci;         /* host PCI devices (VFIO passthrough) */
	size_t n_pci;
	bool xhci;                      /* xHCI USB controller (docs/usb.md) */
	char **usb_hosts;               /* host USB devices attached at start: */
	size_t n_usb_hosts;             /* VID:PID or BUS-PORT specs; imply xhci */
};

#define VM_MAX_VCPUS 64
#define VM_MAX_DISKS 16
#define VM_MAX_NICS 8
#define VM_MAX_PCI 16
#define VM_MAX_USB_HOSTS 8
#define VM_MIN_MEMORY_MIB 16
#define VM_MAX_MEMORY_MIB (1024ULL * 1024) /* 1 TiB */

void vm_config_init(struct vm_config *cfg); /* defaults */
void vm_config_free(struct vm_config *cfg);
/* Load a JSON description; on error returns -1 and writes a message naming
 * the offending field into err (size errlen). */
int vm_config_load_json(struct vm_config *cfg, const char *json, size_t len,
			char *err, size_t errlen);
int vm_config_load_file(struct vm_config *cfg, const char *path,
			char *err, size_t errlen);
/* Apply command-line flags (see `atoll-vmm --help`) over cfg.  Returns 0,
 * 1 if --help was printed, or -1 with err filled. */
int vm_config_parse_args(struct vm_config *cfg, int argc, char **argv,
			 char *err, size_t errlen);
/* Whole-config checks (kernel present, sizes in range...). */
int vm_config_validate(const struct vm_config *cfg, char *err, size_t errlen);

const char *lifecycle_action_name(enum lifecycle_action a);
const char *gpu_kind_name(enum gpu_kind g);
const char *firmware_kind_name(enum firmware_kind f);
/* Whether the virtio-input keyboard and tablet are added. */
bool vm_config_input_enabled(const struct vm_config *cfg);

/* The --help text (also what to show after a usage error). */
void vm_config_usage(FILE *out, const char *prog);
/* MAC of NIC `index`: the configured one, else one derived from the domain
 * name and index (52:54:00:xx:xx:xx, stable across runs). */
void vm_config_nic_mac(const struct vm_config *cfg, size_t index, uint8_t mac[6]);

#endif
