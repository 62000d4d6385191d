/* The vmlinux inside a bzImage, decompressed on the host and cached, so a
 * domain boots straight into the kernel instead of running the bzImage's
 * own decompressor in the guest (seconds per boot under nested or emulated
 * CPUs, paid again on every reboot). */
#ifndef ATOLL_KERNEL_IMAGE_H
#define ATOLL_KERNEL_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kernel_elf {
	const uint8_t *data;    /* the vmlinux ELF image */
	size_t len;
	bool from_cache;
	bool mapped;            /* data is an mmap of the cache file */
};

#define KERNEL_MAX_UNCOMPRESSED (512u << 20)

/* Decompress a bzImage payload (xz, gzip or zstd, with the kernel build's
 * trailing 32-bit size).  Returns 0 with *out malloc'd, 1 if the format is
 * not one we decompress (the caller falls back to the guest decompressor),
 * or -1 with err filled when the payload is corrupt. */
int kernel_decompress(const uint8_t *in, size_t inlen, uint8_t **out,
		      size_t *outlen, char *err, size_t errlen);

/* The vmlinux for the bzImage at `path` (already read into bz/bzlen):
 * from the cache in `cache_dir` when present, else decompressed and stored
 * there (atomically).  cache_dir NULL: the default, see kernel_cache_dir().
 * With `background`, a cache miss does not decompress in this process:
 * a low-priority child fills the cache for the next boot and this call
 * returns 1, so this boot runs the guest's own decompressor (no slower
 * than without the cache).  Returns 0, 1 when there is no fast path now,
 * -1 on error. */
int kernel_image_vmlinux(const char *path, const uint8_t *bz, size_t bzlen,
			 const char *cache_dir, bool background,
			 struct kernel_elf *out, char *err, size_t errlen);
void kernel_elf_release(struct kernel_elf *elf);

/* Decompress the kernel at `path` into the cache now (atoll-vmm
 * --prepare-kernel; the toolstack and test harnesses warm the cache so a
 * domain's first boot is as fast as the next ones).  0 or -1 with err. */
int kernel_image_prepare(const char *path, const char *cache_dir, char *err, size_t errlen);

/* $ATOLL_KERNEL_CACHE, else /var/cache/atoll/kernels for root, else
 * $XDG_CACHE_HOME/atoll/kernels (~/.cache/...).  Caller frees. */
char *kernel_cache_dir(void);

#endif
