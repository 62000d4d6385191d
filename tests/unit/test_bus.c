#include <glib.h>
#include <string.h>

#include "bus.h"

struct rec {
	uint64_t off;
	uint32_t len;
	bool write;
	uint64_t val;
	int calls;
};

static void handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct rec *r = opaque;
	r->off = off;
	r->len = len;
	r->write = is_write;
	r->calls++;
	if (is_write)
		r->val = bus_data_get(data, len);
	else
		bus_data_set(data, len, 0x1122334455667788ULL);
}

static void test_dispatch(void)
{
	struct bus b;
	struct rec r1 = { 0 }, r2 = { 0 };
	uint8_t d[8];

	bus_init(&b, "t");
	g_assert_cmpint(bus_register(&b, 0x100, 0x10, handler, &r1, "a"), ==, 0);
	g_assert_cmpint(bus_register(&b, 0x200, 0x8, handler, &r2, "b"), ==, 0);
	bus_data_set(d, 2, 0xbeef);
	g_assert_true(bus_access(&b, 0x104, d, 2, true));
	g_assert_cmpint(r1.calls, ==, 1);
	g_assert_cmpuint(r1.off, ==, 4);
	g_assert_cmpuint(r1.val, ==, 0xbeef);
	g_assert_true(bus_access(&b, 0x207, d, 1, false));
	g_assert_cmpint(r2.calls, ==, 1);
	g_assert_cmpuint(r2.off, ==, 7);
	g_assert_cmpuint(d[0], ==, 0x88);
	/* Unclaimed addresses read as all-ones and reach no handler. */
	g_assert_false(bus_access(&b, 0x110, d, 4, false));
	g_assert_cmpuint(bus_data_get(d, 4), ==, 0xffffffff);
	g_assert_false(bus_access(&b, 0xff, d, 1, true));
	g_assert_cmpint(r1.calls + r2.calls, ==, 2);
	bus_destroy(&b);
}

static void test_overlap_and_unregister(void)
{
	struct bus b;
	struct rec r = { 0 };
	uint8_t d[4];

	bus_init(&b, "t");
	g_assert_cmpint(bus_register(&b, 0x1000, 0x100, handler, &r, "a"), ==, 0);
	g_assert_cmpint(bus_register(&b, 0x10ff, 1, handler, &r, "b"), <, 0);
	g_assert_cmpint(bus_register(&b, 0xf00, 0x101, handler, &r, "c"), <, 0);
	g_assert_cmpint(bus_register(&b, 0xf00, 0x100, handler, &r, "d"), ==, 0);
	g_assert_cmpint(bus_register(&b, 0, 0, handler, &r, "empty"), <, 0);
	g_assert_cmpint(bus_register(&b, UINT64_MAX - 1, 4, handler, &r, "wrap"), <, 0);
	g_assert_cmpint(bus_unregister(&b, 0x1000), ==, 0);
	g_assert_cmpint(bus_unregister(&b, 0x1000), <, 0);
	g_assert_false(bus_access(&b, 0x1010, d, 4, false));
	g_assert_true(bus_access(&b, 0xf10, d, 4, false));
	bus_destroy(&b);
}

static void test_straddle(void)
{
	struct bus b;
	struct rec r = { 0 };
	uint8_t d[4];

	bus_init(&b, "t");
	g_assert_cmpint(bus_register(&b, 0x10, 2, handler, &r, "a"), ==, 0);
	/* A 4-byte read at the last byte: the handler sees 1 byte, the rest
	 * reads as an unclaimed bus. */
	g_assert_true(bus_access(&b, 0x11, d, 4, false));
	g_assert_cmpuint(r.len, ==, 1);
	g_assert_cmpuint(d[0], ==, 0x88);
	g_assert_cmpuint(d[1], ==, 0xff);
	g_assert_cmpuint(d[3], ==, 0xff);
	bus_destroy(&b);
}

static void test_many(void)
{
	struct bus b;
	struct rec r = { 0 };
	uint8_t d[1];

	bus_init(&b, "t");
	for (uint64_t i = 0; i < 200; i++)
		g_assert_cmpint(bus_register(&b, (199 - i) * 16, 8, handler, &r, "x"), ==, 0);
	for (uint64_t i = 0; i < 200; i++) {
		g_assert_true(bus_access(&b, i * 16 + 3, d, 1, false));
		g_assert_cmpuint(r.off, ==, 3);
		g_assert_false(bus_access(&b, i * 16 + 8, d, 1, false));
	}
	bus_destroy(&b);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/bus/dispatch", test_dispatch);
	g_test_add_func("/bus/overlap", test_overlap_and_unregister);
	g_test_add_func("/bus/straddle", test_straddle);
	g_test_add_func("/bus/many", test_many);
	return g_test_run();
}
