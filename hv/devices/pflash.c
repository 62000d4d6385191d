/* CFI flash for the firmware's variable store, and the read-only firmware
 * code.  Reads of VARS in read-array mode go straight to a read-only KVM
 * slot (no exit); the first command write removes the slot so that status
 * reads trap, and the return to read-array mode puts it back -- what real
 * flash does with its "ROM mode".  Every offset and length a guest access
 * carries is checked against the image. */
#include "pflash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../bus.h"
#include "../log.h"
#include "../vm.h"

#define FLASH_AREA_SIZE (FIRMWARE_FLASH_TOP - PFLASH_AREA_BASE)

static uint64_t page_round(uint64_t n)
{
	return (n + 4095) & ~4095ULL;
}

int pflash_open(struct pflash *pf, const char *path, bool writable,
		char *err, size_t errlen)
{
	memset(pf, 0, sizeof(*pf));
	pf->fd = -1;
	pf->slot = -1;
	pthread_mutex_init(&pf->lock, NULL);
	pf->mode = PFLASH_ARRAY;
	pf->status = PFLASH_STATUS_READY;
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "firmware image %s: %s%s", path, strerror(errno),
			 writable && errno == EACCES ? " (the VARS file must be writable)" : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_size <= 0 || st.st_size % PFLASH_BLOCK ||
	    (uint64_t)st.st_size > FLASH_AREA_SIZE) {
		snprintf(err, errlen, "firmware image %s: %lld bytes; expected a multiple of "
			 "4 KiB up to 4 MiB (Debian's OVMF_CODE_4M.fd / OVMF_VARS_4M.fd)",
			 path, (long long)st.st_size);
		close(fd);
		return -1;
	}
	pf->size = (uint64_t)st.st_size;
	pf->mem = mmap(NULL, page_round(pf->size), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pf->mem == MAP_FAILED) {
		pf->mem = NULL;
		snprintf(err, errlen, "firmware image %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	for (uint64_t got = 0; got < pf->size;) {
		ssize_t n = pread(fd, pf->mem + got, pf->size - got, (off_t)got);
		if (n <= 0) {
			snprintf(err, errlen, "reading firmware image %s: %s", path,
				 n < 0 ? strerror(errno) : "file shrank");
			close(fd);
			pflash_close(pf);
			return -1;
		}
		got += (uint64_t)n;
	}
	if (writable)
		pf->fd = fd;
	else
		close(fd);
	pf->path = strdup(path);
	pf->dirty_lo = UINT64_MAX;
	return 0;
}

void pflash_close(struct pflash *pf)
{
	if (pf->commands)
		log_info("firmware flash: %llu commands, %llu program/erase operations "
			 "this run%s", (unsigned long long)pf->commands,
			 (unsigned long long)pf->writes,
			 pf->fd >= 0 ? "" : " (not saved)");
	if (pf->fd >= 0) {
		if (pflash_flush(pf))
			log_error("firmware variables: could not save %s; the last "
				  "changes are lost", pf->path);
		close(pf->fd);
	}
	if (pf->mem)
		munmap(pf->mem, page_round(pf->size));
	free(pf->path);
	pthread_mutex_destroy(&pf->lock);
	memset(pf, 0, sizeof(*pf));
	pf->fd = -1;
	pf->slot = -1;
}

int pflash_flush(struct pflash *pf)
{
	pthread_mutex_lock(&pf->lock);
	uint64_t lo = pf->dirty_lo, hi = pf->dirty_hi;
	pf->dirty_lo = UINT64_MAX;
	pf->dirty_hi = 0;
	int ret = 0;
	if (pf->fd >= 0 && lo < hi) {
		for (uint64_t done = lo; done < hi;) {
			ssize_t n = pwrite(pf->fd, pf->mem + done, hi - done, (off_t)done);
			if (n <= 0) {
				ret = n < 0 ? -errno : -EIO;
				break;
			}
			done += (uint64_t)n;
		}
	}
	pthread_mutex_unlock(&pf->lock);
	if (!ret && lo < hi && pf->fd >= 0 && fdatasync(pf->fd) < 0)
		ret = -errno;
	if (ret)
		log_error("firmware variables: writing %s: %s", pf->path, strerror(-ret));
	return ret;
}

static void mark_dirty(struct pflash *pf, uint64_t off, uint64_t len)
{
	if (off < pf->dirty_lo)
		pf->dirty_lo = off;
	if (off + len > pf->dirty_hi)
		pf->dirty_hi = off + len;
	pf->writes++;
	if (pf->dirty)
		pf->dirty(pf);
}

static void set_mode(struct pflash *pf, enum pflash_mode mode)
{
	bool was_array = pf->mode == PFLASH_ARRAY;
	pf->mode = mode;
	if (was_array != (mode == PFLASH_ARRAY) && pf->romd)
		pf->romd(pf, mode == PFLASH_ARRAY);
}

static void bad_command(struct pflash *pf, uint8_t cmd, uint64_t off)
{
	if (!pf->warned) {
		pf->warned = true;
		log_warn("firmware flash: unsupported command 0x%02x at offset 0x%llx; "
			 "back to read-array mode (not logged again)", cmd,
			 (unsigned long long)off);
	}
}

static void flash_write(struct pflash *pf, uint64_t off, const uint8_t *data,
			uint32_t len)
{
	uint8_t cmd = data[0];

	if (!pf->commands++)
		log_info("firmware flash: the firmware drives the variable store "
			 "(first command 0x%02x at offset 0x%llx)", cmd,
			 (unsigned long long)off);

	switch (pf->mode) {
	case PFLASH_PROGRAM:
		/* Status then reads back, as after a real program cycle. */
		memcpy(pf->mem + off, data, len);
		mark_dirty(pf, off, len);
		pf->status |= PFLASH_STATUS_READY;
		set_mode(pf, PFLASH_STATUS);
		return;
	case PFLASH_ERASE:
		if (cmd == PFLASH_CMD_CONFIRM) {
			uint64_t blk = off & ~(uint64_t)(PFLASH_BLOCK - 1);
			memset(pf->mem + blk, 0xff, PFLASH_BLOCK);
			mark_dirty(pf, blk, PFLASH_BLOCK);
			pf->status |= PFLASH_STATUS_READY;
		} else {
			/* A broken erase sequence: both error bits, as the
			 * command set defines for it. */
			pf->status |= PFLASH_STATUS_ERASE_ERR | PFLASH_STATUS_PROG_ERR;
		}
		set_mode(pf, PFLASH_STATUS);
		return;
	default:
		break;
	}
	switch (cmd) {
	case PFLASH_CMD_READ_ARRAY:
	case PFLASH_CMD_READ_ARRAY2:
		set_mode(pf, PFLASH_ARRAY);
		break;
	case PFLASH_CMD_READ_STATUS:
		set_mode(pf, PFLASH_STATUS);
		break;
	case PFLASH_CMD_CLEAR_STATUS:
		/* All bits, the ready bit too (until the next operation), as
		 * QEMU's CFI flash does: OVMF's detection reads status 0x00
		 * after clear status + read status and takes it for flash. */
		pf->status = 0;
		set_mode(pf, PFLASH_ARRAY);
		break;
	case PFLASH_CMD_PROGRAM:
	case PFLASH_CMD_PROGRAM2:
		set_mode(pf, PFLASH_PROGRAM);
		break;
	case PFLASH_CMD_ERASE:
		set_mode(pf, PFLASH_ERASE);
		break;
	case PFLASH_CMD_READ_ID:
		set_mode(pf, PFLASH_ID);
		break;
	default:
		bad_command(pf, cmd, off);
		set_mode(pf, PFLASH_ARRAY);
		break;
	}
}

static void flash_read(struct pflash *pf, uint64_t off, uint8_t *data, uint32_t len)
{
	switch (pf->mode) {
	case PFLASH_ARRAY:
		memcpy(data, pf->mem + off, len);
		break;
	case PFLASH_ID:
		/* Intel's manufacturer id at 0, a device id at 1. */
		for (uint32_t i = 0; i < len; i++)
			data[i] = (off + i) % 2 ? 0x18 : 0x89;
		break;
	default:
		memset(data, pf->status, len);
		break;
	}
}

void pflash_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct pflash *pf = opaque;

	pthread_mutex_lock(&pf->lock);
	if (len == 0 || len > 8 || offset >= pf->size || len > pf->size - offset) {
		if (!is_write)
			memset(data, 0xff, len);
	} else if (is_write) {
		flash_write(pf, offset, data, len);
	} else {
		flash_read(pf, offset, data, len);
	}
	pthread_mutex_unlock(&pf->lock);
}

/* ---- the VM side -------------------------------------------------------- */

struct pflash_glue {
	struct vm *vm;
	int efd;
	struct evloop_watch *watch;
};

static void code_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			bool is_write)
{
	struct pflash *pf = opaque;

	/* Writes to the read-only slot land here: dropped, as ROM does. */
	if (!is_write) {
		if (offset < pf->size && len <= pf->size - offset)
			memcpy(data, pf->mem + offset, len);
		else
			memset(data, 0xff, len);
	}
}

static void vars_romd(struct pflash *pf, bool array)
{
	struct pflash_glue *g = pf->opaque;

	if (!array) {
		vm_unmap_ram(g->vm, pf->slot);
		pf->slot = -1;
		return;
	}
	int ret = vm_map_ram(g->vm, pf->gpa, pf->size, pf->mem, true, &pf->slot);
	if (ret) {
		/* Still correct, only slower: every read traps. */
		pf->slot = -1;
		log_warn("firmware flash: cannot map the variable store read-only "
			 "(%s); its reads go through MMIO", strerror(-ret));
	}
}

static void vars_dirty(struct pflash *pf)
{
	struct pflash_glue *g = pf->opaque;
	uint64_t one = 1;

	if (write(g->efd, &one, sizeof(one)) < 0)
		log_debug("firmware flash: eventfd: %s", strerror(errno));
}

static void vars_flush(void *opaque, uint32_t events)
{
	(void)events;
	struct pflash *pf = opaque;
	struct pflash_glue *g = pf->opaque;
	uint64_t n;

	if (read(g->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("firmware flash: eventfd: %s", strerror(errno));
	pflash_flush(pf);
}

int pflash_attach(struct vm *vm, struct pflash *code, struct pflash *vars,
		  char *err, size_t errlen)
{
	if (code->size + vars->size > FLASH_AREA_SIZE) {
		snprintf(err, errlen, "firmware code (%llu KiB) and variables (%llu KiB) "
			 "do not fit in the 4 MiB flash area below 4 GiB",
			 (unsigned long long)code->size >> 10,
			 (unsigned long long)vars->size >> 10);
		return -1;
	}
	code->gpa = FIRMWARE_FLASH_TOP - code->size;
	vars->gpa = code->gpa - vars->size;
	int ret = vm_map_ram(vm, code->gpa, code->size, code->mem, true, &code->slot);
	if (ret) {
		snprintf(err, errlen, "cannot map the firmware code read-only: %s "
			 "(does this KVM support KVM_CAP_READONLY_MEM?)", strerror(-ret));
		return -1;
	}
	if (bus_register(&vm->mmio_bus, code->gpa, code->size, code_access, code,
			 "firmware-code") ||
	    bus_register(&vm->mmio_bus, vars->gpa, vars->size, pflash_access, vars,
			 "firmware-vars")) {
		snprintf(err, errlen, "the firmware flash area 0x%llx-4 GiB is taken",
			 (unsigned long long)vars->gpa);
		return -1;
	}
	struct pflash_glue *g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	g->vm = vm;
	g->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g->efd < 0 || !(g->watch = evloop_add(&vm->loop, g->efd, EPOLLIN, vars_flush, vars))) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		if (g->efd >= 0)
			close(g->efd);
		free(g);
		return -1;
	}
	vars->opaque = g;
	vars->dirty = vars_dirty;
	vars->romd = vars_romd;
	pthread_mutex_lock(&vars->lock);
	vars_romd(vars, true);
	pthread_mutex_unlock(&vars->lock);
	log_info("firmware: code %llu KiB at 0x%llx (read-only), variables %llu KiB at "
		 "0x%llx (%s)", (unsigned long long)code->size >> 10,
		 (unsigned long long)code->gpa, (unsigned long long)vars->size >> 10,
		 (unsigned long long)vars->gpa,
		 vars->fd >= 0 ? vars->path : "not saved: no --firmware-vars file");
	return 0;
}

void pflash_detach(struct vm *vm, struct pflash *code, struct pflash *vars)
{
	struct pflash_glue *g = vars->opaque;

	if (g) {
		evloop_remove(&vm->loop, g->watch);
		close(g->efd);
		free(g);
		vars->opaque = NULL;
		vars->romd = NULL;
		vars->dirty = NULL;
	}
	(void)code;
}
