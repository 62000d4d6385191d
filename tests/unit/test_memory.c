#include <glib.h>

#include "memory.h"

static void test_small(void)
{
	struct guest_memory gm;
	g_assert_cmpint(guest_memory_init(&gm, 64 << 20), ==, 0);
	g_assert_cmpuint(gm.low_size, ==, 64 << 20);
	g_assert_cmpuint(gm.high_size, ==, 0);
	g_assert_nonnull(guest_ptr(&gm, 0, 64 << 20));
	g_assert_nonnull(guest_ptr(&gm, (64 << 20) - 1, 1));
	g_assert_null(guest_ptr(&gm, (64 << 20) - 1, 2));
	g_assert_null(guest_ptr(&gm, 64 << 20, 0));
	g_assert_null(guest_ptr(&gm, 16, UINT64_MAX));
	g_assert_null(guest_ptr(&gm, UINT64_MAX, 2));
	g_assert_null(guest_ptr(&gm, GUEST_HIGH_RAM_BASE, 1));
	uint32_t v = 0xdeadbeef, r = 0;
	g_assert_cmpint(guest_write(&gm, 0x1000, &v, 4), ==, 0);
	g_assert_cmpint(guest_read(&gm, 0x1000, &r, 4), ==, 0);
	g_assert_cmpuint(r, ==, v);
	g_assert_cmpint(guest_write(&gm, (64 << 20) - 2, &v, 4), <, 0);
	g_assert_cmpuint(guest_memory_top(&gm), ==, 64 << 20);
	g_assert_cmpuint(guest_mmio64_base(&gm) % PCI_MMIO64_ALIGN, ==, 0);
	g_assert_cmpuint(guest_mmio64_base(&gm), >=, GUEST_HIGH_RAM_BASE);
	guest_memory_free(&gm);
}

static void test_split(void)
{
	struct guest_memory gm;
	uint64_t size = GUEST_LOW_RAM_MAX + (512ULL << 20);
	/* Only reserved, never touched: MAP_NORESERVE keeps this cheap. */
	g_assert_cmpint(guest_memory_init(&gm, size), ==, 0);
	g_assert_cmpuint(gm.low_size, ==, GUEST_LOW_RAM_MAX);
	g_assert_cmpuint(gm.high_size, ==, 512ULL << 20);
	/* The hole between low RAM and 4 GiB is not RAM. */
	g_assert_null(guest_ptr(&gm, GUEST_LOW_RAM_MAX, 1));
	g_assert_null(guest_ptr(&gm, PCI_ECAM_BASE, 1));
	g_assert_null(guest_ptr(&gm, GUEST_LOW_RAM_MAX - 4, 8));
	uint8_t *lo = guest_ptr(&gm, GUEST_LOW_RAM_MAX - 1, 1);
	uint8_t *hi = guest_ptr(&gm, GUEST_HIGH_RAM_BASE, 1);
	g_assert_nonnull(lo);
	g_assert_true(hi == lo + 1);
	g_assert_nonnull(guest_ptr(&gm, GUEST_HIGH_RAM_BASE + (512ULL << 20) - 8, 8));
	g_assert_null(guest_ptr(&gm, GUEST_HIGH_RAM_BASE + (512ULL << 20) - 8, 9));
	g_assert_cmpuint(guest_memory_top(&gm), ==, GUEST_HIGH_RAM_BASE + (512ULL << 20));
	g_assert_cmpuint(guest_mmio64_base(&gm), >=, guest_memory_top(&gm));
	guest_memory_free(&gm);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/memory/small", test_small);
	g_test_add_func("/memory/split", test_split);
	return g_test_run();
}
