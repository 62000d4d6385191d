/* Hyper-V enlightenments for Windows guests (--hyperv on, docs/windows.md):
 * KVM implements them; the VMM offers the chosen subset through the
 * 0x40000000 CPUID leaves and turns on SynIC for each vCPU. */
#ifndef ATOLL_HYPERV_H
#define ATOLL_HYPERV_H

#include <linux/kvm.h>
#include <stdint.h>

#define HV_CPUID_BASE        0x40000000u
#define HV_CPUID_FEATURES    0x40000003u
#define HV_CPUID_ENLIGHTEN   0x40000004u
#define HV_KVM_LEAVES_MOVED  0x40000100u  /* KVM's own leaves move here */

/* 0x40000003 EAX: MSRs the guest may use. */
#define HV_VP_RUNTIME        (1u << 0)
#define HV_TIME_REF_COUNT    (1u << 1)   /* "time" */
#define HV_SYNIC             (1u << 2)
#define HV_SYNTIMER          (1u << 3)   /* "stimer" */
#define HV_APIC_ACCESS       (1u << 4)   /* "vapic" */
#define HV_HYPERCALL         (1u << 5)
#define HV_VP_INDEX          (1u << 6)
#define HV_REF_TSC           (1u << 9)   /* "time": reference TSC page */
#define HV_ACCESS_FREQUENCY  (1u << 11)
/* 0x40000004 EAX: recommendations. */
#define HV_RECOMMEND_APIC_MSRS (1u << 3)
#define HV_RECOMMEND_RELAXED   (1u << 5)
#define HV_SPINLOCK_RETRIES    0x1fffu  /* "spinlocks": as QEMU's default */

/* Merge KVM's Hyper-V leaves (KVM_GET_SUPPORTED_HV_CPUID) into the
 * supported CPUID: the enlightenments named above that KVM has, KVM's own
 * leaves moved to 0x40000100.  Returns a new table (malloc) or NULL. */
struct kvm_cpuid2 *hyperv_cpuid_merge(const struct kvm_cpuid2 *base,
				      const struct kvm_cpuid2 *hv);

#endif
