/* vCPUs: one thread each running KVM_RUN and dispatching exits to the
 * buses; CPUID with a consistent topology; the 64-bit boot state. */
#ifndef ATOLL_VCPU_H
#define ATOLL_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

struct vm;
struct linux_boot;

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	unsigned dump_seen;     /* last vm->dump_gen this vCPU answered */
};

struct vcpu *vcpu_create(struct vm *vm, unsigned id, char *err, size_t errlen);
void vcpu_destroy(struct vcpu *vcpu);
/* Put the boot vCPU at the kernel's 64-bit entry point. */
int vcpu_setup_linux(struct vcpu *vcpu, const struct linux_boot *boot);
int vcpu_start(struct vcpu *vcpu);
/* Make KVM_RUN return and the thread exit; then join it. */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
/* Registers and control state on one line each, for crash reports. */
void vcpu_dump_state(struct vcpu *vcpu);

/* Adjust KVM's supported CPUID for vCPU `id` of `n`: APIC ids, counts and
 * topology leaves agree.  Exposed for unit tests. */
void cpuid_patch(struct kvm_cpuid2 *cpuid, unsigned id, unsigned n);

#endif
