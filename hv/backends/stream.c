/* Stream network backend: see stream.h. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "stream.h"

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1

int net_stream_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path %s is longer than %zu bytes — use a shorter path",
			 path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a unix socket: %s", strerror(errno));
		return -1;
	}
	/* Connect blocking: a local listener accepts at once, and a
	 * half-open connection would need another state to track. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "cannot connect to %s: %s — is the network daemon (passt) running and listening there?",
			 path, strerror(errno));
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		snprintf(err, errlen, "cannot make socket %s non-blocking: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int net_stream_init(struct net_stream *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->frame = malloc(NET_MAX_FRAME);
	s->txq = malloc(NET_STREAM_TXQ);
	if (!s->frame || !s->txq) {
		free(s->frame);
		free(s->txq);
		s->frame = s->txq = NULL;
		return -1;
	}
	return 0;
}

void net_stream_free(struct net_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->frame);
	free(s->txq);
	s->frame = s->txq = NULL;
}

/* Copy between an iovec array, starting `skip` bytes into it, and buf. */
static size_t iov_xfer(const struct iovec *iov, unsigned n, size_t skip,
		       void *buf, size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len, c;
		uint8_t *p = iov[i].iov_base;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		p += skip;
		l -= skip;
		skip = 0;
		c = l < len - done ? l : len - done;
		if (to_iov)
			memcpy(p, (uint8_t *)buf + done, c);
		else
			memcpy((uint8_t *)buf + done, p, c);
		done += c;
	}
	return done;
}

static uint64_t iov_total(const struct iovec *iov, unsigned n)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

bool net_stream_tx_pending(const struct net_stream *s)
{
	return s->tx_off < s->tx_len;
}

static bool peer_gone(int e)
{
	return e != EAGAIN && e != EWOULDBLOCK && e != EINTR && e != ENOBUFS;
}

int net_stream_flush(struct net_stream *s, const char **why)
{
	while (s->tx_off < s->tx_len) {
		ssize_t n = send(s->fd, s->txq + s->tx_off, s->tx_len - s->tx_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (!peer_gone(errno))
				return 0;
			*why = "writing to the network socket failed (the peer closed it)";
			return -1;
		}
		s->tx_off += (size_t)n;
	}
	s->tx_off = s->tx_len = 0;
	return 0;
}

enum net_xfer net_stream_tx_chain(struct net_stream *s, const struct virtq_elem *elem,
				  uint32_t *frame_len, const char **why)
{
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint64_t total;
	uint32_t flen, be;

	if (elem->n_in) {
		*why = "TX chain has device-writable buffers";
		return NET_XFER_BROKEN;
	}
	total = iov_total(elem->iov, elem->n_out);
	if (total < VIRTIO_NET_HDR_LEN) {
		*why = "TX chain is shorter than the virtio-net header";
		return NET_XFER_BROKEN;
	}
	if (total - VIRTIO_NET_HDR_LEN > NET_MAX_FRAME) {
		*why = "TX frame larger than 65550 bytes";
		return NET_XFER_DROPPED;
	}
	if (total - VIRTIO_NET_HDR_LEN < NET_MIN_FRAME) {
		*why = "TX frame shorter than an Ethernet header";
		return NET_XFER_DROPPED;
	}
	iov_xfer(elem->iov, elem->n_out, 0, &hdr, sizeof(hdr), false);
	if ((hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		*why = "TX header asks for checksum/segmentation offload, not negotiated";
		return NET_XFER_DROPPED;
	}
	flen = (uint32_t)(total - VIRTIO_NET_HDR_LEN);
	if (s->tx_len + 4 + flen > NET_STREAM_TXQ && s->tx_off) {
		memmove(s->txq, s->txq + s->tx_off, s->tx_len - s->tx_off);
		s->tx_len -= s->tx_off;
		s->tx_off = 0;
	}
	if (s->tx_len + 4 + flen > NET_STREAM_TXQ) {
		*why = "the network socket's send queue is full (the peer is not reading)";
		return NET_XFER_DROPPED;
	}
	be = htobe32(flen);
	memcpy(s->txq + s->tx_len, &be, 4);
	iov_xfer(elem->iov, elem->n_out, VIRTIO_NET_HDR_LEN, s->txq + s->tx_len + 4, flen, false);
	s->tx_len += 4 + flen;
	if (net_stream_flush(s, why) < 0)
		return NET_XFER_FAILED;
	*frame_len = flen;
	return NET_XFER_DONE;
}

/* Read into buf[*got..want).  AGAIN until it is full; FAILED on EOF/error. */
static enum net_xfer read_some(int fd, uint8_t *buf, uint32_t *got, uint32_t want,
			       const char **why)
{
	while (*got < want) {
		ssize_t n = read(fd, buf + *got, want - *got);

		if (n == 0) {
			*why = "the peer closed the network socket";
			return NET_XFER_FAILED;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return NET_XFER_AGAIN;
			*why = "reading the network socket failed";
			return NET_XFER_FAILED;
		}
		*got += (uint32_t)n;
	}
	return NET_XFER_DONE;
}

static enum net_xfer deliver(struct net_stream *s, const struct virtq_elem *elem,
			     uint32_t *written, const char **why)
{
	const struct iovec *in = elem->iov + elem->n_out;
	struct virtio_net_hdr_v1 hdr = { .num_buffers = htole16(1) };
	uint32_t flen = s->frame_len;

	s->len_got = 0;
	s->frame_got = 0;
	if (flen < NET_MIN_FRAME) {
		*why = "runt RX frame";
		return NET_XFER_DROPPED;
	}
	if (VIRTIO_NET_HDR_LEN + (uint64_t)flen > iov_total(in, elem->n_in)) {
		*why = "RX frame larger than the guest's receive buffer";
		return NET_XFER_DROPPED;
	}
	iov_xfer(in, elem->n_in, 0, &hdr, sizeof(hdr), true);
	iov_xfer(in, elem->n_in, VIRTIO_NET_HDR_LEN, s->frame, flen, true);
	*written = VIRTIO_NET_HDR_LEN + flen;
	return NET_XFER_DONE;
}

enum net_xfer net_stream_rx_chain(struct net_stream *s, const struct virtq_elem *elem,
				  uint32_t *written, const char **why)
{
	enum net_xfer r;

	if (elem->n_out || !elem->n_in) {
		*why = "RX chain has device-readable buffers";
		return NET_XFER_BROKEN;
	}
	if (iov_total(elem->iov, elem->n_in) < VIRTIO_NET_HDR_LEN) {
		*why = "RX chain is shorter than the virtio-net header";
		return NET_XFER_BROKEN;
	}
	if (s->len_got < 4) {
		r = read_some(s->fd, s->len_be, &s->len_got, 4, why);
		if (r != NET_XFER_DONE)
			return r;
		memcpy(&s->frame_len, s->len_be, 4);
		s->frame_len = be32toh(s->frame_len);
		s->frame_got = 0;
		if (s->frame_len == 0 || s->frame_len > NET_MAX_FRAME) {
			s->bad_len = s->frame_len;
			*why = "the peer sent an invalid frame length";
			return NET_XFER_FAILED;
		}
	}
	r = read_some(s->fd, s->frame, &s->frame_got, s->frame_len, why);
	if (r != NET_XFER_DONE)
		return r;
	return deliver(s, elem, written, why);
}
