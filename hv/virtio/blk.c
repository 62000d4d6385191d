/* virtio-blk (virtio 1.x, 5.2) on a raw image file or block device.
 *
 * Requests run synchronously on the event loop thread with preadv/pwritev
 * straight into the guest's buffers.  A request the guest got wrong (bad
 * length, past the end, write to a read-only disk) fails with IOERR; only a
 * chain with nowhere to put the status byte breaks the device. */
#include "blk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../config.h"
#include "../log.h"
#include "../vm.h"
#include "virtio.h"

#define VIRTIO_BLK_F_SEG_MAX  (1ULL << 2)
#define VIRTIO_BLK_F_RO       (1ULL << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ULL << 6)
#define VIRTIO_BLK_F_FLUSH    (1ULL << 9)
#define VIRTIO_BLK_F_DISCARD  (1ULL << 13)
#define VIRTIO_BLK_F_WRITE_ZEROES (1ULL << 14)

#define BLK_QUEUE_SIZE 256
/* Header and status take one descriptor each. */
#define BLK_SEG_MAX    (BLK_QUEUE_SIZE - 2)
#define BLK_HDR_BYTES  16

/* struct virtio_blk_config offsets (5.2.4) */
#define CFG_CAPACITY  0
#define CFG_SEG_MAX   12
#define CFG_BLK_SIZE  20
#define CFG_MAX_DISCARD_SECTORS 36
#define CFG_MAX_DISCARD_SEG     40
#define CFG_DISCARD_ALIGN       44
#define CFG_MAX_WZ_SECTORS      48
#define CFG_MAX_WZ_SEG          52
#define CFG_WZ_MAY_UNMAP        56
#define CFG_BYTES     64

struct virtio_blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* One range of a DISCARD or WRITE_ZEROES request. */
struct virtio_blk_range {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

struct virtio_blk {
	struct virtio_device vdev;
	struct blk_backend be;
	unsigned index;
	uint8_t config[CFG_BYTES];   /* little-endian, as the guest sees it */
};

/* ---- backend ---------------------------------------------------------- */

static int backend_size(struct blk_backend *b, uint64_t *bytes)
{
	struct stat st;

	if (fstat(b->fd, &st) < 0) {
		log_error("disk %s: cannot stat: %s", b->path, strerror(errno));
		return -1;
	}
	if (S_ISREG(st.st_mode)) {
		*bytes = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, bytes) < 0) {
			log_error("disk %s: cannot read the block device size: %s",
				  b->path, strerror(errno));
			return -1;
		}
		return 0;
	}
	log_error("disk %s: not a regular file or block device; give a raw disk image",
		  b->path);
	return -1;
}

static int backend_lock(struct blk_backend *b)
{
	/* Shared for read-only users, exclusive for a writer: two VMs may
	 * share a read-only image, but never write one behind the other's
	 * back. */
	if (flock(b->fd, (b->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		log_error("disk %s is in use by another process (it holds a lock on "
			  "the file); stop the VM using it, or give this VM its own copy",
			  b->path);
	else
		log_error("disk %s: cannot lock: %s", b->path, strerror(errno));
	return -1;
}

static void backend_set_serial(struct blk_backend *b, const char *serial)
{
	size_t n;

	memset(b->serial, 0, sizeof(b->serial));
	if (!serial)
		return;
	n = strlen(serial);
	if (n > sizeof(b->serial)) {
		log_warn("disk %s: serial \"%s\" is longer than %d bytes; the guest sees it truncated",
			 b->path, serial, VIRTIO_BLK_ID_BYTES);
		n = sizeof(b->serial);
	}
	memcpy(b->serial, serial, n);
}

int blk_backend_open(struct blk_backend *b, const struct disk_config *cfg)
{
	uint64_t bytes;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	b->readonly = cfg->readonly;
	b->path = strdup(cfg->path ? cfg->path : "");
	if (!b->path) {
		log_error("disk: out of memory");
		return -1;
	}
	b->fd = open(b->path, (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0) {
		int e = errno;
		log_error("disk %s: cannot open %s: %s%s", b->path,
			  b->readonly ? "read-only" : "read-write", strerror(e),
			  !b->readonly && (e == EACCES || e == EROFS) ?
			  " (fix the permissions or add readonly=on)" : "");
		goto fail;
	}
	if (backend_lock(b) < 0 || backend_size(b, &bytes) < 0)
		goto fail;
	if (bytes % VIRTIO_BLK_SECTOR)
		log_warn("disk %s: size %llu is not a multiple of 512 bytes; the "
			 "guest will not see the last %llu bytes", b->path,
			 (unsigned long long)bytes,
			 (unsigned long long)(bytes % VIRTIO_BLK_SECTOR));
	b->capacity = bytes / VIRTIO_BLK_SECTOR;
	backend_set_serial(b, cfg->serial);
	return 0;
fail:
	blk_backend_close(b);
	return -1;
}

void blk_backend_close(struct blk_backend *b)
{
	if (b->fd >= 0)
		close(b->fd);   /* drops the flock too */
	b->fd = -1;
	free(b->path);
	b->path = NULL;
}

/* ---- requests ---------------------------------------------------------- */

/* A view of part of an element's buffers. */
struct iov_span {
	struct iovec iov[VIRTQ_MAX_CHAIN];
	unsigned n;
	uint64_t len;
};

/* Collect `len` bytes of iov[0..n) starting `skip` bytes in. */
static void span_make(struct iov_span *s, const struct iovec *iov, unsigned n,
		      uint64_t skip, uint64_t len)
{
	s->n = 0;
	s->len = 0;
	for (unsigned i = 0; i < n && s->len < len; i++) {
		uint64_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len - s->len)
			l = len - s->len;
		s->iov[s->n++] = (struct iovec){
			(uint8_t *)iov[i].iov_base + skip, l };
		s->len += l;
		skip = 0;
	}
}

/* preadv/pwritev the whole span at `off`, resuming after short transfers.
 * Returns 0 or a negative errno (-EIO for an unexpected end of file). */
static int span_io(int fd, struct iov_span *s, uint64_t off, bool write)
{
	unsigned first = 0;

	while (first < s->n) {
		ssize_t r = write ? pwritev(fd, s->iov + first, (int)(s->n - first), (off_t)off)
				  : preadv(fd, s->iov + first, (int)(s->n - first), (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		off += (uint64_t)r;
		while (first < s->n && (size_t)r >= s->iov[first].iov_len) {
			r -= (ssize_t)s->iov[first].iov_len;
			first++;
		}
		if (first < s->n) {
			s->iov[first].iov_base = (uint8_t *)s->iov[first].iov_base + r;
			s->iov[first].iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* Whether [sector, sector + len) is whole sectors inside the disk. */
static bool range_ok(const struct blk_backend *b, uint64_t sector, uint64_t len)
{
	uint64_t n = len / VIRTIO_BLK_SECTOR;

	if (len % VIRTIO_BLK_SECTOR)
		return false;
	return sector <= b->capacity && n <= b->capacity - sector;
}

static void log_host_error(const struct blk_backend *b, const char *op, int err)
{
	/* Host-side failures matter to the user, but a failing disk must
	 * not flood the log at guest request rate. */
	static unsigned logged;

	if (logged++ < 10)
		log_error("disk %s: %s failed: %s", b->path, op, strerror(-err));
}

static uint8_t do_read(struct blk_backend *b, const struct virtq_elem *elem,
		       uint64_t sector, uint64_t *written)
{
	struct iov_span data;
	int r;

	/* IN carries no data after the header, and the status byte is the
	 * last writable byte. */
	if (elem->out_len != BLK_HDR_BYTES)
		return VIRTIO_BLK_S_IOERR;
	span_make(&data, elem->iov + elem->n_out, elem->n_in, 0, elem->in_len - 1u);
	if (!range_ok(b, sector, data.len))
		return VIRTIO_BLK_S_IOERR;
	r = span_io(b->fd, &data, sector * VIRTIO_BLK_SECTOR, false);
	if (r < 0) {
		log_host_error(b, "read", r);
		return VIRTIO_BLK_S_IOERR;
	}
	*written = data.len;
	b->rd_bytes += data.len;
	b->rd_ops++;
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_write(struct blk_backend *b, const struct virtq_elem *elem,
			uint64_t sector)
{
	struct iov_span data;
	int r;

	if (b->readonly)
		return VIRTIO_BLK_S_IOERR;
	span_make(&data, elem->iov, elem->n_out, BLK_HDR_BYTES,
		  elem->out_len - BLK_HDR_BYTES);
	if (!range_ok(b, sector, data.len))
		return VIRTIO_BLK_S_IOERR;
	r = span_io(b->fd, &data, sector * VIRTIO_BLK_SECTOR, true);
	if (r < 0) {
		log_host_error(b, "write", r);
		return VIRTIO_BLK_S_IOERR;
	}
	b->wr_bytes += data.len;
	b->wr_ops++;
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_flush(struct blk_backend *b)
{
	if (b->readonly)
		return VIRTIO_BLK_S_OK;
	if (fdatasync(b->fd) < 0) {
		log_host_error(b, "flush", -errno);
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_get_id(struct blk_backend *b, const struct virtq_elem *elem,
			 uint64_t *written)
{
	uint32_t room = elem->in_len - 1u;
	uint32_t n = room < VIRTIO_BLK_ID_BYTES ? room : VIRTIO_BLK_ID_BYTES;

	*written = iov_from_buf(elem->iov + elem->n_out, elem->n_in, 0, b->serial, n);
	return VIRTIO_BLK_S_OK;
}

/* Zero [off, off + len) by writing: for files and devices that cannot
 * fallocate. */
static int write_zeroes_slow(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zeroes[64 * 1024];

	while (len) {
		size_t n = len < sizeof(zeroes) ? (size_t)len : sizeof(zeroes);
		ssize_t r = pwrite(fd, zeroes, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

static int range_apply(struct blk_backend *b, uint32_t type,
		       const struct virtio_blk_range *rg)
{
	off_t off = (off_t)(rg->sector * VIRTIO_BLK_SECTOR);
	off_t len = (off_t)rg->num_sectors * VIRTIO_BLK_SECTOR;
	int mode;

	if (type == VIRTIO_BLK_T_DISCARD) {
		/* Discard is a hint: if the file system can't punch holes,
		 * nothing is lost by ignoring it. */
		if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) < 0 &&
		    errno != EOPNOTSUPP)
			return -errno;
		return 0;
	}
	/* Punched holes read back as zeroes, so unmap may deallocate. */
	mode = rg->flags & VIRTIO_BLK_WZ_F_UNMAP ? FALLOC_FL_PUNCH_HOLE
						 : FALLOC_FL_ZERO_RANGE;
	if (fallocate(b->fd, mode | FALLOC_FL_KEEP_SIZE, off, len) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	return write_zeroes_slow(b->fd, (uint64_t)off, (uint64_t)len);
}

static uint8_t do_ranges(struct blk_backend *b, const struct virtq_elem *elem,
			 uint32_t type)
{
	struct virtio_blk_range rg[VIRTIO_BLK_MAX_RANGES];
	uint32_t bytes = elem->out_len - BLK_HDR_BYTES;
	uint32_t allowed = type == VIRTIO_BLK_T_DISCARD ? 0 : VIRTIO_BLK_WZ_F_UNMAP;
	unsigned n = bytes / sizeof(rg[0]);

	if (b->readonly || n == 0 || n > VIRTIO_BLK_MAX_RANGES ||
	    bytes % sizeof(rg[0]))
		return VIRTIO_BLK_S_IOERR;
	/* Copy all ranges out first so each is validated and used from one
	 * fetch. */
	iov_to_buf(elem->iov, elem->n_out, BLK_HDR_BYTES, rg, bytes);
	for (unsigned i = 0; i < n; i++) {
		rg[i].sector = le64toh(rg[i].sector);
		rg[i].num_sectors = le32toh(rg[i].num_sectors);
		rg[i].flags = le32toh(rg[i].flags);
		if (rg[i].flags & ~allowed)
			return VIRTIO_BLK_S_UNSUPP;
		if (rg[i].num_sectors > VIRTIO_BLK_MAX_RANGE_SECTORS ||
		    !range_ok(b, rg[i].sector, (uint64_t)rg[i].num_sectors * VIRTIO_BLK_SECTOR))
			return VIRTIO_BLK_S_IOERR;
	}
	for (unsigned i = 0; i < n; i++) {
		int r = range_apply(b, type, &rg[i]);
		if (r < 0) {
			log_host_error(b, type == VIRTIO_BLK_T_DISCARD ?
				       "discard" : "write-zeroes", r);
			return VIRTIO_BLK_S_IOERR;
		}
	}
	return VIRTIO_BLK_S_OK;
}

static uint8_t dispatch(struct blk_backend *b, const struct virtq_elem *elem,
		       uint64_t *written)
{
	struct virtio_blk_req_hdr hdr;
	uint32_t type;

	if (elem->out_len < BLK_HDR_BYTES)
		return VIRTIO_BLK_S_IOERR;
	/* Fetch the header once: the guest may rewrite it meanwhile. */
	iov_to_buf(elem->iov, elem->n_out, 0, &hdr, sizeof(hdr));
	type = le32toh(hdr.type);
	switch (type) {
	case VIRTIO_BLK_T_IN:
		return do_read(b, elem, le64toh(hdr.sector), written);
	case VIRTIO_BLK_T_OUT:
		return do_write(b, elem, le64toh(hdr.sector));
	case VIRTIO_BLK_T_FLUSH:
		return do_flush(b);
	case VIRTIO_BLK_T_GET_ID:
		return do_get_id(b, elem, written);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return do_ranges(b, elem, type);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

int64_t blk_handle_request(struct blk_backend *b, const struct virtq_elem *elem,
			   uint8_t *status, const char **why)
{
	const struct iovec *last;
	uint64_t written = 0;

	if (elem->in_len == 0 || elem->n_in == 0) {
		*why = "request has no writable status byte";
		return -1;
	}
	*status = dispatch(b, elem, &written);
	/* The status is the chain's last writable byte (5.2.6). */
	last = &elem->iov[elem->n_out + elem->n_in - 1];
	*((volatile uint8_t *)last->iov_base + last->iov_len - 1) = *status;
	return (int64_t)written + 1;
}

/* ---- device ------------------------------------------------------------ */

static void blk_config_access(struct virtio_device *dev, uint32_t off,
			      uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_blk *blk = dev->priv;

	/* Nothing in our config is driver-writable (no CONFIG_WCE). */
	if (is_write)
		return;
	memset(data, 0, len);
	if (off >= sizeof(blk->config))
		return;
	if (len > sizeof(blk->config) - off)
		len = sizeof(blk->config) - off;
	memcpy(data, blk->config + off, len);
}

static void blk_queue_notify(struct virtio_device *dev, struct virtq *vq)
{
	struct virtio_blk *blk = dev->priv;
	struct virtq_elem elem;
	bool pushed = false;

	while (virtio_pop(dev, vq, &elem) == 1) {
		const char *why = NULL;
		uint8_t st;
		int64_t n = blk_handle_request(&blk->be, &elem, &st, &why);

		if (n < 0) {
			virtio_set_broken(dev, "disk %u (%s): %s",
					  blk->index, blk->be.path, why);
			break;
		}
		virtq_push(vq, elem.head, (uint32_t)n);
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(dev, vq);
}

/* Requests complete synchronously, so there is never in-flight state. */
static void blk_activate(struct virtio_device *dev) { (void)dev; }
static void blk_reset(struct virtio_device *dev) { (void)dev; }

static void blk_stats(struct virtio_device *dev, struct virtio_stats *out)
{
	const struct blk_backend *b = &((struct virtio_blk *)dev->priv)->be;
	*out = (struct virtio_stats){ .to_guest_bytes = b->rd_bytes, .to_guest_ops = b->rd_ops,
				      .from_guest_bytes = b->wr_bytes, .from_guest_ops = b->wr_ops };
}

static void blk_destroy(struct virtio_device *dev)
{
	struct virtio_blk *blk = dev->priv;
	blk_backend_close(&blk->be);
	free(blk);
}

static const struct virtio_device_ops blk_ops = {
	.name = "blk",      /* the transport names it virtio-blk */
	.device_id = VIRTIO_ID_BLOCK,
	.pci_class = 0x010000,   /* mass storage; the class other VMMs use */
	.config_access = blk_config_access,
	.queue_notify = blk_queue_notify,
	.activate = blk_activate,
	.reset = blk_reset,
	.stats = blk_stats,
	.destroy = blk_destroy,
};

static void put32(uint8_t *cfg, unsigned off, uint32_t v)
{
	v = htole32(v);
	memcpy(cfg + off, &v, sizeof(v));
}

static void blk_fill_config(struct virtio_blk *blk)
{
	uint64_t cap = htole64(blk->be.capacity);

	memset(blk->config, 0, sizeof(blk->config));
	memcpy(blk->config + CFG_CAPACITY, &cap, sizeof(cap));
	put32(blk->config, CFG_SEG_MAX, BLK_SEG_MAX);
	put32(blk->config, CFG_BLK_SIZE, VIRTIO_BLK_SECTOR);
	if (blk->be.readonly)
		return;
	put32(blk->config, CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_RANGE_SECTORS);
	put32(blk->config, CFG_MAX_DISCARD_SEG, VIRTIO_BLK_MAX_RANGES);
	/* 4 KiB: the granularity hole punching works at on most hosts */
	put32(blk->config, CFG_DISCARD_ALIGN, 8);
	put32(blk->config, CFG_MAX_WZ_SECTORS, VIRTIO_BLK_MAX_RANGE_SECTORS);
	put32(blk->config, CFG_MAX_WZ_SEG, VIRTIO_BLK_MAX_RANGES);
	blk->config[CFG_WZ_MAY_UNMAP] = 1;
}

int virtio_blk_create(struct vm *vm, const struct disk_config *cfg, unsigned index)
{
	uint64_t features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE |
			    VIRTIO_BLK_F_FLUSH;
	struct virtio_blk *blk = calloc(1, sizeof(*blk));

	if (!blk) {
		log_error("virtio-blk: out of memory");
		return -1;
	}
	blk->index = index;
	if (blk_backend_open(&blk->be, cfg) < 0) {
		free(blk);
		return -1;
	}
	features |= blk->be.readonly ? VIRTIO_BLK_F_RO :
		    VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES;
	blk_fill_config(blk);
	if (virtio_pci_init(&blk->vdev, vm, &blk_ops, features, 1,
			    BLK_QUEUE_SIZE, blk) < 0) {
		log_error("disk %s: cannot add the virtio-blk device to the PCI bus",
			  blk->be.path);
		blk_backend_close(&blk->be);
		free(blk);
		return -1;
	}
	return 0;
}
