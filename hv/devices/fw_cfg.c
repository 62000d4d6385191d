/* fw_cfg: the selector/data ports and the DMA interface OVMF uses to read
 * its platform description.  Every DMA request comes from the guest: the
 * descriptor and the target range are checked against guest RAM before a
 * byte moves, and a bad request ends with the error bit, never a crash. */
#include "fw_cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../bus.h"
#include "../log.h"
#include "../memory.h"
#include "../vm.h"

#define KEY_MASK 0x3fff           /* bit 14 is the write channel flag */
#define ARCH_LOCAL 0x8000

static uint16_t key_norm(uint16_t key)
{
	return key & (ARCH_LOCAL | KEY_MASK);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static struct fw_cfg_item *find(struct fw_cfg *fw, uint16_t key)
{
	key = key_norm(key);
	for (unsigned i = 0; i < fw->n_items; i++)
		if (fw->items[i].key == key)
			return &fw->items[i];
	return NULL;
}

const struct fw_cfg_item *fw_cfg_find(const struct fw_cfg *fw, uint16_t key)
{
	return find((struct fw_cfg *)fw, key);
}

const struct fw_cfg_item *fw_cfg_find_file(const struct fw_cfg *fw, const char *name)
{
	for (unsigned i = 0; i < fw->n_items; i++)
		if (fw->items[i].name[0] && !strcmp(fw->items[i].name, name))
			return &fw->items[i];
	return NULL;
}

static int set_item(struct fw_cfg *fw, uint16_t key, const char *name,
		    const void *data, size_t len)
{
	if (len > UINT32_MAX)
		return -E2BIG;
	struct fw_cfg_item *it = find(fw, key);
	if (!it) {
		if (fw->n_items >= FW_CFG_MAX_ITEMS)
			return -ENOSPC;
		it = &fw->items[fw->n_items++];
		memset(it, 0, sizeof(*it));
		it->key = key_norm(key);
	} else if (!name) {
		return -EEXIST;
	}
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);
	free(it->data);
	it->data = copy;
	it->len = (uint32_t)len;
	if (name)
		snprintf(it->name, sizeof(it->name), "%s", name);
	return 0;
}

/* The directory: be32 count, then per file be32 size, be16 key, be16 0,
 * char name[56]. */
static int rebuild_dir(struct fw_cfg *fw)
{
	unsigned n = 0;
	for (unsigned i = 0; i < fw->n_items; i++)
		n += fw->items[i].name[0] != 0;
	size_t len = 4 + (size_t)n * 64;
	uint8_t *d = calloc(1, len);
	if (!d)
		return -ENOMEM;
	put_be32(d, n);
	uint8_t *e = d + 4;
	for (unsigned i = 0; i < fw->n_items; i++) {
		const struct fw_cfg_item *it = &fw->items[i];
		if (!it->name[0])
			continue;
		put_be32(e, it->len);
		e[4] = (uint8_t)(it->key >> 8);
		e[5] = (uint8_t)it->key;
		memcpy(e + 8, it->name, strnlen(it->name, FW_CFG_NAME_LEN - 1));
		e += 64;
	}
	struct fw_cfg_item *dir = find(fw, FW_CFG_FILE_DIR);
	free(dir->data);
	dir->data = d;
	dir->len = (uint32_t)len;
	return 0;
}

void fw_cfg_init(struct fw_cfg *fw, const struct guest_memory *mem)
{
	memset(fw, 0, sizeof(*fw));
	pthread_mutex_init(&fw->lock, NULL);
	fw->mem = mem;
	fw->next_file_key = FW_CFG_FILE_FIRST;
	set_item(fw, FW_CFG_SIGNATURE, NULL, "QEMU", 4);
	uint32_t id = FW_CFG_ID_TRADITIONAL | (mem ? FW_CFG_ID_DMA : 0);
	uint8_t idb[4] = { (uint8_t)id, 0, 0, 0 };
	set_item(fw, FW_CFG_ID, NULL, idb, 4);
	set_item(fw, FW_CFG_FILE_DIR, NULL, NULL, 0);
	rebuild_dir(fw);
}

void fw_cfg_destroy(struct fw_cfg *fw)
{
	for (unsigned i = 0; i < fw->n_items; i++)
		free(fw->items[i].data);
	fw->n_items = 0;
	pthread_mutex_destroy(&fw->lock);
}

int fw_cfg_add(struct fw_cfg *fw, uint16_t key, const void *data, size_t len)
{
	if (key_norm(key) >= FW_CFG_FILE_FIRST && !(key & ARCH_LOCAL))
		return -EINVAL;   /* that range belongs to named files */
	pthread_mutex_lock(&fw->lock);
	int ret = set_item(fw, key, NULL, data, len);
	pthread_mutex_unlock(&fw->lock);
	return ret;
}

int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	return fw_cfg_add(fw, key, b, 2);
}

int fw_cfg_add_u32(struct fw_cfg *fw, uint16_t key, uint32_t v)
{
	uint8_t b[4];
	bus_data_set(b, 4, v);
	return fw_cfg_add(fw, key, b, 4);
}

int fw_cfg_add_u64(struct fw_cfg *fw, uint16_t key, uint64_t v)
{
	uint8_t b[8];
	bus_data_set(b, 8, v);
	return fw_cfg_add(fw, key, b, 8);
}

int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t len)
{
	if (!name[0] || strlen(name) >= FW_CFG_NAME_LEN)
		return -EINVAL;
	pthread_mutex_lock(&fw->lock);
	int ret;
	const struct fw_cfg_item *old = fw_cfg_find_file(fw, name);
	uint16_t key = old ? old->key : fw->next_file_key;
	if (!old && key > KEY_MASK) {
		ret = -ENOSPC;
	} else {
		ret = set_item(fw, key, name, data, len);
		if (!ret && !old)
			fw->next_file_key++;
		if (!ret)
			ret = rebuild_dir(fw);
	}
	pthread_mutex_unlock(&fw->lock);
	return ret < 0 ? ret : key;
}

static void select_item(struct fw_cfg *fw, uint16_t key)
{
	fw->sel = key;
	fw->offset = 0;
}

static uint8_t read_byte(struct fw_cfg *fw)
{
	const struct fw_cfg_item *it = find(fw, fw->sel);
	if (!it || fw->offset >= it->len)
		return 0;
	return it->data[fw->offset++];
}

static void dma_fail(struct fw_cfg *fw, const char *why, uint64_t addr)
{
	fw->dma_errors++;
	if (!fw->warned_dma) {
		fw->warned_dma = true;
		log_warn("fw_cfg: guest DMA request rejected: %s (at 0x%llx); the request "
			 "fails with the error bit, further rejects are not logged",
			 why, (unsigned long long)addr);
	}
}

/* One transfer of `len` bytes between the selected item and guest memory. */
static bool dma_transfer(struct fw_cfg *fw, uint32_t control, uint32_t len,
			 uint64_t addr)
{
	struct fw_cfg_item *it = find(fw, fw->sel);
	uint32_t have = it && fw->offset < it->len ? it->len - fw->offset : 0;
	uint32_t n = len < have ? len : have;

	if (control & FW_CFG_DMA_READ) {
		if (len == 0)
			return true;
		uint8_t *dst = guest_ptr(fw->mem, addr, len);
		if (!dst) {
			dma_fail(fw, "read target is not guest RAM", addr);
			return false;
		}
		if (n)
			memcpy(dst, it->data + fw->offset, n);
		/* Past the item's end a read yields zeros, as on the data port. */
		memset(dst + n, 0, len - n);
	} else if (control & FW_CFG_DMA_WRITE) {
		/* No item here is writable by the guest. */
		dma_fail(fw, "write to a read-only item", addr);
		return false;
	}
	fw->offset += n;
	return true;
}

/* Run the request whose 16-byte descriptor {be32 control, be32 length,
 * be64 address} is at guest address `desc`. */
static void dma_run(struct fw_cfg *fw, uint64_t desc)
{
	uint8_t d[16];

	fw->dma_requests++;
	if (!fw->mem || guest_read(fw->mem, desc, d, sizeof(d))) {
		/* Nowhere to report the error: the descriptor is unreachable. */
		dma_fail(fw, "descriptor is not in guest RAM", desc);
		return;
	}
	uint32_t control = get_be32(d);
	uint32_t len = get_be32(d + 4);
	uint64_t addr = (uint64_t)get_be32(d + 8) << 32 | get_be32(d + 12);
	bool ok = true;

	if (control & FW_CFG_DMA_SELECT)
		select_item(fw, (uint16_t)(control >> 16));
	if (control & (FW_CFG_DMA_READ | FW_CFG_DMA_WRITE))
		ok = dma_transfer(fw, control, len, addr);
	else if (control & FW_CFG_DMA_SKIP)
		fw->offset = len > UINT32_MAX - fw->offset ? UINT32_MAX : fw->offset + len;
	uint8_t done[4];
	put_be32(done, ok ? 0 : FW_CFG_DMA_ERROR);
	if (guest_write(fw->mem, desc, done, 4))
		dma_fail(fw, "descriptor vanished", desc);
}

static const uint8_t dma_signature[8] = { 'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G' };

void fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
	       bool is_write)
{
	struct fw_cfg *fw = opaque;

	pthread_mutex_lock(&fw->lock);
	if (offset == FW_CFG_SEL_OFF && len == 2) {
		if (is_write)
			select_item(fw, (uint16_t)bus_data_get(data, 2));
		else
			bus_data_set(data, 2, fw->sel);
	} else if (offset == FW_CFG_DATA_OFF && len == 1) {
		/* Writes through the data port are a removed QEMU feature. */
		if (!is_write)
			data[0] = read_byte(fw);
	} else if (offset >= FW_CFG_DMA_OFF && offset + len <= FW_CFG_DMA_OFF + 8 &&
		   fw->mem) {
		uint64_t rel = offset - FW_CFG_DMA_OFF;
		if (!is_write) {
			memcpy(data, dma_signature + rel, len);
		} else if (rel == 0 && len == 4) {
			fw->dma_hi = get_be32(data);
		} else if (rel == 4 && len == 4) {
			/* Writing the low half starts the request. */
			uint64_t desc = (uint64_t)fw->dma_hi << 32 | get_be32(data);
			fw->dma_hi = 0;
			dma_run(fw, desc);
		} else if (rel == 0 && len == 8) {
			uint64_t desc = 0;
			for (int i = 0; i < 8; i++)
				desc = desc << 8 | data[i];
			dma_run(fw, desc);
		}
	} else if (!is_write) {
		memset(data, 0, len);
	}
	pthread_mutex_unlock(&fw->lock);
}

int fw_cfg_attach(struct fw_cfg *fw, struct vm *vm)
{
	int ret = bus_register(&vm->io_bus, FW_CFG_PORT, FW_CFG_PORT_LEN, fw_cfg_io,
			       fw, "fw_cfg");
	if (ret)
		log_error("fw_cfg: cannot claim I/O ports 0x%x-0x%x: %s", FW_CFG_PORT,
			  FW_CFG_PORT + FW_CFG_PORT_LEN - 1, strerror(-ret));
	return ret;
}
