/* Tap backend: open/check the tap, and move frames between it and guest
 * virtqueue elements with a single readv/writev each.  No logging here:
 * results go back to virtio-net, which knows the device to blame. */
#include "tap.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1

/* ---- opening ---------------------------------------------------------- */

static int tap_setup(int fd, const char *ifname, char *err, size_t errlen)
{
	int hdr_len = VIRTIO_NET_HDR_LEN;
	int flags;

	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		snprintf(err, errlen, "tap %s: cannot set the vnet header size: %s",
			 ifname, strerror(errno));
		return -1;
	}
	/* A persistent tap keeps the offloads its last user enabled; we
	 * negotiate none with the guest, so the kernel must not hand us
	 * GSO or partially checksummed frames. */
	if (ioctl(fd, TUNSETOFFLOAD, 0UL) < 0) {
		snprintf(err, errlen, "tap %s: cannot disable offloads: %s",
			 ifname, strerror(errno));
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "tap %s: cannot make the fd non-blocking: %s",
			 ifname, strerror(errno));
		return -1;
	}
	return 0;
}

static int tap_check_fd(int fd, char *ifname, char *err, size_t errlen)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		snprintf(err, errlen,
			 "--net fd=%d is not an attached tap fd (%s) — hand over an fd "
			 "of /dev/net/tun after TUNSETIFF with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR",
			 fd, strerror(errno));
		return -1;
	}
	if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_NO_PI) ||
	    !(ifr.ifr_flags & IFF_VNET_HDR)) {
		snprintf(err, errlen,
			 "--net fd=%d (interface %.*s) was not opened with "
			 "IFF_TAP|IFF_NO_PI|IFF_VNET_HDR — reopen it with those flags",
			 fd, IFNAMSIZ, ifr.ifr_name);
		return -1;
	}
	memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	ifname[IFNAMSIZ - 1] = '\0';
	return 0;
}

static void tap_open_error(const char *ifname, int e, char *err, size_t errlen)
{
	switch (e) {
	case EPERM:
	case EACCES:
		snprintf(err, errlen,
			 "tap %s: permission denied — run as root, create it beforehand "
			 "with `ip tuntap add dev %s mode tap vnet_hdr user USER`, or hand "
			 "over a tap fd with --net fd=N", ifname, ifname);
		break;
	case EBUSY:
		snprintf(err, errlen,
			 "tap %s is already in use by another process — stop it or "
			 "choose another tap name", ifname);
		break;
	case EINVAL:
		snprintf(err, errlen,
			 "cannot attach to %s: an interface of that name exists and is "
			 "not a single-queue tap — choose another name", ifname);
		break;
	default:
		snprintf(err, errlen, "cannot open tap %s: %s", ifname, strerror(e));
		break;
	}
}

static int tap_open_name(const char *name, char *ifname, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd, e;

	if (!name || !name[0] || strlen(name) >= IFNAMSIZ) {
		snprintf(err, errlen, "tap name '%s' is invalid — use 1 to %d characters",
			 name ? name : "", IFNAMSIZ - 1);
		return -1;
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT || e == ENODEV || e == ENXIO)
			snprintf(err, errlen,
				 "/dev/net/tun: %s — load the tun module (modprobe tun) "
				 "or hand over a tap fd with --net fd=N", strerror(e));
		else if (e == EACCES || e == EPERM)
			snprintf(err, errlen,
				 "/dev/net/tun: permission denied — run as root or hand "
				 "over a tap fd with --net fd=N");
		else
			snprintf(err, errlen, "/dev/net/tun: %s", strerror(e));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		e = errno;
		close(fd);
		tap_open_error(name, e, err, errlen);
		return -1;
	}
	memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	ifname[IFNAMSIZ - 1] = '\0';
	return fd;
}

int tap_open(const struct nic_config *cfg, char *ifname, char *err, size_t errlen)
{
	int fd;

	if (cfg->tap_fd >= 0) {
		if (tap_check_fd(cfg->tap_fd, ifname, err, errlen) < 0)
			return -1;
		fd = cfg->tap_fd;
	} else {
		fd = tap_open_name(cfg->tap, ifname, err, errlen);
		if (fd < 0)
			return -1;
	}
	if (tap_setup(fd, ifname, err, errlen) < 0) {
		if (fd != cfg->tap_fd)
			close(fd);
		return -1;
	}
	return fd;
}

/* ---- frame transfer ----------------------------------------------------- */

/* Copy between a flat buffer and the first bytes of an iovec array. */
static size_t iov_copy(const struct iovec *iov, unsigned n, void *buf,
		       size_t len, int to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t c = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		if (to_iov)
			memcpy(iov[i].iov_base, (uint8_t *)buf + done, c);
		else
			memcpy((uint8_t *)buf + done, iov[i].iov_base, c);
		done += c;
	}
	return done;
}

/* Sum in 64 bits: a guest can make descriptors overlap, so the total of a
 * long chain may not fit the element's 32-bit counters. */
static uint64_t iov_total(const struct iovec *iov, unsigned n)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* Offloads are never negotiated, so a header asking for any is refused. */
static bool hdr_plain(const struct virtio_net_hdr_v1 *h)
{
	return !(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	       h->gso_type == VIRTIO_NET_HDR_GSO_NONE;
}

static const char *tx_error(int e)
{
	switch (e) {
	case EIO:
		return "the tap interface is down (`ip link set <tap> up` brings it up)";
	case EAGAIN:
	case ENOBUFS:
		return "the tap's queue is full";
	case EBADFD:
		return "the tap interface was removed";
	case EINVAL:
		return "the kernel rejected the frame's virtio-net header";
	default:
		return "writing to the tap failed";
	}
}

enum net_xfer net_tx_chain(int fd, const struct virtq_elem *elem,
			   uint32_t *frame_len, const char **why)
{
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint64_t total;
	ssize_t n;

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
	iov_copy(elem->iov, elem->n_out, &hdr, sizeof(hdr), 0);
	if (!hdr_plain(&hdr)) {
		*why = "TX header asks for checksum/segmentation offload, not negotiated";
		return NET_XFER_DROPPED;
	}
	n = writev(fd, elem->iov, elem->n_out);
	if (n < 0) {
		*why = tx_error(errno);
		return NET_XFER_DROPPED;
	}
	*frame_len = (uint32_t)(total - VIRTIO_NET_HDR_LEN);
	return NET_XFER_DONE;
}

enum net_xfer net_rx_chain(int fd, const struct virtq_elem *elem,
			   void *scratch, size_t scratch_len,
			   uint32_t *written, const char **why)
{
	struct iovec iov[VIRTQ_MAX_CHAIN + 1];
	const struct iovec *in = elem->iov + elem->n_out;
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint64_t room;
	ssize_t n;

	if (elem->n_out || !elem->n_in) {
		*why = "RX chain has device-readable buffers";
		return NET_XFER_BROKEN;
	}
	room = iov_total(in, elem->n_in);
	if (room < VIRTIO_NET_HDR_LEN) {
		*why = "RX chain is shorter than the virtio-net header";
		return NET_XFER_BROKEN;
	}
	memcpy(iov, in, elem->n_in * sizeof(*iov));
	iov[elem->n_in].iov_base = scratch;
	iov[elem->n_in].iov_len = scratch_len;
	n = readv(fd, iov, elem->n_in + 1);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return NET_XFER_AGAIN;
		*why = "reading the tap failed";
		return NET_XFER_FAILED;
	}
	if ((uint64_t)n > room) {
		*why = "RX frame larger than the guest's receive buffer";
		return NET_XFER_DROPPED;
	}
	if (n < VIRTIO_NET_HDR_LEN + NET_MIN_FRAME) {
		*why = "runt RX frame";
		return NET_XFER_DROPPED;
	}
	iov_copy(in, elem->n_in, &hdr, sizeof(hdr), 0);
	if (!hdr_plain(&hdr)) {
		*why = "the tap delivered an offloaded frame";
		return NET_XFER_DROPPED;
	}
	/* The tap leaves num_buffers untouched and may set DATA_VALID, which
	 * needs GUEST_CSUM: hand the guest a header of its own features. */
	memset(&hdr, 0, sizeof(hdr));
	hdr.num_buffers = htole16(1);
	iov_copy(in, elem->n_in, &hdr, sizeof(hdr), 1);
	*written = (uint32_t)n;
	return NET_XFER_DONE;
}
