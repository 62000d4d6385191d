#include "kernel_image.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <glib.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "../log.h"

#define HDR_MAGIC_OFF     0x202
#define HDR_VERSION_OFF   0x206
#define HDR_SETUP_SECTS   0x1f1
#define HDR_PAYLOAD_OFF   0x248
#define HDR_PAYLOAD_LEN   0x24c
#define MIN_PAYLOAD_PROTO 0x208   /* payload_offset exists from 2.08 */

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static int decompress_xz(const uint8_t *in, size_t inlen, uint8_t *out,
			 size_t outlen)
{
	lzma_stream s = LZMA_STREAM_INIT;
	if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK)
		return -1;
	s.next_in = in;
	s.avail_in = inlen;
	s.next_out = out;
	s.avail_out = outlen;
	lzma_ret r = lzma_code(&s, LZMA_FINISH);
	size_t got = outlen - s.avail_out;
	lzma_end(&s);
	return (r == LZMA_STREAM_END || r == LZMA_OK) && got == outlen ? 0 : -1;
}

static int decompress_gzip(const uint8_t *in, size_t inlen, uint8_t *out,
			   size_t outlen)
{
	z_stream s = { 0 };
	if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK)
		return -1;
	s.next_in = (Bytef *)in;
	s.avail_in = (uInt)inlen;
	s.next_out = out;
	s.avail_out = (uInt)outlen;
	int r = inflate(&s, Z_FINISH);
	size_t got = outlen - s.avail_out;
	inflateEnd(&s);
	return (r == Z_STREAM_END || r == Z_BUF_ERROR) && got == outlen ? 0 : -1;
}

static int decompress_zstd(const uint8_t *in, size_t inlen, uint8_t *out,
			   size_t outlen)
{
	size_t r = ZSTD_decompress(out, outlen, in, inlen);
	return !ZSTD_isError(r) && r == outlen ? 0 : -1;
}

int kernel_decompress(const uint8_t *in, size_t inlen, uint8_t **out,
		      size_t *outlen, char *err, size_t errlen)
{
	static const uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 };
	static const uint8_t gz[] = { 0x1f, 0x8b };
	static const uint8_t zst[] = { 0x28, 0xb5, 0x2f, 0xfd };
	int (*fn)(const uint8_t *, size_t, uint8_t *, size_t);
	const char *name;

	if (inlen >= sizeof(xz) + 4 && !memcmp(in, xz, sizeof(xz))) {
		fn = decompress_xz; name = "xz";
	} else if (inlen >= sizeof(gz) + 4 && !memcmp(in, gz, sizeof(gz))) {
		fn = decompress_gzip; name = "gzip";
	} else if (inlen >= sizeof(zst) + 4 && !memcmp(in, zst, sizeof(zst))) {
		fn = decompress_zstd; name = "zstd";
	} else {
		return 1;
	}
	/* The kernel build appends the uncompressed size to every format. */
	size_t size = rd32(in + inlen - 4);
	if (size == 0 || size > KERNEL_MAX_UNCOMPRESSED) {
		snprintf(err, errlen, "kernel: %s payload claims %zu bytes uncompressed — "
			 "the image is corrupt", name, size);
		return -1;
	}
	uint8_t *buf = malloc(size);
	if (!buf) {
		snprintf(err, errlen, "kernel: out of memory decompressing %zu bytes", size);
		return -1;
	}
	if (fn(in, inlen - 4, buf, size) < 0) {
		free(buf);
		snprintf(err, errlen, "kernel: the %s payload does not decompress — the "
			 "image is corrupt or truncated", name);
		return -1;
	}
	*out = buf;
	*outlen = size;
	return 0;
}

/* The compressed payload inside a bzImage, or NULL. */
static const uint8_t *bzimage_payload(const uint8_t *bz, size_t len, size_t *plen)
{
	if (len < 0x250 || rd32(bz + HDR_MAGIC_OFF) != 0x53726448 /* "HdrS" */)
		return NULL;
	if ((bz[HDR_VERSION_OFF] | bz[HDR_VERSION_OFF + 1] << 8) < MIN_PAYLOAD_PROTO)
		return NULL;
	size_t sects = bz[HDR_SETUP_SECTS] ? bz[HDR_SETUP_SECTS] : 4;
	size_t pm = (sects + 1) * 512;
	size_t off = rd32(bz + HDR_PAYLOAD_OFF), n = rd32(bz + HDR_PAYLOAD_LEN);
	if (pm > len || off > len - pm || n > len - pm - off || n < 8)
		return NULL;
	*plen = n;
	return bz + pm + off;
}

char *kernel_cache_dir(void)
{
	const char *env = getenv("ATOLL_KERNEL_CACHE");
	if (env && *env)
		return g_strdup(env);
	if (geteuid() == 0)
		return g_strdup("/var/cache/atoll/kernels");
	return g_build_filename(g_get_user_cache_dir(), "atoll", "kernels", NULL);
}

/* Cache key: the SHA-256 of the compressed payload, so a cached vmlinux is
 * found whatever file the same kernel comes from (and can be prepared on
 * another machine), and a changed kernel never matches a stale entry. */
static char *cache_key(const uint8_t *payload, size_t plen)
{
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, payload, plen);
}

static int cache_load(const char *file, size_t expect, struct kernel_elf *out)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size != expect) {
		close(fd);
		return -1;
	}
	void *p = mmap(NULL, expect, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	*out = (struct kernel_elf){ .data = p, .len = expect, .from_cache = true,
				    .mapped = true };
	return 0;
}

/* Write-fsync-rename so a crash never leaves a partial kernel behind. */
static void cache_store(const char *dir, const char *file, const uint8_t *data,
			size_t len)
{
	char *tmp = g_strdup_printf("%s.tmp.%d", file, (int)getpid());
	int fd = -1;
	if (g_mkdir_with_parents(dir, 0755) < 0)
		goto fail;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, file) < 0)
		goto fail;
	g_free(tmp);
	return;
fail:
	log_warn("cannot cache the decompressed kernel in %s: %s (boots still "
		 "work, each one decompresses again)", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	g_free(tmp);
}

/* Fill the cache from a low-priority child, detached from the VMM's
 * descriptors (an inherited disk lock or tap would outlive the VMM).  A
 * lock file keeps VMMs that boot the same kernel meanwhile from starting
 * fillers of their own. */
static void fill_in_background(const char *dir, const char *file,
			       const uint8_t *payload, size_t plen)
{
	signal(SIGCHLD, SIG_IGN);   /* no zombies: nobody waits for it */
	pid_t pid = fork();
	if (pid != 0) {
		if (pid < 0)
			log_debug("kernel cache: fork: %s", strerror(errno));
		return;
	}
	close_range(3, ~0u, 0);
	char *lock = g_strdup_printf("%s.lock", file);
	int fd = -1;
	if (g_mkdir_with_parents(dir, 0755) < 0 ||
	    (fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
	    flock(fd, LOCK_EX | LOCK_NB) < 0 || setpriority(PRIO_PROCESS, 0, 10) < 0)
		_exit(0);
	char err[256];
	uint8_t *elf;
	size_t len;
	if (access(file, R_OK) != 0 &&
	    kernel_decompress(payload, plen, &elf, &len, err, sizeof(err)) == 0)
		cache_store(dir, file, elf, len);
	unlink(lock);
	_exit(0);
}

int kernel_image_vmlinux(const char *path, const uint8_t *bz, size_t bzlen,
			 const char *cache_dir, bool background,
			 struct kernel_elf *out, char *err, size_t errlen)
{
	size_t plen;
	const uint8_t *payload = bzimage_payload(bz, bzlen, &plen);
	memset(out, 0, sizeof(*out));
	if (!payload)
		return 1;
	size_t expect = rd32(payload + plen - 4);
	char *dir = cache_dir ? g_strdup(cache_dir) : kernel_cache_dir();
	(void)path;
	char *key = cache_key(payload, plen);
	char *file = key ? g_strdup_printf("%s/%s.vmlinux", dir, key) : NULL;
	int ret = 0;

	bool hit = file && cache_load(file, expect, out) == 0;
	if (!hit && file && background) {
		fill_in_background(dir, file, payload, plen);
		ret = 1;
	} else if (!hit) {
		uint8_t *elf;
		size_t len;
		ret = kernel_decompress(payload, plen, &elf, &len, err, errlen);
		if (ret == 0) {
			if (file)
				cache_store(dir, file, elf, len);
			*out = (struct kernel_elf){ .data = elf, .len = len };
		}
	}
	g_free(file);
	g_free(key);
	g_free(dir);
	return ret;
}

void kernel_elf_release(struct kernel_elf *elf)
{
	if (elf->mapped)
		munmap((void *)elf->data, elf->len);
	else
		free((void *)elf->data);
	memset(elf, 0, sizeof(*elf));
}

int kernel_image_prepare(const char *path, const char *cache_dir, char *err, size_t errlen)
{
	gchar *bz;
	gsize len;
	g_autoptr(GError) e = NULL;
	struct kernel_elf elf;

	if (!g_file_get_contents(path, &bz, &len, &e)) {
		snprintf(err, errlen, "kernel %s: %s", path, e->message);
		return -1;
	}
	int ret = kernel_image_vmlinux(path, (const uint8_t *)bz, len, cache_dir, false,
				       &elf, err, errlen);
	if (ret == 1)
		snprintf(err, errlen, "kernel %s: not a bzImage with a compressed payload "
			 "(nothing to prepare: it boots as it is)", path);
	if (ret == 0)
		kernel_elf_release(&elf);
	g_free(bz);
	return ret == 0 ? 0 : -1;
}
