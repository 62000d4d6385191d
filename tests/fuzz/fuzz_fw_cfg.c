/* libFuzzer target for fw_cfg's port and DMA interface (hv/devices/fw_cfg.c):
 * every port access and every DMA descriptor is the guest's, so no sequence
 * may touch memory outside guest RAM or the items, or corrupt an item.
 *
 * Input: [0] number of port operations N (at most 64), then N operations of
 * 6 bytes: [0] port offset 0..11, [1] width 1/2/4, [2..5] value (little
 * endian; written as is); then the guest RAM image (64 KiB at most). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "devices/fw_cfg.h"
#include "memory.h"

#define RAM_MAX (64 * 1024)

static uint8_t ram[RAM_MAX];
static uint8_t blob[1000];

static void check(int cond)
{
	if (!cond)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned nops = data[0] % 65;
	if (size < 1 + 6 * (size_t)nops)
		return 0;
	const uint8_t *ops = data + 1;
	size_t ram_len = size - 1 - 6 * (size_t)nops;
	if (ram_len > RAM_MAX)
		ram_len = RAM_MAX;
	if (ram_len < 16)
		ram_len = 16;
	memset(ram, 0, RAM_MAX);
	memcpy(ram, ops + 6 * nops, size - 1 - 6 * (size_t)nops > RAM_MAX ? RAM_MAX :
	       size - 1 - 6 * (size_t)nops);

	struct guest_memory gm;
	guest_memory_wrap(&gm, ram, ram_len);
	struct fw_cfg fw;
	fw_cfg_init(&fw, &gm);
	for (unsigned i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 31 + 7);
	fw_cfg_add_file(&fw, "etc/blob", blob, sizeof(blob));
	fw_cfg_add_file(&fw, "etc/empty", NULL, 0);
	fw_cfg_add_u16(&fw, FW_CFG_NB_CPUS, 2);

	for (unsigned i = 0; i < nops; i++) {
		const uint8_t *o = ops + 6 * i;
		uint32_t len = o[1] & 3 ? 1u << ((o[1] & 3) - 1) : 4;
		uint8_t d[4];
		memcpy(d, o + 2, 4);
		fw_cfg_io(&fw, o[0] % FW_CFG_PORT_LEN, d, len, (o[1] & 0x80) != 0);
	}
	/* The items are unchanged whatever the guest did. */
	const struct fw_cfg_item *it = fw_cfg_find_file(&fw, "etc/blob");
	check(it && it->len == sizeof(blob) && !memcmp(it->data, blob, sizeof(blob)));
	fw_cfg_destroy(&fw);
	return 0;
}
