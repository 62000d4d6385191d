/* Firmware flash just below 4 GiB, as OVMF expects it: the CODE image as a
 * read-only KVM memory slot, the VARS image as an Intel-style CFI flash
 * (command set 0001: read array, read/clear status, byte program, block
 * erase) that the firmware writes through MMIO.  Programmed and erased
 * ranges go back to the VARS file (pwrite + fdatasync on the event loop).
 * The command state machine (pflash_*) is independent of KVM for tests. */
#ifndef ATOLL_PFLASH_H
#define ATOLL_PFLASH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;

#define PFLASH_BLOCK        0x1000   /* OVMF's PcdOvmfFirmwareBlockSize */
#define PFLASH_AREA_BASE    0xFFC00000ULL

/* CFI commands OVMF's QemuFlashFvbServicesRuntimeDxe issues. */
#define PFLASH_CMD_READ_ARRAY   0xff
#define PFLASH_CMD_READ_ARRAY2  0xf0
#define PFLASH_CMD_READ_STATUS  0x70
#define PFLASH_CMD_CLEAR_STATUS 0x50
#define PFLASH_CMD_PROGRAM      0x10
#define PFLASH_CMD_PROGRAM2     0x40
#define PFLASH_CMD_ERASE        0x20
#define PFLASH_CMD_CONFIRM      0xd0
#define PFLASH_CMD_READ_ID      0x90
#define PFLASH_STATUS_READY     0x80
#define PFLASH_STATUS_ERASE_ERR 0x20
#define PFLASH_STATUS_PROG_ERR  0x10

enum pflash_mode {
	PFLASH_ARRAY,     /* reads return the contents (the slot is mapped) */
	PFLASH_STATUS,    /* reads return the status register */
	PFLASH_PROGRAM,   /* the next write is data */
	PFLASH_ERASE,     /* the next write must be the confirm command */
	PFLASH_ID,        /* reads return the manufacturer/device ids */
};

struct pflash {
	pthread_mutex_t lock;
	uint8_t *mem;           /* the image, page aligned (mmap) */
	uint64_t size;
	int fd;                 /* backing file written back to, or -1 */
	char *path;
	enum pflash_mode mode;
	uint8_t status;
	uint64_t dirty_lo, dirty_hi;   /* [lo, hi) not yet on disk */
	uint64_t writes;        /* programmed bytes, erased blocks: stats */
	uint64_t commands;      /* every write access: stats */
	/* Called with the lock held when reads must start (false) or may stop
	 * (true) trapping: the VMM maps/unmaps the read-only slot. */
	void (*romd)(struct pflash *pf, bool array);
	/* Called with the lock held when something became dirty. */
	void (*dirty)(struct pflash *pf);
	void *opaque;
	int slot;               /* KVM slot while mapped, else -1 */
	uint64_t gpa;
	bool warned;
};

/* Load `path` into a private image; with `writable` the file is kept open
 * and written back, else changes live only in memory.  err gets why not. */
int pflash_open(struct pflash *pf, const char *path, bool writable,
		char *err, size_t errlen);
void pflash_close(struct pflash *pf);
/* MMIO access at `offset` into the image (bus handler signature). */
void pflash_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write);
/* Write the dirty range to the file and fdatasync it.  0 or -errno. */
int pflash_flush(struct pflash *pf);

/* Map CODE (read-only) and VARS (flash) so that both end at 4 GiB:
 * VARS at 4 GiB - code - vars, CODE right above.  err gets why not. */
int pflash_attach(struct vm *vm, struct pflash *code, struct pflash *vars,
		  char *err, size_t errlen);
void pflash_detach(struct vm *vm, struct pflash *code, struct pflash *vars);

#endif
