/* virtio-net frame transfer (hv/backends/tap.c): TX and RX chains against a
 * datagram socketpair standing in for the tap, and, when /dev/net/tun is
 * usable, against a real tap through an AF_PACKET socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>


#include "backends/tap.h"
#include "bus.h"
#include "memory.h"
#include "pci/pci.h"
#include "virtio/virtio.h"
#include "vm.h"
#include "testvm.h"

#define RAM_SIZE (1u << 20)
#define SCRATCH_LEN (NET_MAX_FRAME + VIRTIO_NET_HDR_LEN + 64)

struct fixture {
	struct guest_memory gm;
	void *ram;
	int fd[2];          /* fd[0] is "the tap", fd[1] the network */
	void *scratch;
	struct virtq_elem elem;
};

static void fx_setup(struct fixture *f, gconstpointer data)
{
	int sz = 1 << 20;

	(void)data;
	f->ram = g_malloc0(RAM_SIZE);
	guest_memory_wrap(&f->gm, f->ram, RAM_SIZE);
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, f->fd), ==, 0);
	for (int i = 0; i < 2; i++) {
		g_assert_cmpint(fcntl(f->fd[i], F_SETFL, O_NONBLOCK), ==, 0);
		setsockopt(f->fd[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(f->fd[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	f->scratch = g_malloc(SCRATCH_LEN);
	memset(&f->elem, 0, sizeof(f->elem));
}

static void fx_teardown(struct fixture *f, gconstpointer data)
{
	(void)data;
	close(f->fd[0]);
	close(f->fd[1]);
	g_free(f->scratch);
	g_free(f->ram);
}

/* Append guest buffer [gpa, gpa+len) to the element, as virtq_pop would. */
static void elem_add(struct fixture *f, uint64_t gpa, uint32_t len, bool writable)
{
	testvm_elem_add(&f->gm, &f->elem, gpa, len, writable);
}

static uint8_t *gpa(struct fixture *f, uint64_t a)
{
	return guest_ptr(&f->gm, a, 1);
}

static void fill_frame(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static void assert_nothing_to_read(int fd)
{
	uint8_t b[16];

	g_assert_cmpint(recv(fd, b, sizeof(b), MSG_DONTWAIT), ==, -1);
	g_assert_cmpint(errno, ==, EAGAIN);
}

/* ---- TX ---------------------------------------------------------------- */

static void test_tx_roundtrip(struct fixture *f, gconstpointer data)
{
	uint8_t frame[60], got[256];
	const char *why = NULL;
	uint32_t flen = 0;

	(void)data;
	/* Header split over two descriptors, frame over two more. */
	memset(gpa(f, 0x1000), 0, VIRTIO_NET_HDR_LEN);
	fill_frame(frame, sizeof(frame), 3);
	memcpy(gpa(f, 0x2000), frame, 20);
	memcpy(gpa(f, 0x3000), frame + 20, 40);
	elem_add(f, 0x1000, 5, false);
	elem_add(f, 0x1005, 7, false);
	elem_add(f, 0x2000, 20, false);
	elem_add(f, 0x3000, 40, false);

	g_assert_cmpint(net_tx_chain(f->fd[0], &f->elem, &flen, &why), ==, NET_XFER_DONE);
	g_assert_cmpuint(flen, ==, 60);
	g_assert_cmpint(recv(f->fd[1], got, sizeof(got), 0), ==, 72);
	for (int i = 0; i < VIRTIO_NET_HDR_LEN; i++)
		g_assert_cmpuint(got[i], ==, 0);
	g_assert_cmpmem(got + VIRTIO_NET_HDR_LEN, 60, frame, 60);
}

static void test_tx_max_frame(struct fixture *f, gconstpointer data)
{
	const uint32_t total = VIRTIO_NET_HDR_LEN + NET_MAX_FRAME;
	uint8_t *got = g_malloc(total + 16);
	const char *why = NULL;
	uint32_t flen = 0;

	(void)data;
	memset(gpa(f, 0x10000), 0, VIRTIO_NET_HDR_LEN);
	fill_frame(gpa(f, 0x10000) + VIRTIO_NET_HDR_LEN, NET_MAX_FRAME, 9);
	elem_add(f, 0x10000, total, false);
	g_assert_cmpint(net_tx_chain(f->fd[0], &f->elem, &flen, &why), ==, NET_XFER_DONE);
	g_assert_cmpuint(flen, ==, NET_MAX_FRAME);
	g_assert_cmpint(recv(f->fd[1], got, total + 16, 0), ==, (ssize_t)total);
	g_assert_cmpmem(got, total, gpa(f, 0x10000), total);
	g_free(got);
}

static void test_tx_oversize(struct fixture *f, gconstpointer data)
{
	const char *why = NULL;
	uint32_t flen = 0;

	(void)data;
	memset(gpa(f, 0x10000), 0, VIRTIO_NET_HDR_LEN);
	elem_add(f, 0x10000, VIRTIO_NET_HDR_LEN + NET_MAX_FRAME + 1, false);
	g_assert_cmpint(net_tx_chain(f->fd[0], &f->elem, &flen, &why), ==, NET_XFER_DROPPED);
	g_assert_nonnull(why);
	assert_nothing_to_read(f->fd[1]);
}

static void test_tx_writable_is_broken(struct fixture *f, gconstpointer data)
{
	const char *why = NULL;
	uint32_t flen = 0;

	(void)data;
	memset(gpa(f, 0x1000), 0, 100);
	elem_add(f, 0x1000, 80, false);
	elem_add(f, 0x2000, 64, true);
	g_assert_cmpint(net_tx_chain(f->fd[0], &f->elem, &flen, &why), ==, NET_XFER_BROKEN);
	g_assert_nonnull(strstr(why, "writable"));
	assert_nothing_to_read(f->fd[1]);
}

static void test_tx_short_header_is_broken(struct fixture *f, gconstpointer data)
{
	const char *why = NULL;
	uint32_t flen = 0;

	(void)data;
	elem_add(f, 0x1000, 4, false);
	elem_add(f, 0x1004, 7, false);
	g_assert_cmpint(net_tx_chain(f->fd[0], &f->elem, &flen, &why), ==, NET_XFER_BROKEN);
	assert_nothing_to_read(f->fd[1]);

	memset(&f->elem, 0, sizeof(f->elem));     /* no buffers at all */
	g_assert_cmpint(net_tx_chain(f->fd[0], &f->elem, &flen, &why), ==, NET_XFER_BROKEN);
}

static void test_tx_bad_frames_dropped(struct fixture *f, gconstpointer data)
{
	struct virtio_net_hdr_v1 *h = (void *)gpa(f, 0x1000);
	const char *why = NULL;
	uint32_t flen = 0;

	(void)data;
	memset(h, 0, 200);
	elem_add(f, 0x1000, VIRTIO_NET_HDR_LEN + 10, false);    /* runt */
	g_assert_cmpint(net_tx_chain(f->fd[0], &f->elem, &flen, &why), ==, NET_XFER_DROPPED);

	memset(&f->elem, 0, sizeof(f->elem));
	elem_add(f, 0x1000, VIRTIO_NET_HDR_LEN + 100, false);
	h->flags = 1;                                            /* NEEDS_CSUM */
	g_assert_cmpint(net_tx_chain(f->fd[0], &f->elem, &flen, &why), ==, NET_XFER_DROPPED);
	h->flags = 0;
	h->gso_type = 1;                                         /* TCPv4 */
	g_assert_cmpint(net_tx_chain(f->fd[0], &f->elem, &flen, &why), ==, NET_XFER_DROPPED);
	assert_nothing_to_read(f->fd[1]);

	h->gso_type = 0;
	g_assert_cmpint(net_tx_chain(f->fd[0], &f->elem, &flen, &why), ==, NET_XFER_DONE);
}

/* ---- RX ---------------------------------------------------------------- */

/* A datagram as the tap delivers it: 10 header bytes it fills, 2 it skips
 * (num_buffers), then the frame. */
static size_t tap_datagram(uint8_t *buf, size_t frame_len, uint8_t flags,
			   uint8_t gso_type, uint8_t seed)
{
	struct virtio_net_hdr_v1 h = { .flags = flags, .gso_type = gso_type,
				       .num_buffers = 0xbeef };

	memcpy(buf, &h, sizeof(h));
	fill_frame(buf + VIRTIO_NET_HDR_LEN, frame_len, seed);
	return VIRTIO_NET_HDR_LEN + frame_len;
}

static void test_rx_roundtrip(struct fixture *f, gconstpointer data)
{
	uint8_t dg[256], expect[100];
	const struct virtio_net_hdr_v1 *h = (void *)gpa(f, 0x1000);
	const char *why = NULL;
	uint32_t written = 0;
	size_t n;

	(void)data;
	/* DATA_VALID (2) must not reach a guest without GUEST_CSUM. */
	n = tap_datagram(dg, 100, 2, 0, 5);
	g_assert_cmpint(send(f->fd[1], dg, n, 0), ==, (ssize_t)n);
	memset(gpa(f, 0x1000), 0xaa, 0x2000);
	elem_add(f, 0x1000, 4, true);      /* header split over buffers */
	elem_add(f, 0x1004, 8, true);
	elem_add(f, 0x2000, 2000, true);

	g_assert_cmpint(net_rx_chain(f->fd[0], &f->elem, f->scratch, SCRATCH_LEN,
				     &written, &why), ==, NET_XFER_DONE);
	g_assert_cmpuint(written, ==, 112);
	g_assert_cmpuint(h->flags, ==, 0);
	g_assert_cmpuint(h->gso_type, ==, 0);
	g_assert_cmpuint(h->hdr_len, ==, 0);
	g_assert_cmpuint(h->csum_start, ==, 0);
	g_assert_cmpuint(le16toh(h->num_buffers), ==, 1);
	fill_frame(expect, 100, 5);
	g_assert_cmpmem(gpa(f, 0x2000), 100, expect, 100);
	g_assert_cmpuint(gpa(f, 0x2000)[100], ==, 0xaa);   /* nothing beyond */
}

static void test_rx_empty(struct fixture *f, gconstpointer data)
{
	const char *why = NULL;
	uint32_t written = 0;

	(void)data;
	elem_add(f, 0x1000, 1600, true);
	g_assert_cmpint(net_rx_chain(f->fd[0], &f->elem, f->scratch, SCRATCH_LEN,
				     &written, &why), ==, NET_XFER_AGAIN);
}

static void test_rx_oversize_keeps_chain(struct fixture *f, gconstpointer data)
{
	uint8_t *dg = g_malloc(SCRATCH_LEN), expect[50];
	const char *why = NULL;
	uint32_t written = 0;
	size_t n;

	(void)data;
	elem_add(f, 0x1000, VIRTIO_NET_HDR_LEN + 100, true);
	n = tap_datagram(dg, 500, 0, 0, 1);
	g_assert_cmpint(send(f->fd[1], dg, n, 0), ==, (ssize_t)n);
	/* A full 64 KiB frame must be swallowed whole, not split. */
	n = tap_datagram(dg, NET_MAX_FRAME, 0, 0, 2);
	g_assert_cmpint(send(f->fd[1], dg, n, 0), ==, (ssize_t)n);
	n = tap_datagram(dg, 50, 0, 0, 3);
	g_assert_cmpint(send(f->fd[1], dg, n, 0), ==, (ssize_t)n);

	g_assert_cmpint(net_rx_chain(f->fd[0], &f->elem, f->scratch, SCRATCH_LEN,
				     &written, &why), ==, NET_XFER_DROPPED);
	g_assert_nonnull(strstr(why, "larger"));
	g_assert_cmpint(net_rx_chain(f->fd[0], &f->elem, f->scratch, SCRATCH_LEN,
				     &written, &why), ==, NET_XFER_DROPPED);
	g_assert_cmpint(net_rx_chain(f->fd[0], &f->elem, f->scratch, SCRATCH_LEN,
				     &written, &why), ==, NET_XFER_DONE);
	g_assert_cmpuint(written, ==, VIRTIO_NET_HDR_LEN + 50);
	fill_frame(expect, 50, 3);
	g_assert_cmpmem(gpa(f, 0x1000) + VIRTIO_NET_HDR_LEN, 50, expect, 50);
	g_free(dg);
}

static void test_rx_exact_fit(struct fixture *f, gconstpointer data)
{
	uint8_t dg[256];
	const char *why = NULL;
	uint32_t written = 0;
	size_t n = tap_datagram(dg, 100, 0, 0, 4);

	(void)data;
	elem_add(f, 0x1000, VIRTIO_NET_HDR_LEN + 100, true);
	g_assert_cmpint(send(f->fd[1], dg, n, 0), ==, (ssize_t)n);
	g_assert_cmpint(net_rx_chain(f->fd[0], &f->elem, f->scratch, SCRATCH_LEN,
				     &written, &why), ==, NET_XFER_DONE);
	g_assert_cmpuint(written, ==, n);
	g_assert_cmpmem(gpa(f, 0x1000) + VIRTIO_NET_HDR_LEN, 100,
			dg + VIRTIO_NET_HDR_LEN, 100);
}

static void test_rx_malformed_chains(struct fixture *f, gconstpointer data)
{
	uint8_t dg[256];
	const char *why = NULL;
	uint32_t written = 0;
	size_t n = tap_datagram(dg, 100, 0, 0, 4);

	(void)data;
	g_assert_cmpint(send(f->fd[1], dg, n, 0), ==, (ssize_t)n);

	elem_add(f, 0x1000, 64, false);                 /* readable buffer */
	elem_add(f, 0x2000, 1600, true);
	g_assert_cmpint(net_rx_chain(f->fd[0], &f->elem, f->scratch, SCRATCH_LEN,
				     &written, &why), ==, NET_XFER_BROKEN);

	memset(&f->elem, 0, sizeof(f->elem));
	elem_add(f, 0x2000, 8, true);                   /* no room for header */
	g_assert_cmpint(net_rx_chain(f->fd[0], &f->elem, f->scratch, SCRATCH_LEN,
				     &written, &why), ==, NET_XFER_BROKEN);

	memset(&f->elem, 0, sizeof(f->elem));           /* no buffers */
	g_assert_cmpint(net_rx_chain(f->fd[0], &f->elem, f->scratch, SCRATCH_LEN,
				     &written, &why), ==, NET_XFER_BROKEN);

	/* A broken chain must not have eaten the frame. */
	g_assert_cmpint(recv(f->fd[0], dg, sizeof(dg),
			     MSG_PEEK | MSG_DONTWAIT), ==, (ssize_t)n);
}

static void test_rx_bad_frames_dropped(struct fixture *f, gconstpointer data)
{
	uint8_t dg[256];
	const char *why = NULL;
	uint32_t written = 0;
	size_t n;

	(void)data;
	elem_add(f, 0x1000, 1600, true);
	n = tap_datagram(dg, 100, 0, 1, 0);             /* GSO frame */
	g_assert_cmpint(send(f->fd[1], dg, n, 0), ==, (ssize_t)n);
	n = tap_datagram(dg, 100, 1, 0, 0);             /* NEEDS_CSUM */
	g_assert_cmpint(send(f->fd[1], dg, n, 0), ==, (ssize_t)n);
	n = tap_datagram(dg, 5, 0, 0, 0);               /* runt */
	g_assert_cmpint(send(f->fd[1], dg, n, 0), ==, (ssize_t)n);
	for (int i = 0; i < 3; i++)
		g_assert_cmpint(net_rx_chain(f->fd[0], &f->elem, f->scratch, SCRATCH_LEN,
					     &written, &why), ==, NET_XFER_DROPPED);
	g_assert_cmpint(net_rx_chain(f->fd[0], &f->elem, f->scratch, SCRATCH_LEN,
				     &written, &why), ==, NET_XFER_AGAIN);
}

/* ---- tap_open ----------------------------------------------------------- */

static void test_open_rejects_non_tap_fd(void)
{
	struct nic_config cfg = { .tap_fd = -1 };
	char ifname[IFNAMSIZ], err[512] = "";
	int sv[2];

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), ==, 0);
	cfg.tap_fd = sv[0];
	g_assert_cmpint(tap_open(&cfg, ifname, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "not an attached tap fd"));
	/* A handed-over fd stays open for its owner on failure. */
	g_assert_cmpint(fcntl(sv[0], F_GETFD), >=, 0);
	close(sv[0]);
	close(sv[1]);
}

static void test_open_rejects_bad_name(void)
{
	struct nic_config cfg = { .tap = "this-name-is-far-too-long", .tap_fd = -1 };
	char ifname[IFNAMSIZ], err[512] = "";

	g_assert_cmpint(tap_open(&cfg, ifname, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "invalid"));
}

/* Open a fresh tap by name, or skip the test when tun is unavailable. */
static int open_test_tap(char *ifname)
{
	struct nic_config cfg = { .tap_fd = -1 };
	char name[IFNAMSIZ], err[512] = "";
	int fd;

	if (access("/dev/net/tun", R_OK | W_OK) < 0) {
		g_test_skip("/dev/net/tun not usable");
		return -1;
	}
	snprintf(name, sizeof(name), "atltst%d", (int)(getpid() % 100000));
	cfg.tap = name;
	fd = tap_open(&cfg, ifname, err, sizeof(err));
	if (fd < 0)
		g_test_skip(err);
	return fd;
}

static void test_open_real_tap(void)
{
	char ifname[IFNAMSIZ], ifname2[IFNAMSIZ], err[512] = "";
	struct nic_config cfg = { .tap_fd = -1 };
	int fd = open_test_tap(ifname), hdr = 0;
	unsigned int features = 0;

	if (fd < 0)
		return;
	g_assert_nonnull(strstr(ifname, "atltst"));
	g_assert_cmpint(ioctl(fd, TUNGETVNETHDRSZ, &hdr), ==, 0);
	g_assert_cmpint(hdr, ==, VIRTIO_NET_HDR_LEN);
	g_assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	g_assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	g_assert_cmpint(ioctl(fd, TUNGETFEATURES, &features), ==, 0);

	/* The interface is down: a frame is dropped with the reason. */
	{
		static uint8_t ram[4096];
		struct guest_memory gm;
		struct virtq_elem *e = g_new0(struct virtq_elem, 1);
		const char *why = NULL;
		uint32_t flen;

		guest_memory_wrap(&gm, ram, sizeof(ram));
		e->iov[0].iov_base = guest_ptr(&gm, 0, 100);
		e->iov[0].iov_len = 100;
		e->n_out = 1;
		g_assert_cmpint(net_tx_chain(fd, e, &flen, &why), ==, NET_XFER_DROPPED);
		g_assert_nonnull(strstr(why, "down"));
		g_free(e);
	}

	/* The same fd handed over is accepted and returned as is. */
	cfg.tap_fd = fd;
	g_assert_cmpint(tap_open(&cfg, ifname2, err, sizeof(err)), ==, fd);
	g_assert_cmpstr(ifname2, ==, ifname);
	close(fd);
}

/* A persistent tap made by `ip tuntap add mode tap` (no vnet_hdr, maybe
 * offloads left on) is attached with our flags and settings. */
static void test_open_persistent_tap(void)
{
	struct nic_config cfg = { .tap_fd = -1 };
	char name[IFNAMSIZ], ifname[IFNAMSIZ], err[512] = "";
	struct ifreq ifr;
	int pfd, fd, hdr = 0;

	if (access("/dev/net/tun", R_OK | W_OK) < 0) {
		g_test_skip("/dev/net/tun not usable");
		return;
	}
	snprintf(name, sizeof(name), "atlper%d", (int)(getpid() % 100000));
	pfd = open("/dev/net/tun", O_RDWR);
	g_assert_cmpint(pfd, >=, 0);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(pfd, TUNSETIFF, &ifr) < 0 || ioctl(pfd, TUNSETPERSIST, 1) < 0) {
		g_test_skip("cannot create a persistent tap");
		close(pfd);
		return;
	}
	ioctl(pfd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4);
	close(pfd);

	cfg.tap = name;
	fd = tap_open(&cfg, ifname, err, sizeof(err));
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpstr(ifname, ==, name);
	memset(&ifr, 0, sizeof(ifr));
	g_assert_cmpint(ioctl(fd, TUNGETIFF, &ifr), ==, 0);
	g_assert_true(ifr.ifr_flags & IFF_VNET_HDR);
	g_assert_cmpint(ioctl(fd, TUNGETVNETHDRSZ, &hdr), ==, 0);
	g_assert_cmpint(hdr, ==, VIRTIO_NET_HDR_LEN);

	/* A second user gets a clear "in use" error. */
	g_assert_cmpint(tap_open(&cfg, ifname, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "in use"));

	g_assert_cmpint(ioctl(fd, TUNSETPERSIST, 0), ==, 0);
	close(fd);
}

/* Through a real tap: the guest's TX chain comes out of the interface and a
 * frame sent into the interface fills an RX chain. */
static void test_real_tap_frames(void)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x42 };
	struct fixture fx, *f = &fx;
	char ifname[IFNAMSIZ];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	struct ifreq ifr;
	uint8_t buf[2048], frame[100];
	const char *why = NULL;
	uint32_t n32 = 0;
	int fd, ps, ctl;
	bool seen = false;

	fd = open_test_tap(ifname);
	if (fd < 0)
		return;
	ctl = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, IFNAMSIZ);
	if (ctl < 0 || ioctl(ctl, SIOCGIFFLAGS, &ifr) < 0) {
		g_test_skip("cannot query the tap");
		goto out_fd;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(ctl, SIOCSIFFLAGS, &ifr) < 0 || ioctl(ctl, SIOCGIFINDEX, &ifr) < 0) {
		g_test_skip("cannot bring the tap up");
		goto out_fd;
	}
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(0x88b5));
	if (ps < 0) {
		g_test_skip("no AF_PACKET");
		goto out_fd;
	}
	sll.sll_protocol = htons(0x88b5);
	sll.sll_ifindex = ifr.ifr_ifindex;
	g_assert_cmpint(bind(ps, (struct sockaddr *)&sll, sizeof(sll)), ==, 0);

	fx_setup(f, NULL);
	/* Guest -> network. */
	memset(frame, 0x5a, sizeof(frame));
	memcpy(frame, dst, 6);
	memcpy(frame + 6, (uint8_t[]){ 0x52, 0x54, 0, 1, 2, 3 }, 6);
	frame[12] = 0x88;
	frame[13] = 0xb5;
	memset(gpa(f, 0x1000), 0, VIRTIO_NET_HDR_LEN);
	memcpy(gpa(f, 0x1000) + VIRTIO_NET_HDR_LEN, frame, sizeof(frame));
	elem_add(f, 0x1000, VIRTIO_NET_HDR_LEN + sizeof(frame), false);
	g_assert_cmpint(net_tx_chain(fd, &f->elem, &n32, &why), ==, NET_XFER_DONE);
	for (int i = 0; i < 50 && !seen; i++) {
		struct pollfd p = { .fd = ps, .events = POLLIN };
		ssize_t r;

		poll(&p, 1, 100);
		r = recv(ps, buf, sizeof(buf), 0);
		seen = r == (ssize_t)sizeof(frame) && !memcmp(buf, frame, sizeof(frame));
	}
	g_assert_true(seen);

	/* Network -> guest; other traffic (IPv6 autoconf) may come first. */
	memset(&f->elem, 0, sizeof(f->elem));
	elem_add(f, 0x4000, 1600, true);
	memset(gpa(f, 0x4000), 0xee, 1600);
	frame[20] = 0x77;
	g_assert_cmpint(sendto(ps, frame, sizeof(frame), 0, (struct sockaddr *)&sll,
			       sizeof(sll)), ==, (ssize_t)sizeof(frame));
	seen = false;
	for (int i = 0; i < 50 && !seen; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		enum net_xfer r;

		poll(&p, 1, 100);
		r = net_rx_chain(fd, &f->elem, f->scratch, SCRATCH_LEN, &n32, &why);
		if (r == NET_XFER_DONE && n32 == VIRTIO_NET_HDR_LEN + sizeof(frame) &&
		    !memcmp(gpa(f, 0x4000) + VIRTIO_NET_HDR_LEN, frame, sizeof(frame)))
			seen = true;
	}
	g_assert_true(seen);
	g_assert_cmpuint(le16toh(((struct virtio_net_hdr_v1 *)gpa(f, 0x4000))->num_buffers),
			 ==, 1);
	fx_teardown(f, NULL);
	close(ps);
out_fd:
	if (ctl >= 0)
		close(ctl);
	close(fd);
}


/* ---- the whole device, driven like a guest driver ------------------------ */

/* A VM with buses, RAM, PCI and the event loop but no KVM (as in
 * test_virtio_pci), one virtio-net on a real tap, and an AF_PACKET socket
 * standing for the network behind the tap. */
static struct vm dvm;
static struct vm_config dcfg;
static struct virtio_device *ndev;
static int pkt_sock, pkt_ifindex;

#define RXQ_DESC  0x10000
#define RXQ_AVAIL 0x11000
#define RXQ_USED  0x12000
#define TXQ_DESC  0x20000
#define TXQ_AVAIL 0x21000
#define TXQ_USED  0x22000
#define DQSZ      TESTVM_QSZ


static bool d_setup(void)
{
	struct nic_config nic = { .tap_fd = -1 };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	char name[IFNAMSIZ];
	struct ifreq ifr;
	int ctl;

	if (access("/dev/net/tun", R_OK | W_OK) < 0) {
		g_test_skip("/dev/net/tun not usable");
		return false;
	}
	memset(&dcfg, 0, sizeof(dcfg));
	dcfg.name = "netdom";
	testvm_init(&dvm, 16 << 20);
	dvm.cfg = &dcfg;

	snprintf(name, sizeof(name), "atldev%d", (int)(getpid() % 100000));
	nic.tap = name;
	if (virtio_net_create(&dvm, &nic, 1) < 0) {
		g_test_skip("cannot open a tap");
		return false;
	}
	ndev = (struct virtio_device *)dvm.pci->devs[1 << 3];
	g_assert_nonnull(ndev);
	/* Keep IPv6 autoconf chatter off the test link (best effort). */
	{
		char path[128];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
		f = fopen(path, "w");
		if (f) {
			fputs("1", f);
			fclose(f);
		}
	}

	ctl = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, IFNAMSIZ);
	g_assert_cmpint(ioctl(ctl, SIOCGIFFLAGS, &ifr), ==, 0);
	ifr.ifr_flags |= IFF_UP;
	g_assert_cmpint(ioctl(ctl, SIOCSIFFLAGS, &ifr), ==, 0);
	g_assert_cmpint(ioctl(ctl, SIOCGIFINDEX, &ifr), ==, 0);
	close(ctl);
	pkt_ifindex = ifr.ifr_ifindex;
	pkt_sock = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(0x88b5));
	g_assert_cmpint(pkt_sock, >=, 0);
	sll.sll_protocol = htons(0x88b5);
	sll.sll_ifindex = pkt_ifindex;
	g_assert_cmpint(bind(pkt_sock, (struct sockaddr *)&sll, sizeof(sll)), ==, 0);
	return true;
}

static void d_driver_up(void)
{
	testvm_dev_write(&dvm, ndev, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	testvm_dev_write(&dvm, ndev, 0x08, 4, 0);
	testvm_dev_write(&dvm, ndev, 0x0c, 4, (1u << 5) | (1u << 16));     /* MAC, STATUS */
	testvm_dev_write(&dvm, ndev, 0x08, 4, 1);
	testvm_dev_write(&dvm, ndev, 0x0c, 4, 1);                           /* VERSION_1 */
	testvm_dev_write(&dvm, ndev, 0x14, 1, 0xb);
	g_assert_cmphex(testvm_dev_read(&dvm, ndev, 0x14, 1) & VIRTIO_STATUS_FEATURES_OK, ==, 8);
	testvm_queue_setup(&dvm, ndev, 0, RXQ_DESC, RXQ_AVAIL, RXQ_USED);
	testvm_queue_setup(&dvm, ndev, 1, TXQ_DESC, TXQ_AVAIL, TXQ_USED);
	testvm_dev_write(&dvm, ndev, 0x14, 1, 0xf);
	g_assert_false(ndev->broken);
}

static void d_frame(uint8_t *f, size_t len, uint8_t tag)
{
	memset(f, tag, len);
	memcpy(f, (uint8_t[]){ 0x02, 0, 0, 0, 0, 0x42 }, 6);
	memcpy(f + 6, (uint8_t[]){ 0x52, 0x54, 0, 1, 2, 3 }, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
}

/* The events the event loop's epoll set waits for on the (only open) tap
 * fd, from /proc/self/fdinfo; -1 if the tap is not in the set. */
static int tap_watched_events(void)
{
	char path[64], link[64], line[256];
	int tapfd = -1, events = -1;
	FILE *f;

	for (int fd = 3; fd < 1024 && tapfd < 0; fd++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			if (!strcmp(link, "/dev/net/tun"))
				tapfd = fd;
		}
	}
	g_assert_cmpint(tapfd, >=, 0);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", dvm.loop.epfd);
	f = fopen(path, "r");
	g_assert_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		int tfd;
		unsigned ev;

		if (sscanf(line, "tfd: %d events: %x", &tfd, &ev) == 2 && tfd == tapfd)
			events = (int)ev;
	}
	fclose(f);
	return events;
}

static void test_device(void)
{
	uint8_t frame[200], got[512], mac[6];
	struct sockaddr_ll to = { .sll_family = AF_PACKET };
	uint32_t feat;
	bool found;
	ssize_t n = -1;

	if (!d_setup())
		return;
	/* Features and config space: MAC derived from the name, link up. */
	testvm_dev_write(&dvm, ndev, 0x00, 4, 0);
	feat = (uint32_t)testvm_dev_read(&dvm, ndev, 0x04, 4);
	g_assert_cmphex(feat & ((1u << 5) | (1u << 16)), ==, (1u << 5) | (1u << 16));
	g_assert_cmphex(feat & ((1u << 0) | (1u << 15)), ==, 0);  /* no CSUM, MRG */
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)testvm_dev_read(&dvm, ndev, 0x2000 + i, 1);
	g_assert_cmphex(mac[0], ==, 0x52);
	g_assert_cmphex(mac[1], ==, 0x54);
	g_assert_cmphex(mac[2], ==, 0x00);
	g_assert_cmphex(testvm_dev_read(&dvm, ndev, 0x2006, 2), ==, 1);
	g_assert_cmphex(testvm_dev_read(&dvm, ndev, 0x2010, 1), ==, 0);          /* past config */
	d_driver_up();

	/* TX: header + frame in two descriptors comes out of the tap. */
	d_frame(frame, sizeof(frame), 0x31);
	memset(guest_ptr(&dvm.mem, 0x100000, 12), 0, 12);
	memcpy(guest_ptr(&dvm.mem, 0x100100, sizeof(frame)), frame, sizeof(frame));
	testvm_post(&dvm, TXQ_DESC, TXQ_AVAIL, 0, 0x100000, 12, VIRTQ_DESC_F_NEXT);
	/* desc 0 chains to desc 1 (next = 1) */
	{
		uint16_t next = 1;

		guest_write(&dvm.mem, TXQ_DESC + 14, &next, 2);
	}
	{
		struct virtq_desc d = { .addr = 0x100100, .len = sizeof(frame) };

		guest_write(&dvm.mem, TXQ_DESC + 16, &d, sizeof(d));
	}
	testvm_dev_write(&dvm, ndev, 0x3000 + 4, 2, 1);
	testvm_pump(&dvm, 50);
	g_assert_cmpuint(testvm_used_idx(&dvm, TXQ_USED), ==, 1);
	for (int i = 0; i < 20; i++) {
		n = recv(pkt_sock, got, sizeof(got), 0);
		if (n == (ssize_t)sizeof(frame) && !memcmp(got, frame, sizeof(frame)))
			break;
		testvm_pump(&dvm, 10);
	}
	g_assert_cmpint(n, ==, (ssize_t)sizeof(frame));
	g_assert_cmpmem(got, sizeof(frame), frame, sizeof(frame));

	/* RX with an empty ring: the frame waits in the tap, which is no
	 * longer watched for input, so the loop does not spin on it. */
	g_assert_cmphex(tap_watched_events() & EPOLLIN, ==, EPOLLIN);
	d_frame(frame, sizeof(frame), 0x47);
	to.sll_ifindex = pkt_ifindex;
	to.sll_halen = 6;
	memcpy(to.sll_addr, frame, 6);
	g_assert_cmpint(sendto(pkt_sock, frame, sizeof(frame), 0,
			       (struct sockaddr *)&to, sizeof(to)), ==, (ssize_t)sizeof(frame));
	testvm_pump(&dvm, 100);
	g_assert_cmpuint(testvm_used_idx(&dvm, RXQ_USED), ==, 0);
	g_assert_cmphex(tap_watched_events() & EPOLLIN, ==, 0);

	/* Posting buffers and kicking delivers it (IPv6 autoconf traffic may
	 * come first, so post several and look for ours). */
	for (uint16_t i = 0; i < 4; i++) {
		memset(guest_ptr(&dvm.mem, 0x200000 + 0x1000u * i, 2048), 0xee, 2048);
		testvm_post(&dvm, RXQ_DESC, RXQ_AVAIL, i, 0x200000 + 0x1000u * i, 2048,
		       VIRTQ_DESC_F_WRITE);
	}
	testvm_dev_write(&dvm, ndev, 0x3000, 2, 0);
	found = false;
	for (int i = 0; i < 20 && !found; i++) {
		testvm_pump(&dvm, 20);
		for (uint16_t u = 0; u < testvm_used_idx(&dvm, RXQ_USED) && !found; u++) {
			uint32_t e[2];
			uint8_t *b;

			g_assert_cmpint(guest_read(&dvm.mem, RXQ_USED + 4 + 8u * u, e, 8), ==, 0);
			g_assert_cmpuint(e[0], <, 4);
			b = guest_ptr(&dvm.mem, 0x200000 + 0x1000u * e[0], 2048);
			if (e[1] == 12 + sizeof(frame) && !memcmp(b + 12, frame, sizeof(frame))) {
				found = true;
				g_assert_cmpuint(b[10] | b[11] << 8, ==, 1);   /* num_buffers */
				g_assert_cmpuint(b[0], ==, 0);
				g_assert_cmpuint(b[12 + sizeof(frame)], ==, 0xee);
			}
		}
	}
	g_assert_true(found);
	g_assert_cmphex(tap_watched_events() & EPOLLIN, ==, EPOLLIN);

	/* A TX chain with a writable buffer breaks the device, and a reset
	 * brings it back. */
	testvm_post(&dvm, TXQ_DESC, TXQ_AVAIL, 2, 0x100000, 100, VIRTQ_DESC_F_WRITE);
	testvm_dev_write(&dvm, ndev, 0x3000 + 4, 2, 1);
	testvm_pump(&dvm, 30);
	g_assert_true(ndev->broken);
	g_assert_cmphex(testvm_dev_read(&dvm, ndev, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, ==, 0x40);
	testvm_dev_write(&dvm, ndev, 0x14, 1, 0);
	g_assert_false(ndev->broken);
	close(pkt_sock);
}

#define FX(path, fn) \
	g_test_add(path, struct fixture, NULL, fx_setup, fn, fx_teardown)

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	FX("/virtio_net/tx/roundtrip", test_tx_roundtrip);
	FX("/virtio_net/tx/max_frame", test_tx_max_frame);
	FX("/virtio_net/tx/oversize", test_tx_oversize);
	FX("/virtio_net/tx/writable_is_broken", test_tx_writable_is_broken);
	FX("/virtio_net/tx/short_header_is_broken", test_tx_short_header_is_broken);
	FX("/virtio_net/tx/bad_frames_dropped", test_tx_bad_frames_dropped);
	FX("/virtio_net/rx/roundtrip", test_rx_roundtrip);
	FX("/virtio_net/rx/empty", test_rx_empty);
	FX("/virtio_net/rx/oversize_keeps_chain", test_rx_oversize_keeps_chain);
	FX("/virtio_net/rx/exact_fit", test_rx_exact_fit);
	FX("/virtio_net/rx/malformed_chains", test_rx_malformed_chains);
	FX("/virtio_net/rx/bad_frames_dropped", test_rx_bad_frames_dropped);
	g_test_add_func("/virtio_net/open/rejects_non_tap_fd", test_open_rejects_non_tap_fd);
	g_test_add_func("/virtio_net/open/rejects_bad_name", test_open_rejects_bad_name);
	g_test_add_func("/virtio_net/open/real_tap", test_open_real_tap);
	g_test_add_func("/virtio_net/open/persistent_tap", test_open_persistent_tap);
	g_test_add_func("/virtio_net/tap/frames", test_real_tap_frames);
	g_test_add_func("/virtio_net/device", test_device);
	return g_test_run();
}
