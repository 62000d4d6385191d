/* virtio-blk request handling against a temporary raw image, no VM. */
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "config.h"
#include "pci/pci.h"
#include "virtio/blk.h"
#include "virtio/virtio.h"
#include "vm.h"
#include "testvm.h"

#define DISK_SECTORS 64
#define DISK_BYTES   (DISK_SECTORS * 512)

struct fixture {
	char *path;
	struct blk_backend be;
	uint8_t hdr[16];
	uint8_t data[4096];
	uint8_t status;
	struct virtq_elem elem;
};

/* Sector s of the initial image holds bytes (s + i) & 0xff. */
static uint8_t pattern(uint64_t s, size_t i)
{
	return (uint8_t)(s * 7 + i);
}

static char *make_image(size_t bytes)
{
	GError *err = NULL;
	char *path = NULL;
	int fd = g_file_open_tmp("atoll-blk-XXXXXX.img", &path, &err);
	uint8_t *buf = g_malloc(bytes);

	g_assert_no_error(err);
	for (size_t i = 0; i < bytes; i++)
		buf[i] = pattern(i / 512, i % 512);
	g_assert_cmpint(write(fd, buf, bytes), ==, (ssize_t)bytes);
	close(fd);
	g_free(buf);
	return path;
}

static int open_backend(struct fixture *f, bool readonly, const char *serial)
{
	struct disk_config cfg = { .path = f->path, .readonly = readonly,
				   .serial = (char *)serial };
	return blk_backend_open(&f->be, &cfg);
}

static void fx_setup(struct fixture *f, gconstpointer readonly)
{
	memset(f, 0, sizeof(*f));
	f->path = make_image(DISK_BYTES);
	g_assert_cmpint(open_backend(f, readonly != NULL, "atoll-serial-1"), ==, 0);
}

static void fx_teardown(struct fixture *f, gconstpointer data)
{
	(void)data;
	blk_backend_close(&f->be);
	g_unlink(f->path);
	g_free(f->path);
}

static void set_hdr(struct fixture *f, uint32_t type, uint64_t sector)
{
	memset(f->hdr, 0, sizeof(f->hdr));
	memcpy(f->hdr, &type, 4);      /* little-endian host */
	memcpy(f->hdr + 8, &sector, 8);
}

/* header | data (out or in) | status, the way Linux lays requests out. */
static void build(struct fixture *f, uint32_t type, uint64_t sector,
		  size_t data_len, bool data_in)
{
	struct virtq_elem *e = &f->elem;
	unsigned n = 0;

	set_hdr(f, type, sector);
	memset(e, 0, sizeof(*e));
	e->iov[n++] = (struct iovec){ f->hdr, 16 };
	e->n_out = 1;
	e->out_len = 16;
	if (data_len) {
		e->iov[n++] = (struct iovec){ f->data, data_len };
		if (data_in) {
			e->n_in++;
			e->in_len += data_len;
		} else {
			e->n_out++;
			e->out_len += data_len;
		}
	}
	e->iov[n++] = (struct iovec){ &f->status, 1 };
	e->n_in++;
	e->in_len += 1;
	f->status = 0xAA;
}

static int64_t run(struct fixture *f, uint8_t *status)
{
	const char *why = NULL;
	int64_t n = blk_handle_request(&f->be, &f->elem, status, &why);

	if (n >= 0)
		g_assert_cmpuint(f->status, ==, *status);
	return n;
}

static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pread(fd, buf, len, (off_t)off), ==, (ssize_t)len);
	close(fd);
}

static void test_open(struct fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_cmpuint(f->be.capacity, ==, DISK_SECTORS);
	g_assert_cmpmem(f->be.serial, 14, "atoll-serial-1", 14);
	g_assert_cmpint(f->be.serial[14], ==, 0);
	g_assert_cmpint(f->be.serial[19], ==, 0);
}

static void test_read(struct fixture *f, gconstpointer data)
{
	uint8_t st;

	(void)data;
	build(f, VIRTIO_BLK_T_IN, 3, 1024, true);
	g_assert_cmpint(run(f, &st), ==, 1024 + 1);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_OK);
	for (size_t i = 0; i < 1024; i++)
		g_assert_cmpuint(f->data[i], ==, pattern(3 + i / 512, i % 512));
}

static void test_read_last_sector(struct fixture *f, gconstpointer data)
{
	uint8_t st;

	(void)data;
	build(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 512, true);
	g_assert_cmpint(run(f, &st), ==, 513);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_OK);
	g_assert_cmpuint(f->data[511], ==, pattern(DISK_SECTORS - 1, 511));
}

/* Data scattered over several buffers, status byte sharing the last one. */
static void test_read_scattered(struct fixture *f, gconstpointer data)
{
	struct virtq_elem *e = &f->elem;
	uint8_t tail[257];
	uint8_t st;

	(void)data;
	set_hdr(f, VIRTIO_BLK_T_IN, 5);
	memset(e, 0, sizeof(*e));
	/* header split over two readable buffers */
	e->iov[0] = (struct iovec){ f->hdr, 5 };
	e->iov[1] = (struct iovec){ f->hdr + 5, 11 };
	e->n_out = 2;
	e->out_len = 16;
	e->iov[2] = (struct iovec){ f->data, 256 };
	e->iov[3] = (struct iovec){ tail, sizeof(tail) };
	e->n_in = 2;
	e->in_len = 256 + 257;
	tail[256] = 0xAA;
	g_assert_cmpint(blk_handle_request(&f->be, e, &st, &(const char *){ NULL }),
			==, 513);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_OK);
	g_assert_cmpuint(tail[256], ==, VIRTIO_BLK_S_OK);
	g_assert_cmpuint(f->data[0], ==, pattern(5, 0));
	g_assert_cmpuint(f->data[255], ==, pattern(5, 255));
	g_assert_cmpuint(tail[0], ==, pattern(5, 256));
	g_assert_cmpuint(tail[255], ==, pattern(5, 511));
}

static void test_write(struct fixture *f, gconstpointer data)
{
	uint8_t st, back[1024];

	(void)data;
	build(f, VIRTIO_BLK_T_OUT, 10, 1024, false);
	memset(f->data, 0x5C, 1024);
	g_assert_cmpint(run(f, &st), ==, 1);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_OK);
	file_read(f->path, 10 * 512, back, sizeof(back));
	for (size_t i = 0; i < sizeof(back); i++)
		g_assert_cmpuint(back[i], ==, 0x5C);
	/* neighbours untouched */
	file_read(f->path, 12 * 512, back, 1);
	g_assert_cmpuint(back[0], ==, pattern(12, 0));

	/* and read back through the device */
	memset(f->data, 0, sizeof(f->data));
	build(f, VIRTIO_BLK_T_IN, 10, 512, true);
	g_assert_cmpint(run(f, &st), ==, 513);
	g_assert_cmpuint(f->data[100], ==, 0x5C);
}

static void test_flush(struct fixture *f, gconstpointer data)
{
	uint8_t st;

	(void)data;
	build(f, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	g_assert_cmpint(run(f, &st), ==, 1);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_OK);
}

static void test_get_id(struct fixture *f, gconstpointer data)
{
	uint8_t st;

	(void)data;
	memset(f->data, 0xFF, sizeof(f->data));
	build(f, VIRTIO_BLK_T_GET_ID, 0, 20, true);
	g_assert_cmpint(run(f, &st), ==, 21);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_OK);
	g_assert_cmpmem(f->data, 20, "atoll-serial-1\0\0\0\0\0\0", 20);
	g_assert_cmpuint(f->data[20], ==, 0xFF);
}

/* DISCARD / WRITE_ZEROES: out data is an array of 16-byte ranges. */
static void build_ranges(struct fixture *f, uint32_t type, unsigned n,
			 const uint64_t *sector, const uint32_t *count,
			 const uint32_t *flags)
{
	build(f, type, 0, n * 16, false);
	for (unsigned i = 0; i < n; i++) {
		memcpy(f->data + 16 * i, &sector[i], 8);
		memcpy(f->data + 16 * i + 8, &count[i], 4);
		memcpy(f->data + 16 * i + 12, &flags[i], 4);
	}
}

static void expect_sectors(struct fixture *f, uint64_t first, uint64_t n,
			   bool zero)
{
	uint8_t back[512];

	for (uint64_t s = first; s < first + n; s++) {
		file_read(f->path, s * 512, back, sizeof(back));
		for (size_t i = 0; i < sizeof(back); i++)
			g_assert_cmpuint(back[i], ==, zero ? 0 : pattern(s, i));
	}
}

static void test_write_zeroes(struct fixture *f, gconstpointer data)
{
	const uint64_t sector[2] = { 4, 20 };
	const uint32_t count[2] = { 3, 2 };
	const uint32_t flags[2] = { 0, VIRTIO_BLK_WZ_F_UNMAP };
	uint8_t st;

	(void)data;
	build_ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, 2, sector, count, flags);
	g_assert_cmpint(run(f, &st), ==, 1);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_OK);
	expect_sectors(f, 3, 1, false);
	expect_sectors(f, 4, 3, true);
	expect_sectors(f, 7, 13, false);
	expect_sectors(f, 20, 2, true);
	expect_sectors(f, 22, 1, false);
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: the zeroes are written instead. */
static void test_write_zeroes_fallback(void)
{
	struct fixture *f = g_new0(struct fixture, 1);
	const uint64_t sector[1] = { 1 };
	const uint32_t count[1] = { 2 };
	const uint32_t flags[1] = { 0 };
	uint8_t st;
	int fd;

	if (!g_file_test("/dev/shm", G_FILE_TEST_IS_DIR)) {
		g_test_skip("no /dev/shm");
		g_free(f);
		return;
	}
	f->path = g_strdup("/dev/shm/atoll-blk-XXXXXX");
	fd = g_mkstemp(f->path);
	g_assert_cmpint(fd, >=, 0);
	for (uint64_t s = 0; s < 4; s++) {
		uint8_t buf[512];
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(s, i);
		g_assert_cmpint(write(fd, buf, sizeof(buf)), ==, 512);
	}
	close(fd);
	g_assert_cmpint(open_backend(f, false, NULL), ==, 0);
	build_ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, 1, sector, count, flags);
	run(f, &st);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_OK);
	expect_sectors(f, 0, 1, false);
	expect_sectors(f, 1, 2, true);
	expect_sectors(f, 3, 1, false);
	fx_teardown(f, NULL);
	g_free(f);
}

static void test_discard(struct fixture *f, gconstpointer data)
{
	const uint64_t sector[1] = { 8 };
	const uint32_t count[1] = { 8 };
	const uint32_t flags[1] = { 0 };
	uint8_t st;

	(void)data;
	build_ranges(f, VIRTIO_BLK_T_DISCARD, 1, sector, count, flags);
	g_assert_cmpint(run(f, &st), ==, 1);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_OK);
	/* discarded contents are undefined; the neighbours are not */
	expect_sectors(f, 7, 1, false);
	expect_sectors(f, 16, 1, false);
}

static void test_ranges_invalid(struct fixture *f, gconstpointer data)
{
	const uint64_t sector[2] = { 0, DISK_SECTORS - 1 };
	const uint32_t count[2] = { 1, 2 };
	const uint32_t unmap[2] = { VIRTIO_BLK_WZ_F_UNMAP, 0 };
	const uint32_t none[2] = { 0, 0 };
	const uint32_t reserved[2] = { 0x80, 0 };
	const uint64_t huge_sector[1] = { UINT64_MAX - 1 };
	uint8_t st;

	(void)data;
	/* second range runs past the end: nothing at all is done */
	build_ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, 2, sector, count, none);
	run(f, &st);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
	expect_sectors(f, 0, 1, false);
	build_ranges(f, VIRTIO_BLK_T_DISCARD, 1, huge_sector, count, none);
	run(f, &st);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
	/* unmap is meaningless for discard; reserved flags for both */
	build_ranges(f, VIRTIO_BLK_T_DISCARD, 1, sector, count, unmap);
	run(f, &st);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_UNSUPP);
	build_ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, 1, sector, count, reserved);
	run(f, &st);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_UNSUPP);
	expect_sectors(f, 0, 1, false);
	/* no ranges, a partial range, too many ranges */
	build(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, false);
	run(f, &st);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
	build(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 24, false);
	memset(f->data, 0, 24);
	run(f, &st);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
	build(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16 * (VIRTIO_BLK_MAX_RANGES + 1), false);
	memset(f->data, 0, 16 * (VIRTIO_BLK_MAX_RANGES + 1));
	run(f, &st);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
}

static void test_ranges_readonly(struct fixture *f, gconstpointer data)
{
	const uint64_t sector[1] = { 0 };
	const uint32_t count[1] = { 4 };
	const uint32_t flags[1] = { 0 };
	uint8_t st;

	(void)data;
	build_ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, 1, sector, count, flags);
	run(f, &st);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
	build_ranges(f, VIRTIO_BLK_T_DISCARD, 1, sector, count, flags);
	run(f, &st);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
	expect_sectors(f, 0, 4, false);
}

static void test_unsupported(struct fixture *f, gconstpointer data)
{
	uint8_t st;

	(void)data;
	build(f, 7 /* GET_LIFETIME, not offered */, 0, 16, false);
	g_assert_cmpint(run(f, &st), ==, 1);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_UNSUPP);
}

static void test_readonly(struct fixture *f, gconstpointer data)
{
	uint8_t st, back[512];

	(void)data;
	g_assert_true(f->be.readonly);
	build(f, VIRTIO_BLK_T_OUT, 0, 512, false);
	memset(f->data, 0, 512);
	g_assert_cmpint(run(f, &st), ==, 1);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
	file_read(f->path, 0, back, sizeof(back));
	for (size_t i = 0; i < sizeof(back); i++)
		g_assert_cmpuint(back[i], ==, pattern(0, i));
	/* reads and flushes still work */
	build(f, VIRTIO_BLK_T_IN, 1, 512, true);
	g_assert_cmpint(run(f, &st), ==, 513);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_OK);
	build(f, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	run(f, &st);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_OK);
}

static void test_out_of_range(struct fixture *f, gconstpointer data)
{
	static const uint64_t sectors[] = {
		DISK_SECTORS, DISK_SECTORS - 1 /* 2 sectors: one past */,
		UINT64_MAX, UINT64_MAX / 512 + 1, (UINT64_MAX / 512) - 1,
	};
	uint8_t st;

	(void)data;
	for (size_t i = 0; i < G_N_ELEMENTS(sectors); i++) {
		build(f, VIRTIO_BLK_T_IN, sectors[i], 1024, true);
		g_assert_cmpint(run(f, &st), ==, 1);
		g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
		build(f, VIRTIO_BLK_T_OUT, sectors[i], 1024, false);
		g_assert_cmpint(run(f, &st), ==, 1);
		g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
	}
}

static void test_bad_length(struct fixture *f, gconstpointer data)
{
	uint8_t st;

	(void)data;
	build(f, VIRTIO_BLK_T_IN, 0, 511, true);
	g_assert_cmpint(run(f, &st), ==, 1);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
	build(f, VIRTIO_BLK_T_OUT, 0, 100, false);
	g_assert_cmpint(run(f, &st), ==, 1);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
}

static void test_short_header(struct fixture *f, gconstpointer data)
{
	uint8_t st;

	(void)data;
	build(f, VIRTIO_BLK_T_IN, 0, 512, true);
	f->elem.iov[0].iov_len = 8;
	f->elem.out_len = 8;
	g_assert_cmpint(run(f, &st), ==, 1);
	g_assert_cmpuint(st, ==, VIRTIO_BLK_S_IOERR);
}

static void test_no_status(struct fixture *f, gconstpointer data)
{
	const char *why = NULL;
	uint8_t st;

	(void)data;
	build(f, VIRTIO_BLK_T_OUT, 0, 512, false);
	f->elem.n_in = 0;
	f->elem.in_len = 0;
	g_assert_cmpint(blk_handle_request(&f->be, &f->elem, &st, &why), ==, -1);
	g_assert_nonnull(why);
	g_assert_nonnull(strstr(why, "status"));
	g_assert_cmpuint(f->status, ==, 0xAA);
}

/* A second writer is refused while the first holds the image. */
static void test_lock(struct fixture *f, gconstpointer data)
{
	struct blk_backend other;
	struct disk_config cfg = { .path = f->path };

	(void)data;
	g_assert_cmpint(blk_backend_open(&other, &cfg), ==, -1);
	cfg.readonly = true;
	g_assert_cmpint(blk_backend_open(&other, &cfg), ==, -1);
	blk_backend_close(&f->be);
	g_assert_cmpint(blk_backend_open(&other, &cfg), ==, 0);
	blk_backend_close(&other);
	g_assert_cmpint(open_backend(f, false, NULL), ==, 0);
}

static void test_open_errors(void)
{
	struct blk_backend b;
	struct disk_config cfg = { .path = (char *)"/nonexistent/atoll.img" };
	char *path;
	int fd;

	g_assert_cmpint(blk_backend_open(&b, &cfg), ==, -1);
	/* a directory is not a disk image */
	cfg.path = (char *)"/";
	cfg.readonly = true;
	g_assert_cmpint(blk_backend_open(&b, &cfg), ==, -1);

	/* odd size: rounded down to whole sectors */
	path = make_image(1000);
	cfg.path = path;
	cfg.readonly = false;
	g_assert_cmpint(blk_backend_open(&b, &cfg), ==, 0);
	g_assert_cmpuint(b.capacity, ==, 1);
	blk_backend_close(&b);
	/* and with no serial the ID is all zeroes */
	g_assert_cmpint(blk_backend_open(&b, &cfg), ==, 0);
	for (int i = 0; i < VIRTIO_BLK_ID_BYTES; i++)
		g_assert_cmpint(b.serial[i], ==, 0);
	blk_backend_close(&b);
	/* a file locked by someone else */
	fd = open(path, O_RDONLY);
	g_assert_cmpint(flock(fd, LOCK_SH), ==, 0);
	g_assert_cmpint(blk_backend_open(&b, &cfg), ==, -1);
	close(fd);
	g_unlink(path);
	g_free(path);
}


/* ---- whole device through the virtio-pci transport (no KVM) ---------- */

#define RING_DESC  0x10000
#define RING_AVAIL 0x11000
#define RING_USED  0x12000
#define REQ_BUF    0x20000

static struct vm vm;

static void vm_setup(void)
{
	testvm_init(&vm, 16 << 20);
}

static uint32_t mmio_read(uint64_t addr, uint32_t len)
{
	return testvm_mmio_read(&vm, addr, len);
}

static void mmio_write(uint64_t addr, uint32_t len, uint64_t v)
{
	testvm_mmio_write(&vm, addr, len, v);
}

/* BAR 0 of the virtio device with PCI device id `id` on bus 0. */
static uint64_t find_bar0(uint16_t id)
{
	for (unsigned devfn = 0; devfn < 256; devfn += 8) {
		uint64_t cfg = PCI_ECAM_BASE + ((uint64_t)devfn << 12);
		if (mmio_read(cfg, 4) == (0x1af4u | (uint32_t)id << 16))
			return mmio_read(cfg + PCI_BAR0, 4) & ~0xfu;
	}
	g_assert_not_reached();
}

static uint64_t device_features(uint64_t bar)
{
	mmio_write(bar + 0x00, 4, 0);
	uint64_t lo = mmio_read(bar + 0x04, 4);
	mmio_write(bar + 0x00, 4, 1);
	return lo | (uint64_t)mmio_read(bar + 0x04, 4) << 32;
}

/* Accept every offered feature, set up queue 0 (16 entries), DRIVER_OK. */
static void driver_start(uint64_t bar)
{
	uint64_t f = device_features(bar);

	mmio_write(bar + 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mmio_write(bar + 0x08, 4, 0);
	mmio_write(bar + 0x0c, 4, (uint32_t)f);
	mmio_write(bar + 0x08, 4, 1);
	mmio_write(bar + 0x0c, 4, f >> 32);
	mmio_write(bar + 0x14, 1, 0xb);
	g_assert_cmphex(mmio_read(bar + 0x14, 1), ==, 0xb);
	mmio_write(bar + 0x16, 2, 0);
	mmio_write(bar + 0x18, 2, 16);
	mmio_write(bar + 0x20, 4, RING_DESC);
	mmio_write(bar + 0x24, 4, 0);
	mmio_write(bar + 0x28, 4, RING_AVAIL);
	mmio_write(bar + 0x2c, 4, 0);
	mmio_write(bar + 0x30, 4, RING_USED);
	mmio_write(bar + 0x34, 4, 0);
	mmio_write(bar + 0x1c, 2, 1);
	mmio_write(bar + 0x14, 1, 0xf);
}

static void *gpa(uint64_t a)
{
	return guest_ptr(&vm.mem, a, 1);
}

static void put_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };
	memcpy((uint8_t *)gpa(RING_DESC) + 16 * i, &d, sizeof(d));
}

static void stop_loop(void *opaque, uint32_t events)
{
	(void)events;
	evloop_stop(opaque);
}

/* Offer chain `head`, kick queue 0 and let the event loop process it. */
static void kick_and_run(uint64_t bar, uint16_t head)
{
	uint16_t *avail = gpa(RING_AVAIL);
	struct evloop_watch *timer;

	avail[2 + avail[1] % 16] = head;
	avail[1]++;
	mmio_write(bar + 0x3000, 2, 0);
	timer = evloop_timer(&vm.loop, 100, false, stop_loop, &vm.loop);
	g_assert_nonnull(timer);
	evloop_run(&vm.loop);
	evloop_remove(&vm.loop, timer);
	vm.loop.stop = false;
}

static struct virtq_used_elem used_elem_at(uint16_t slot)
{
	struct virtq_used_elem e;
	memcpy(&e, (uint8_t *)gpa(RING_USED) + 4 + 8 * slot, sizeof(e));
	return e;
}

static void test_device(void)
{
	char *path = make_image(DISK_BYTES);
	struct disk_config cfg = { .path = path, .serial = (char *)"e2e" };
	uint8_t *buf;
	uint64_t bar, f;
	uint32_t hdr[4] = { VIRTIO_BLK_T_IN, 0, 7, 0 };

	vm_setup();
	g_assert_cmpint(virtio_blk_create(&vm, &cfg, 0), ==, 0);
	bar = find_bar0(0x1042);
	f = device_features(bar);
	g_assert_cmphex(f & (1ULL << 32), !=, 0);               /* VERSION_1 */
	g_assert_cmphex(f & ((1 << 2) | (1 << 6) | (1 << 9) | (1 << 13) | (1 << 14)),
			==, (1 << 2) | (1 << 6) | (1 << 9) | (1 << 13) | (1 << 14));
	g_assert_cmphex(f & (1 << 5), ==, 0);                    /* not RO */
	/* device config: capacity, seg_max, blk_size */
	g_assert_cmpuint(mmio_read(bar + 0x2000, 4), ==, DISK_SECTORS);
	g_assert_cmpuint(mmio_read(bar + 0x2004, 4), ==, 0);
	g_assert_cmpuint(mmio_read(bar + 0x2000 + 12, 4), ==, 254);
	g_assert_cmpuint(mmio_read(bar + 0x2000 + 20, 4), ==, 512);
	g_assert_cmpuint(mmio_read(bar + 0x2000 + 40, 4), ==, VIRTIO_BLK_MAX_RANGES);

	driver_start(bar);
	buf = gpa(REQ_BUF);
	memcpy(buf, hdr, 16);
	buf[0x1000 + 512] = 0xAA;
	put_desc(0, REQ_BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(1, REQ_BUF + 0x1000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	put_desc(2, REQ_BUF + 0x1000 + 512, 1, VIRTQ_DESC_F_WRITE, 0);
	kick_and_run(bar, 0);
	g_assert_cmpuint(((uint16_t *)gpa(RING_USED))[1], ==, 1);
	g_assert_cmpuint(used_elem_at(0).id, ==, 0);
	g_assert_cmpuint(used_elem_at(0).len, ==, 513);
	g_assert_cmpuint(buf[0x1000 + 512], ==, VIRTIO_BLK_S_OK);
	for (size_t i = 0; i < 512; i++)
		g_assert_cmpuint(buf[0x1000 + i], ==, pattern(7, i));

	/* A chain without a status byte breaks the device, nothing else. */
	put_desc(3, REQ_BUF, 16, 0, 0);
	kick_and_run(bar, 3);
	g_assert_cmpuint(((uint16_t *)gpa(RING_USED))[1], ==, 1);
	g_assert_cmphex(mmio_read(bar + 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, !=, 0);

	testvm_destroy(&vm);
	g_unlink(path);
	g_free(path);
}

static void test_device_readonly(void)
{
	char *path = make_image(DISK_BYTES);
	struct disk_config cfg = { .path = path, .readonly = true };
	uint64_t bar, f;

	vm_setup();
	g_assert_cmpint(virtio_blk_create(&vm, &cfg, 0), ==, 0);
	bar = find_bar0(0x1042);
	f = device_features(bar);
	g_assert_cmphex(f & (1 << 5), !=, 0);                    /* RO */
	g_assert_cmphex(f & ((1 << 13) | (1 << 14)), ==, 0);     /* no discard */
	/* a second VMM may not open it read-write meanwhile */
	cfg.readonly = false;
	g_assert_cmpint(virtio_blk_create(&vm, &cfg, 1), ==, -1);
	testvm_destroy(&vm);
	g_unlink(path);
	g_free(path);
}

static void test_rng_device(void)
{
	uint8_t *buf;
	uint64_t bar;
	int nonzero = 0;

	vm_setup();
	g_assert_cmpint(virtio_rng_create(&vm), ==, 0);
	bar = find_bar0(0x1044);
	driver_start(bar);
	buf = gpa(REQ_BUF);
	memset(buf, 0, 256 * 1024);
	/* 4 bytes readable (ignored), 64 writable, then 192 KiB writable:
	 * the device stops at 64 KiB per request. */
	put_desc(0, REQ_BUF, 4, VIRTQ_DESC_F_NEXT, 1);
	put_desc(1, REQ_BUF + 0x100, 64, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	put_desc(2, REQ_BUF + 0x10000, 192 * 1024, VIRTQ_DESC_F_WRITE, 0);
	kick_and_run(bar, 0);
	g_assert_cmpuint(((uint16_t *)gpa(RING_USED))[1], ==, 1);
	g_assert_cmpuint(used_elem_at(0).len, ==, 64 * 1024);
	for (int i = 0; i < 4; i++)
		g_assert_cmpuint(buf[i], ==, 0);
	for (int i = 0; i < 64; i++)
		nonzero += buf[0x100 + i] != 0;
	g_assert_cmpint(nonzero, >, 32);
	/* the bytes past the cap are untouched */
	for (size_t i = 64 * 1024 - 64; i < 192 * 1024; i++)
		g_assert_cmpuint(buf[0x10000 + i], ==, 0);
	testvm_destroy(&vm);
}

#define FX(name, fn, ro) \
	g_test_add(name, struct fixture, ro, fx_setup, fn, fx_teardown)

int main(int argc, char **argv)
{
	static const char ro[] = "ro";

	g_test_init(&argc, &argv, NULL);
	FX("/virtio-blk/open", test_open, NULL);
	FX("/virtio-blk/read", test_read, NULL);
	FX("/virtio-blk/read-last-sector", test_read_last_sector, NULL);
	FX("/virtio-blk/read-scattered", test_read_scattered, NULL);
	FX("/virtio-blk/write", test_write, NULL);
	FX("/virtio-blk/flush", test_flush, NULL);
	FX("/virtio-blk/get-id", test_get_id, NULL);
	FX("/virtio-blk/write-zeroes", test_write_zeroes, NULL);
	FX("/virtio-blk/discard", test_discard, NULL);
	FX("/virtio-blk/ranges-invalid", test_ranges_invalid, NULL);
	FX("/virtio-blk/ranges-readonly", test_ranges_readonly, ro);
	FX("/virtio-blk/unsupported", test_unsupported, NULL);
	FX("/virtio-blk/readonly", test_readonly, ro);
	FX("/virtio-blk/out-of-range", test_out_of_range, NULL);
	FX("/virtio-blk/bad-length", test_bad_length, NULL);
	FX("/virtio-blk/short-header", test_short_header, NULL);
	FX("/virtio-blk/no-status", test_no_status, NULL);
	FX("/virtio-blk/lock", test_lock, NULL);
	g_test_add_func("/virtio-blk/open-errors", test_open_errors);
	g_test_add_func("/virtio-blk/write-zeroes-fallback", test_write_zeroes_fallback);
	g_test_add_func("/virtio-blk/device", test_device);
	g_test_add_func("/virtio-blk/device-readonly", test_device_readonly);
	g_test_add_func("/virtio-rng/device", test_rng_device);
	return g_test_run();
}
