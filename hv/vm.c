/* VM creation, the guest's devices, and the run loop with its lifecycle:
 * poweroff, reset, crash and SIGTERM (power button, then forced off). */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boot/acpi.h"
#include "boot/kernel_image.h"
#include "boot/linux.h"
#include "boot/bios.h"
#include "boot/uefi.h"
#include "devices/platform.h"
#include "control.h"
#include "devices/bochs_display.h"
#include "devices/i8042.h"
#include "devices/lpc.h"
#include "hyperv.h"
#include "irq.h"
#include "log.h"
#include "pci/pci.h"
#include "spice_module.h"
#include "usb/xhci.h"
#include "usb_host.h"
#include "vcpu.h"
#include "vfio_pci.h"
#include "virtio/console.h"
#include "virtio/virtio.h"

/* Placed where a PC has them, below the firmware flash. */
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ULL
#define KVM_TSS_ADDR          0xfeffd000ULL

/* Fill the caller's message buffer and evaluate to -1. */
static int set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
#define ERR(...) set_err(err, errlen, __VA_ARGS__)

static int kvm_open(struct vm *vm, char *err, size_t errlen)
{
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return ERR("cannot open /dev/kvm: %s — is the kvm module loaded and "
			   "are you in the kvm group?", strerror(errno));
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return ERR("/dev/kvm speaks an unknown KVM API version");
	static const struct { int cap; const char *name; } need[] = {
		{ KVM_CAP_IRQCHIP, "in-kernel irqchip" },
		{ KVM_CAP_IRQFD, "irqfd" },
		{ KVM_CAP_IOEVENTFD, "ioeventfd" },
		{ KVM_CAP_IRQ_ROUTING, "GSI routing" },
		{ KVM_CAP_PIT2, "in-kernel PIT" },
		{ KVM_CAP_IMMEDIATE_EXIT, "immediate_exit" },
	};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0)
			return ERR("this KVM lacks %s, which atoll-vmm needs", need[i].name);
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0)
		return ERR("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return ERR("KVM_CREATE_VM: %s", strerror(errno));
	return 0;
}

/* --hyperv on: KVM's Hyper-V leaves into the CPUID every vCPU gets. */
static int add_hyperv_cpuid(struct vm *vm, char *err, size_t errlen)
{
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYS_HYPERV_CPUID) <= 0 ||
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_HYPERV_SYNIC) <= 0)
		return ERR("--hyperv on: this KVM cannot report or emulate the Hyper-V "
			   "enlightenments (needs KVM_CAP_SYS_HYPERV_CPUID and SynIC; "
			   "Linux 5.11 or later); run without --hyperv");
	struct kvm_cpuid2 *hv = calloc(1, sizeof(*hv) + 64 * sizeof(hv->entries[0]));
	if (!hv)
		return ERR("out of memory");
	hv->nent = 64;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_HV_CPUID, hv) < 0) {
		free(hv);
		return ERR("KVM_GET_SUPPORTED_HV_CPUID: %s", strerror(errno));
	}
	struct kvm_cpuid2 *merged = hyperv_cpuid_merge(vm->cpuid, hv);
	free(hv);
	if (!merged)
		return ERR("out of memory");
	free(vm->cpuid);
	vm->cpuid = merged;
	log_info("Hyper-V enlightenments offered: relaxed, vapic, spinlocks, vpindex, "
		 "synic, stimer, time");
	return 0;
}

static int get_cpuid(struct vm *vm, char *err, size_t errlen)
{
	for (uint32_t n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return ERR("out of memory");
		c->nent = n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			vm->cpuid = c;
			return vm->cfg->hyperv ? add_hyperv_cpuid(vm, err, errlen) : 0;
		}
		free(c);
		if (errno != E2BIG)
			break;
	}
	return ERR("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
}

static int set_memslot(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
		       void *host)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

static int setup_memory(struct vm *vm, char *err, size_t errlen)
{
	uint64_t bytes = vm->cfg->memory_mib << 20;
	/* Firmware: low RAM must end below its ECAM window (same for both). */
	int ret = guest_memory_init_split(&vm->mem, bytes,
					  vm->cfg->firmware != FIRMWARE_KERNEL ?
					  UEFI_LOW_RAM_MAX : GUEST_LOW_RAM_MAX);
	if (ret)
		return ERR("cannot reserve %llu MiB for guest memory: %s",
			   (unsigned long long)vm->cfg->memory_mib, strerror(-ret));
	ret = set_memslot(vm, 0, 0, vm->mem.low_size, vm->mem.host);
	if (!ret && vm->mem.high_size)
		ret = set_memslot(vm, 1, GUEST_HIGH_RAM_BASE, vm->mem.high_size,
				  vm->mem.host + vm->mem.low_size);
	if (ret)
		return ERR("KVM_SET_USER_MEMORY_REGION: %s", strerror(-ret));
	return 0;
}

static int setup_irqchip(struct vm *vm, char *err, size_t errlen)
{
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ KVM_IDENTITY_MAP_ADDR }) < 0)
		return ERR("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0)
		return ERR("KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return ERR("KVM_CREATE_IRQCHIP: %s", strerror(errno));
	struct kvm_pit_config pit = { .flags = 0 };
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return ERR("KVM_CREATE_PIT2: %s", strerror(errno));
	int ret = irq_init(vm);
	if (ret)
		return ERR("setting up interrupt routing: %s", strerror(-ret));
	return 0;
}

static int build_acpi(struct vm *vm, char *err, size_t errlen)
{
	struct acpi_platform p = {
		.n_cpus = vm->cfg->vcpus,
		.ecam_base = PCI_ECAM_BASE,
		.ecam_bus_end = (uint8_t)(PCI_ECAM_SIZE / (1u << 20) - 1),
		.mmio32_base = PCI_MMIO32_BASE, .mmio32_size = PCI_MMIO32_SIZE,
		.mmio64_base = vm->pci->mmio64_base, .mmio64_size = PCI_MMIO64_SIZE,
		.ioapic_addr = (uint32_t)IOAPIC_BASE, .lapic_addr = (uint32_t)LAPIC_BASE,
	};
	uint8_t *buf = guest_ptr(&vm->mem, BOOT_ACPI_ADDR, BOOT_ACPI_SIZE);
	if (!buf || acpi_build(&p, buf, BOOT_ACPI_SIZE, BOOT_ACPI_ADDR) == 0)
		return ERR("the ACPI tables do not fit in %u KiB", BOOT_ACPI_SIZE / 1024);
	return 0;
}

static int create_devices(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *cfg = vm->cfg;

	vm->pci = calloc(1, sizeof(*vm->pci));
	if (!vm->pci || pci_host_init(vm->pci, vm))
		return ERR("cannot set up the PCI host bridge");
	display_init(&vm->display);
	if (acpi_pm_create(vm) || rtc_create(vm))
		return ERR("cannot create the platform devices");
	if (serial_create(vm, &cfg->serial, COM1_PORT, COM1_IRQ))
		return ERR("cannot open the serial console backend (see above)");
	for (size_t i = 0; i < cfg->n_disks; i++)
		if (virtio_blk_create(vm, &cfg->disks[i], (unsigned)i))
			return ERR("disks[%zu] (%s): cannot attach (see above)", i,
				   cfg->disks[i].path);
	for (size_t i = 0; i < cfg->n_nics; i++)
		if (virtio_net_create(vm, &cfg->nics[i], (unsigned)i))
			return ERR("nics[%zu]: cannot attach (see above)", i);
	/* A SPICE console brings the agent's port (docs/spice.md). */
	static const char *const agent_port[] = { VIRTIO_CONSOLE_SPICE_PORT };
	unsigned n_ports = cfg->spice.kind != SPICE_NONE && !cfg->spice.no_agent ? 1 : 0;
	if ((cfg->console.kind != CHARDEV_NONE || n_ports) &&
	    virtio_console_create_ports(vm, &cfg->console, agent_port, n_ports))
		return ERR("cannot create the virtio console (see above)");
	if (cfg->rng && virtio_rng_create(vm))
		return ERR("cannot create the virtio-rng device");
	if (cfg->gpu == GPU_VIRTIO && virtio_gpu_create(vm))
		return ERR("cannot create the virtio-gpu device (see above)");
	if (cfg->gpu == GPU_BOCHS && bochs_display_create(vm))
		return ERR("cannot create the bochs-display device (see above)");
	if (vfio_pci_create_all(vm, err, errlen))
		return -1;
	if (cfg->xhci && xhci_create(vm, &vm->xhci))
		return ERR("cannot create the xHCI USB controller (see above)");
	if (vm->xhci) {
		usb_host_set_controller(vm->xhci, &vm->loop);
		if (usb_host_attach_all(cfg->usb_hosts, cfg->n_usb_hosts, err, errlen))
			return -1;
	}
	if (vm_config_input_enabled(cfg) && virtio_input_create(vm))
		return ERR("cannot create the virtio-input devices (see above)");
	/* After virtio-input: the PS/2 keyboard is the fallback input sink. */
	if (i8042_create(vm))
		return ERR("cannot create the platform devices");
	/* The console backend last: it shows what the devices above draw. */
	if (vm_spice_start(vm, &cfg->spice, err, errlen))
		return -1;
	return 0;
}

static void exit_wake(void *opaque, uint32_t events)
{
	(void)events;
	struct vm *vm = opaque;
	uint64_t n;
	if (read(vm->exit_wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("exit eventfd: %s", strerror(errno));
	evloop_stop(&vm->loop);
}

int vm_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->kvm_fd = vm->vm_fd = vm->exit_wake_fd = -1;
	vm->loop.epfd = -1;
	pthread_mutex_init(&vm->gsi_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	vm->started_ms = vm_uptime_ms(vm);
	bus_init(&vm->io_bus, "io");
	bus_init(&vm->mmio_bus, "mmio");
	if (evloop_init(&vm->loop))
		return ERR("epoll_create: %s", strerror(errno));
	vm->exit_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->exit_wake_fd < 0 ||
	    !evloop_add(&vm->loop, vm->exit_wake_fd, EPOLLIN, exit_wake, vm))
		return ERR("eventfd: %s", strerror(errno));
	if (kvm_open(vm, err, errlen) || get_cpuid(vm, err, errlen) ||
	    setup_memory(vm, err, errlen) || setup_irqchip(vm, err, errlen))
		return -1;
	if (create_devices(vm, err, errlen))
		return -1;
	/* Firmware gets the ACPI tables through fw_cfg and places them
	 * itself; a direct kernel boot finds them at BOOT_ACPI_ADDR. */
	if (cfg->firmware == FIRMWARE_UEFI ? uefi_create(vm, err, errlen) :
	    cfg->firmware == FIRMWARE_BIOS ? bios_create(vm, err, errlen) :
	    build_acpi(vm, err, errlen))
		return -1;
	if (cfg->control && !(vm->control = control_open(vm, cfg->control, err, errlen)))
		return -1;
	return 0;
}

void vm_request_exit(struct vm *vm, enum vm_exit_reason reason)
{
	int expected = VM_RUNNING;
	if (!atomic_compare_exchange_strong(&vm->exit_reason, &expected, (int)reason))
		return;
	uint64_t one = 1;
	if (write(vm->exit_wake_fd, &one, sizeof(one)) < 0)
		log_debug("exit eventfd: %s", strerror(errno));
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, int fd, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = addr, .len = len, .fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};
	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* Slots 0 and 1 hold RAM (setup_memory); device RAM takes 2..63. */
#define EXTRA_SLOT_FIRST 2
#define EXTRA_SLOT_END   64

static int map_ram(struct vm *vm, uint64_t gpa, uint64_t size, void *host,
		   uint32_t flags, int *slot)
{
	if (vm->vm_fd < 0)
		return -EBADF;
	for (int s = EXTRA_SLOT_FIRST; s < EXTRA_SLOT_END; s++) {
		if (vm->extra_slots & (1ULL << s))
			continue;
		struct kvm_userspace_memory_region r = {
			.slot = (uint32_t)s, .flags = flags, .guest_phys_addr = gpa,
			.memory_size = size, .userspace_addr = (uint64_t)(uintptr_t)host,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return -errno;
		vm->extra_slots |= 1ULL << s;
		*slot = s;
		return 0;
	}
	return -ENOSPC;
}

int vm_map_ram(struct vm *vm, uint64_t gpa, uint64_t size, void *host,
	       bool readonly, int *slot)
{
	return map_ram(vm, gpa, size, host, readonly ? KVM_MEM_READONLY : 0, slot);
}

int vm_map_ram_logged(struct vm *vm, uint64_t gpa, uint64_t size, void *host,
		      int *slot)
{
	return map_ram(vm, gpa, size, host, KVM_MEM_LOG_DIRTY_PAGES, slot);
}

void vm_unmap_ram(struct vm *vm, int slot)
{
	if (slot < EXTRA_SLOT_FIRST || slot >= EXTRA_SLOT_END ||
	    !(vm->extra_slots & (1ULL << slot)))
		return;
	/* A zero size deletes the slot. */
	struct kvm_userspace_memory_region r = { .slot = (uint32_t)slot };
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		log_warn("cannot remove KVM memory slot %d: %s", slot, strerror(errno));
	vm->extra_slots &= ~(1ULL << slot);
}

int vm_dirty_log(struct vm *vm, int slot, uint64_t *bitmap)
{
	struct kvm_dirty_log log = { .slot = (uint32_t)slot, .dirty_bitmap = bitmap };

	if (vm->vm_fd < 0)
		return -EBADF;
	return ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -errno : 0;
}

/* Read a whole file for the boot loader, with a message on failure. */
static uint8_t *slurp(const char *what, const char *path, size_t *len,
		      char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		ERR("%s %s: %s", what, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	void *p = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
			     : MAP_FAILED;
	close(fd);
	if (p == MAP_FAILED) {
		ERR("%s %s: %s", what, path, st.st_size ? strerror(errno) : "empty file");
		return NULL;
	}
	*len = (size_t)st.st_size;
	return p;
}

static int load_kernel(struct vm *vm, struct linux_boot *boot, char *err, size_t errlen)
{
	const struct vm_config *cfg = vm->cfg;
	size_t klen = 0, ilen = 0;
	uint8_t *initrd = NULL;
	uint8_t *kernel = slurp("kernel", cfg->kernel, &klen, err, errlen);
	if (!kernel)
		return -1;
	if (cfg->initrd && !(initrd = slurp("initrd", cfg->initrd, &ilen, err, errlen))) {
		munmap(kernel, klen);
		return -1;
	}
	/* Decompressing the kernel here (once; later boots hit the cache)
	 * spares the guest its own decompressor.  The RSDP sits first in the
	 * ACPI blob. */
	struct kernel_elf elf;
	int ret = kernel_image_vmlinux(cfg->kernel, kernel, klen, NULL, true, &elf,
				       err, errlen);
	uint64_t t0 = vm_uptime_ms(vm);
	if (ret == 0) {
		ret = linux_load_vmlinux(&vm->mem, kernel, klen, elf.data, elf.len,
					 initrd, ilen, cfg->cmdline ? cfg->cmdline : "",
					 BOOT_ACPI_ADDR, boot, err, errlen);
		kernel_elf_release(&elf);
		log_info("kernel: booting its vmlinux (from the host's cache) directly; "
			 "loaded in %llu ms", (unsigned long long)(vm_uptime_ms(vm) - t0));
	} else if (ret == 1) {
		log_info("kernel: the guest decompresses it this time; its vmlinux is being "
			 "cached for later boots");
		ret = linux_load(&vm->mem, kernel, klen, initrd, ilen,
				 cfg->cmdline ? cfg->cmdline : "", BOOT_ACPI_ADDR,
				 boot, err, errlen);
	}
	munmap(kernel, klen);
	if (initrd)
		munmap(initrd, ilen);
	return ret;
}

static void shutdown_timeout(void *opaque, uint32_t events)
{
	(void)events;
	struct vm *vm = opaque;
	log_warn("the guest did not power off in time after the power button; "
		 "forcing it off");
	vm_request_exit(vm, VM_EXIT_FORCED);
}

void vm_shutdown(struct vm *vm, unsigned timeout_s)
{
	acpi_pm_power_button(vm);
	if (vm->shutdown_timer)
		evloop_remove(&vm->loop, vm->shutdown_timer);
	vm->shutdown_timer = evloop_timer(&vm->loop, (uint64_t)timeout_s * 1000, false,
					  shutdown_timeout, vm);
	/* A paused guest cannot react to the button. */
	vm_pause(vm, false);
}

static void on_signal(void *opaque, uint32_t events)
{
	(void)events;
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	if (read(vm->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGUSR2) {
		vm_dump_state(vm);
		return;
	}
	if (vm->shutdown_timer) {
		log_warn("second %s: forcing the domain off", strsignal((int)si.ssi_signo));
		vm_request_exit(vm, VM_EXIT_FORCED);
		return;
	}
	log_info("%s: pressing the ACPI power button; forcing off in %u s if the guest "
		 "does not shut down", strsignal((int)si.ssi_signo), vm->cfg->shutdown_timeout_s);
	vm_shutdown(vm, vm->cfg->shutdown_timeout_s);
}

static int setup_signals(struct vm *vm, char *err, size_t errlen)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	vm->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->signal_fd < 0 || !evloop_add(&vm->loop, vm->signal_fd, EPOLLIN, on_signal, vm))
		return ERR("signalfd: %s", strerror(errno));
	return 0;
}

static int start_vcpus(struct vm *vm, int (*setup)(struct vcpu *, void *),
		       void *opaque, char *err, size_t errlen)
{
	vm->n_vcpus = vm->cfg->vcpus;
	vm->vcpus = calloc(vm->n_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return ERR("out of memory");
	for (unsigned i = 0; i < vm->n_vcpus; i++)
		if (!(vm->vcpus[i] = vcpu_create(vm, i, err, errlen)))
			return -1;
	int ret = setup(vm->vcpus[0], opaque);
	if (ret)
		return ERR("setting the boot vCPU's registers: %s", strerror(-ret));
	for (unsigned i = 0; i < vm->n_vcpus; i++)
		if ((ret = vcpu_start(vm->vcpus[i])))
			return ERR("starting vCPU %u: %s", i, strerror(-ret));
	return 0;
}

void vm_pause(struct vm *vm, bool pause)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused == pause) {
		pthread_mutex_unlock(&vm->pause_lock);
		return;
	}
	vm->paused = pause;
	if (!pause) {
		pthread_cond_broadcast(&vm->pause_cond);
		pthread_mutex_unlock(&vm->pause_lock);
		log_info("resumed");
		return;
	}
	pthread_mutex_unlock(&vm->pause_lock);
	for (unsigned i = 0; i < vm->n_vcpus; i++)
		if (vm->vcpus[i])
			vcpu_kick(vm->vcpus[i]);
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->paused && vm->n_parked < vm->n_vcpus &&
	       atomic_load(&vm->exit_reason) == VM_RUNNING)
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
	log_info("paused");
}

void vm_dump_state(struct vm *vm)
{
	log_warn("state dump (SIGUSR2): up %llu ms, %s, exit reason %d",
		 (unsigned long long)vm_uptime_ms(vm), vm->paused ? "paused" : "running",
		 atomic_load(&vm->exit_reason));
	for (unsigned i = 0; i < vm->n_virtio; i++) {
		struct virtio_device *dev = vm->virtio_devs[i];
		pthread_mutex_lock(&dev->lock);
		log_warn("%s: status 0x%x%s, isr %u", dev->pci.name, dev->status,
			 dev->broken ? " BROKEN" : "", dev->isr);
		for (uint16_t q = 0; q < dev->n_queues; q++) {
			struct virtq *vq = &dev->vqs[q];
			if (!vq->enabled)
				continue;
			log_warn("%s: queue %u: avail idx %u, consumed %u, used idx %u, "
				 "vector %u%s", dev->pci.name, q, vq->avail[1],
				 vq->last_avail, vq->used_idx, vq->msix_vector,
				 msix_enabled(&dev->msix) ? "" : " (MSI-X off)");
		}
		pthread_mutex_unlock(&dev->lock);
	}
	/* Each vCPU dumps its own registers when the kick takes it out of
	 * KVM_RUN: only the thread that owns a vCPU may touch its state. */
	atomic_fetch_add(&vm->dump_gen, 1);
	for (unsigned i = 0; i < vm->n_vcpus; i++)
		if (vm->vcpus[i])
			vcpu_kick(vm->vcpus[i]);
}

uint64_t vm_uptime_ms(const struct vm *vm)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 - vm->started_ms;
}

static void stop_vcpus(struct vm *vm)
{
	/* Parked vCPUs wake up, see the exit reason and leave. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (unsigned i = 0; i < vm->n_vcpus; i++)
		if (vm->vcpus[i])
			vcpu_kick(vm->vcpus[i]);
	for (unsigned i = 0; i < vm->n_vcpus; i++)
		if (vm->vcpus[i])
			vcpu_join(vm->vcpus[i]);
}

enum vm_exit_reason vm_run_with(struct vm *vm, int (*setup)(struct vcpu *, void *),
				void *opaque, char *err, size_t errlen)
{
	if (setup_signals(vm, err, errlen) || start_vcpus(vm, setup, opaque, err, errlen)) {
		vm_request_exit(vm, VM_EXIT_ERROR);
		stop_vcpus(vm);
		return VM_EXIT_ERROR;
	}
	int ret = evloop_run(&vm->loop);
	if (ret)
		snprintf(err, errlen, "event loop: %s", strerror(-ret));
	stop_vcpus(vm);
	return (enum vm_exit_reason)atomic_load(&vm->exit_reason);
}

static int setup_linux_bsp(struct vcpu *vcpu, void *boot)
{
	return vcpu_setup_linux(vcpu, boot);
}

enum vm_exit_reason vm_run(struct vm *vm, char *err, size_t errlen)
{
	struct linux_boot boot;

	if (vm->uefi || vm->bios)
		return vm_run_with(vm, uefi_setup_bsp, NULL, err, errlen);
	if (load_kernel(vm, &boot, err, errlen))
		return VM_EXIT_ERROR;
	return vm_run_with(vm, setup_linux_bsp, &boot, err, errlen);
}

void vm_destroy(struct vm *vm)
{
	/* Before the display devices whose pixels it reads. */
	vm_spice_stop(vm);
	control_close(vm->control);
	vm->control = NULL;
	for (unsigned i = 0; i < vm->n_virtio; i++)
		virtio_pci_destroy(vm->virtio_devs[i]);
	vm->n_virtio = 0;
	bochs_display_destroy(vm);
	/* After the vCPUs stopped: the devices are reset and released. */
	vfio_pci_destroy_all(vm);
	if (vm->xhci) {
		/* Gives every host USB device back to the host's drivers. */
		xhci_destroy(vm->xhci);
		usb_host_set_controller(NULL, NULL);
		vm->xhci = NULL;
	}
	i8042_destroy(vm);
	uefi_destroy(vm);
	bios_destroy(vm);
	q35_destroy(vm);
	acpi_pm_destroy(vm);
	for (unsigned i = 0; i < vm->n_vcpus; i++)
		vcpu_destroy(vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	free(vm->cpuid);
	free(vm->routing);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	guest_memory_free(&vm->mem);
}
