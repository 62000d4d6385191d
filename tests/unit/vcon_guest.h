/* A guest-side virtio-console MULTIPORT driver for tests, doing what
 * Linux's virtio_console does: queue setup, the control handshake, posting
 * and reading buffers on port 1 (queues 4/5).  Rings live at VG_Q(q),
 * buffers at VG_BUF(q) in guest RAM (needs 4 MiB). */
#ifndef ATOLL_TEST_VCON_GUEST_H
#define ATOLL_TEST_VCON_GUEST_H

#include "testvm.h"
#include "virtio/console.h"

#define VG_Q(q)    (0x100000u + 0x10000u * (q))   /* desc, +0x1000 avail, +0x2000 used */
#define VG_BUF(q)  (0x200000u + 0x10000u * (q))   /* 16 buffers of 0x1000 per queue */
#define VG_NQ      6

enum { C_DEVICE_READY, C_DEVICE_ADD, C_DEVICE_REMOVE, C_PORT_READY, C_CONSOLE_PORT,
       C_RESIZE, C_PORT_OPEN, C_PORT_NAME };

struct vg_ctl {
	uint32_t id;
	uint16_t event, value;
	char name[64];
};


struct vcon_guest {
	struct vm *vm;
	struct virtio_device *dev;
	uint16_t next_id[VG_NQ], used_seen[VG_NQ];
};

/* Run the loop until it is idle for 2 ms; unlike testvm_pump this leaves
 * loop.stop false, so callers may keep using evloop_run_once. */
static inline void vg_run(struct vm *vm)
{
	vm->loop.stop = false;
	for (int i = 0; i < 100 && evloop_run_once(&vm->loop, 2) > 0; i++)
		;
}

static inline void vg_kick(struct vcon_guest *m, uint16_t q)
{
	testvm_dev_write(m->vm, m->dev, 0x3000 + 4u * q, 2, q);
	vg_run(m->vm);
}

/* Post a chain of buffers (readable ones first) on queue q. */
static inline void vg_post_chain(struct vcon_guest *m, uint16_t q, const uint64_t *addr, const uint32_t *len,
			  const bool *wr, unsigned n)
{
	uint64_t desc = VG_Q(q), avail = VG_Q(q) + 0x1000;
	uint16_t head = m->next_id[q] % TESTVM_QSZ, idx;

	for (unsigned i = 0; i < n; i++) {
		uint16_t id = (uint16_t)((head + i) % TESTVM_QSZ);
		struct virtq_desc d = {
			.addr = addr[i], .len = len[i],
			.flags = (uint16_t)((wr[i] ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			.next = (uint16_t)((id + 1) % TESTVM_QSZ),
		};
		g_assert_cmpint(guest_write(&m->vm->mem, desc + 16u * id, &d, sizeof(d)), ==, 0);
	}
	m->next_id[q] = (uint16_t)(m->next_id[q] + n);
	g_assert_cmpint(guest_read(&m->vm->mem, avail + 2, &idx, 2), ==, 0);
	g_assert_cmpint(guest_write(&m->vm->mem, avail + 4 + 2u * (idx % TESTVM_QSZ), &head, 2), ==, 0);
	idx++;
	g_assert_cmpint(guest_write(&m->vm->mem, avail + 2, &idx, 2), ==, 0);
}

/* One device-writable buffer of `len` bytes for the device to fill. */
static inline void vg_post_in(struct vcon_guest *m, uint16_t q, uint32_t len)
{
	uint64_t a = VG_BUF(q) + 0x1000u * (m->next_id[q] % TESTVM_QSZ);
	bool wr = true;

	vg_post_chain(m, q, &a, &len, &wr, 1);
}

/* Send bytes as one descriptor on queue q (and kick). */
static inline void vg_send(struct vcon_guest *m, uint16_t q, const void *data, uint32_t len)
{
	uint64_t a = VG_BUF(q) + 0x1000u * (m->next_id[q] % TESTVM_QSZ);
	bool wr = false;

	g_assert_cmpint(guest_write(&m->vm->mem, a, data, len), ==, 0);
	vg_post_chain(m, q, &a, &len, &wr, 1);
	vg_kick(m, q);
}

static inline void vg_ctl(struct vcon_guest *m, uint32_t id, uint16_t event, uint16_t value)
{
	struct { uint32_t id; uint16_t event, value; } __attribute__((packed)) c = { id, event, value };

	vg_send(m, 3, &c, sizeof(c));
}

/* The next used element of queue q: 1 with its bytes copied to buf. */
static inline int vg_used(struct vcon_guest *m, uint16_t q, void *buf, uint32_t *len)
{
	uint64_t used = VG_Q(q) + 0x2000;
	uint32_t e[2];

	if (m->used_seen[q] == testvm_used_idx(m->vm, used))
		return 0;
	g_assert_cmpint(guest_read(&m->vm->mem, used + 4 + 8u * (m->used_seen[q] % TESTVM_QSZ),
				   e, 8), ==, 0);
	m->used_seen[q]++;
	g_assert_cmpuint(e[0], <, TESTVM_QSZ);
	g_assert_cmpuint(e[1], <=, 0x1000);
	if (buf)
		g_assert_cmpint(guest_read(&m->vm->mem, VG_BUF(q) + 0x1000u * e[0], buf, e[1]), ==, 0);
	*len = e[1];
	return 1;
}

/* The next control message from the device, re-posting its buffer. */
static inline bool vg_ctl_recv(struct vcon_guest *m, struct vg_ctl *c)
{
	uint8_t buf[0x1000];
	uint32_t len = 0;

	if (!vg_used(m, 2, buf, &len))
		return false;
	g_assert_cmpuint(len, >=, 8);
	memset(c, 0, sizeof(*c));
	memcpy(&c->id, buf, 4);
	memcpy(&c->event, buf + 4, 2);
	memcpy(&c->value, buf + 6, 2);
	g_assert_cmpuint(len - 8, <, sizeof(c->name));
	memcpy(c->name, buf + 8, len - 8);
	vg_post_in(m, 2, 256);
	return true;
}

static inline void vg_expect(struct vcon_guest *m, uint32_t id, uint16_t event, uint16_t value)
{
	struct vg_ctl c = { 0 };

	g_assert_true(vg_ctl_recv(m, &c));
	g_assert_cmpuint(c.id, ==, id);
	g_assert_cmpuint(c.event, ==, event);
	g_assert_cmpuint(c.value, ==, value);
}

static inline void vg_driver_up(struct vcon_guest *m, bool multiport)
{
	struct virtio_device *dev = m->dev;

	memset(guest_ptr(&m->vm->mem, VG_Q(0), 0x60000), 0, 0x60000);
	memset(m->next_id, 0, sizeof(m->next_id));
	memset(m->used_seen, 0, sizeof(m->used_seen));
	testvm_dev_write(m->vm, dev, 0x14, 1, 0);
	testvm_dev_write(m->vm, dev, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	testvm_dev_write(m->vm, dev, 0x00, 4, 0);
	g_assert_cmphex(testvm_dev_read(m->vm, dev, 0x04, 4) & 2, ==, 2);   /* MULTIPORT */
	testvm_dev_write(m->vm, dev, 0x08, 4, 0);
	testvm_dev_write(m->vm, dev, 0x0c, 4, multiport ? 2 : 0);
	testvm_dev_write(m->vm, dev, 0x08, 4, 1);
	testvm_dev_write(m->vm, dev, 0x0c, 4, 1);                           /* VERSION_1 */
	testvm_dev_write(m->vm, dev, 0x14, 1, 0xb);
	g_assert_cmphex(testvm_dev_read(m->vm, dev, 0x14, 1) & VIRTIO_STATUS_FEATURES_OK, ==, 8);
	for (uint16_t q = 0; q < (multiport ? VG_NQ : 2); q++)
		testvm_queue_setup(m->vm, dev, q, VG_Q(q), VG_Q(q) + 0x1000, VG_Q(q) + 0x2000);
	testvm_dev_write(m->vm, dev, 0x14, 1, 0xf);
	g_assert_false(dev->broken);
}

/* DEVICE_READY .. PORT_READY for every port, as Linux does at probe. */
static inline void vg_handshake(struct vcon_guest *m, bool with_console)
{
	struct vg_ctl c;

	for (int i = 0; i < 8; i++)
		vg_post_in(m, 2, 256);
	vg_kick(m, 2);
	vg_ctl(m, 0, C_DEVICE_READY, 1);
	if (with_console)
		vg_expect(m, 0, C_DEVICE_ADD, 1);
	vg_expect(m, 1, C_DEVICE_ADD, 1);
	g_assert_false(vg_ctl_recv(m, &c));
	if (with_console) {
		vg_ctl(m, 0, C_PORT_READY, 1);
		vg_expect(m, 0, C_CONSOLE_PORT, 1);
		vg_expect(m, 0, C_PORT_OPEN, 1);
	}
	vg_ctl(m, 1, C_PORT_READY, 1);
	g_assert_true(vg_ctl_recv(m, &c));
	g_assert_cmpuint(c.id, ==, 1);
	g_assert_cmpuint(c.event, ==, C_PORT_NAME);
	g_assert_cmpstr(c.name, ==, VIRTIO_CONSOLE_SPICE_PORT);
}

#endif
