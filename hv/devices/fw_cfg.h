/* QEMU's firmware configuration interface (fw_cfg), the channel OVMF reads
 * its platform description from: a selector port, a byte-wide data port and
 * the DMA interface, on the PC's I/O ports 0x510-0x51B.  Items are blobs
 * keyed by a 16-bit selector; named "files" are listed in a directory item.
 * The model knows nothing of KVM so it can be tested and fuzzed alone. */
#ifndef ATOLL_FW_CFG_H
#define ATOLL_FW_CFG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_memory;
struct vm;

#define FW_CFG_PORT       0x510
#define FW_CFG_PORT_LEN   0x0c   /* selector (2), data (1), pad, DMA (8) */
#define FW_CFG_SEL_OFF    0x0
#define FW_CFG_DATA_OFF   0x1
#define FW_CFG_DMA_OFF    0x4

/* Selector keys (QEMU's docs/specs/fw_cfg.rst). */
enum {
	FW_CFG_SIGNATURE    = 0x00,
	FW_CFG_ID           = 0x01,
	FW_CFG_UUID         = 0x02,
	FW_CFG_RAM_SIZE     = 0x03,
	FW_CFG_NOGRAPHIC    = 0x04,
	FW_CFG_NB_CPUS      = 0x05,
	FW_CFG_KERNEL_SIZE  = 0x08,
	FW_CFG_INITRD_SIZE  = 0x0b,
	FW_CFG_BOOT_MENU    = 0x0e,
	FW_CFG_MAX_CPUS     = 0x0f,
	FW_CFG_KERNEL_DATA  = 0x11,
	FW_CFG_INITRD_DATA  = 0x12,
	FW_CFG_CMDLINE_SIZE = 0x14,
	FW_CFG_CMDLINE_DATA = 0x15,
	FW_CFG_SETUP_SIZE   = 0x17,
	FW_CFG_SETUP_DATA   = 0x18,
	FW_CFG_FILE_DIR     = 0x19,
	FW_CFG_FILE_FIRST   = 0x20,
	FW_CFG_E820_TABLE   = 0x8003,  /* arch-local legacy e820 item */
};

#define FW_CFG_ID_TRADITIONAL 0x1
#define FW_CFG_ID_DMA         0x2

/* DMA control word (big endian in guest memory). */
#define FW_CFG_DMA_ERROR  0x01
#define FW_CFG_DMA_READ   0x02
#define FW_CFG_DMA_SKIP   0x04
#define FW_CFG_DMA_SELECT 0x08
#define FW_CFG_DMA_WRITE  0x10

#define FW_CFG_MAX_ITEMS  64
#define FW_CFG_NAME_LEN   56

struct fw_cfg_item {
	uint16_t key;
	char name[FW_CFG_NAME_LEN];  /* "" for a fixed-key item */
	uint8_t *data;
	uint32_t len;
};

struct fw_cfg {
	pthread_mutex_t lock;
	const struct guest_memory *mem;  /* DMA target; NULL disables DMA */
	struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
	unsigned n_items;
	uint16_t next_file_key;
	uint16_t sel;
	uint32_t offset;                 /* read position in the selected item */
	uint32_t dma_hi;                 /* high half of the DMA address */
	uint64_t dma_requests, dma_errors;
	bool warned_dma;
};

/* With a NULL `mem` the DMA interface is not advertised. */
void fw_cfg_init(struct fw_cfg *fw, const struct guest_memory *mem);
void fw_cfg_destroy(struct fw_cfg *fw);
/* Add an item under a fixed key (a copy of data).  0 or -errno (-EEXIST,
 * -ENOSPC, -E2BIG for a blob over 4 GiB - 1). */
int fw_cfg_add(struct fw_cfg *fw, uint16_t key, const void *data, size_t len);
int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t v);
int fw_cfg_add_u32(struct fw_cfg *fw, uint16_t key, uint32_t v);
int fw_cfg_add_u64(struct fw_cfg *fw, uint16_t key, uint64_t v);
/* Add a named file (listed in FW_CFG_FILE_DIR); returns its key or -errno. */
int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t len);
/* The item under `key`, or NULL. */
const struct fw_cfg_item *fw_cfg_find(const struct fw_cfg *fw, uint16_t key);
const struct fw_cfg_item *fw_cfg_find_file(const struct fw_cfg *fw, const char *name);

/* Port access relative to FW_CFG_PORT (bus handler signature). */
void fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
	       bool is_write);

/* Register the ports on the VM's I/O bus.  fw stays owned by the caller. */
int fw_cfg_attach(struct fw_cfg *fw, struct vm *vm);

#endif
