/* virtio-input keyboard and tablet on a test VM: config space queries as
 * Linux's virtio_input makes them, and input from the display hub arriving
 * as event groups in the guest's buffers. */
#include <glib.h>
#include <string.h>

#include "display.h"
#include "virtio/virtio.h"
#include "vm.h"
#include "testvm.h"

#define EV_SYN 0
#define EV_KEY 1
#define EV_REL 2
#define EV_ABS 3
#define EV_LED 0x11
#define EV_REP 0x14
#define KEY_A 30
#define KEY_UP 103
#define BTN_LEFT 0x110

/* Per device: eventq rings, statusq rings, event buffers. */
#define RINGS(d)  (0x10000 + (uint64_t)(d) * 0x10000)
#define EQ_DESC(d)  (RINGS(d) + 0x0000)
#define EQ_AVAIL(d) (RINGS(d) + 0x1000)
#define EQ_USED(d)  (RINGS(d) + 0x2000)
#define SQ_DESC(d)  (RINGS(d) + 0x3000)
#define SQ_AVAIL(d) (RINGS(d) + 0x4000)
#define SQ_USED(d)  (RINGS(d) + 0x5000)
#define EVBUF(d)    (RINGS(d) + 0x6000)

struct ev {
	uint16_t type, code;
	uint32_t value;
};

static struct vm vm;
static struct virtio_device *kbd, *tab;
static unsigned consumed[2];   /* used entries already checked, per device */

static void start(struct virtio_device *dev)
{
	testvm_dev_write(&vm, dev, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	testvm_dev_write(&vm, dev, 0x08, 4, 1);
	testvm_dev_write(&vm, dev, 0x0c, 4, 1);   /* VERSION_1 */
	testvm_dev_write(&vm, dev, 0x14, 1, 0xb);
	int d = dev == kbd ? 0 : 1;
	testvm_queue_setup(&vm, dev, 0, EQ_DESC(d), EQ_AVAIL(d), EQ_USED(d));
	testvm_queue_setup(&vm, dev, 1, SQ_DESC(d), SQ_AVAIL(d), SQ_USED(d));
	testvm_dev_write(&vm, dev, 0x14, 1, 0xf);
}

static void setup(void)
{
	testvm_init(&vm, 16 << 20);
	display_init(&vm.display);
	g_assert_cmpint(virtio_input_create(&vm), ==, 0);
	g_assert_cmpuint(vm.n_virtio, ==, 2);
	kbd = vm.virtio_devs[0];
	tab = vm.virtio_devs[1];
	g_assert_cmphex(pci_cfg_get16(&kbd->pci, PCI_DEVICE_ID), ==, 0x1052);
	consumed[0] = consumed[1] = 0;
}

/* Post n event buffers (8 bytes each) on dev's eventq and kick. */
static void post(struct virtio_device *dev, unsigned n)
{
	int d = dev == kbd ? 0 : 1;
	static uint16_t next[2];

	if (testvm_used_idx(&vm, EQ_USED(d)) == 0 && consumed[d] == 0)
		next[d] = 0;
	for (unsigned i = 0; i < n; i++) {
		uint16_t id = next[d]++ % TESTVM_QSZ;
		testvm_post(&vm, EQ_DESC(d), EQ_AVAIL(d), id, EVBUF(d) + 8u * id, 8,
			    VIRTQ_DESC_F_WRITE);
	}
	testvm_dev_write(&vm, dev, 0x3000, 2, 0);
	testvm_pump(&vm, 5);
}

/* The next event the device delivered. */
static struct ev next_event(struct virtio_device *dev)
{
	int d = dev == kbd ? 0 : 1;
	struct virtq_used_elem ue;
	struct ev e;

	g_assert_cmpuint(testvm_used_idx(&vm, EQ_USED(d)), >, consumed[d]);
	g_assert_cmpint(guest_read(&vm.mem, EQ_USED(d) + 4 + 8u * (consumed[d] % TESTVM_QSZ),
				   &ue, 8), ==, 0);
	g_assert_cmpuint(ue.len, ==, 8);
	g_assert_cmpint(guest_read(&vm.mem, EVBUF(d) + 8u * ue.id, &e, 8), ==, 0);
	consumed[d]++;
	return e;
}

static void expect(struct virtio_device *dev, uint16_t type, uint16_t code, uint32_t value)
{
	struct ev e = next_event(dev);
	g_assert_cmphex(e.type, ==, type);
	g_assert_cmphex(e.code, ==, code);
	g_assert_cmphex(e.value, ==, value);
}

static void no_more(struct virtio_device *dev)
{
	int d = dev == kbd ? 0 : 1;
	g_assert_cmpuint(testvm_used_idx(&vm, EQ_USED(d)), ==, consumed[d]);
}

/* Select (sel, subsel); returns size and copies the union into u. */
static uint8_t query(struct virtio_device *dev, uint8_t sel, uint8_t subsel, uint8_t *u)
{
	testvm_dev_write(&vm, dev, 0x2000, 1, sel);
	testvm_dev_write(&vm, dev, 0x2001, 1, subsel);
	g_assert_cmpuint(testvm_dev_read(&vm, dev, 0x2000, 1), ==, sel);
	uint8_t size = (uint8_t)testvm_dev_read(&vm, dev, 0x2002, 1);
	for (unsigned i = 0; i < 128; i += 4) {
		uint32_t v = (uint32_t)testvm_dev_read(&vm, dev, 0x2008 + i, 4);
		memcpy(u + i, &v, 4);
	}
	return size;
}

static bool bit(const uint8_t *u, unsigned b)
{
	return u[b / 8] & (1u << (b % 8));
}

static void test_config(void)
{
	uint8_t u[128];

	setup();
	g_assert_cmpuint(query(kbd, 0x01, 0, u), ==, strlen("Atoll Virtio Keyboard"));
	g_assert_cmpmem(u, strlen("Atoll Virtio Keyboard"), "Atoll Virtio Keyboard",
			strlen("Atoll Virtio Keyboard"));
	g_assert_cmpuint(query(tab, 0x01, 0, u), ==, strlen("Atoll Virtio Tablet"));
	g_assert_cmpuint(query(kbd, 0x01, 1, u), ==, 0);     /* subsel must be 0 */
	g_assert_cmpuint(query(kbd, 0x02, 0, u), >, 0);      /* serial */
	g_assert_cmpuint(query(kbd, 0x03, 0, u), ==, 8);     /* devids */
	g_assert_cmpuint(u[0] | u[1] << 8, ==, 0x06);        /* BUS_VIRTUAL */
	g_assert_cmpuint(query(kbd, 0x10, 0, u), ==, 0);     /* no properties */
	/* keyboard: keys, autorepeat, LEDs, no axes */
	uint8_t n = query(kbd, 0x11, EV_KEY, u);
	g_assert_cmpuint(n, ==, 32);
	g_assert_true(bit(u, KEY_A) && bit(u, KEY_UP) && bit(u, 1) && !bit(u, 0));
	g_assert_cmpuint(query(kbd, 0x11, EV_REP, u), ==, 1);
	g_assert_cmpuint(query(kbd, 0x11, EV_LED, u), ==, 1);
	g_assert_cmphex(u[0], ==, 0x07);
	g_assert_cmpuint(query(kbd, 0x11, EV_ABS, u), ==, 0);
	g_assert_cmpuint(query(kbd, 0x11, EV_REL, u), ==, 0);
	g_assert_cmpuint(query(kbd, 0x12, 0, u), ==, 0);
	/* tablet: buttons, wheel, two absolute axes 0..0x7fff */
	n = query(tab, 0x11, EV_KEY, u);
	g_assert_cmpuint(n, ==, BTN_LEFT / 8 + 1);
	g_assert_true(bit(u, BTN_LEFT) && bit(u, BTN_LEFT + 1) && bit(u, BTN_LEFT + 2));
	g_assert_false(bit(u, KEY_A));
	g_assert_cmpuint(query(tab, 0x11, EV_REL, u), ==, 2);
	g_assert_true(bit(u, 8));                             /* REL_WHEEL */
	g_assert_cmpuint(query(tab, 0x11, EV_ABS, u), ==, 1);
	g_assert_cmphex(u[0], ==, 0x03);
	g_assert_cmpuint(query(tab, 0x11, EV_REP, u), ==, 0);
	g_assert_cmpuint(query(tab, 0x12, 1, u), ==, 20);    /* ABS_Y */
	uint32_t info[5];
	memcpy(info, u, sizeof(info));
	g_assert_cmpuint(info[0], ==, 0);
	g_assert_cmpuint(info[1], ==, 0x7fff);
	g_assert_cmpuint(query(tab, 0x12, 2, u), ==, 0);     /* no ABS_Z */
	g_assert_cmpuint(query(tab, 0x7f, 0, u), ==, 0);
	/* the rest of config space is not writable */
	testvm_dev_write(&vm, kbd, 0x2002, 1, 99);
	g_assert_cmpuint(query(kbd, 0x00, 0, u), ==, 0);
	testvm_destroy(&vm);
}

static void test_events(void)
{
	setup();
	/* No driver yet: the hub finds no active sink and drops the key. */
	display_input_key(&vm.display, KEY_A, true);
	start(kbd);
	start(tab);
	post(kbd, 8);
	post(tab, 12);
	no_more(kbd);

	display_input_key(&vm.display, KEY_A, true);
	display_input_key(&vm.display, KEY_A, false);
	expect(kbd, EV_KEY, KEY_A, 1);
	expect(kbd, EV_SYN, 0, 0);
	expect(kbd, EV_KEY, KEY_A, 0);
	expect(kbd, EV_SYN, 0, 0);
	no_more(kbd);

	display_input_pointer(&vm.display, 0x1234, 0x7fff);
	display_input_button(&vm.display, BTN_LEFT, true);
	display_input_wheel(&vm.display, -2);
	display_input_pointer(&vm.display, 0x9000, 5);   /* clamped by the hub */
	expect(tab, EV_ABS, 0, 0x1234);
	expect(tab, EV_ABS, 1, 0x7fff);
	expect(tab, EV_SYN, 0, 0);
	expect(tab, EV_KEY, BTN_LEFT, 1);
	expect(tab, EV_SYN, 0, 0);
	expect(tab, EV_REL, 8, 0xfffffffe);
	expect(tab, EV_SYN, 0, 0);
	expect(tab, EV_ABS, 0, 0x7fff);
	expect(tab, EV_ABS, 1, 5);
	expect(tab, EV_SYN, 0, 0);
	no_more(tab);
	no_more(kbd);

	/* LED state on the status queue is consumed. */
	struct ev led = { EV_LED, 1, 1 };
	g_assert_cmpint(guest_write(&vm.mem, EVBUF(0) + 0x800, &led, 8), ==, 0);
	testvm_post(&vm, SQ_DESC(0), SQ_AVAIL(0), 0, EVBUF(0) + 0x800, 8, 0);
	testvm_dev_write(&vm, kbd, 0x3004, 2, 1);
	testvm_pump(&vm, 5);
	g_assert_cmpuint(testvm_used_idx(&vm, SQ_USED(0)), ==, 1);
	testvm_destroy(&vm);
}

static void test_overflow(void)
{
	setup();
	start(kbd);
	/* 300 keys = 600 events with no buffers: the oldest 344 are dropped. */
	for (unsigned i = 0; i < 300; i++)
		display_input_key(&vm.display, (uint16_t)(i % 200 + 1), true);
	post(kbd, 16);
	expect(kbd, EV_KEY, 173, 1);   /* key 172 (0-based) is event 344 */
	expect(kbd, EV_SYN, 0, 0);
	for (unsigned i = 2; i < 16; i++)
		next_event(kbd);
	no_more(kbd);
	post(kbd, 16);   /* the queue drains as buffers come */
	expect(kbd, EV_KEY, 181, 1);
	/* A buffer too small for an event breaks the device. */
	testvm_destroy(&vm);
	setup();
	start(kbd);
	testvm_post(&vm, EQ_DESC(0), EQ_AVAIL(0), 0, EVBUF(0), 4, VIRTQ_DESC_F_WRITE);
	testvm_dev_write(&vm, kbd, 0x3000, 2, 0);
	testvm_pump(&vm, 5);
	display_input_key(&vm.display, KEY_A, true);
	g_assert_cmphex(testvm_dev_read(&vm, kbd, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, !=, 0);
	testvm_destroy(&vm);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/virtio-input/config", test_config);
	g_test_add_func("/virtio-input/events", test_events);
	g_test_add_func("/virtio-input/overflow", test_overflow);
	return g_test_run();
}
