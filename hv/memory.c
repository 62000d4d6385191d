#include "memory.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static void layout(struct guest_memory *gm, uint64_t size, uint64_t low_max)
{
	gm->size = size;
	gm->low_size = size < low_max ? size : low_max;
	gm->high_size = size - gm->low_size;
}

int guest_memory_init(struct guest_memory *gm, uint64_t size)
{
	return guest_memory_init_split(gm, size, GUEST_LOW_RAM_MAX);
}

int guest_memory_init_split(struct guest_memory *gm, uint64_t size, uint64_t low_max)
{
	memset(gm, 0, sizeof(*gm));
	/* MAP_NORESERVE: guest RAM is touched on demand, so the VMM's RSS
	 * reflects what the guest uses, not what it was given. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, size, MADV_MERGEABLE);
	gm->host = p;
	gm->owned = true;
	layout(gm, size, low_max < GUEST_LOW_RAM_MAX ? low_max : GUEST_LOW_RAM_MAX);
	return 0;
}

void guest_memory_wrap(struct guest_memory *gm, void *buf, uint64_t size)
{
	memset(gm, 0, sizeof(*gm));
	gm->host = buf;
	layout(gm, size, GUEST_LOW_RAM_MAX);
}

void guest_memory_free(struct guest_memory *gm)
{
	if (gm->owned && gm->host)
		munmap(gm->host, gm->size);
	memset(gm, 0, sizeof(*gm));
}

void *guest_ptr(const struct guest_memory *gm, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		len = 1;
	if (gpa < gm->low_size) {
		if (len > gm->low_size - gpa)
			return NULL;
		return gm->host + gpa;
	}
	if (gpa >= GUEST_HIGH_RAM_BASE && gm->high_size) {
		uint64_t off = gpa - GUEST_HIGH_RAM_BASE;
		if (off >= gm->high_size || len > gm->high_size - off)
			return NULL;
		return gm->host + gm->low_size + off;
	}
	return NULL;
}

int guest_read(const struct guest_memory *gm, uint64_t gpa, void *dst, uint64_t len)
{
	const void *p = guest_ptr(gm, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int guest_write(const struct guest_memory *gm, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = guest_ptr(gm, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

uint64_t guest_memory_top(const struct guest_memory *gm)
{
	if (gm->high_size)
		return GUEST_HIGH_RAM_BASE + gm->high_size;
	return gm->low_size;
}

uint64_t guest_mmio64_base(const struct guest_memory *gm)
{
	uint64_t top = guest_memory_top(gm);
	if (top < GUEST_HIGH_RAM_BASE)
		top = GUEST_HIGH_RAM_BASE;
	return (top + PCI_MMIO64_ALIGN - 1) & ~(PCI_MMIO64_ALIGN - 1);
}
