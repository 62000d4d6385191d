/* The display hub (surface, damage, sources, input sink priority) and the
 * PS/2 keyboard behind the i8042, the hub's fallback input sink. */
#include <glib.h>
#include <string.h>

#include "devices/i8042.h"
#include "devices/platform.h"
#include "display.h"
#include "vm.h"
#include "testvm.h"

/* ---- hub ------------------------------------------------------------------ */

static struct display_surface seen;
static unsigned n_surface, n_damage;
static uint32_t dmg[4];

static void on_surface(void *o, const struct display_surface *s)
{
	(void)o;
	seen = *s;
	n_surface++;
}

static void on_damage(void *o, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	(void)o;
	dmg[0] = x; dmg[1] = y; dmg[2] = w; dmg[3] = h;
	n_damage++;
}

static void test_surface_damage(void)
{
	static uint8_t px[100 * 50 * 4];
	struct display d;
	struct display_listener l = { on_surface, on_damage, NULL };
	struct display_surface s = { 100, 50, 400, px };

	display_init(&d);
	n_surface = n_damage = 0;
	display_damage(&d, 0, 0, 10, 10);            /* nobody listening */
	display_surface_changed(&d, &s);
	g_assert_true(d.has_surface);
	display_set_listener(&d, &l);                 /* late listener learns it */
	g_assert_cmpuint(n_surface, ==, 1);
	g_assert_true(seen.pixels == px && seen.width == 100);
	display_damage(&d, 90, 40, 50, 50);           /* clipped to the surface */
	g_assert_cmpuint(n_damage, ==, 1);
	g_assert_cmpuint(dmg[2], ==, 10);
	g_assert_cmpuint(dmg[3], ==, 10);
	display_damage(&d, 100, 0, 1, 1);             /* entirely outside */
	display_damage(&d, 0, 0, 0, 5);
	g_assert_cmpuint(n_damage, ==, 1);
	display_set_listener(&d, NULL);
	display_damage(&d, 0, 0, 5, 5);
	g_assert_cmpuint(n_damage, ==, 1);
}

static uint32_t req_w, req_h;
static unsigned refreshes;

static void src_size(void *o, uint32_t w, uint32_t h)
{
	(void)o;
	req_w = w;
	req_h = h;
}

static void src_refresh(void *o)
{
	(void)o;
	refreshes++;
}

static void test_source(void)
{
	struct display d;
	struct display_source s = { src_size, src_refresh, NULL };

	display_init(&d);
	display_refresh(&d);                          /* no source: nothing */
	display_request_size(&d, 10, 10);
	display_set_source(&d, &s);
	display_request_size(&d, 1920, 1080);
	display_refresh(&d);
	g_assert_cmpuint(req_w, ==, 1920);
	g_assert_cmpuint(req_h, ==, 1080);
	g_assert_cmpuint(refreshes, ==, 1);
}

/* Sinks record what reached them: sink i appends "i:event". */
static GString *trail;
static bool sink_on[3];

static void k_key(void *o, uint16_t c, bool down)
{
	g_string_append_printf(trail, "%d:k%u%c ", GPOINTER_TO_INT(o), c, down ? 'd' : 'u');
}

static void k_ptr(void *o, uint32_t x, uint32_t y)
{
	g_string_append_printf(trail, "%d:p%u,%u ", GPOINTER_TO_INT(o), x, y);
}

static void k_btn(void *o, uint16_t c, bool down)
{
	g_string_append_printf(trail, "%d:b%u%c ", GPOINTER_TO_INT(o), c, down ? 'd' : 'u');
}

static void k_wheel(void *o, int32_t s)
{
	g_string_append_printf(trail, "%d:w%d ", GPOINTER_TO_INT(o), s);
}

static bool k_active(void *o)
{
	return sink_on[GPOINTER_TO_INT(o)];
}

static void test_sinks(void)
{
	struct display d;
	/* virtio keyboard, virtio tablet, PS/2 keyboard */
	struct input_sink s0 = { .key = k_key, .active = k_active, .opaque = GINT_TO_POINTER(0) };
	struct input_sink s1 = { .pointer = k_ptr, .button = k_btn, .wheel = k_wheel,
				 .active = k_active, .opaque = GINT_TO_POINTER(1) };
	struct input_sink s2 = { .key = k_key, .active = k_active, .opaque = GINT_TO_POINTER(2) };

	display_init(&d);
	trail = g_string_new(NULL);
	display_add_input_sink(&d, &s0);
	display_add_input_sink(&d, &s1);
	display_add_input_sink(&d, &s2);
	sink_on[0] = sink_on[1] = false;
	sink_on[2] = true;
	display_input_key(&d, 30, true);     /* only PS/2 is listening */
	display_input_pointer(&d, 5, 6);     /* nobody takes pointer events */
	sink_on[0] = sink_on[1] = true;
	display_input_key(&d, 30, false);    /* virtio first */
	display_input_pointer(&d, 0x10000, 7);
	display_input_button(&d, 0x110, true);
	display_input_wheel(&d, 3);
	display_input_wheel(&d, 0);          /* nothing to say */
	g_assert_cmpstr(trail->str, ==, "2:k30d 0:k30u 1:p32767,7 1:b272d 1:w3 ");
	for (int i = 0; i < 5; i++)          /* bounded */
		display_add_input_sink(&d, &s2);
	g_assert_cmpuint(d.n_sinks, ==, DISPLAY_MAX_SINKS);
	g_string_free(trail, TRUE);
}

/* ---- PS/2 keyboard ------------------------------------------------------------ */

#define KEY_A 30
#define KEY_UP 103
#define KEY_RIGHTCTRL 97
#define KEY_PAUSE 119
#define KEY_F7 65

static void drain_expect(struct i8042 *k, const uint8_t *want, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		g_assert_cmphex(i8042_read(k, I8042_CMD_PORT) & I8042_STR_OBF, ==, I8042_STR_OBF);
		g_assert_cmphex(i8042_read(k, I8042_DATA_PORT), ==, want[i]);
	}
	g_assert_cmphex(i8042_read(k, I8042_CMD_PORT) & I8042_STR_OBF, ==, 0);
}

#define EXPECT(k, ...) do { \
	static const uint8_t w_[] = { __VA_ARGS__ }; \
	drain_expect(k, w_, sizeof(w_)); } while (0)

static void set_ctr(struct i8042 *k, uint8_t ctr)
{
	i8042_write(k, I8042_CMD_PORT, 0x60);
	i8042_write(k, I8042_DATA_PORT, ctr);
}

static void test_kbd_scancodes(void)
{
	struct i8042 k;

	i8042_init(&k, NULL, NULL);
	i8042_kbd_attach(&k);
	g_assert_true(i8042_kbd_active(&k));
	/* Translated to set 1, the controller's default. */
	g_assert_true(i8042_kbd_key(&k, KEY_A, true));
	g_assert_true(i8042_irq_kbd(&k));
	EXPECT(&k, 0x1e);
	g_assert_false(i8042_irq_kbd(&k));
	i8042_kbd_key(&k, KEY_A, false);
	EXPECT(&k, 0x9e);
	i8042_kbd_key(&k, KEY_UP, true);
	i8042_kbd_key(&k, KEY_UP, false);
	EXPECT(&k, 0xe0, 0x48, 0xe0, 0xc8);
	i8042_kbd_key(&k, KEY_RIGHTCTRL, false);
	EXPECT(&k, 0xe0, 0x9d);
	i8042_kbd_key(&k, KEY_F7, true);
	EXPECT(&k, 0x41);
	i8042_kbd_key(&k, KEY_PAUSE, true);
	i8042_kbd_key(&k, KEY_PAUSE, false);
	EXPECT(&k, 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5);
	g_assert_false(i8042_kbd_key(&k, 0x2ff, true));   /* no scancode */

	/* Raw set 2 without translation. */
	set_ctr(&k, I8042_CTR_KBDINT | I8042_CTR_SYS);
	i8042_kbd_key(&k, KEY_A, true);
	i8042_kbd_key(&k, KEY_A, false);
	EXPECT(&k, 0x1c, 0xf0, 0x1c);
	i8042_kbd_key(&k, KEY_UP, true);
	i8042_kbd_key(&k, KEY_UP, false);
	EXPECT(&k, 0xe0, 0x75, 0xe0, 0xf0, 0x75);
	i8042_kbd_key(&k, KEY_F7, true);
	EXPECT(&k, 0x83);

	/* A full buffer drops whole sequences, never half of one. */
	for (int i = 0; i < 20; i++)
		i8042_kbd_key(&k, KEY_UP, false);
	g_assert_cmpuint(k.q_count, ==, 15);
}

static void test_kbd_commands(void)
{
	struct i8042 k;

	i8042_init(&k, NULL, NULL);
	i8042_kbd_attach(&k);
	i8042_write(&k, I8042_DATA_PORT, 0xf2);     /* get ID, translated */
	EXPECT(&k, 0xfa, 0xab, 0x41);
	i8042_write(&k, I8042_DATA_PORT, 0xff);     /* reset: ACK, BAT passed */
	EXPECT(&k, 0xfa, 0xaa);
	i8042_write(&k, I8042_DATA_PORT, 0xed);     /* LEDs: caps lock */
	EXPECT(&k, 0xfa);
	i8042_write(&k, I8042_DATA_PORT, 0x04);
	EXPECT(&k, 0xfa);
	g_assert_cmpuint(k.kbd.leds, ==, 4);
	i8042_write(&k, I8042_DATA_PORT, 0xf3);     /* typematic rate */
	i8042_write(&k, I8042_DATA_PORT, 0x00);
	EXPECT(&k, 0xfa, 0xfa);
	g_assert_cmpuint(k.kbd.typematic, ==, 0);
	i8042_write(&k, I8042_DATA_PORT, 0xee);
	EXPECT(&k, 0xee);
	i8042_write(&k, I8042_DATA_PORT, 0xf5);     /* disable scanning */
	EXPECT(&k, 0xfa);
	g_assert_false(i8042_kbd_active(&k));
	g_assert_false(i8042_kbd_key(&k, KEY_A, true));
	EXPECT(&k);
	i8042_write(&k, I8042_DATA_PORT, 0xf4);
	EXPECT(&k, 0xfa);
	g_assert_true(i8042_kbd_key(&k, KEY_A, true));
	EXPECT(&k, 0x1e);
	i8042_write(&k, I8042_DATA_PORT, 0xfe);     /* resend the last byte */
	EXPECT(&k, 0x1e);
	i8042_write(&k, I8042_CMD_PORT, 0xad);      /* keyboard interface off */
	g_assert_false(i8042_kbd_active(&k));
	i8042_write(&k, I8042_CMD_PORT, 0xae);
	g_assert_true(i8042_kbd_active(&k));
}

/* The keyboard in a VM gets keys from the hub when no virtio keyboard is
 * listening. */
static void test_kbd_in_vm(void)
{
	struct vm vm;
	uint8_t b;

	testvm_init(&vm, 16 << 20);
	display_init(&vm.display);
	g_assert_cmpint(i8042_create(&vm), ==, 0);
	g_assert_cmpuint(vm.display.n_sinks, ==, 1);
	display_input_key(&vm.display, KEY_UP, true);
	bus_access(&vm.io_bus, I8042_CMD_PORT, &b, 1, false);
	g_assert_cmphex(b & I8042_STR_OBF, ==, I8042_STR_OBF);
	bus_access(&vm.io_bus, I8042_DATA_PORT, &b, 1, false);
	g_assert_cmphex(b, ==, 0xe0);
	bus_access(&vm.io_bus, I8042_DATA_PORT, &b, 1, false);
	g_assert_cmphex(b, ==, 0x48);
	bus_access(&vm.io_bus, I8042_CMD_PORT, &b, 1, false);
	g_assert_cmphex(b & I8042_STR_OBF, ==, 0);
	i8042_destroy(&vm);
	g_assert_false(bus_access(&vm.io_bus, I8042_CMD_PORT, &b, 1, false));
	testvm_destroy(&vm);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/display/surface-damage", test_surface_damage);
	g_test_add_func("/display/source", test_source);
	g_test_add_func("/display/sinks", test_sinks);
	g_test_add_func("/display/ps2-scancodes", test_kbd_scancodes);
	g_test_add_func("/display/ps2-commands", test_kbd_commands);
	g_test_add_func("/display/ps2-in-vm", test_kbd_in_vm);
	return g_test_run();
}
