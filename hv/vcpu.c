#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/linux.h"
#include "log.h"
#include "vm.h"

#define VCPU_KICK_SIGNAL SIGUSR1
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MISC_ENABLE_FAST_STRING 1

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

/* One socket, n cores, one thread per core, APIC id = vCPU index. */
void cpuid_patch(struct kvm_cpuid2 *cpuid, unsigned id, unsigned n)
{
	unsigned shift = bits_for(n);

	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffff) | (id << 24) |
				 ((n > 1 ? (1u << shift) : 1u) << 16);
			if (n > 1)
				e->edx |= 1u << 28;     /* HTT: count field valid */
			e->ecx |= 1u << 31;             /* running under a hypervisor */
			break;
		case 4:
			/* Cores per package sharing this cache level. */
			e->eax = (e->eax & 0x03ffffff) | ((n - 1) << 26);
			if ((e->eax & 0x1f) != 0) {
				uint32_t lvl = (e->eax >> 5) & 7;
				e->eax &= ~(0xfffu << 14);
				if (lvl == 3)
					e->eax |= ((1u << shift) - 1) << 14;
			}
			break;
		case 0xb:
		case 0x1f:
			e->edx = id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1u << 8) | 0;
			} else if (e->index == 1) {
				e->eax = shift;
				e->ebx = n;
				e->ecx = (2u << 8) | 1;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xf0ffu) | (shift << 12) | (n - 1);
			break;
		case 0x8000001e:
			e->eax = id;
			e->ebx = id & 0xff;     /* core id, one thread per core */
			e->ecx = 0;             /* node 0, one node */
			break;
		}
	}
}

static void kick_handler(int sig)
{
	(void)sig;
}

static int set_cpuid(struct vcpu *vcpu)
{
	struct kvm_cpuid2 *src = vcpu->vm->cpuid;
	size_t sz = sizeof(*src) + src->nent * sizeof(src->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return -ENOMEM;
	memcpy(c, src, sz);
	cpuid_patch(c, vcpu->id, vcpu->vm->n_vcpus);
	int ret = ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	return ret;
}

/* LINT0 as ExtINT (the PIC's virtual wire), LINT1 as NMI, as a PC BIOS
 * leaves them. */
static int setup_lapic(struct vcpu *vcpu)
{
	struct kvm_lapic_state l;
	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &l) < 0)
		return -errno;
	uint32_t *lint0 = (uint32_t *)&l.regs[0x350];
	uint32_t *lint1 = (uint32_t *)&l.regs[0x360];
	*lint0 = (*lint0 & ~0x700u & ~0x10000u) | (7u << 8);  /* ExtINT */
	*lint1 = (*lint1 & ~0x700u & ~0x10000u) | (4u << 8);  /* NMI */
	return ioctl(vcpu->fd, KVM_SET_LAPIC, &l) < 0 ? -errno : 0;
}

static int setup_msrs_fpu(struct vcpu *vcpu)
{
	/* struct kvm_msrs ends in a flexible array: build it in a buffer. */
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} msrs = { 0 };
	msrs.hdr.nmsrs = 1;
	msrs.hdr.entries[0] = (struct kvm_msr_entry){ .index = MSR_IA32_MISC_ENABLE,
						      .data = MISC_ENABLE_FAST_STRING };
	if (ioctl(vcpu->fd, KVM_SET_MSRS, &msrs) < 0)
		log_debug("vCPU %u: MISC_ENABLE not accepted", vcpu->id);
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	return ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0 ? -errno : 0;
}

struct vcpu *vcpu_create(struct vm *vm, unsigned id, char *err, size_t errlen)
{
	struct vcpu *vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0) {
		snprintf(err, errlen, "KVM_CREATE_VCPU %u: %s", id, strerror(errno));
		free(vcpu);
		return NULL;
	}
	vcpu->run = mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	int ret = vcpu->run == MAP_FAILED ? -errno : 0;
	if (!ret)
		ret = set_cpuid(vcpu);
	/* SynIC needs switching on per vCPU; the CPUID already offers it. */
	if (!ret && vm->cfg && vm->cfg->hyperv) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_HYPERV_SYNIC };
		if (ioctl(vcpu->fd, KVM_ENABLE_CAP, &cap) < 0)
			ret = -errno;
	}
	if (!ret)
		ret = setup_lapic(vcpu);
	if (!ret)
		ret = setup_msrs_fpu(vcpu);
	if (ret) {
		snprintf(err, errlen, "setting up vCPU %u: %s", id, strerror(-ret));
		if (vcpu->run == MAP_FAILED)
			vcpu->run = NULL;
		vcpu_destroy(vcpu);
		return NULL;
	}
	return vcpu;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (!vcpu)
		return;
	if (vcpu->run)
		munmap(vcpu->run, (size_t)vcpu->vm->vcpu_mmap_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	free(vcpu);
}

static void seg_flat(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = code64 ? 0 : 1, .s = 1,
		.l = code64 ? 1 : 0, .g = 1,
	};
}

int vcpu_setup_linux(struct vcpu *vcpu, const struct linux_boot *boot)
{
	struct kvm_sregs sregs;
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	seg_flat(&sregs.cs, BOOT_CS, 0xb, true);
	seg_flat(&sregs.ds, BOOT_DS, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = boot->gdt_base;
	sregs.gdt.limit = boot->gdt_limit;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr3 = boot->cr3;
	sregs.cr4 = 1u << 5;                       /* PAE */
	sregs.cr0 = (1u << 0) | (1u << 4) | (1u << 31);  /* PE, ET, PG */
	sregs.efer = (1u << 8) | (1u << 10);      /* LME, LMA */
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	struct kvm_regs regs = {
		.rip = boot->entry, .rsi = boot->boot_params, .rflags = 2,
		.rsp = BOOT_ZERO_PAGE_ADDR - 0x10, .rbp = BOOT_ZERO_PAGE_ADDR - 0x10,
	};
	return ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0 ? -errno : 0;
}

void vcpu_dump_state(struct vcpu *vcpu)
{
	struct kvm_vcpu_events ev;
	if (ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &ev) == 0)
		log_error("vCPU %u: interrupt injected=%u nr=%u shadow=%u, nmi pending=%u "
			  "masked=%u, exception injected=%u nr=%u", vcpu->id,
			  ev.interrupt.injected, ev.interrupt.nr, ev.interrupt.shadow,
			  ev.nmi.pending, ev.nmi.masked, ev.exception.injected,
			  ev.exception.nr);
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		log_error("vCPU %u: state unavailable: %s", vcpu->id, strerror(errno));
		return;
	}
	log_error("vCPU %u: rip=%016llx rsp=%016llx rflags=%08llx rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx",
		  vcpu->id, r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx);
	log_error("vCPU %u: cr0=%08llx cr2=%016llx cr3=%016llx cr4=%08llx efer=%llx cs=%04x(base %llx l=%u) ss=%04x",
		  vcpu->id, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector,
		  s.cs.base, s.cs.l, s.ss.selector);
}

static void handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;
	for (uint32_t i = 0; i < run->io.count; i++) {
		bus_access(&vcpu->vm->io_bus, run->io.port, data, run->io.size, out);
		data += run->io.size;
	}
}

static void handle_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_exit(vcpu->vm, VM_EXIT_POWEROFF);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_exit(vcpu->vm, VM_EXIT_REBOOT);
		break;
	default:
		vcpu->vm->crash_vcpu = vcpu->id;
		vm_request_exit(vcpu->vm, VM_EXIT_CRASH);
	}
}

/* On AMD hosts KVM puts a vCPU through INIT before it reports a triple
 * fault, so the registers just dumped are the reset state, not the
 * crash's.  Say so rather than let them mislead. */
static void explain_reset_state(struct vcpu *vcpu)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) == 0 && ioctl(vcpu->fd, KVM_GET_SREGS, &s) == 0 &&
	    r.rip == 0xfff0 && s.cs.base == 0xffff0000)
		log_error("vCPU %u: these are reset values: this host's KVM resets a vCPU on a "
			  "triple fault before reporting it, so the crashing state is lost; "
			  "boot the guest with a serial console and \"panic=0\" or "
			  "\"earlyprintk=ttyS0\" to see the guest's own report", vcpu->id);
}

/* Returns false when the thread should stop. */
static bool handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		bus_access(&vm->mmio_bus, run->mmio.phys_addr, run->mmio.data,
			   run->mmio.len, run->mmio.is_write);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		/* A triple fault.  After a reset request it is the reset
		 * itself (Linux falls back to it); otherwise a crash. */
		if (atomic_load(&vm->exit_reason) == VM_EXIT_REBOOT)
			return false;
		log_error("vCPU %u: triple fault (the guest crashed)", vcpu->id);
		vcpu_dump_state(vcpu);
		explain_reset_state(vcpu);
		vm->crash_vcpu = vcpu->id;
		vm_request_exit(vm, VM_EXIT_CRASH);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		return false;
	case KVM_EXIT_HLT:
		log_error("vCPU %u: halted with interrupts off", vcpu->id);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		log_error("vCPU %u: KVM could not enter the guest (hardware reason 0x%llx)",
			  vcpu->id, (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		log_error("vCPU %u: KVM internal error, suberror %u (often an instruction KVM cannot emulate)",
			  vcpu->id, run->internal.suberror);
		break;
	default:
		log_error("vCPU %u: unexpected KVM exit %u", vcpu->id, run->exit_reason);
		break;
	}
	vcpu_dump_state(vcpu);
	vm->crash_vcpu = vcpu->id;
	vm_request_exit(vm, VM_EXIT_CRASH);
	return false;
}

static void dump_if_asked(struct vcpu *vcpu)
{
	unsigned gen = atomic_load(&vcpu->vm->dump_gen);
	if (gen == vcpu->dump_seen)
		return;
	vcpu->dump_seen = gen;
	struct kvm_mp_state mp;
	if (ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) == 0)
		log_warn("vCPU %u: mp_state %u (0 runnable, 1 uninitialized, 2 init "
			 "received, 3 halted, 4 SIPI received)", vcpu->id, mp.mp_state);
	vcpu_dump_state(vcpu);
}

/* Wait here, outside KVM_RUN, while the VM is paused. */
static void park_if_paused(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused) {
		vm->n_parked++;
		pthread_cond_broadcast(&vm->pause_cond);
		while (vm->paused && atomic_load(&vm->exit_reason) == VM_RUNNING)
			pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
		vm->n_parked--;
	}
	pthread_mutex_unlock(&vm->pause_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	char name[16];
	sigset_t set;

	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (atomic_load(&vm->exit_reason) == VM_RUNNING) {
		park_if_paused(vcpu);
		if (atomic_load(&vm->exit_reason) != VM_RUNNING)
			break;
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->run->immediate_exit = 0;
				dump_if_asked(vcpu);
				continue;
			}
			log_error("vCPU %u: KVM_RUN failed: %s", vcpu->id, strerror(errno));
			vm_request_exit(vm, VM_EXIT_ERROR);
			break;
		}
		if (!handle_exit(vcpu))
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	static bool handler_installed;
	if (!handler_installed) {
		struct sigaction sa = { .sa_handler = kick_handler };
		sigemptyset(&sa.sa_mask);
		sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
		handler_installed = true;
	}
	int ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (ret)
		return -ret;
	vcpu->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	/* immediate_exit closes the race with a signal that lands just
	 * before the thread enters KVM_RUN. */
	vcpu->run->immediate_exit = 1;
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
}
