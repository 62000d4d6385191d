/* libFuzzer target for the bzImage loader (hv/boot/linux.c): the kernel
 * image is untrusted, so no header value may make linux_load() touch memory
 * outside guest RAM, overflow, or report a layout that overlaps itself.
 *
 * Input: [0] RAM size choice, [1..2] initrd length / 16, [3] command line
 * length / 16, then the kernel image. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "boot/linux.h"
#include "memory.h"

#define MIB (1024ULL * 1024)
#define RAM_MAX (40 * MIB)
#define INITRD_MAX (1 * MIB)

static uint8_t ram[RAM_MAX];
static uint8_t initrd[INITRD_MAX];
static char cmdline[256 * 16 + 1];

static void check(int cond)
{
	if (!cond)
		__builtin_trap();
}

static void check_result(const struct guest_memory *gm, const struct linux_boot *lb,
			 size_t ilen)
{
	check(lb->entry == lb->kernel_addr + 0x200);
	check(lb->kernel_addr >= 0x100000);
	check(guest_ptr(gm, lb->kernel_addr, lb->kernel_size) != NULL);
	check(lb->boot_params == BOOT_ZERO_PAGE_ADDR);
	check(lb->cr3 == BOOT_PML4_ADDR);
	check(lb->initrd_size == ilen);
	if (ilen) {
		check(guest_ptr(gm, lb->initrd_addr, ilen) != NULL);
		check(lb->initrd_addr >= lb->kernel_addr + lb->kernel_size);
		check((lb->initrd_addr & 0xfff) == 0);
	}
	const uint8_t *zp = guest_ptr(gm, BOOT_ZERO_PAGE_ADDR, 4096);
	check(zp && zp[0x210] == 0xff && zp[0x1e8] >= 4 && zp[0x1e8] <= 5);
	check(memcmp(zp + 0x202, "HdrS", 4) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t ram_sizes[] = { 1 * MIB + 4096, 2 * MIB, 16 * MIB, RAM_MAX };
	struct guest_memory gm;
	struct linux_boot lb;
	char err[256];

	if (size < 4)
		return 0;
	uint64_t ram_size = ram_sizes[data[0] & 3];
	size_t ilen = ((size_t)data[1] | (size_t)data[2] << 8) * 16;
	size_t clen = (size_t)data[3] * 16;
	if (ilen > INITRD_MAX)
		ilen = INITRD_MAX;
	memset(cmdline, 'c', clen);
	cmdline[clen] = '\0';
	data += 4;
	size -= 4;

	guest_memory_wrap(&gm, ram, ram_size);
	err[0] = '\0';
	if (linux_load(&gm, data, size, ilen ? initrd : NULL, ilen,
		       clen ? cmdline : NULL, 0xe0000, &lb, err, sizeof(err)) == 0)
		check_result(&gm, &lb, ilen);
	else
		check(err[0] != '\0');
	return 0;
}
