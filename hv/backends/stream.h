/* Stream network backend for virtio-net: Ethernet frames over a connected
 * unix stream socket, each as a 4-byte big-endian length and the frame
 * (QEMU's "-netdev stream" protocol, which passt speaks).
 *
 * No virtio-net header crosses the socket: TX strips the guest's, RX hands
 * the guest a zeroed one.  A stream has no frame boundaries, so RX
 * reassembles frames split across reads, and TX keeps a bounded queue of
 * bytes the socket could not take yet (whole new frames are dropped when it
 * is full, never part of one: that would desynchronise the stream).  The
 * functions only need an fd, so tests use a socketpair. */
#ifndef ATOLL_STREAM_H
#define ATOLL_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tap.h"

/* Bytes of unsent TX kept before new frames are dropped. */
#define NET_STREAM_TXQ  (4 * (NET_MAX_FRAME + 4))

struct net_stream {
	int fd;
	/* RX: the length prefix, then the frame, as they arrive. */
	uint8_t len_be[4];
	unsigned len_got;
	uint32_t frame_len;
	uint32_t frame_got;
	uint8_t *frame;           /* NET_MAX_FRAME bytes */
	uint32_t bad_len;         /* the invalid length a peer sent, for logs */
	/* TX: queued bytes are txq[tx_off..tx_len). */
	uint8_t *txq;             /* NET_STREAM_TXQ bytes */
	size_t tx_off, tx_len;
};

/* Connect to the unix stream socket at path; non-blocking, close-on-exec.
 * Returns the fd, or -1 with err saying what went wrong and what to do. */
int net_stream_connect(const char *path, char *err, size_t errlen);

/* Take over fd (closed by net_stream_free).  Returns 0, -1 out of memory. */
int net_stream_init(struct net_stream *s, int fd);
void net_stream_free(struct net_stream *s);

/* Queue the guest's TX chain (vnet header + frame) as length + frame and
 * try to send.  Returns DONE (sent or queued; *frame_len set), DROPPED
 * (bad frame or full queue), BROKEN (chain violates the spec) or FAILED
 * (the peer is gone).  *why is set for every result but DONE. */
enum net_xfer net_stream_tx_chain(struct net_stream *s, const struct virtq_elem *elem,
				  uint32_t *frame_len, const char **why);

/* Send queued bytes.  Returns 0 (all sent or the socket is full; see
 * net_stream_tx_pending), -1 when the peer is gone (*why set). */
int net_stream_flush(struct net_stream *s, const char **why);
bool net_stream_tx_pending(const struct net_stream *s);

/* Read until one frame is complete and copy it into the guest's RX chain
 * behind a zeroed virtio-net header (num_buffers 1).  DONE: *written is
 * header + frame bytes.  AGAIN: no whole frame yet (partial data is kept).
 * DROPPED: a frame was consumed but did not fit or was a runt; the chain
 * stays unused.  BROKEN: the chain violates the spec.  FAILED: the peer
 * closed, the read failed, or the peer sent an invalid length (0 or more
 * than NET_MAX_FRAME, see s->bad_len): stop using the socket. */
enum net_xfer net_stream_rx_chain(struct net_stream *s, const struct virtq_elem *elem,
				  uint32_t *written, const char **why);

#endif
