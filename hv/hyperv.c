/* The Hyper-V CPUID leaves a Windows guest looks for.  KVM reports what it
 * can emulate; only the enlightenments Windows benefits from most are
 * offered (relaxed timing, APIC access through MSRs, spinlock hints,
 * VP index, SynIC, synthetic timers, reference time), nothing that needs
 * more VMM support (crash MSRs, reenlightenment, nested). */
#include "hyperv.h"

#include <stdlib.h>
#include <string.h>

static void add(struct kvm_cpuid2 *c, const struct kvm_cpuid_entry2 *e)
{
	c->entries[c->nent++] = *e;
}

struct kvm_cpuid2 *hyperv_cpuid_merge(const struct kvm_cpuid2 *base,
				      const struct kvm_cpuid2 *hv)
{
	uint32_t cap = base->nent + hv->nent + 1;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + cap * sizeof(c->entries[0]));
	if (!c)
		return NULL;
	uint32_t max_leaf = HV_CPUID_BASE;

	for (uint32_t i = 0; i < hv->nent; i++) {
		struct kvm_cpuid_entry2 e = hv->entries[i];
		switch (e.function) {
		case HV_CPUID_BASE:
			/* The vendor QEMU presents too: guests that look for
			 * Hyper-V by name (Linux does) find it. */
			e.ebx = 0x7263694d;   /* "Micr" */
			e.ecx = 0x666f736f;   /* "osof" */
			e.edx = 0x76482074;   /* "t Hv" */
			break;
		case HV_CPUID_BASE + 1:   /* "Hv#1" interface */
		case HV_CPUID_BASE + 2:   /* version */
		case HV_CPUID_BASE + 5:   /* implementation limits */
		case HV_CPUID_BASE + 6:   /* hardware features in use */
			break;
		case HV_CPUID_FEATURES:
			e.eax &= HV_VP_RUNTIME | HV_TIME_REF_COUNT | HV_SYNIC | HV_SYNTIMER |
				 HV_APIC_ACCESS | HV_HYPERCALL | HV_VP_INDEX | HV_REF_TSC |
				 HV_ACCESS_FREQUENCY;
			e.ebx = 0;            /* no partition privileges */
			e.edx &= (1u << 8) | (1u << 19);  /* frequency MSRs, direct stimer */
			break;
		case HV_CPUID_ENLIGHTEN:
			e.eax &= HV_RECOMMEND_APIC_MSRS | HV_RECOMMEND_RELAXED;
			e.ebx = HV_SPINLOCK_RETRIES;
			break;
		default:
			continue;             /* nested, crash, ...: not offered */
		}
		if (e.function > max_leaf)
			max_leaf = e.function;
		add(c, &e);
	}
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == HV_CPUID_BASE)
			c->entries[i].eax = max_leaf;
	for (uint32_t i = 0; i < base->nent; i++) {
		struct kvm_cpuid_entry2 e = base->entries[i];
		if (e.function >= HV_CPUID_BASE && e.function < HV_KVM_LEAVES_MOVED) {
			/* KVM's signature leaf and features, one range up (Linux
			 * and KVM both scan for them in 0x100 steps). */
			if (e.function == HV_CPUID_BASE)
				e.eax = e.eax - HV_CPUID_BASE + HV_KVM_LEAVES_MOVED;
			e.function += HV_KVM_LEAVES_MOVED - HV_CPUID_BASE;
		}
		add(c, &e);
	}
	return c;
}
