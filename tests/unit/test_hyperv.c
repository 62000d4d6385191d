/* --hyperv on: which Hyper-V leaves and bits the guest gets, and where
 * KVM's own leaves go. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "hyperv.h"

static struct kvm_cpuid2 *table(unsigned n)
{
	return calloc(1, sizeof(struct kvm_cpuid2) + n * sizeof(struct kvm_cpuid_entry2));
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c, uint32_t f)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == f)
			return &c->entries[i];
	return NULL;
}

static void test_merge(void)
{
	struct kvm_cpuid2 *base = table(4), *hv = table(8);
	base->entries[base->nent++] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd };
	base->entries[base->nent++] = (struct kvm_cpuid_entry2){ .function = 0x40000000,
		.eax = 0x40000001, .ebx = 0x4b4d564b };
	base->entries[base->nent++] = (struct kvm_cpuid_entry2){ .function = 0x40000001, .eax = 0x1234 };
	base->entries[base->nent++] = (struct kvm_cpuid_entry2){ .function = 0x80000007, .edx = 1u << 8 };
	hv->entries[hv->nent++] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .eax = 0x4000000a };
	hv->entries[hv->nent++] = (struct kvm_cpuid_entry2){ .function = 0x40000001, .eax = 0x31237648 };
	hv->entries[hv->nent++] = (struct kvm_cpuid_entry2){ .function = 0x40000003,
		.eax = 0xffffffff, .ebx = 0xffffffff, .edx = 0xffffffff };
	hv->entries[hv->nent++] = (struct kvm_cpuid_entry2){ .function = 0x40000004,
		.eax = 0xffffffff, .ebx = 0 };
	hv->entries[hv->nent++] = (struct kvm_cpuid_entry2){ .function = 0x40000005, .eax = 64 };
	hv->entries[hv->nent++] = (struct kvm_cpuid_entry2){ .function = 0x4000000a, .eax = 0xff };

	struct kvm_cpuid2 *m = hyperv_cpuid_merge(base, hv);
	g_assert_nonnull(m);
	const struct kvm_cpuid_entry2 *e = find(m, 0x40000000);
	g_assert_nonnull(e);
	g_assert_cmphex(e->eax, ==, 0x40000005);    /* nested leaf 0xA dropped */
	char vendor[13] = "";
	memcpy(vendor, &e->ebx, 4);
	memcpy(vendor + 4, &e->ecx, 4);
	memcpy(vendor + 8, &e->edx, 4);
	g_assert_cmpstr(vendor, ==, "Microsoft Hv");
	g_assert_null(find(m, 0x4000000a));
	g_assert_cmphex(find(m, 0x40000001)->eax, ==, 0x31237648);   /* "Hv#1" */
	e = find(m, HV_CPUID_FEATURES);
	g_assert_cmphex(e->eax, ==, HV_VP_RUNTIME | HV_TIME_REF_COUNT | HV_SYNIC |
			HV_SYNTIMER | HV_APIC_ACCESS | HV_HYPERCALL | HV_VP_INDEX |
			HV_REF_TSC | HV_ACCESS_FREQUENCY);
	g_assert_cmphex(e->ebx, ==, 0);
	e = find(m, HV_CPUID_ENLIGHTEN);
	g_assert_cmphex(e->eax, ==, HV_RECOMMEND_APIC_MSRS | HV_RECOMMEND_RELAXED);
	g_assert_cmphex(e->ebx, ==, HV_SPINLOCK_RETRIES);
	/* KVM's signature moved up by 0x100, with its max leaf. */
	e = find(m, 0x40000100);
	g_assert_nonnull(e);
	g_assert_cmphex(e->ebx, ==, 0x4b4d564b);
	g_assert_cmphex(e->eax, ==, 0x40000101);
	g_assert_cmphex(find(m, 0x40000101)->eax, ==, 0x1234);
	/* Everything else as KVM gave it (invariant TSC included). */
	g_assert_cmphex(find(m, 0x80000007)->edx, ==, 1u << 8);
	g_assert_cmphex(find(m, 0)->eax, ==, 0xd);
	free(base);
	free(hv);
	free(m);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/hyperv/merge", test_merge);
	return g_test_run();
}
