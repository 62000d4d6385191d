/* virtio-console: the bounded input buffer between the character backend
 * and the guest's receive buffers, and transmit chain handling. */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus.h"
#include "memory.h"
#include "pci/pci.h"
#include "virtio/console.h"
#include "virtio/virtio.h"
#include "vm.h"
#include "testvm.h"
#include "vcon_guest.h"

#define RAM_SIZE (1u << 20)

static struct guest_memory gm;
static void *ram;
static struct console_inbuf inbuf;
static struct virtq_elem elem;

static void setup(void)
{
	g_free(ram);
	ram = g_malloc0(RAM_SIZE);
	guest_memory_wrap(&gm, ram, RAM_SIZE);
	console_inbuf_init(&inbuf);
	memset(&elem, 0, sizeof(elem));
}

static void elem_add(uint64_t gpa, uint32_t len, bool writable)
{
	void *p = guest_ptr(&gm, gpa, len);

	g_assert_nonnull(p);
	elem.iov[elem.n_out + elem.n_in].iov_base = p;
	elem.iov[elem.n_out + elem.n_in].iov_len = len;
	if (writable) {
		elem.n_in++;
		elem.in_len += len;
	} else {
		g_assert_cmpuint(elem.n_in, ==, 0);
		elem.n_out++;
		elem.out_len += len;
	}
}

static uint8_t *gpa(uint64_t a)
{
	return guest_ptr(&gm, a, 1);
}

static void test_put_take_in_order(void)
{
	setup();
	g_assert_cmpuint(console_inbuf_put(&inbuf, (const uint8_t *)"hello ", 6), ==, 6);
	g_assert_cmpuint(console_inbuf_put(&inbuf, (const uint8_t *)"world", 5), ==, 5);
	g_assert_cmpuint(inbuf.len, ==, 11);

	/* Two small guest buffers: bytes spread across them, in order. */
	elem_add(0x1000, 4, true);
	elem_add(0x2000, 3, true);
	g_assert_cmpuint(console_inbuf_to_elem(&inbuf, &elem), ==, 7);
	g_assert_cmpmem(gpa(0x1000), 4, "hell", 4);
	g_assert_cmpmem(gpa(0x2000), 3, "o w", 3);
	g_assert_cmpuint(inbuf.len, ==, 4);

	memset(&elem, 0, sizeof(elem));
	elem_add(0x3000, 100, true);
	memset(gpa(0x3000), 0xcc, 100);
	g_assert_cmpuint(console_inbuf_to_elem(&inbuf, &elem), ==, 4);
	g_assert_cmpmem(gpa(0x3000), 4, "orld", 4);
	g_assert_cmpuint(gpa(0x3000)[4], ==, 0xcc);
	g_assert_cmpuint(inbuf.len, ==, 0);
	g_assert_cmpuint(console_inbuf_to_elem(&inbuf, &elem), ==, 0);
}

static void test_wraparound(void)
{
	uint8_t chunk[3000], out[3000];
	uint8_t next_in = 0, next_out = 0;

	setup();
	elem_add(0x10000, sizeof(out), true);
	/* Push ~40 KiB through the 8 KiB ring in uneven pieces. */
	for (int round = 0; round < 15; round++) {
		size_t n = 1000 + (size_t)round * 131;

		for (size_t i = 0; i < n; i++)
			chunk[i] = next_in++;
		g_assert_cmpuint(console_inbuf_put(&inbuf, chunk, n), ==, n);
		while (inbuf.len > 1500) {
			size_t got = console_inbuf_to_elem(&inbuf, &elem);

			g_assert_cmpuint(got, >, 0);
			for (size_t i = 0; i < got; i++)
				g_assert_cmpuint(gpa(0x10000)[i], ==, next_out++);
		}
	}
	g_assert_cmpuint(inbuf.dropped, ==, 0);
}

static void test_bounded(void)
{
	static uint8_t big[CONSOLE_INBUF_SIZE + 100];

	setup();
	memset(big, 'x', sizeof(big));
	g_assert_cmpuint(console_inbuf_put(&inbuf, big, CONSOLE_INBUF_SIZE - 10), ==,
			 CONSOLE_INBUF_SIZE - 10);
	g_assert_cmpuint(console_inbuf_put(&inbuf, big, 100), ==, 10);
	g_assert_cmpuint(inbuf.len, ==, CONSOLE_INBUF_SIZE);
	g_assert_cmpuint(inbuf.dropped, ==, 90);
	g_assert_cmpuint(console_inbuf_put(&inbuf, big, 5), ==, 0);
	g_assert_cmpuint(inbuf.dropped, ==, 95);
	/* The pause mark leaves room for the chunk that crosses it. */
	g_assert_cmpuint(CONSOLE_INBUF_PAUSE, <, CONSOLE_INBUF_SIZE);
	g_assert_cmpuint(CONSOLE_INBUF_RESUME, <, CONSOLE_INBUF_PAUSE);
}

static void test_to_elem_ignores_readable(void)
{
	setup();
	console_inbuf_put(&inbuf, (const uint8_t *)"abc", 3);
	memset(gpa(0x1000), 0x11, 16);
	elem_add(0x1000, 16, false);
	elem_add(0x2000, 2, true);
	g_assert_cmpuint(console_inbuf_to_elem(&inbuf, &elem), ==, 2);
	g_assert_cmpuint(gpa(0x1000)[0], ==, 0x11);     /* never written */
	g_assert_cmpmem(gpa(0x2000), 2, "ab", 2);
}

struct sink {
	GString *s;
	int calls;
};

static void sink_out(void *opaque, const void *buf, size_t len)
{
	struct sink *k = opaque;

	g_string_append_len(k->s, buf, (gssize)len);
	k->calls++;
}

static void test_tx_chain(void)
{
	struct sink k = { g_string_new(NULL), 0 };
	const char *why = NULL;

	setup();
	memcpy(gpa(0x1000), "Linux ", 6);
	memcpy(gpa(0x2000), "version", 7);
	elem_add(0x1000, 6, false);
	elem_add(0x1800, 0, false);
	elem_add(0x2000, 7, false);
	g_assert_cmpint(console_tx_chain(&elem, sink_out, &k, &why), ==, 0);
	g_assert_cmpstr(k.s->str, ==, "Linux version");
	g_assert_cmpint(k.calls, ==, 2);                /* empty buffer skipped */

	memset(&elem, 0, sizeof(elem));
	g_string_truncate(k.s, 0);
	elem_add(0x1000, 6, false);
	elem_add(0x3000, 8, true);
	g_assert_cmpint(console_tx_chain(&elem, sink_out, &k, &why), ==, -1);
	g_assert_nonnull(strstr(why, "writable"));
	g_assert_cmpuint(k.s->len, ==, 0);              /* nothing emitted */
	g_string_free(k.s, TRUE);
}


/* ---- the whole device on a unix-socket backend, driven like hvc0 --------- */

static struct vm dvm;
static struct virtio_device *cdev;

#define RXQ_DESC  0x10000
#define RXQ_AVAIL 0x11000
#define RXQ_USED  0x12000
#define TXQ_DESC  0x20000
#define TXQ_AVAIL 0x21000
#define TXQ_USED  0x22000
#define DQSZ      TESTVM_QSZ
#define RXBUF     0x100000
#define RXBUF_LEN 512


static int d_setup(char *sock_path, size_t len)
{
	struct chardev_config cc = { .kind = CHARDEV_UNIX };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int client;

	testvm_init(&dvm, 16 << 20);

	snprintf(sock_path, len, "%s/atoll-con-%d.sock", g_get_tmp_dir(), (int)getpid());
	cc.path = sock_path;
	g_assert_cmpint(virtio_console_create(&dvm, &cc), ==, 0);
	cdev = (struct virtio_device *)dvm.pci->devs[1 << 3];
	g_assert_nonnull(cdev);
	g_assert_cmphex(cdev->pci.cfg[2] | cdev->pci.cfg[3] << 8, ==, 0x1043);

	client = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	g_assert_cmpint(connect(client, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	testvm_pump(&dvm, 20);     /* accept */
	return client;
}

static void d_driver_up(void)
{
	memset(guest_ptr(&dvm.mem, RXQ_DESC, 0x20000), 0, 0x20000);
	testvm_dev_write(&dvm, cdev, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	testvm_dev_write(&dvm, cdev, 0x08, 4, 1);
	testvm_dev_write(&dvm, cdev, 0x0c, 4, 1);                           /* VERSION_1 */
	testvm_dev_write(&dvm, cdev, 0x14, 1, 0xb);
	g_assert_cmphex(testvm_dev_read(&dvm, cdev, 0x14, 1) & VIRTIO_STATUS_FEATURES_OK, ==, 8);
	testvm_queue_setup(&dvm, cdev, 0, RXQ_DESC, RXQ_AVAIL, RXQ_USED);
	testvm_queue_setup(&dvm, cdev, 1, TXQ_DESC, TXQ_AVAIL, TXQ_USED);
	testvm_dev_write(&dvm, cdev, 0x14, 1, 0xf);
	g_assert_false(cdev->broken);
}

static void test_device(void)
{
	static uint8_t typed[20000], seen[20000];
	const char hello[] = "Linux version 6.1 on hvc0\n";
	char path[108], got[64];
	size_t sent = 0, nseen = 0;
	uint16_t used_seen = 0;
	int client;
	ssize_t n = 0;

	client = d_setup(path, sizeof(path));
	d_driver_up();
	g_assert_cmpuint(testvm_dev_read(&dvm, cdev, 0x2000, 4), ==, 0);    /* no F_SIZE etc. */

	/* Output: the guest's transmitq reaches the socket client. */
	memcpy(guest_ptr(&dvm.mem, 0x300000, sizeof(hello)), hello, sizeof(hello) - 1);
	testvm_post(&dvm, TXQ_DESC, TXQ_AVAIL, 0, 0x300000, sizeof(hello) - 1, 0);
	testvm_dev_write(&dvm, cdev, 0x3000 + 4, 2, 1);
	testvm_pump(&dvm, 20);
	g_assert_cmpuint(testvm_used_idx(&dvm, TXQ_USED), ==, 1);
	for (int i = 0; i < 50 && n <= 0; i++) {
		struct pollfd p = { .fd = client, .events = POLLIN };

		poll(&p, 1, 20);
		n = recv(client, got, sizeof(got), MSG_DONTWAIT);
	}
	g_assert_cmpint(n, ==, (ssize_t)sizeof(hello) - 1);
	g_assert_cmpmem(got, (size_t)n, hello, sizeof(hello) - 1);

	/* Input: far more than the buffer holds is typed while the guest has
	 * no receive buffers; the backend is paused instead of input being
	 * dropped, and everything arrives in order once buffers come. */
	for (size_t i = 0; i < sizeof(typed); i++)
		typed[i] = (uint8_t)(i * 13 + i / 256);
	for (int i = 0; i < 40 && sent < sizeof(typed); i++) {
		n = send(client, typed + sent, sizeof(typed) - sent, MSG_DONTWAIT);
		if (n > 0)
			sent += (size_t)n;
		testvm_pump(&dvm, 5);
	}
	testvm_pump(&dvm, 50);
	g_assert_cmpuint(testvm_used_idx(&dvm, RXQ_USED), ==, 0);

	for (uint16_t id = 0; id < DQSZ; id++)
		testvm_post(&dvm, RXQ_DESC, RXQ_AVAIL, id, RXBUF + RXBUF_LEN * id, RXBUF_LEN,
		       VIRTQ_DESC_F_WRITE);
	testvm_dev_write(&dvm, cdev, 0x3000, 2, 0);
	for (int i = 0; i < 500 && nseen < sizeof(typed); i++) {
		if (sent < sizeof(typed)) {
			n = send(client, typed + sent, sizeof(typed) - sent, MSG_DONTWAIT);
			if (n > 0)
				sent += (size_t)n;
		}
		testvm_pump(&dvm, 5);
		while (used_seen != testvm_used_idx(&dvm, RXQ_USED)) {
			uint32_t e[2];

			guest_read(&dvm.mem, RXQ_USED + 4 + 8u * (used_seen % DQSZ), e, 8);
			g_assert_cmpuint(e[0], <, DQSZ);
			g_assert_cmpuint(e[1], <=, RXBUF_LEN);
			g_assert_cmpuint(nseen + e[1], <=, sizeof(seen));
			memcpy(seen + nseen, guest_ptr(&dvm.mem, RXBUF + RXBUF_LEN * e[0], e[1]), e[1]);
			nseen += e[1];
			used_seen++;
			/* The driver recycles the buffer. */
			testvm_post(&dvm, RXQ_DESC, RXQ_AVAIL, (uint16_t)e[0], RXBUF + RXBUF_LEN * e[0],
			       RXBUF_LEN, VIRTQ_DESC_F_WRITE);
			testvm_dev_write(&dvm, cdev, 0x3000, 2, 0);
		}
	}
	g_assert_cmpuint(sent, ==, sizeof(typed));
	g_assert_cmpuint(nseen, ==, sizeof(typed));
	g_assert_cmpmem(seen, nseen, typed, sizeof(typed));

	/* After a reset, a receive chain with a device-readable buffer breaks
	 * the device. */
	testvm_dev_write(&dvm, cdev, 0x14, 1, 0);
	d_driver_up();
	testvm_post(&dvm, RXQ_DESC, RXQ_AVAIL, 0, RXBUF, 16, 0);
	testvm_dev_write(&dvm, cdev, 0x3000, 2, 0);
	g_assert_cmpint(send(client, "x", 1, 0), ==, 1);
	testvm_pump(&dvm, 50);
	g_assert_true(cdev->broken);
	g_assert_cmpuint(testvm_used_idx(&dvm, RXQ_USED), ==, 0);
	close(client);
	unlink(path);
}

/* ---- MULTIPORT: a named port driven as Linux's virtio_console does ------ */

#define MP_NAME VIRTIO_CONSOLE_SPICE_PORT

struct mp {
	struct vm vm;
	struct virtio_device *dev;
	struct vcon_guest g;
	struct virtio_console_port *port;
	char outpath[128];
	/* the backend's view */
	GString *got;
	int readable, writable, opens, closes;
	bool open;
	bool reads_in_callback;
};

static void be_readable(void *o)
{
	struct mp *m = o;
	char buf[100];
	size_t n;

	m->readable++;
	if (!m->reads_in_callback)
		return;
	/* Small reads: chains are split across calls. */
	while ((n = virtio_console_port_read(m->port, buf, sizeof(buf))) > 0)
		g_string_append_len(m->got, buf, (gssize)n);
}

static void be_writable(void *o) { ((struct mp *)o)->writable++; }

static void be_open(void *o, bool open)
{
	struct mp *m = o;

	if (open && !m->open)
		m->opens++;
	if (!open && m->open)
		m->closes++;
	m->open = open;
}

static const struct virtio_console_port_ops be_ops = {
	.readable = be_readable, .writable = be_writable, .guest_open = be_open,
};

static void mp_init(struct mp *m, bool with_console)
{
	const char *names[] = { MP_NAME };
	struct chardev_config cc = { .kind = CHARDEV_NONE };

	memset(m, 0, sizeof(*m));
	testvm_init(&m->vm, 16 << 20);
	if (with_console) {
		snprintf(m->outpath, sizeof(m->outpath), "%s/atoll-con-mp-%d.out",
			 g_get_tmp_dir(), (int)getpid());
		cc = (struct chardev_config){ .kind = CHARDEV_FILE, .path = m->outpath };
	}
	g_assert_cmpint(virtio_console_create_ports(&m->vm, &cc, names, 1), ==, 0);
	m->dev = m->vm.virtio_devs[0];
	m->g = (struct vcon_guest){ .vm = &m->vm, .dev = m->dev };
	g_assert_cmphex(m->dev->pci.cfg[2] | m->dev->pci.cfg[3] << 8, ==, 0x1043);
	g_assert_cmpuint(m->dev->n_queues, ==, VG_NQ);
	m->port = virtio_console_find_port(&m->vm, MP_NAME);
	g_assert_nonnull(m->port);
	g_assert_null(virtio_console_find_port(&m->vm, "org.qemu.guest_agent.0"));
	m->got = g_string_new(NULL);
	m->reads_in_callback = true;
}

/* The chardev writes on its own thread (hv/backends/chardev.c): wait up to
 * 5 s for the file to hold what the guest sent. */
static char *mp_wait_output(struct mp *m, const char *want)
{
	char *out = NULL;
	for (int i = 0; i < 500; i++) {
		g_free(out);
		out = NULL;
		g_assert_true(g_file_get_contents(m->outpath, &out, NULL, NULL));
		if (strcmp(out, want) == 0)
			break;
		g_usleep(10000);
	}
	return out;
}

static void mp_destroy(struct mp *m)
{
	virtio_console_port_detach(m->port);
	testvm_destroy(&m->vm);
	g_string_free(m->got, TRUE);
	if (m->outpath[0])
		unlink(m->outpath);
}

static void test_mp_handshake(void)
{
	struct mp m;
	struct vg_ctl c;
	uint32_t n;

	mp_init(&m, true);
	/* max_nr_ports in config space: port 0 and the named one. */
	g_assert_cmpuint(testvm_dev_read(&m.vm, m.dev, 0x2000 + 4, 4), ==, 2);
	vg_driver_up(&m.g, true);
	vg_handshake(&m.g, true);
	/* No backend yet: the host side is closed, nothing more is said. */
	g_assert_false(vg_ctl_recv(&m.g, &c));

	/* A second DEVICE_READY does not announce the ports again. */
	vg_ctl(&m.g, 0, C_DEVICE_READY, 1);
	g_assert_false(vg_ctl_recv(&m.g, &c));

	/* The backend attaches: the guest learns the host side is open. */
	g_assert_cmpint(virtio_console_port_attach(m.port, &be_ops, &m), ==, 0);
	g_assert_cmpint(virtio_console_port_attach(m.port, &be_ops, &m), ==, -1);
	vg_run(&m.vm);
	vg_expect(&m.g, 1, C_PORT_OPEN, 1);
	g_assert_false(m.open);

	/* The guest opens the port (spice-vdagent starts), closes it. */
	vg_ctl(&m.g, 1, C_PORT_OPEN, 1);
	g_assert_true(m.open);
	g_assert_true(virtio_console_port_guest_open(m.port));
	vg_ctl(&m.g, 1, C_PORT_OPEN, 0);
	g_assert_false(m.open);
	g_assert_cmpint(m.opens, ==, 1);
	g_assert_cmpint(m.closes, ==, 1);
	vg_ctl(&m.g, 1, C_PORT_OPEN, 1);
	g_assert_cmpint(m.opens, ==, 2);

	/* Close and reopen faster than the backend is told: it still sees
	 * the old session end before the new one starts. */
	struct { uint32_t id; uint16_t event, value; } __attribute__((packed)) cm[2] = {
		{ 1, C_PORT_OPEN, 0 }, { 1, C_PORT_OPEN, 1 } };
	for (int i = 0; i < 2; i++) {
		uint64_t a = VG_BUF(3) + 0x1000u * (m.g.next_id[3] % TESTVM_QSZ);
		uint32_t l = 8;
		bool w = false;
		g_assert_cmpint(guest_write(&m.vm.mem, a, &cm[i], 8), ==, 0);
		vg_post_chain(&m.g, 3, &a, &l, &w, 1);
	}
	testvm_dev_write(&m.vm, m.dev, 0x3000 + 4u * 3, 2, 3);
	vg_run(&m.vm);
	g_assert_cmpint(m.closes, ==, 2);
	g_assert_cmpint(m.opens, ==, 3);
	g_assert_true(m.open);

	/* The backend goes away: the guest is told. */
	virtio_console_port_detach(m.port);
	vg_run(&m.vm);
	vg_expect(&m.g, 1, C_PORT_OPEN, 0);

	/* Port 0 still carries hvc0 output to its chardev. */
	vg_send(&m.g, 1, "hvc0 says hi", 12);
	g_assert_true(vg_used(&m.g, 1, NULL, &n));
	g_autofree char *out = mp_wait_output(&m, "hvc0 says hi");
	g_assert_cmpstr(out, ==, "hvc0 says hi");
	g_assert_false(m.dev->broken);
	mp_destroy(&m);
}

static void test_mp_data(void)
{
	static uint8_t big[20000];
	struct mp m;
	uint8_t buf[0x1000];
	uint32_t n;

	mp_init(&m, false);
	/* No console chardev: port 0 is not announced. */
	vg_driver_up(&m.g, true);
	vg_handshake(&m.g, false);
	g_assert_cmpint(virtio_console_port_attach(m.port, &be_ops, &m), ==, 0);
	vg_run(&m.vm);
	vg_expect(&m.g, 1, C_PORT_OPEN, 1);

	/* Closed port: host bytes are discarded, as the guest driver would. */
	g_assert_cmpuint(virtio_console_port_write(m.port, "early", 5), ==, 5);
	vg_ctl(&m.g, 1, C_PORT_OPEN, 1);
	g_assert_true(m.open);

	/* host -> guest on the port's receiveq (4). */
	for (int i = 0; i < 4; i++)
		vg_post_in(&m.g, 4, 0x1000);
	vg_kick(&m.g, 4);
	g_assert_cmpuint(virtio_console_port_write(m.port, "hello agent", 11), ==, 11);
	g_assert_true(vg_used(&m.g, 4, buf, &n));
	g_assert_cmpmem(buf, n, "hello agent", 11);

	/* guest -> host on its transmitq (5): a three-buffer chain and a
	 * second chain, read by the backend in 100-byte pieces. */
	uint8_t msg[300];
	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	g_assert_cmpint(guest_write(&m.vm.mem, 0x300000, msg, 150), ==, 0);
	g_assert_cmpint(guest_write(&m.vm.mem, 0x301000, msg + 150, 0), ==, 0);
	g_assert_cmpint(guest_write(&m.vm.mem, 0x302000, msg + 150, 150), ==, 0);
	uint64_t a[3] = { 0x300000, 0x301000, 0x302000 };
	uint32_t l[3] = { 150, 0, 150 };
	bool w[3] = { false, false, false };
	vg_post_chain(&m.g, 5, a, l, w, 3);
	vg_send(&m.g, 5, "tail", 4);
	g_assert_cmpint(m.readable, >=, 1);
	g_assert_cmpuint(m.got->len, ==, 304);
	g_assert_cmpmem(m.got->str, 300, msg, 300);
	g_assert_cmpmem(m.got->str + 300, 4, "tail", 4);
	g_assert_true(vg_used(&m.g, 5, NULL, &n));
	g_assert_true(vg_used(&m.g, 5, NULL, &n));
	g_assert_false(vg_used(&m.g, 5, NULL, &n));

	/* A backend that does not read holds the chain in the ring. */
	m.reads_in_callback = false;
	vg_send(&m.g, 5, "held", 4);
	g_assert_false(vg_used(&m.g, 5, NULL, &n));
	char small[3];
	g_assert_cmpuint(virtio_console_port_read(m.port, small, 3), ==, 3);
	g_assert_false(vg_used(&m.g, 5, NULL, &n));        /* part read: still held */
	g_assert_cmpuint(virtio_console_port_read(m.port, small, 3), ==, 1);
	g_assert_true(vg_used(&m.g, 5, NULL, &n));
	g_assert_cmpuint(virtio_console_port_read(m.port, small, 3), ==, 0);

	/* Flow control: more than the buffer holds while the guest has no
	 * receive buffers -> a short write, then writable once it reads. */
	while (vg_used(&m.g, 4, NULL, &n))
		;
	for (unsigned i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13 + i / 256);
	size_t took = 0, seen = 0;
	static uint8_t back[20000];
	took = virtio_console_port_write(m.port, big, sizeof(big));
	g_assert_cmpuint(took, <, sizeof(big));
	g_assert_cmpuint(took, >, 0);
	int w0 = m.writable;
	for (int round = 0; round < 100 && seen < sizeof(big); round++) {
		for (int i = 0; i < 4; i++)
			vg_post_in(&m.g, 4, 0x1000);
		vg_kick(&m.g, 4);
		while (vg_used(&m.g, 4, buf, &n)) {
			g_assert_cmpuint(seen + n, <=, sizeof(back));
			memcpy(back + seen, buf, n);
			seen += n;
		}
		if (took < sizeof(big))
			took += virtio_console_port_write(m.port, big + took, sizeof(big) - took);
	}
	g_assert_cmpint(m.writable, >, w0);
	g_assert_cmpuint(seen, ==, sizeof(big));
	g_assert_cmpmem(back, seen, big, sizeof(big));

	/* Output the backend has not read when the guest closes the port is
	 * dropped: the next session must not start with the old one's bytes. */
	m.reads_in_callback = false;
	vg_send(&m.g, 5, "stale", 5);
	g_assert_false(vg_used(&m.g, 5, NULL, &n));
	g_assert_cmpuint(virtio_console_port_read(m.port, small, 2), ==, 2);
	vg_ctl(&m.g, 1, C_PORT_OPEN, 0);
	g_assert_true(vg_used(&m.g, 5, NULL, &n));         /* given back */
	vg_ctl(&m.g, 1, C_PORT_OPEN, 1);
	g_assert_cmpuint(virtio_console_port_read(m.port, small, 3), ==, 0);
	vg_send(&m.g, 5, "new", 3);
	g_assert_cmpuint(virtio_console_port_read(m.port, small, 3), ==, 3);
	g_assert_cmpmem(small, 3, "new", 3);
	g_assert_true(vg_used(&m.g, 5, NULL, &n));

	/* A driver reset closes the port for the backend. */
	g_assert_true(m.open);
	testvm_dev_write(&m.vm, m.dev, 0x14, 1, 0);
	vg_run(&m.vm);
	g_assert_false(m.open);
	g_assert_false(m.dev->broken);
	mp_destroy(&m);
}

/* Without MULTIPORT (an old driver) only port 0 exists. */
static void test_mp_not_negotiated(void)
{
	struct mp m;
	uint32_t n;

	mp_init(&m, true);
	g_assert_cmpint(virtio_console_port_attach(m.port, &be_ops, &m), ==, 0);
	vg_driver_up(&m.g, false);
	vg_send(&m.g, 1, "plain", 5);
	g_assert_true(vg_used(&m.g, 1, NULL, &n));
	g_autofree char *out = mp_wait_output(&m, "plain");
	g_assert_cmpstr(out, ==, "plain");
	g_assert_cmpuint(virtio_console_port_write(m.port, "x", 1), ==, 1);
	g_assert_false(m.open);
	g_assert_false(m.dev->broken);
	mp_destroy(&m);
}

/* Hostile control and data traffic: each breaks the device (one log line,
 * NEEDS_RESET), nothing else; a reset brings it back. */
struct bad_case {
	const char *what;
	uint32_t id;
	uint16_t event, value;
	uint32_t len;             /* bytes of the control message sent */
};

static const struct bad_case bad_cases[] = {
	{ "short message", 1, C_PORT_READY, 1, 4 },
	{ "unknown event", 1, 99, 1, 8 },
	{ "port id never announced", 2, C_PORT_READY, 1, 8 },
	{ "huge port id", 0xffffffffu, C_PORT_OPEN, 1, 8 },
	{ "value 2", 1, C_PORT_OPEN, 2, 8 },
	{ "device-side event from the driver", 1, C_DEVICE_ADD, 1, 8 },
	{ "port 0 without a console", 0, C_PORT_READY, 1, 8 },
};

static void test_mp_hostile(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
		const struct bad_case *b = &bad_cases[i];
		struct { uint32_t id; uint16_t event, value; } __attribute__((packed)) c =
			{ b->id, b->event, b->value };
		struct mp m;
		struct vg_ctl k;

		g_test_message("case: %s", b->what);
		mp_init(&m, false);
		g_assert_cmpint(virtio_console_port_attach(m.port, &be_ops, &m), ==, 0);
		vg_driver_up(&m.g, true);
		vg_handshake(&m.g, false);
		vg_expect(&m.g, 1, C_PORT_OPEN, 1);
		vg_send(&m.g, 3, &c, b->len);
		g_assert_true(m.dev->broken);
		g_assert_cmphex(testvm_dev_read(&m.vm, m.dev, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET,
				==, VIRTIO_STATUS_NEEDS_RESET);
		/* Broken: the port moves nothing. */
		vg_ctl(&m.g, 1, C_PORT_OPEN, 1);
		g_assert_false(m.open);
		char x;
		g_assert_cmpuint(virtio_console_port_read(m.port, &x, 1), ==, 0);
		/* A reset and a fresh driver: working again. */
		vg_driver_up(&m.g, true);
		vg_handshake(&m.g, false);
		vg_expect(&m.g, 1, C_PORT_OPEN, 1);
		vg_ctl(&m.g, 1, C_PORT_OPEN, 1);
		g_assert_true(m.open);
		g_assert_false(vg_ctl_recv(&m.g, &k));
		mp_destroy(&m);
	}
}

static void test_mp_hostile_chains(void)
{
	struct mp m;
	uint64_t a[2] = { 0x300000, 0x301000 };
	uint32_t l[2] = { 8, 8 };
	bool w[2] = { false, true };

	/* A control message in a chain with a device-writable buffer. */
	mp_init(&m, false);
	vg_driver_up(&m.g, true);
	vg_post_chain(&m.g, 3, a, l, w, 2);
	vg_kick(&m.g, 3);
	g_assert_true(m.dev->broken);
	mp_destroy(&m);

	/* A control receive buffer too small for PORT_NAME. */
	mp_init(&m, false);
	vg_driver_up(&m.g, true);
	vg_post_in(&m.g, 2, 8);
	vg_post_in(&m.g, 2, 8);
	vg_kick(&m.g, 2);
	vg_ctl(&m.g, 0, C_DEVICE_READY, 1);
	vg_ctl(&m.g, 1, C_PORT_READY, 1);
	g_assert_true(m.dev->broken);
	mp_destroy(&m);

	/* A named port's transmit chain with a device-writable buffer. */
	mp_init(&m, false);
	g_assert_cmpint(virtio_console_port_attach(m.port, &be_ops, &m), ==, 0);
	vg_driver_up(&m.g, true);
	vg_handshake(&m.g, false);
	vg_ctl(&m.g, 1, C_PORT_OPEN, 1);
	vg_post_chain(&m.g, 5, a, l, w, 2);
	vg_kick(&m.g, 5);
	g_assert_true(m.dev->broken);
	g_assert_cmpuint(m.got->len, ==, 0);
	mp_destroy(&m);

	/* A named port's receive chain with a device-readable buffer. */
	mp_init(&m, false);
	g_assert_cmpint(virtio_console_port_attach(m.port, &be_ops, &m), ==, 0);
	vg_driver_up(&m.g, true);
	vg_handshake(&m.g, false);
	vg_ctl(&m.g, 1, C_PORT_OPEN, 1);
	w[1] = false;
	vg_post_chain(&m.g, 4, a, l, w, 1);
	vg_kick(&m.g, 4);
	g_assert_cmpuint(virtio_console_port_write(m.port, "x", 1), ==, 1);
	g_assert_true(m.dev->broken);
	mp_destroy(&m);
}

static void test_mp_bad_names(void)
{
	struct vm vm;
	struct chardev_config none = { .kind = CHARDEV_NONE };
	const char *dup[] = { "a", "a" };
	const char *three[] = { "a", "b", "c" };
	const char *empty[] = { "" };
	char longname[80];
	const char *lng[] = { longname };

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	testvm_init(&vm, 1 << 20);
	g_assert_cmpint(virtio_console_create_ports(&vm, &none, dup, 2), ==, -1);
	g_assert_cmpint(virtio_console_create_ports(&vm, &none, three, 3), ==, -1);
	g_assert_cmpint(virtio_console_create_ports(&vm, &none, empty, 1), ==, -1);
	g_assert_cmpint(virtio_console_create_ports(&vm, &none, lng, 1), ==, -1);
	g_assert_cmpuint(vm.n_virtio, ==, 0);
	testvm_destroy(&vm);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/virtio_console/inbuf/put_take_in_order", test_put_take_in_order);
	g_test_add_func("/virtio_console/inbuf/wraparound", test_wraparound);
	g_test_add_func("/virtio_console/inbuf/bounded", test_bounded);
	g_test_add_func("/virtio_console/inbuf/ignores_readable", test_to_elem_ignores_readable);
	g_test_add_func("/virtio_console/tx/chain", test_tx_chain);
	g_test_add_func("/virtio_console/device", test_device);
	g_test_add_func("/virtio_console/multiport/handshake", test_mp_handshake);
	g_test_add_func("/virtio_console/multiport/data", test_mp_data);
	g_test_add_func("/virtio_console/multiport/not_negotiated", test_mp_not_negotiated);
	g_test_add_func("/virtio_console/multiport/hostile_messages", test_mp_hostile);
	g_test_add_func("/virtio_console/multiport/hostile_chains", test_mp_hostile_chains);
	g_test_add_func("/virtio_console/multiport/bad_names", test_mp_bad_names);
	return g_test_run();
}
