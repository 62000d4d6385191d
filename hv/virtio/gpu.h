/* virtio-gpu, 2D only (virtio spec 5.7): the command set Linux's
 * virtio_gpu driver needs for a scanout it draws into with the CPU.
 *
 * The command engine (struct gpu_core) is separate from the PCI device so
 * tests and the fuzzer can drive it with a bare virtq_elem. */
#ifndef ATOLL_VIRTIO_GPU_H
#define ATOLL_VIRTIO_GPU_H

#include <stdbool.h>
#include <stdint.h>

#include "../memory.h"
#include "virtqueue.h"

struct display;

#define VIRTIO_GPU_F_EDID (1ULL << 1)

/* Commands */
#define VIRTIO_GPU_CMD_GET_DISPLAY_INFO        0x0100
#define VIRTIO_GPU_CMD_RESOURCE_CREATE_2D      0x0101
#define VIRTIO_GPU_CMD_RESOURCE_UNREF          0x0102
#define VIRTIO_GPU_CMD_SET_SCANOUT             0x0103
#define VIRTIO_GPU_CMD_RESOURCE_FLUSH          0x0104
#define VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D     0x0105
#define VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING 0x0106
#define VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING 0x0107
#define VIRTIO_GPU_CMD_GET_CAPSET_INFO         0x0108
#define VIRTIO_GPU_CMD_GET_CAPSET              0x0109
#define VIRTIO_GPU_CMD_GET_EDID                0x010a
#define VIRTIO_GPU_CMD_UPDATE_CURSOR           0x0300
#define VIRTIO_GPU_CMD_MOVE_CURSOR             0x0301
/* Responses */
#define VIRTIO_GPU_RESP_OK_NODATA              0x1100
#define VIRTIO_GPU_RESP_OK_DISPLAY_INFO        0x1101
#define VIRTIO_GPU_RESP_OK_EDID                0x1104
#define VIRTIO_GPU_RESP_ERR_UNSPEC             0x1200
#define VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY      0x1201
#define VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID 0x1202
#define VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID 0x1203
#define VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID 0x1204
#define VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER  0x1205

#define VIRTIO_GPU_FLAG_FENCE     1
#define VIRTIO_GPU_EVENT_DISPLAY  1
#define VIRTIO_GPU_MAX_SCANOUTS   16

#define VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM 1
#define VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM 2
#define VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM 3
#define VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM 4

/* Limits on what the guest may make the host allocate. */
#define GPU_MAX_DIM        16384
#define GPU_MAX_RES_BYTES  (256ULL << 20)   /* all resources together */
#define GPU_MAX_RESOURCES  1024
#define GPU_DEFAULT_WIDTH  1280
#define GPU_DEFAULT_HEIGHT 800

/* Wire structures, little-endian (x86 hosts only, like the rest). */
struct virtio_gpu_ctrl_hdr {
	uint32_t type;
	uint32_t flags;
	uint64_t fence_id;
	uint32_t ctx_id;
	uint8_t ring_idx;
	uint8_t padding[3];
};

struct virtio_gpu_rect {
	uint32_t x, y, width, height;
};

struct virtio_gpu_resp_display_info {
	struct virtio_gpu_ctrl_hdr hdr;
	struct {
		struct virtio_gpu_rect r;
		uint32_t enabled;
		uint32_t flags;
	} pmodes[VIRTIO_GPU_MAX_SCANOUTS];
};

struct virtio_gpu_get_edid {
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t scanout;
	uint32_t padding;
};

struct virtio_gpu_resp_edid {
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t size;
	uint32_t padding;
	uint8_t edid[1024];
};

struct virtio_gpu_resource_create_2d {
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t resource_id;
	uint32_t format;
	uint32_t width;
	uint32_t height;
};

struct virtio_gpu_resource_unref {
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t resource_id;
	uint32_t padding;
};

struct virtio_gpu_set_scanout {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_rect r;
	uint32_t scanout_id;
	uint32_t resource_id;
};

struct virtio_gpu_resource_flush {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_rect r;
	uint32_t resource_id;
	uint32_t padding;
};

struct virtio_gpu_transfer_to_host_2d {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_rect r;
	uint64_t offset;
	uint32_t resource_id;
	uint32_t padding;
};

struct virtio_gpu_resource_attach_backing {
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t resource_id;
	uint32_t nr_entries;
	/* followed by nr_entries struct virtio_gpu_mem_entry */
};

struct virtio_gpu_mem_entry {
	uint64_t addr;
	uint32_t length;
	uint32_t padding;
};

struct virtio_gpu_resource_detach_backing {
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t resource_id;
	uint32_t padding;
};

struct virtio_gpu_config {
	uint32_t events_read;
	uint32_t events_clear;
	uint32_t num_scanouts;
	uint32_t num_capsets;
};

struct gpu_backing {
	uint8_t *host;   /* resolved with guest_ptr when attached */
	uint32_t len;
};

struct gpu_resource {
	uint32_t id, format, width, height;
	uint8_t *data;              /* host copy, XRGB8888 (B,G,R,X) */
	uint64_t bytes;
	struct gpu_backing *backing;
	uint32_t n_backing;
	uint64_t backing_len;
};

/* State of the command engine.  Callers serialise (the device lock). */
struct gpu_core {
	const struct guest_memory *mem;
	struct display *display;    /* may be NULL (fuzzing) */
	uint32_t pref_width, pref_height;
	struct gpu_resource *res[GPU_MAX_RESOURCES];
	unsigned n_res;
	uint64_t res_bytes;
	/* Scanout 0 */
	struct gpu_resource *scanout_res;   /* NULL: disabled */
	struct virtio_gpu_rect scanout_rect;
	uint8_t *blank;             /* black surface shown while disabled */
	uint32_t blank_w, blank_h;
};

int gpu_core_init(struct gpu_core *g, const struct guest_memory *mem,
		  struct display *display);
/* Free every resource and disable the scanout (driver reset). */
void gpu_core_reset(struct gpu_core *g);
void gpu_core_free(struct gpu_core *g);
/* Set the size GET_DISPLAY_INFO and GET_EDID report (clamped). */
void gpu_core_set_preferred(struct gpu_core *g, uint32_t width, uint32_t height);

/* Execute one control queue request and write its response.  Returns the
 * bytes written into the in-buffers, or -1 with *why set when the chain has
 * no room for even a response header (malformed). */
int64_t gpu_handle_ctrl(struct gpu_core *g, const struct virtq_elem *elem,
			const char **why);

/* A 128-byte EDID 1.4 base block whose preferred (detailed) timing is
 * width x height; shared with bochs-display. */
#define GPU_EDID_BYTES 128
void gpu_edid_build(uint8_t edid[GPU_EDID_BYTES], uint32_t width, uint32_t height);

#endif
