/* A virtual machine: KVM VM fd, guest memory, buses, vCPU threads and the
 * event loop.  Owns the lifecycle (poweroff, reboot, crash, SIGTERM). */
#ifndef ATOLL_VM_H
#define ATOLL_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "display.h"
#include "evloop.h"
#include "memory.h"

struct pci_host;
struct vcpu;
struct control;
struct virtio_device;
struct uefi;
struct bios;

/* Why the VM stopped running its vCPUs. */
enum vm_exit_reason {
	VM_RUNNING = 0,
	VM_EXIT_POWEROFF,  /* ACPI S5 */
	VM_EXIT_REBOOT,    /* reset requested (ACPI reset reg, i8042, CF9) */
	VM_EXIT_CRASH,     /* triple fault without a reset request, bad exit */
	VM_EXIT_FORCED,    /* SIGTERM grace period over, or SIGINT/SIGKILL-like */
	VM_EXIT_ERROR,     /* the VMM itself failed */
};

struct vm {
	const struct vm_config *cfg;
	int kvm_fd, vm_fd;
	int vcpu_mmap_size;
	struct guest_memory mem;
	struct bus io_bus, mmio_bus;
	struct evloop loop;
	struct pci_host *pci;

	struct vcpu **vcpus;
	unsigned n_vcpus;

	/* GSI routing table kept here because KVM_SET_GSI_ROUTING replaces it
	 * whole. */
	pthread_mutex_t gsi_lock;
	struct kvm_irq_routing *routing;
	uint32_t next_gsi;

	_Atomic int exit_reason;       /* enum vm_exit_reason */
	int exit_wake_fd;              /* eventfd: a vCPU asks the loop to stop */
	struct kvm_cpuid2 *cpuid;      /* KVM_GET_SUPPORTED_CPUID */
	uint32_t crash_vcpu;           /* which vCPU reported the crash */
	void *acpi_pm;                 /* struct acpi_pm *, for the power button */
	void *lpc;                     /* struct lpc *, firmware domains (devices/lpc.c) */
	struct control *control;       /* control socket, NULL without --control */
	struct xhci *xhci;             /* USB controller, NULL without --xhci/--usb */
	const char *serial_path;       /* the serial console's pty/socket, or NULL */
	uint64_t started_ms;           /* CLOCK_MONOTONIC at vm_create */
	struct evloop_watch *shutdown_timer;  /* set while a shutdown is pending */

	/* Pausing parks every vCPU thread outside KVM_RUN. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	bool paused;
	unsigned n_parked;

	_Atomic unsigned dump_gen;     /* SIGUSR2: bumped to ask vCPUs for a dump */

	struct virtio_device *virtio_devs[32];  /* for stats */
	unsigned n_virtio;
	int signal_fd;                 /* SIGTERM/SIGINT/SIGHUP, blocked elsewhere */

	struct display display;        /* the console: display device and input */
	uint64_t extra_slots;          /* vm_map_ram: bit n = KVM slot n in use */
	struct uefi *uefi;             /* firmware=uefi: flash + fw_cfg, else NULL */
	struct bios *bios;             /* firmware=bios: image + fw_cfg, else NULL */
};

/* Create the VM and every device the config names.  err gets a message. */
int vm_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);
/* Load the kernel, start vCPUs, run the event loop until the guest stops.
 * Returns the exit reason. */
enum vm_exit_reason vm_run(struct vm *vm, char *err, size_t errlen);
/* Run with the boot vCPU set up by `setup` instead of a Linux kernel
 * (tiny test guests, later firmware). */
enum vm_exit_reason vm_run_with(struct vm *vm, int (*setup)(struct vcpu *, void *),
				void *opaque, char *err, size_t errlen);
void vm_destroy(struct vm *vm);

/* Called from any thread (device, vCPU) to stop the VM for `reason`; the
 * first reason given wins. */
void vm_request_exit(struct vm *vm, enum vm_exit_reason reason);
/* A reset was requested by the guest (i8042 0xFE, ACPI reset register). */
static inline void vm_request_reset(struct vm *vm) { vm_request_exit(vm, VM_EXIT_REBOOT); }

/* Stop (true) or restart the vCPUs; returns once all are parked. */
void vm_pause(struct vm *vm, bool pause);
/* Press the power button; force the domain off after timeout_s. */
void vm_shutdown(struct vm *vm, unsigned timeout_s);
/* Log every vCPU's registers and every virtio queue's indices (SIGUSR2):
 * for a guest that seems stuck. */
void vm_dump_state(struct vm *vm);
/* Milliseconds since the VM was created. */
uint64_t vm_uptime_ms(const struct vm *vm);

/* Register an ioeventfd: a guest write of `len` bytes to MMIO `addr`
 * signals `fd` without leaving the kernel.  `assign` false removes it. */
int vm_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, int fd, bool assign);

/* Extra guest memory backed by host memory (device RAM such as a display
 * framebuffer BAR): the guest reads and writes it without exits.  *slot
 * gets the KVM slot.  vm_map_ram_logged also turns on dirty page logging
 * for vm_dirty_log.  Return 0 or a negative errno. */
int vm_map_ram(struct vm *vm, uint64_t gpa, uint64_t size, void *host,
	       bool readonly, int *slot);
int vm_map_ram_logged(struct vm *vm, uint64_t gpa, uint64_t size, void *host,
		      int *slot);
void vm_unmap_ram(struct vm *vm, int slot);
/* Fetch and clear the slot's dirty page bitmap (one bit per 4 KiB page,
 * `bitmap` sized for the whole slot, 64-bit words). */
int vm_dirty_log(struct vm *vm, int slot, uint64_t *bitmap);

#endif
