/* CFI flash for the UEFI variable store: OVMF's detection sequence, byte
 * program, block erase, broken sequences, out-of-range accesses, the
 * read-only-slot ("ROM mode") toggles and persistence to the VARS file. */
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "devices/pflash.h"

#define SIZE (4 * PFLASH_BLOCK)

static char *make_image(size_t size, uint8_t seed)
{
	char *path = g_build_filename(g_get_tmp_dir(), "atoll-pflash-XXXXXX", NULL);
	int fd = g_mkstemp(path);
	g_assert_cmpint(fd, >=, 0);
	uint8_t *b = g_malloc(size);
	for (size_t i = 0; i < size; i++)
		b[i] = (uint8_t)(i * 13 + seed);
	g_assert_cmpint(write(fd, b, size), ==, (ssize_t)size);
	close(fd);
	g_free(b);
	return path;
}

static uint8_t rd(struct pflash *pf, uint64_t off)
{
	uint8_t v = 0;
	pflash_access(pf, off, &v, 1, false);
	return v;
}

static void wr(struct pflash *pf, uint64_t off, uint8_t v)
{
	pflash_access(pf, off, &v, 1, true);
}

static unsigned romd_calls;
static bool romd_array = true;

static void romd(struct pflash *pf, bool array)
{
	(void)pf;
	romd_calls++;
	romd_array = array;
}

static unsigned dirty_calls;

static void dirty(struct pflash *pf)
{
	(void)pf;
	dirty_calls++;
}

static void file_bytes(const char *path, uint64_t off, uint8_t *dst, size_t n)
{
	int fd = open(path, O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pread(fd, dst, n, (off_t)off), ==, (ssize_t)n);
	close(fd);
}

static void test_detect_as_ovmf(void)
{
	char err[256];
	char *path = make_image(SIZE, 1);
	struct pflash pf;
	g_assert_cmpint(pflash_open(&pf, path, true, err, sizeof(err)), ==, 0);
	pf.romd = romd;
	romd_calls = 0;
	uint8_t orig = rd(&pf, 0x10);
	/* QemuFlashDetected: CLEAR_STATUS must not read back (not RAM), then
	 * READ_STATUS reads the cleared status 0x00 (flash, not ROM: the
	 * original byte), then READ_ARRAY. */
	g_assert_cmphex(rd(&pf, 0x10), !=, 0x00);
	wr(&pf, 0x10, PFLASH_CMD_CLEAR_STATUS);
	g_assert_cmphex(rd(&pf, 0x10), ==, orig);
	wr(&pf, 0x10, PFLASH_CMD_READ_STATUS);
	g_assert_false(romd_array);
	g_assert_cmphex(rd(&pf, 0x10), ==, 0x00);
	wr(&pf, 0x10, PFLASH_CMD_READ_ARRAY);
	g_assert_true(romd_array);
	g_assert_cmphex(rd(&pf, 0x10), ==, orig);
	g_assert_cmpuint(romd_calls, ==, 2);
	/* Read-id mode answers the Intel ids. */
	wr(&pf, 0, PFLASH_CMD_READ_ID);
	g_assert_cmphex(rd(&pf, 0), ==, 0x89);
	wr(&pf, 0, PFLASH_CMD_READ_ARRAY2);
	g_assert_cmphex(rd(&pf, 0), ==, (uint8_t)1);
	pflash_close(&pf);
	g_unlink(path);
	g_free(path);
}

static void test_program_erase_persist(void)
{
	char err[256];
	char *path = make_image(SIZE, 2);
	struct pflash pf;
	g_assert_cmpint(pflash_open(&pf, path, true, err, sizeof(err)), ==, 0);
	pf.dirty = dirty;
	dirty_calls = 0;

	/* Erase block 1, as QemuFlashEraseBlock does. */
	wr(&pf, PFLASH_BLOCK + 5, PFLASH_CMD_ERASE);
	wr(&pf, PFLASH_BLOCK + 5, PFLASH_CMD_CONFIRM);
	g_assert_cmphex(rd(&pf, PFLASH_BLOCK), ==, PFLASH_STATUS_READY);  /* status mode */
	wr(&pf, PFLASH_BLOCK, PFLASH_CMD_READ_ARRAY);
	for (unsigned i = 0; i < PFLASH_BLOCK; i++)
		g_assert_cmphex(rd(&pf, PFLASH_BLOCK + i), ==, 0xff);
	g_assert_cmphex(rd(&pf, PFLASH_BLOCK - 1), ==, (uint8_t)((PFLASH_BLOCK - 1) * 13 + 2));
	g_assert_cmphex(rd(&pf, 2 * PFLASH_BLOCK), ==, (uint8_t)(2 * PFLASH_BLOCK * 13 + 2));

	/* Program "VARS" byte by byte, as QemuFlashWrite does. */
	const char *msg = "VARS";
	for (int i = 0; i < 4; i++) {
		wr(&pf, PFLASH_BLOCK + 0x100 + (uint64_t)i, PFLASH_CMD_PROGRAM);
		wr(&pf, PFLASH_BLOCK + 0x100 + (uint64_t)i, (uint8_t)msg[i]);
	}
	wr(&pf, PFLASH_BLOCK + 0x103, PFLASH_CMD_READ_STATUS);
	g_assert_cmphex(rd(&pf, 0), ==, PFLASH_STATUS_READY);
	wr(&pf, 0, PFLASH_CMD_READ_ARRAY);
	for (int i = 0; i < 4; i++)
		g_assert_cmphex(rd(&pf, PFLASH_BLOCK + 0x100 + (uint64_t)i), ==, (uint8_t)msg[i]);
	g_assert_cmpuint(dirty_calls, ==, 5);

	/* Nothing reaches the file before a flush; everything after it. */
	uint8_t got[4];
	file_bytes(path, PFLASH_BLOCK + 0x100, got, 4);
	g_assert_true(memcmp(got, "VARS", 4) != 0);
	g_assert_cmpint(pflash_flush(&pf), ==, 0);
	file_bytes(path, PFLASH_BLOCK + 0x100, got, 4);
	g_assert_cmpmem(got, 4, "VARS", 4);
	file_bytes(path, PFLASH_BLOCK, got, 4);
	g_assert_cmpmem(got, 4, "\xff\xff\xff\xff", 4);
	/* A later change goes out at close. */
	wr(&pf, 0x20, PFLASH_CMD_PROGRAM2);
	wr(&pf, 0x20, 0x42);
	pflash_close(&pf);
	file_bytes(path, 0x20, got, 1);
	g_assert_cmphex(got[0], ==, 0x42);

	/* A power cycle: reopening sees what was written. */
	g_assert_cmpint(pflash_open(&pf, path, true, err, sizeof(err)), ==, 0);
	g_assert_cmphex(rd(&pf, PFLASH_BLOCK + 0x100), ==, 'V');
	g_assert_cmphex(rd(&pf, 0x20), ==, 0x42);
	pflash_close(&pf);
	g_unlink(path);
	g_free(path);
}

static void test_volatile_template(void)
{
	char err[256];
	char *path = make_image(SIZE, 3);
	struct pflash pf;
	g_assert_cmpint(pflash_open(&pf, path, false, err, sizeof(err)), ==, 0);
	wr(&pf, 0, PFLASH_CMD_ERASE);
	wr(&pf, 0, PFLASH_CMD_CONFIRM);
	wr(&pf, 0, PFLASH_CMD_READ_ARRAY);
	g_assert_cmphex(rd(&pf, 0), ==, 0xff);
	g_assert_cmpint(pflash_flush(&pf), ==, 0);
	pflash_close(&pf);
	uint8_t got;
	file_bytes(path, 0, &got, 1);
	g_assert_cmphex(got, ==, 3);   /* the template is never written */
	g_unlink(path);
	g_free(path);
}

static void test_hostile(void)
{
	char err[256];
	char *path = make_image(SIZE, 4);
	struct pflash pf;
	g_assert_cmpint(pflash_open(&pf, path, true, err, sizeof(err)), ==, 0);
	uint8_t before = rd(&pf, PFLASH_BLOCK);

	/* Erase setup followed by something other than confirm: error bits,
	 * nothing erased. */
	wr(&pf, PFLASH_BLOCK, PFLASH_CMD_ERASE);
	wr(&pf, PFLASH_BLOCK, 0x00);
	g_assert_cmphex(rd(&pf, PFLASH_BLOCK) & 0x30, ==, 0x30);
	wr(&pf, PFLASH_BLOCK, PFLASH_CMD_CLEAR_STATUS);
	wr(&pf, PFLASH_BLOCK, PFLASH_CMD_READ_STATUS);
	g_assert_cmphex(rd(&pf, PFLASH_BLOCK), ==, 0x00);
	wr(&pf, PFLASH_BLOCK, PFLASH_CMD_READ_ARRAY);
	g_assert_cmphex(rd(&pf, PFLASH_BLOCK), ==, before);

	/* Outside the image: reads 0xff, writes dropped, state untouched. */
	uint8_t d[8] = { PFLASH_CMD_PROGRAM };
	pflash_access(&pf, SIZE, d, 1, true);
	pflash_access(&pf, SIZE - 2, d, 4, true);
	pflash_access(&pf, UINT64_MAX - 1, d, 4, true);
	pflash_access(&pf, 0, d, 16, true);
	pflash_access(&pf, 0, d, 0, true);
	g_assert_cmpint(pf.mode, ==, PFLASH_ARRAY);
	pflash_access(&pf, SIZE - 1, d, 2, false);
	g_assert_cmphex(d[0], ==, 0xff);
	/* Program data at the very end; a wide write counts whole. */
	wr(&pf, SIZE - 1, PFLASH_CMD_PROGRAM);
	wr(&pf, SIZE - 1, 0x5a);
	wr(&pf, 0, PFLASH_CMD_READ_ARRAY);
	g_assert_cmphex(rd(&pf, SIZE - 1), ==, 0x5a);
	/* Unknown commands go back to read-array mode. */
	wr(&pf, 0, 0x77);
	g_assert_cmpint(pf.mode, ==, PFLASH_ARRAY);
	pflash_close(&pf);
	g_unlink(path);
	g_free(path);
}

static void test_bad_images(void)
{
	char err[256] = "";
	struct pflash pf;
	char *odd = make_image(PFLASH_BLOCK + 100, 5);
	g_assert_cmpint(pflash_open(&pf, odd, true, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "multiple of 4 KiB"));
	char *big = make_image(5u << 20, 5);
	g_assert_cmpint(pflash_open(&pf, big, true, err, sizeof(err)), ==, -1);
	g_assert_cmpint(pflash_open(&pf, "/nonexistent/OVMF_VARS.fd", true, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "/nonexistent/OVMF_VARS.fd"));
	g_unlink(odd);
	g_unlink(big);
	g_free(odd);
	g_free(big);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/pflash/detect-as-ovmf", test_detect_as_ovmf);
	g_test_add_func("/pflash/program-erase-persist", test_program_erase_persist);
	g_test_add_func("/pflash/volatile-template", test_volatile_template);
	g_test_add_func("/pflash/hostile", test_hostile);
	g_test_add_func("/pflash/bad-images", test_bad_images);
	return g_test_run();
}
