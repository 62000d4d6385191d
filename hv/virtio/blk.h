/* virtio-blk request handling, separate from the PCI device so it can be
 * tested without a VM: a raw image file and one request at a time. */
#ifndef ATOLL_VIRTIO_BLK_H
#define ATOLL_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "virtqueue.h"

#define VIRTIO_BLK_T_IN     0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_SECTOR   512

/* DISCARD / WRITE_ZEROES limits we advertise: ranges per request and
 * sectors per range. */
#define VIRTIO_BLK_MAX_RANGES  16
#define VIRTIO_BLK_MAX_RANGE_SECTORS (1u << 22)   /* 2 GiB */
#define VIRTIO_BLK_WZ_F_UNMAP 1

struct disk_config;

struct blk_backend {
	int fd;
	bool readonly;
	uint64_t capacity;                 /* in 512-byte sectors */
	char serial[VIRTIO_BLK_ID_BYTES];  /* zero-padded, not terminated */
	char *path;                        /* for messages */
	uint64_t rd_bytes, wr_bytes, rd_ops, wr_ops;  /* completed I/O */
};

/* Open cfg->path (read-only if cfg->readonly) and lock it against other
 * writers.  Returns 0, or -1 after logging why. */
int blk_backend_open(struct blk_backend *b, const struct disk_config *cfg);
void blk_backend_close(struct blk_backend *b);

/* Execute one request (header, data, status byte) and write its status
 * byte.  Returns the bytes written into the chain's in-buffers (status byte
 * included) and stores the status in *status, or -1 with *why set when the
 * chain has no room for a status byte and so cannot be answered at all. */
int64_t blk_handle_request(struct blk_backend *b, const struct virtq_elem *elem,
			   uint8_t *status, const char **why);

#endif
