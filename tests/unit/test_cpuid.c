/* CPUID as each vCPU sees it: APIC ids and counts that agree across the
 * leaves Linux reads for topology. */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>

#include "vcpu.h"

static struct kvm_cpuid2 *make(void)
{
	static const uint32_t fns[][2] = {
		{ 1, 0 }, { 4, 0 }, { 4, 3 }, { 0xb, 0 }, { 0xb, 1 }, { 0xb, 2 },
		{ 0x80000008, 0 }, { 0x8000001e, 0 },
	};
	size_t n = sizeof(fns) / sizeof(fns[0]);
	struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) + n * sizeof(c->entries[0]));
	c->nent = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		c->entries[i].function = fns[i][0];
		c->entries[i].index = fns[i][1];
		/* What a host might report: junk in the fields we own. */
		c->entries[i].eax = 0xffffffff;
		c->entries[i].ebx = 0xffffffff;
		c->entries[i].ecx = 0xffffffff;
		c->entries[i].edx = 0x0;
	}
	/* leaf 4 subleaf 3: an L3 cache (type 3 in bits 4:0, level 3 in 7:5) */
	c->entries[2].eax = (3u << 5) | 3u;
	return c;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	g_assert_not_reached();
}

static void check(unsigned id, unsigned n)
{
	struct kvm_cpuid2 *c = make();
	cpuid_patch(c, id, n);
	struct kvm_cpuid_entry2 *l1 = find(c, 1, 0);
	g_assert_cmpuint(l1->ebx >> 24, ==, id);
	g_assert_cmpuint((l1->ebx >> 16) & 0xff, >=, n);
	g_assert_cmpuint(l1->ecx >> 31, ==, 1);                 /* hypervisor */
	g_assert_cmpuint((l1->edx >> 28) & 1, ==, n > 1);       /* HTT */
	g_assert_cmpuint(find(c, 4, 0)->eax >> 26, ==, n - 1);
	g_assert_cmpuint(find(c, 0xb, 0)->ebx & 0xffff, ==, 1); /* 1 thread/core */
	g_assert_cmpuint(find(c, 0xb, 1)->ebx & 0xffff, ==, n);
	g_assert_cmpuint(find(c, 0xb, 1)->edx, ==, id);
	g_assert_cmpuint((1u << find(c, 0xb, 1)->eax), >=, n);
	g_assert_cmpuint(find(c, 0xb, 2)->ebx, ==, 0);           /* end of levels */
	g_assert_cmpuint(find(c, 0x80000008, 0)->ecx & 0xff, ==, n - 1);
	g_assert_cmpuint(find(c, 0x8000001e, 0)->eax, ==, id);
	/* The L3 is shared by all cores. */
	g_assert_cmpuint(((find(c, 4, 3)->eax >> 14) & 0xfff) + 1, >=, n);
	g_free(c);
}

static void test_topologies(void)
{
	check(0, 1);
	check(0, 2);
	check(1, 2);
	check(5, 6);
	check(63, 64);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cpuid/topologies", test_topologies);
	return g_test_run();
}
