/* Tap network backend for virtio-net, and the per-frame transfer between a
 * tap fd and a virtqueue element.
 *
 * The tap carries a 12-byte vnet header in front of every frame
 * (IFF_VNET_HDR + TUNSETVNETHDRSZ), laid out like the virtio 1.x net header,
 * so a guest chain moves to and from the tap with one writev/readv.  The
 * transfer functions only need a datagram fd, so tests can use a socketpair. */
#ifndef ATOLL_TAP_H
#define ATOLL_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config.h"
#include "../virtio/virtqueue.h"

/* struct virtio_net_hdr_v1 (virtio 1.x, 5.1.6): little-endian fields. */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

#define VIRTIO_NET_HDR_LEN        12
#define VIRTIO_NET_HDR_GSO_NONE   0
/* Largest frame a guest may send: 64 KiB IP packet + Ethernet + VLAN. */
#define NET_MAX_FRAME             65550
#define NET_MIN_FRAME             14     /* an Ethernet header */

/* Open the tap the NIC config names: cfg->tap_fd if >= 0 (a tap fd handed
 * over by the toolstack, checked to be a tap opened with IFF_NO_PI and
 * IFF_VNET_HDR; it is returned itself, not a copy), else /dev/net/tun
 * attached to interface cfg->tap (created if it does not exist).  The returned fd is non-blocking with a 12-byte vnet
 * header and no offloads.  Addresses and link state are left alone.
 * ifname (size IFNAMSIZ) receives the interface name.  Returns the fd, or
 * -1 with err filled with what went wrong and what to do. */
int tap_open(const struct nic_config *cfg, char *ifname, char *err, size_t errlen);

enum net_xfer {
	NET_XFER_DONE,      /* one frame moved */
	NET_XFER_AGAIN,     /* nothing to read / fd cannot take it now */
	NET_XFER_DROPPED,   /* the frame was dropped; the element is unused */
	NET_XFER_BROKEN,    /* the chain violates the spec; *why says how */
	NET_XFER_FAILED,    /* the fd itself failed (errno set): stop using it */
};

/* Send the guest's TX chain (vnet header + frame) as one datagram.  On
 * DONE *frame_len is the frame's length without the header.  A transient
 * fd failure (EAGAIN, link down) is DROPPED: networks lose frames.
 * *why is set for every result but DONE. */
enum net_xfer net_tx_chain(int fd, const struct virtq_elem *elem,
			   uint32_t *frame_len, const char **why);

/* Receive one datagram into the guest's RX chain.  `scratch` (at least
 * NET_MAX_FRAME + VIRTIO_NET_HDR_LEN bytes) catches what does not fit: a
 * frame larger than the chain is read and DROPPED, leaving the chain for
 * the next frame.  On DONE *written is header + frame bytes, and the
 * header says "no offloads, one buffer". */
enum net_xfer net_rx_chain(int fd, const struct virtq_elem *elem,
			   void *scratch, size_t scratch_len,
			   uint32_t *written, const char **why);

#endif
