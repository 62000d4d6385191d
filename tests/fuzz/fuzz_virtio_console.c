/* libFuzzer target: virtio-console with MULTIPORT (hv/virtio/console.c)
 * under a hostile driver.  The device has port 0 on a file and the named
 * port com.redhat.spice.0 with a backend that reads everything and echoes
 * some of it back, as the SPICE agent channel does.  The driver first
 * negotiates like Linux, then the input drives it.
 *
 * The input is a sequence of 8-byte operations (b[0] selects):
 *   0  control message: id b[1] (0xff: 0xffffffff), event b[2] % 10,
 *      value b[3] % 3, sent with b[4] % 12 bytes
 *   1  data on a transmitq: queue 1 or 5 (b[1] & 1), b[2..3] % 3000 bytes
 *   2  a buffer on a queue (b[1] % 6): length b[2..3] % 5000, writable
 *      unless b[4] & 1 (then hostile on receive queues)
 *   3  a raw chain on queue b[1] % 6: up to 3 descriptors with flags,
 *      lengths and addresses from b[2..7] (possibly outside RAM, looping)
 *   4  backend write of b[1..2] % 12000 bytes
 *   5  backend read of up to b[1] * 47 bytes
 *   6  driver reset, then a new driver (MULTIPORT unless b[1] & 1)
 *   7  attach or detach the backend
 *   8  kick queue b[1] % 6
 *   9  run the event loop
 * After every operation the used rings are checked: a used length never
 * exceeds what the chain could hold. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit/testvm.h"
#include "config.h"
#include "log.h"
#include "virtio/console.h"

#define OP_SIZE 8
#define RAM_BYTES (8u << 20)
#define NQ 6
#define QSZ TESTVM_QSZ
#define Q(q)   (0x100000u + 0x10000u * (q))
#define BUF(q) (0x200000u + 0x20000u * (q))   /* 16 slots of 0x2000 */

struct fz {
	struct vm vm;
	struct virtio_device *dev;
	struct virtio_console_port *port;
	bool attached;
	uint16_t next[NQ], used_seen[NQ];
	uint32_t room[NQ][QSZ];          /* writable bytes of the chain at head */
	uint8_t scratch[12000];
};

static void be_readable(void *o)
{
	struct fz *f = o;
	uint8_t buf[700];
	size_t n;

	while ((n = virtio_console_port_read(f->port, buf, sizeof(buf))) > 0)
		if (n > 3)   /* echo some back: reads and writes interleave */
			virtio_console_port_write(f->port, buf, n / 2);
}

static void be_writable(void *o) { (void)o; }
static void be_open(void *o, bool open) { (void)o, (void)open; }

static const struct virtio_console_port_ops be_ops = {
	.readable = be_readable, .writable = be_writable, .guest_open = be_open,
};

static void wr(struct fz *f, uint64_t off, uint32_t len, uint64_t v)
{
	testvm_dev_write(&f->vm, f->dev, off, len, v);
}

static void run(struct fz *f)
{
	f->vm.loop.stop = false;
	for (int i = 0; i < 8 && evloop_run_once(&f->vm.loop, 0) > 0; i++)
		;
}

static void kick(struct fz *f, uint16_t q)
{
	wr(f, 0x3000 + 4u * q, 2, q);
	run(f);
}

/* Post a chain: descriptors (addr, len, flags) given; NEXT links them. */
static void post(struct fz *f, uint16_t q, unsigned n, const uint64_t *addr,
		 const uint32_t *len, const uint16_t *flags, bool raw_next, uint16_t next_raw)
{
	uint16_t head = f->next[q] % QSZ, idx = 0;
	uint32_t room = 0;

	for (unsigned i = 0; i < n; i++) {
		uint16_t id = (uint16_t)((head + i) % QSZ);
		struct virtq_desc d = { .addr = addr[i], .len = len[i], .flags = flags[i] };
		if (!raw_next) {
			d.flags = (uint16_t)(d.flags & VIRTQ_DESC_F_WRITE);
			if (i + 1 < n)
				d.flags |= VIRTQ_DESC_F_NEXT;
			d.next = (uint16_t)((id + 1) % QSZ);
		} else {
			d.next = next_raw;
		}
		if (d.flags & VIRTQ_DESC_F_WRITE)
			room += len[i];
		guest_write(&f->vm.mem, Q(q) + 16u * id, &d, sizeof(d));
	}
	/* A raw chain may link to older descriptors: its room is unknown. */
	f->room[q][head] = raw_next ? UINT32_MAX : room;
	f->next[q] = (uint16_t)(f->next[q] + n);
	guest_read(&f->vm.mem, Q(q) + 0x1000 + 2, &idx, 2);
	guest_write(&f->vm.mem, Q(q) + 0x1000 + 4 + 2u * (idx % QSZ), &head, 2);
	idx++;
	guest_write(&f->vm.mem, Q(q) + 0x1000 + 2, &idx, 2);
}

static void post_buf(struct fz *f, uint16_t q, const void *data, uint32_t len, bool writable)
{
	uint64_t a = BUF(q) + 0x2000u * (f->next[q] % QSZ);
	uint16_t fl = writable ? VIRTQ_DESC_F_WRITE : 0;

	if (len > 0x2000)
		len = 0x2000;
	if (data)
		guest_write(&f->vm.mem, a, data, len);
	post(f, q, 1, &a, &len, &fl, false, 0);
}

/* The device must never claim more bytes than a chain had room for. */
static void check_used(struct fz *f)
{
	for (uint16_t q = 0; q < NQ; q++) {
		uint16_t idx = 0;
		guest_read(&f->vm.mem, Q(q) + 0x2000 + 2, &idx, 2);
		while (f->used_seen[q] != idx) {
			uint32_t e[2];
			guest_read(&f->vm.mem, Q(q) + 0x2000 + 4 + 8u * (f->used_seen[q] % QSZ), e, 8);
			f->used_seen[q]++;
			if (e[0] >= QSZ || e[1] > f->room[q][e[0]])
				abort();
		}
	}
}

static void driver_up(struct fz *f, bool multiport)
{
	memset(f->next, 0, sizeof(f->next));
	memset(f->used_seen, 0, sizeof(f->used_seen));
	memset(f->room, 0, sizeof(f->room));
	memset(guest_ptr(&f->vm.mem, Q(0), 0x60000), 0, 0x60000);
	wr(f, 0x14, 1, 0);
	wr(f, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, 0x08, 4, 0);
	wr(f, 0x0c, 4, multiport ? 2 : 0);
	wr(f, 0x08, 4, 1);
	wr(f, 0x0c, 4, 1);
	wr(f, 0x14, 1, 0xb);
	for (uint16_t q = 0; q < NQ; q++)
		testvm_queue_setup(&f->vm, f->dev, q, Q(q), Q(q) + 0x1000, Q(q) + 0x2000);
	wr(f, 0x14, 1, 0xf);
	for (int i = 0; i < 4; i++)
		post_buf(f, 2, NULL, 256, true);
	kick(f, 2);
}

static void ctl(struct fz *f, uint32_t id, uint16_t event, uint16_t value, uint32_t len)
{
	uint8_t m[12] = { 0 };

	memcpy(m, &id, 4);
	memcpy(m + 4, &event, 2);
	memcpy(m + 6, &value, 2);
	post_buf(f, 3, m, len, false);
	kick(f, 3);
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void op(struct fz *f, const uint8_t *b)
{
	switch (b[0] % 10) {
	case 0:
		ctl(f, b[1] == 0xff ? 0xffffffffu : b[1], b[2] % 10, b[3] % 3, b[4] % 12);
		break;
	case 1: {
		uint16_t q = b[1] & 1 ? 5 : 1;
		uint32_t len = rd16(b + 2) % 3000;
		memset(f->scratch, b[4], len);
		post_buf(f, q, f->scratch, len, false);
		kick(f, q);
		break;
	}
	case 2:
		post_buf(f, b[1] % NQ, NULL, rd16(b + 2) % 5000, !(b[4] & 1));
		break;
	case 3: {
		uint64_t a[3];
		uint32_t l[3];
		uint16_t fl[3];
		unsigned n = 1 + b[2] % 3;
		for (unsigned i = 0; i < n; i++) {
			a[i] = (uint64_t)b[3 + i] << 16;      /* up to 16 MiB: half outside RAM */
			l[i] = (uint32_t)b[4 + i] << (b[7] & 15);
			fl[i] = (uint16_t)(b[5 + i] & 7);
		}
		post(f, b[1] % NQ, n, a, l, fl, true, (uint16_t)(b[6] % 20));
		break;
	}
	case 4: {
		size_t len = rd16(b + 1) % sizeof(f->scratch);
		memset(f->scratch, b[3], len);
		if (f->attached)
			virtio_console_port_write(f->port, f->scratch, len);
		break;
	}
	case 5:
		if (f->attached)
			virtio_console_port_read(f->port, f->scratch, (size_t)b[1] * 47);
		break;
	case 6:
		driver_up(f, !(b[1] & 1));
		break;
	case 7:
		if (f->attached)
			virtio_console_port_detach(f->port);
		else if (virtio_console_port_attach(f->port, &be_ops, f) < 0)
			abort();
		f->attached = !f->attached;
		run(f);
		break;
	case 8:
		kick(f, b[1] % NQ);
		break;
	case 9:
		run(f);
		break;
	}
	check_used(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char outpath[64];
	static struct fz f;
	const char *names[] = { VIRTIO_CONSOLE_SPICE_PORT };
	struct chardev_config con;

	if (!outpath[0]) {
		log_set_level(LOG_SILENT);
		snprintf(outpath, sizeof(outpath), "/tmp/atoll-fuzz-vcon-%d", (int)getpid());
	}
	memset(&f, 0, sizeof(f));
	testvm_init(&f.vm, RAM_BYTES);
	con = (struct chardev_config){ .kind = CHARDEV_FILE, .path = outpath };
	if (virtio_console_create_ports(&f.vm, &con, names, 1) < 0)
		abort();
	f.dev = f.vm.virtio_devs[0];
	f.port = virtio_console_find_port(&f.vm, VIRTIO_CONSOLE_SPICE_PORT);
	if (!f.port || virtio_console_port_attach(f.port, &be_ops, &f) < 0)
		abort();
	f.attached = true;
	driver_up(&f, true);
	/* What Linux does at probe, so inputs start from a live port. */
	ctl(&f, 0, 0, 1, 8);
	ctl(&f, 0, 3, 1, 8);
	ctl(&f, 1, 3, 1, 8);
	ctl(&f, 1, 6, 1, 8);
	for (size_t i = 0; i + OP_SIZE <= size; i += OP_SIZE)
		op(&f, data + i);
	if (f.attached)
		virtio_console_port_detach(f.port);
	testvm_destroy(&f.vm);
	return 0;
}
