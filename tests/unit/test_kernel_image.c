/* Host-side kernel decompression, its cache, and direct vmlinux entry. */
#include <glib.h>
#include <glib/gstdio.h>
#include <lzma.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "boot/kernel_image.h"
#include "boot/linux.h"
#include "memory.h"

#define N 200000

static uint8_t *sample(void)
{
	uint8_t *d = g_malloc(N);
	for (size_t i = 0; i < N; i++)
		d[i] = (uint8_t)((i * 2654435761u) >> 13);
	return d;
}

/* Payload as the kernel build makes it: stream, then le32 size. */
static uint8_t *with_size(uint8_t *buf, size_t *len, size_t size)
{
	buf = g_realloc(buf, *len + 4);
	for (int i = 0; i < 4; i++)
		buf[*len + i] = (uint8_t)(size >> (8 * i));
	*len += 4;
	return buf;
}

static uint8_t *make_xz(const uint8_t *d, size_t n, size_t *len)
{
	size_t cap = lzma_stream_buffer_bound(n), pos = 0;
	uint8_t *out = g_malloc(cap);
	g_assert_cmpint(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, d, n, out, &pos, cap), ==, LZMA_OK);
	*len = pos;
	return with_size(out, len, n);
}

static uint8_t *make_gzip(const uint8_t *d, size_t n, size_t *len)
{
	z_stream s = { 0 };
	uint8_t *out = g_malloc(n + 1024);
	g_assert_cmpint(deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), ==, Z_OK);
	s.next_in = (Bytef *)d;
	s.avail_in = (uInt)n;
	s.next_out = out;
	s.avail_out = (uInt)(n + 1024);
	g_assert_cmpint(deflate(&s, Z_FINISH), ==, Z_STREAM_END);
	*len = s.total_out;
	deflateEnd(&s);
	return with_size(out, len, n);
}

static uint8_t *make_zstd(const uint8_t *d, size_t n, size_t *len)
{
	size_t cap = ZSTD_compressBound(n);
	uint8_t *out = g_malloc(cap);
	/* With a checksum, as the zstd tool the kernel build uses writes. */
	ZSTD_CCtx *cx = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(cx, ZSTD_c_checksumFlag, 1);
	*len = ZSTD_compress2(cx, out, cap, d, n);
	ZSTD_freeCCtx(cx);
	g_assert_false(ZSTD_isError(*len));
	return with_size(out, len, n);
}

static void check_roundtrip(uint8_t *(*make)(const uint8_t *, size_t, size_t *))
{
	char err[256];
	uint8_t *d = sample(), *out = NULL;
	size_t len, outlen = 0;
	uint8_t *c = make(d, N, &len);

	g_assert_cmpint(kernel_decompress(c, len, &out, &outlen, err, sizeof(err)), ==, 0);
	g_assert_cmpuint(outlen, ==, N);
	g_assert_true(memcmp(out, d, N) == 0);
	g_free(out);
	/* A wrong size trailer or a damaged stream is an error, not a crash. */
	c[len - 4] ^= 1;
	g_assert_cmpint(kernel_decompress(c, len, &out, &outlen, err, sizeof(err)), ==, -1);
	c[len - 4] ^= 1;
	c[len / 2] ^= 0xff;
	c[len / 2 + 1] ^= 0xff;
	g_assert_cmpint(kernel_decompress(c, len, &out, &outlen, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "corrupt"));
	g_free(c);
	g_free(d);
}

static void test_xz(void) { check_roundtrip(make_xz); }
static void test_gzip(void) { check_roundtrip(make_gzip); }
static void test_zstd(void) { check_roundtrip(make_zstd); }

static void test_unknown_and_absurd(void)
{
	char err[256];
	uint8_t *out;
	size_t outlen;
	uint8_t junk[32] = { 'B', 'Z', 'h' };
	g_assert_cmpint(kernel_decompress(junk, sizeof(junk), &out, &outlen, err, sizeof(err)), ==, 1);
	/* An xz magic claiming 4 GiB uncompressed is refused up front. */
	uint8_t big[16] = { 0xfd, '7', 'z', 'X', 'Z', 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	g_assert_cmpint(kernel_decompress(big, sizeof(big), &out, &outlen, err, sizeof(err)), ==, -1);
}

static char *find_kernel(void)
{
	const char *env = g_getenv("ATOLL_TEST_KERNEL");
	if (env && g_file_test(env, G_FILE_TEST_IS_REGULAR))
		return g_strdup(env);
	/* The kernel hwsim downloads and caches. */
	GDir *d = g_dir_open("/var/cache/atoll-hwsim", 0, NULL);
	char *found = NULL;
	const char *name;
	while (d && !found && (name = g_dir_read_name(d))) {
		if (!g_str_has_prefix(name, "kernel-"))
			continue;
		char *p = g_strdup_printf("/var/cache/atoll-hwsim/%s/boot/vmlinuz-%s", name,
					  name + strlen("kernel-"));
		if (g_file_test(p, G_FILE_TEST_IS_REGULAR))
			found = p;
		else
			g_free(p);
	}
	if (d)
		g_dir_close(d);
	return found;
}

static void test_real_kernel(void)
{
	char err[512] = "";
	char *path = find_kernel();
	if (!path) {
		g_test_skip("no Debian kernel (set ATOLL_TEST_KERNEL or run an hwsim test first)");
		return;
	}
	gchar *bz;
	gsize bzlen;
	g_assert_true(g_file_get_contents(path, &bz, &bzlen, NULL));
	char *cache = g_dir_make_tmp("atoll-kcache-XXXXXX", NULL);
	struct kernel_elf a, b;

	g_assert_cmpint(kernel_image_vmlinux(path, (uint8_t *)bz, bzlen, cache, false, &a, err, sizeof(err)), ==, 0);
	g_assert_false(a.from_cache);
	g_assert_true(memcmp(a.data, "\x7f" "ELF", 4) == 0);
	g_assert_cmpint(kernel_image_vmlinux(path, (uint8_t *)bz, bzlen, cache, false, &b, err, sizeof(err)), ==, 0);
	g_assert_true(b.from_cache);
	g_assert_cmpuint(a.len, ==, b.len);
	g_assert_true(memcmp(a.data, b.data, a.len) == 0);
	/* The cache is keyed by content: the same kernel under another name
	 * hits it; --prepare-kernel of a file fills a fresh cache. */
	struct kernel_elf c;
	g_assert_cmpint(kernel_image_vmlinux("/elsewhere/vmlinuz", (uint8_t *)bz, bzlen, cache,
					     true, &c, err, sizeof(err)), ==, 0);
	g_assert_true(c.from_cache);
	kernel_elf_release(&c);
	char *cache2 = g_dir_make_tmp("atoll-kcache2-XXXXXX", NULL);
	g_assert_cmpint(kernel_image_prepare(path, cache2, err, sizeof(err)), ==, 0);
	g_assert_cmpint(kernel_image_vmlinux(path, (uint8_t *)bz, bzlen, cache2, true, &c,
					     err, sizeof(err)), ==, 0);
	g_assert_true(c.from_cache);
	kernel_elf_release(&c);
	g_assert_cmpint(kernel_image_prepare("/nonexistent/vmlinuz", cache2, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "/nonexistent/vmlinuz"));
	char *rm2 = g_strdup_printf("rm -rf '%s'", cache2);
	g_assert_cmpint(system(rm2), ==, 0);
	g_free(rm2);
	g_free(cache2);

	struct guest_memory gm;
	struct linux_boot boot;
	uint8_t initrd[8192];
	memset(initrd, 0x5a, sizeof(initrd));
	g_assert_cmpint(guest_memory_init(&gm, 512 << 20), ==, 0);
	g_assert_cmpint(linux_load_vmlinux(&gm, (uint8_t *)bz, bzlen, b.data, b.len, initrd,
					   sizeof(initrd), "console=ttyS0", 0xe0000, &boot,
					   err, sizeof(err)), ==, 0);
	/* Debian's x86-64 kernels link startup_64 at 16 MiB. */
	g_assert_cmphex(boot.entry, ==, 0x1000000);
	g_assert_cmphex(boot.kernel_addr, ==, 0x1000000);
	g_assert_cmpuint(boot.initrd_addr, >=, boot.kernel_addr + boot.kernel_size);
	/* The first loadable segment's bytes are where the kernel expects. */
	uint64_t phoff, off = 0, paddr = 0;
	memcpy(&phoff, b.data + 32, 8);
	for (unsigned i = 0; i < 16 && !paddr; i++) {
		const uint8_t *ph = b.data + phoff + i * 56;
		if (ph[0] == 1) {
			memcpy(&off, ph + 8, 8);
			memcpy(&paddr, ph + 24, 8);
		}
	}
	g_assert_cmphex(paddr, ==, boot.kernel_addr);
	g_assert_true(memcmp(guest_ptr(&gm, paddr, 4096), b.data + off, 4096) == 0);
	g_assert_true(memcmp(guest_ptr(&gm, boot.initrd_addr, sizeof(initrd)), initrd,
			     sizeof(initrd)) == 0);
	/* Too little RAM for the kernel image: a message, not a crash. */
	struct guest_memory small;
	g_assert_cmpint(guest_memory_init(&small, 24 << 20), ==, 0);
	g_assert_cmpint(linux_load_vmlinux(&small, (uint8_t *)bz, bzlen, b.data, b.len, NULL, 0,
					   "", 0xe0000, &boot, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "more memory"));
	/* A corrupt program header table is refused. */
	uint8_t *bad = g_memdup2(b.data, b.len);
	bad[54] = 0x30;   /* e_phentsize */
	g_assert_cmpint(linux_load_vmlinux(&gm, (uint8_t *)bz, bzlen, bad, b.len, NULL, 0,
					   "", 0xe0000, &boot, err, sizeof(err)), ==, -1);
	g_free(bad);

	guest_memory_free(&small);
	guest_memory_free(&gm);
	kernel_elf_release(&a);
	kernel_elf_release(&b);
	char *cmd = g_strdup_printf("rm -rf '%s'", cache);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(cmd);
	g_free(cache);
	g_free(bz);
	g_free(path);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/kernel-image/xz", test_xz);
	g_test_add_func("/kernel-image/gzip", test_gzip);
	g_test_add_func("/kernel-image/zstd", test_zstd);
	g_test_add_func("/kernel-image/unknown-and-absurd", test_unknown_and_absurd);
	g_test_add_func("/kernel-image/real-kernel", test_real_kernel);
	return g_test_run();
}
