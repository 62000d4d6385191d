/* Split virtqueue parsing against rings built by hand in a fake guest RAM. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define RAM_SIZE   (1u << 20)
#define QSIZE      8
#define DESC_GPA   0x1000
#define AVAIL_GPA  0x2000
#define USED_GPA   0x3000
#define DATA_GPA   0x10000

struct fixture {
	uint8_t *ram;
	struct guest_memory gm;
	struct virtq vq;
	uint16_t avail_idx;     /* driver's next avail idx */
};

static struct virtq_desc *desc_at(struct fixture *f, uint16_t i)
{
	return (struct virtq_desc *)(f->ram + DESC_GPA) + i;
}

static uint16_t *avail_ring(struct fixture *f)
{
	return (uint16_t *)(f->ram + AVAIL_GPA);
}

static uint16_t *used_ring16(struct fixture *f)
{
	return (uint16_t *)(f->ram + USED_GPA);
}

static struct virtq_used_elem *used_elem(struct fixture *f, uint16_t slot)
{
	return (struct virtq_used_elem *)(f->ram + USED_GPA + 4) + slot;
}

static void set_desc(struct fixture *f, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };
	memcpy(desc_at(f, i), &d, sizeof(d));
}

/* Driver side: publish `head` in the next avail slot. */
static void offer(struct fixture *f, uint16_t head)
{
	avail_ring(f)[2 + (f->avail_idx % QSIZE)] = head;
	f->avail_idx++;
	avail_ring(f)[1] = f->avail_idx;
}

static void fx_setup(struct fixture *f, gconstpointer data)
{
	const char *why = NULL;

	(void)data;
	f->ram = aligned_alloc(4096, RAM_SIZE);
	g_assert_nonnull(f->ram);
	memset(f->ram, 0, RAM_SIZE);
	guest_memory_wrap(&f->gm, f->ram, RAM_SIZE);
	virtq_init(&f->vq, 0, QSIZE);
	f->vq.desc_addr = DESC_GPA;
	f->vq.avail_addr = AVAIL_GPA;
	f->vq.used_addr = USED_GPA;
	f->avail_idx = 0;
	g_assert_cmpint(virtq_enable(&f->vq, &f->gm, &why), ==, 0);
}

static void fx_teardown(struct fixture *f, gconstpointer data)
{
	(void)data;
	free(f->ram);
}

static void expect_error(struct fixture *f, const char *fragment)
{
	struct virtq_elem elem;
	const char *why = NULL;

	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, -1);
	g_assert_nonnull(why);
	g_assert_nonnull(strstr(why, fragment));
}

static void test_empty(struct fixture *f, gconstpointer data)
{
	struct virtq_elem elem;
	const char *why = NULL;

	(void)data;
	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 0);
}

static void test_single_chain(struct fixture *f, gconstpointer data)
{
	struct virtq_elem elem;
	const char *why = NULL;

	(void)data;
	/* header (out), data (out), status (in) */
	set_desc(f, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(f, 5, DATA_GPA + 0x100, 512, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, 2, DATA_GPA + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 1);
	g_assert_cmpuint(elem.head, ==, 0);
	g_assert_cmpuint(elem.n_out, ==, 2);
	g_assert_cmpuint(elem.n_in, ==, 1);
	g_assert_cmpuint(elem.out_len, ==, 528);
	g_assert_cmpuint(elem.in_len, ==, 1);
	g_assert_true(elem.iov[0].iov_base == f->ram + DATA_GPA);
	g_assert_cmpuint(elem.iov[1].iov_len, ==, 512);
	g_assert_true(elem.iov[2].iov_base == f->ram + DATA_GPA + 0x400);
	/* consumed: ring is empty again */
	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 0);
}

static void test_multiple_chains(struct fixture *f, gconstpointer data)
{
	struct virtq_elem elem;
	const char *why = NULL;

	(void)data;
	set_desc(f, 3, DATA_GPA, 100, 0, 0);
	set_desc(f, 1, DATA_GPA + 200, 50, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 3);
	offer(f, 1);
	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 1);
	g_assert_cmpuint(elem.head, ==, 3);
	g_assert_cmpuint(elem.n_out, ==, 1);
	g_assert_cmpuint(elem.n_in, ==, 0);
	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 1);
	g_assert_cmpuint(elem.head, ==, 1);
	g_assert_cmpuint(elem.n_out, ==, 0);
	g_assert_cmpuint(elem.in_len, ==, 50);
	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 0);
}

/* Indices are free-running 16-bit counters: pop and push across 65535->0. */
static void test_wraparound(struct fixture *f, gconstpointer data)
{
	struct virtq_elem elem;
	const char *why = NULL;

	(void)data;
	f->vq.last_avail = 65533;
	f->vq.used_idx = 65533;
	f->avail_idx = 65533;
	set_desc(f, 0, DATA_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	for (int i = 0; i < 6; i++) {
		offer(f, 0);
		g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 1);
		g_assert_cmpuint(elem.head, ==, 0);
		virtq_push(&f->vq, elem.head, 8);
	}
	g_assert_cmpuint(f->vq.last_avail, ==, 3);
	g_assert_cmpuint(used_ring16(f)[1], ==, 3);
	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 0);
}

static void test_loop(struct fixture *f, gconstpointer data)
{
	(void)data;
	set_desc(f, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	offer(f, 0);
	expect_error(f, "loop");
}

static void test_self_loop_zero_len(struct fixture *f, gconstpointer data)
{
	(void)data;
	/* zero-length descriptors still count towards the chain length */
	set_desc(f, 4, 0, 0, VIRTQ_DESC_F_NEXT, 4);
	offer(f, 4);
	expect_error(f, "loop");
}

static void test_chain_longer_than_queue(struct fixture *f, gconstpointer data)
{
	(void)data;
	/* 0->1->...->7->0: every index valid, but QSIZE+1 links */
	for (uint16_t i = 0; i < QSIZE; i++)
		set_desc(f, i, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, (i + 1) % QSIZE);
	offer(f, 0);
	expect_error(f, "longer than the queue");
}

static void test_full_length_chain_ok(struct fixture *f, gconstpointer data)
{
	struct virtq_elem elem;
	const char *why = NULL;

	(void)data;
	for (uint16_t i = 0; i < QSIZE; i++)
		set_desc(f, i, DATA_GPA + 16 * i, 16,
			 i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	offer(f, 0);
	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 1);
	g_assert_cmpuint(elem.n_out, ==, QSIZE);
	g_assert_cmpuint(elem.out_len, ==, 16 * QSIZE);
}

static void test_next_out_of_range(struct fixture *f, gconstpointer data)
{
	(void)data;
	set_desc(f, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, QSIZE);
	offer(f, 0);
	expect_error(f, "out of range");
}

static void test_head_out_of_range(struct fixture *f, gconstpointer data)
{
	(void)data;
	offer(f, QSIZE + 3);
	expect_error(f, "out of range");
}

static void test_buffer_outside_ram(struct fixture *f, gconstpointer data)
{
	(void)data;
	set_desc(f, 0, RAM_SIZE + 0x1000, 8, 0, 0);
	offer(f, 0);
	expect_error(f, "not in guest RAM");
}

static void test_buffer_crossing_ram_end(struct fixture *f, gconstpointer data)
{
	(void)data;
	set_desc(f, 0, RAM_SIZE - 4, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	expect_error(f, "not in guest RAM");
}

static void test_buffer_address_overflow(struct fixture *f, gconstpointer data)
{
	(void)data;
	set_desc(f, 0, UINT64_MAX - 3, 16, 0, 0);
	offer(f, 0);
	expect_error(f, "not in guest RAM");
}

static void test_buffer_at_ram_end_ok(struct fixture *f, gconstpointer data)
{
	struct virtq_elem elem;
	const char *why = NULL;

	(void)data;
	set_desc(f, 0, RAM_SIZE - 8, 8, 0, 0);
	offer(f, 0);
	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 1);
	g_assert_true(elem.iov[0].iov_base == f->ram + RAM_SIZE - 8);
}

static void test_zero_length_skipped(struct fixture *f, gconstpointer data)
{
	struct virtq_elem elem;
	const char *why = NULL;

	(void)data;
	/* a zero-length buffer's address is irrelevant: it is dropped */
	set_desc(f, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, UINT64_MAX, 0, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, 2, DATA_GPA + 8, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 1);
	g_assert_cmpuint(elem.n_out, ==, 1);
	g_assert_cmpuint(elem.n_in, ==, 1);
}

static void test_writable_before_readable(struct fixture *f, gconstpointer data)
{
	(void)data;
	set_desc(f, 0, DATA_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, DATA_GPA + 8, 8, 0, 0);
	offer(f, 0);
	expect_error(f, "readable descriptor after");
}

static void test_avail_jump(struct fixture *f, gconstpointer data)
{
	(void)data;
	set_desc(f, 0, DATA_GPA, 8, 0, 0);
	avail_ring(f)[1] = QSIZE + 1;
	expect_error(f, "jumped");
}

static void test_avail_full_ring_ok(struct fixture *f, gconstpointer data)
{
	struct virtq_elem elem;
	const char *why = NULL;

	(void)data;
	for (uint16_t i = 0; i < QSIZE; i++) {
		set_desc(f, i, DATA_GPA + 64 * i, 64, 0, 0);
		offer(f, i);
	}
	for (uint16_t i = 0; i < QSIZE; i++) {
		g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 1);
		g_assert_cmpuint(elem.head, ==, i);
	}
	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 0);
}

static void test_indirect(struct fixture *f, gconstpointer data)
{
	(void)data;
	set_desc(f, 0, DATA_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_error(f, "INDIRECT_DESC");
}

static void test_total_len_overflow(struct fixture *f, gconstpointer data)
{
	struct guest_memory big;

	(void)data;
	/* Pretend RAM is huge so the 4 GiB limit, not RAM bounds, trips;
	 * no buffer is ever dereferenced by virtq_pop. */
	big = f->gm;
	big.low_size = GUEST_LOW_RAM_MAX;
	big.high_size = 8ULL << 30;
	big.size = big.low_size + big.high_size;
	set_desc(f, 0, GUEST_HIGH_RAM_BASE, 0xF0000000u, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, GUEST_HIGH_RAM_BASE, 0x20000000u, 0, 0);
	offer(f, 0);

	struct virtq_elem elem;
	const char *why = NULL;
	g_assert_cmpint(virtq_pop(&f->vq, &big, &elem, &why), ==, -1);
	g_assert_nonnull(strstr(why, "4 GiB"));
}

static void test_used_ring(struct fixture *f, gconstpointer data)
{
	(void)data;
	virtq_push(&f->vq, 5, 123);
	virtq_push(&f->vq, 2, 0);
	g_assert_cmpuint(used_ring16(f)[1], ==, 2);
	g_assert_cmpuint(used_elem(f, 0)->id, ==, 5);
	g_assert_cmpuint(used_elem(f, 0)->len, ==, 123);
	g_assert_cmpuint(used_elem(f, 1)->id, ==, 2);
	g_assert_cmpuint(used_elem(f, 1)->len, ==, 0);
	/* slots wrap at the queue size */
	for (int i = 0; i < QSIZE; i++)
		virtq_push(&f->vq, (uint16_t)i, (uint32_t)i * 10);
	g_assert_cmpuint(used_ring16(f)[1], ==, QSIZE + 2);
	g_assert_cmpuint(used_elem(f, 2)->id, ==, 0);
	g_assert_cmpuint(used_elem(f, 1)->id, ==, QSIZE - 1);
	g_assert_cmpuint(used_elem(f, 1)->len, ==, (QSIZE - 1) * 10);
}

static void test_no_interrupt(struct fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_true(virtq_needs_interrupt(&f->vq));
	avail_ring(f)[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
	g_assert_false(virtq_needs_interrupt(&f->vq));
	avail_ring(f)[0] = 0;
	g_assert_true(virtq_needs_interrupt(&f->vq));
}

static void test_reset_disables(struct fixture *f, gconstpointer data)
{
	struct virtq_elem elem;
	const char *why = NULL;

	(void)data;
	set_desc(f, 0, DATA_GPA, 8, 0, 0);
	offer(f, 0);
	virtq_reset(&f->vq);
	g_assert_false(f->vq.enabled);
	g_assert_cmpuint(f->vq.size, ==, QSIZE);
	g_assert_cmpint(virtq_pop(&f->vq, &f->gm, &elem, &why), ==, 0);
	virtq_push(&f->vq, 0, 1);
	g_assert_cmpuint(used_ring16(f)[1], ==, 0);
}

static void try_enable(const struct guest_memory *gm, uint16_t size,
		       uint64_t desc, uint64_t avail, uint64_t used,
		       const char *expect_error)
{
	struct virtq vq;
	const char *why = NULL;
	int r;

	virtq_init(&vq, 0, 256);
	vq.size = size;
	vq.desc_addr = desc;
	vq.avail_addr = avail;
	vq.used_addr = used;
	r = virtq_enable(&vq, gm, &why);
	if (!expect_error) {
		g_assert_cmpint(r, ==, 0);
		g_assert_true(vq.enabled);
		return;
	}
	g_assert_cmpint(r, ==, -1);
	g_assert_false(vq.enabled);
	g_assert_nonnull(why);
	g_assert_nonnull(strstr(why, expect_error));
}

/* virtq_enable checks, without the fixture. */
static void test_enable_checks(void)
{
	uint8_t *ram = aligned_alloc(4096, RAM_SIZE);
	struct guest_memory gm;

	guest_memory_wrap(&gm, ram, RAM_SIZE);
	try_enable(&gm, 256, 0x1000, 0x2000, 0x3000, NULL);
	try_enable(&gm, 1, 0x1000, 0x2000, 0x3000, NULL);
	try_enable(&gm, 0, 0x1000, 0x2000, 0x3000, "size");
	try_enable(&gm, 3, 0x1000, 0x2000, 0x3000, "size");
	try_enable(&gm, 512, 0x1000, 0x4000, 0x6000, "size");
	try_enable(&gm, 16, 0x1008, 0x2000, 0x3000, "descriptor table");
	try_enable(&gm, 16, 0x1000, 0x2001, 0x3000, "available ring");
	try_enable(&gm, 16, 0x1000, 0x2000, 0x3002, "used ring");
	/* each ring must fit entirely in RAM: desc 16*16, avail 6+2*16,
	 * used 6+8*16 bytes */
	try_enable(&gm, 16, RAM_SIZE - 16 * 16, 0x2000, 0x3000, NULL);
	try_enable(&gm, 16, RAM_SIZE - 16 * 15, 0x2000, 0x3000, "descriptor table");
	try_enable(&gm, 16, 0x1000, RAM_SIZE - 38, 0x3000, NULL);
	try_enable(&gm, 16, 0x1000, RAM_SIZE - 36, 0x3000, "available ring");
	try_enable(&gm, 16, 0x1000, 0x2000, RAM_SIZE - 136, NULL);
	try_enable(&gm, 16, 0x1000, 0x2000, RAM_SIZE - 132, "used ring");
	try_enable(&gm, 16, 0xFFFFFFFFFFFFFF00ULL, 0x2000, 0x3000, "descriptor table");
	try_enable(&gm, 16, 0x1000, 0x2000, 0xFFFFFFFFFFFFFFF0ULL, "used ring");
	free(ram);
}

static void test_iov_copy(void)
{
	char a[3], b[4], c[5];
	struct iovec iov[3] = { { a, 3 }, { b, 4 }, { c, 5 } };
	char out[16] = { 0 };

	g_assert_cmpuint(iov_from_buf(iov, 3, 0, "abcdefghijkl", 12), ==, 12);
	g_assert_cmpmem(a, 3, "abc", 3);
	g_assert_cmpmem(c, 5, "hijkl", 5);
	g_assert_cmpuint(iov_to_buf(iov, 3, 2, out, sizeof(out)), ==, 10);
	g_assert_cmpmem(out, 10, "cdefghijkl", 10);
	g_assert_cmpuint(iov_to_buf(iov, 3, 4, out, 4), ==, 4);
	g_assert_cmpmem(out, 4, "efgh", 4);
	g_assert_cmpuint(iov_to_buf(iov, 3, 12, out, 4), ==, 0);
	g_assert_cmpuint(iov_to_buf(iov, 3, 100, out, 4), ==, 0);
	g_assert_cmpuint(iov_from_buf(iov, 3, 10, "XYZ", 3), ==, 2);
	g_assert_cmpmem(c, 5, "hijXY", 5);
}

#define FX(name, fn) \
	g_test_add(name, struct fixture, NULL, fx_setup, fn, fx_teardown)

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	FX("/virtq/empty", test_empty);
	FX("/virtq/single-chain", test_single_chain);
	FX("/virtq/multiple-chains", test_multiple_chains);
	FX("/virtq/wraparound", test_wraparound);
	FX("/virtq/loop", test_loop);
	FX("/virtq/self-loop-zero-len", test_self_loop_zero_len);
	FX("/virtq/chain-longer-than-queue", test_chain_longer_than_queue);
	FX("/virtq/full-length-chain", test_full_length_chain_ok);
	FX("/virtq/next-out-of-range", test_next_out_of_range);
	FX("/virtq/head-out-of-range", test_head_out_of_range);
	FX("/virtq/buffer-outside-ram", test_buffer_outside_ram);
	FX("/virtq/buffer-crossing-ram-end", test_buffer_crossing_ram_end);
	FX("/virtq/buffer-address-overflow", test_buffer_address_overflow);
	FX("/virtq/buffer-at-ram-end", test_buffer_at_ram_end_ok);
	FX("/virtq/zero-length-skipped", test_zero_length_skipped);
	FX("/virtq/writable-before-readable", test_writable_before_readable);
	FX("/virtq/avail-jump", test_avail_jump);
	FX("/virtq/avail-full-ring", test_avail_full_ring_ok);
	FX("/virtq/indirect", test_indirect);
	FX("/virtq/total-len-overflow", test_total_len_overflow);
	FX("/virtq/used-ring", test_used_ring);
	FX("/virtq/no-interrupt", test_no_interrupt);
	FX("/virtq/reset", test_reset_disables);
	g_test_add_func("/virtq/enable-checks", test_enable_checks);
	g_test_add_func("/virtq/iov-copy", test_iov_copy);
	return g_test_run();
}
