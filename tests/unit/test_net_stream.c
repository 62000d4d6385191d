/* Stream network backend (hv/backends/stream.c): length-prefixed frames
 * against a unix stream socketpair standing in for passt. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/stream.h"
#include "memory.h"
#include "pci/pci.h"
#include "virtio/virtio.h"
#include "vm.h"
#include "testvm.h"

#define RAM_SIZE (1u << 20)

struct fixture {
	struct guest_memory gm;
	void *ram;
	struct net_stream s;   /* owns fd[0] */
	int peer;              /* the network's end */
	struct virtq_elem elem;
};

static void fx_setup(struct fixture *f, gconstpointer data)
{
	int fd[2];

	(void)data;
	f->ram = g_malloc0(RAM_SIZE);
	guest_memory_wrap(&f->gm, f->ram, RAM_SIZE);
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), ==, 0);
	g_assert_cmpint(fcntl(fd[0], F_SETFL, O_NONBLOCK), ==, 0);
	g_assert_cmpint(net_stream_init(&f->s, fd[0]), ==, 0);
	f->peer = fd[1];
	memset(&f->elem, 0, sizeof(f->elem));
}

static void fx_teardown(struct fixture *f, gconstpointer data)
{
	(void)data;
	net_stream_free(&f->s);
	if (f->peer >= 0)
		close(f->peer);
	g_free(f->ram);
}

static void elem_reset(struct fixture *f)
{
	memset(&f->elem, 0, sizeof(f->elem));
}

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

static void read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);

		g_assert_cmpint(n, >, 0);
		got += (size_t)n;
	}
}

static void write_all(int fd, const void *buf, size_t len)
{
	g_assert_cmpint(write(fd, buf, len), ==, (ssize_t)len);
}

static void put_len(uint8_t *p, uint32_t len)
{
	uint32_t be = htonl(len);

	memcpy(p, &be, 4);
}

/* A TX chain at 0x1000: zero header split over two descriptors, frame over two. */
static void tx_chain(struct fixture *f, const uint8_t *frame, uint32_t len)
{
	uint32_t half = len / 2;

	elem_reset(f);
	memset(gpa(f, 0x1000), 0, VIRTIO_NET_HDR_LEN);
	memcpy(gpa(f, 0x2000), frame, half);
	memcpy(gpa(f, 0x40000), frame + half, len - half);
	elem_add(f, 0x1000, 5, false);
	elem_add(f, 0x1005, VIRTIO_NET_HDR_LEN - 5, false);
	elem_add(f, 0x2000, half, false);
	elem_add(f, 0x40000, len - half, false);
}

/* An RX chain of `len` bytes in two descriptors at 0x80000. */
static void rx_chain(struct fixture *f, uint32_t len)
{
	elem_reset(f);
	memset(gpa(f, 0x80000), 0xee, len);
	elem_add(f, 0x80000, 7, true);
	elem_add(f, 0x80007, len - 7, true);
}

static void test_tx_frame(struct fixture *f, gconstpointer data)
{
	uint8_t frame[60], got[64];
	const char *why = NULL;
	uint32_t flen = 0;

	(void)data;
	fill_frame(frame, sizeof(frame), 3);
	tx_chain(f, frame, sizeof(frame));
	g_assert_cmpint(net_stream_tx_chain(&f->s, &f->elem, &flen, &why), ==, NET_XFER_DONE);
	g_assert_cmpuint(flen, ==, 60);
	g_assert_false(net_stream_tx_pending(&f->s));
	read_exact(f->peer, got, 64);
	g_assert_cmpuint(got[0], ==, 0);
	g_assert_cmpuint(got[1], ==, 0);
	g_assert_cmpuint(got[2], ==, 0);
	g_assert_cmpuint(got[3], ==, 60);
	g_assert_cmpmem(got + 4, 60, frame, 60);
}

static void test_tx_rejects(struct fixture *f, gconstpointer data)
{
	uint8_t frame[10] = { 0 };
	const char *why = NULL;
	uint32_t flen = 0;

	(void)data;
	tx_chain(f, frame, sizeof(frame));
	g_assert_cmpint(net_stream_tx_chain(&f->s, &f->elem, &flen, &why), ==, NET_XFER_DROPPED);
	g_assert_nonnull(strstr(why, "shorter"));
	/* An offload request in the header. */
	fill_frame(gpa(f, 0x2000), 60, 1);
	elem_reset(f);
	memset(gpa(f, 0x1000), 0, VIRTIO_NET_HDR_LEN);
	gpa(f, 0x1000)[0] = 1;
	elem_add(f, 0x1000, VIRTIO_NET_HDR_LEN + 60, false);
	g_assert_cmpint(net_stream_tx_chain(&f->s, &f->elem, &flen, &why), ==, NET_XFER_DROPPED);
	/* A writable buffer in a TX chain breaks the device. */
	elem_add(f, 0x9000, 10, true);
	g_assert_cmpint(net_stream_tx_chain(&f->s, &f->elem, &flen, &why), ==, NET_XFER_BROKEN);
	/* Nothing reached the peer. */
	g_assert_cmpint(recv(f->peer, frame, sizeof(frame), MSG_DONTWAIT), ==, -1);
}

/* The peer stops reading: bytes queue up to the bound, then whole frames are
 * dropped; once the peer reads again everything queued arrives intact. */
static void test_tx_queue_full(struct fixture *f, gconstpointer data)
{
	enum { LEN = 1500 };
	uint8_t frame[LEN], got[4 + LEN];
	const char *why = NULL;
	uint32_t flen = 0;
	int sz = 4096, sent = 0, dropped = 0;

	(void)data;
	setsockopt(f->s.fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	for (int i = 0; i < 1000; i++) {
		fill_frame(frame, LEN, (uint8_t)i);
		tx_chain(f, frame, LEN);
		switch (net_stream_tx_chain(&f->s, &f->elem, &flen, &why)) {
		case NET_XFER_DONE:
			g_assert_cmpint(dropped, ==, 0);
			sent++;
			break;
		case NET_XFER_DROPPED:
			g_assert_nonnull(strstr(why, "queue is full"));
			dropped++;
			break;
		default:
			g_assert_not_reached();
		}
	}
	g_assert_cmpint(dropped, >, 0);
	g_assert_true(net_stream_tx_pending(&f->s));
	/* Drain: every frame sent must arrive, in order, length-prefixed. */
	for (int i = 0; i < sent; i++) {
		if (net_stream_tx_pending(&f->s))
			g_assert_cmpint(net_stream_flush(&f->s, &why), ==, 0);
		read_exact(f->peer, got, sizeof(got));
		g_assert_cmpuint(ntohl(*(uint32_t *)got), ==, LEN);
		fill_frame(frame, LEN, (uint8_t)i);
		g_assert_cmpmem(got + 4, LEN, frame, LEN);
	}
	g_assert_false(net_stream_tx_pending(&f->s));
}

static void test_tx_peer_closed(struct fixture *f, gconstpointer data)
{
	uint8_t frame[60];
	const char *why = NULL;
	uint32_t flen = 0;

	(void)data;
	close(f->peer);
	f->peer = -1;
	fill_frame(frame, sizeof(frame), 3);
	tx_chain(f, frame, sizeof(frame));
	g_assert_cmpint(net_stream_tx_chain(&f->s, &f->elem, &flen, &why), ==, NET_XFER_FAILED);
	g_assert_nonnull(why);
}

static void assert_rx(struct fixture *f, const uint8_t *frame, uint32_t len)
{
	const uint8_t *g = gpa(f, 0x80000);

	for (int i = 0; i < VIRTIO_NET_HDR_LEN; i++)
		g_assert_cmpuint(g[i], ==, i == 10 ? 1 : 0);   /* num_buffers = 1 */
	g_assert_cmpmem(g + VIRTIO_NET_HDR_LEN, len, frame, len);
}

static void test_rx_frame(struct fixture *f, gconstpointer data)
{
	uint8_t buf[4 + 100];
	const char *why = NULL;
	uint32_t written = 0;

	(void)data;
	put_len(buf, 100);
	fill_frame(buf + 4, 100, 9);
	rx_chain(f, 2048);
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_AGAIN);
	write_all(f->peer, buf, sizeof(buf));
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_DONE);
	g_assert_cmpuint(written, ==, VIRTIO_NET_HDR_LEN + 100);
	assert_rx(f, buf + 4, 100);
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_AGAIN);
}

/* Frames split anywhere across writes, and several in one write. */
static void test_rx_split(struct fixture *f, gconstpointer data)
{
	uint8_t buf[3 * (4 + 80)];
	const char *why = NULL;
	uint32_t written = 0;

	(void)data;
	for (int i = 0; i < 3; i++) {
		put_len(buf + i * 84, 80);
		fill_frame(buf + i * 84 + 4, 80, (uint8_t)(i * 50));
	}
	rx_chain(f, 2048);
	write_all(f->peer, buf, 2);                 /* half the length */
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_AGAIN);
	write_all(f->peer, buf + 2, 2 + 30);        /* rest of it + part frame */
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_AGAIN);
	write_all(f->peer, buf + 34, 50 + 84 + 10); /* frame 0 end, frame 1, part of 2 */
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_DONE);
	g_assert_cmpuint(written, ==, VIRTIO_NET_HDR_LEN + 80);
	assert_rx(f, buf + 4, 80);
	rx_chain(f, 2048);
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_DONE);
	assert_rx(f, buf + 84 + 4, 80);
	rx_chain(f, 2048);
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_AGAIN);
	write_all(f->peer, buf + 178, sizeof(buf) - 178);
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_DONE);
	assert_rx(f, buf + 168 + 4, 80);
}

/* A frame larger than the guest's buffer is consumed and dropped; the stream
 * stays in sync for the next one.  A runt is dropped likewise. */
static void test_rx_drops(struct fixture *f, gconstpointer data)
{
	uint8_t big[4 + 3000], small[4 + 60], runt[4 + 5];
	const char *why = NULL;
	uint32_t written = 0;

	(void)data;
	put_len(big, 3000);
	fill_frame(big + 4, 3000, 1);
	put_len(runt, 5);
	put_len(small, 60);
	fill_frame(small + 4, 60, 2);
	write_all(f->peer, big, sizeof(big));
	write_all(f->peer, runt, sizeof(runt));
	write_all(f->peer, small, sizeof(small));
	rx_chain(f, 1526);
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_DROPPED);
	g_assert_nonnull(strstr(why, "larger"));
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_DROPPED);
	g_assert_nonnull(strstr(why, "runt"));
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_DONE);
	assert_rx(f, small + 4, 60);
}

static void test_rx_bad_length(struct fixture *f, gconstpointer data)
{
	uint8_t buf[4];
	const char *why = NULL;
	uint32_t written = 0;

	(void)data;
	put_len(buf, NET_MAX_FRAME + 1);
	write_all(f->peer, buf, 4);
	rx_chain(f, 2048);
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_FAILED);
	g_assert_cmpuint(f->s.bad_len, ==, NET_MAX_FRAME + 1);
	g_assert_nonnull(strstr(why, "invalid frame length"));
}

static void test_rx_zero_length(struct fixture *f, gconstpointer data)
{
	uint8_t buf[4] = { 0 };
	const char *why = NULL;
	uint32_t written = 0;

	(void)data;
	write_all(f->peer, buf, 4);
	rx_chain(f, 2048);
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_FAILED);
	g_assert_nonnull(strstr(why, "invalid frame length"));
}

/* The peer closes mid-frame: the partial frame is not delivered. */
static void test_rx_peer_closed(struct fixture *f, gconstpointer data)
{
	uint8_t buf[4 + 20];
	const char *why = NULL;
	uint32_t written = 0;

	(void)data;
	put_len(buf, 100);
	write_all(f->peer, buf, sizeof(buf));
	close(f->peer);
	f->peer = -1;
	rx_chain(f, 2048);
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_FAILED);
	g_assert_nonnull(strstr(why, "closed"));
	g_assert_cmpuint(gpa(f, 0x80000)[0], ==, 0xee);
}

static void test_rx_broken_chain(struct fixture *f, gconstpointer data)
{
	const char *why = NULL;
	uint32_t written = 0;

	(void)data;
	elem_reset(f);
	elem_add(f, 0x80000, 8, true);
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_BROKEN);
	elem_reset(f);
	elem_add(f, 0x1000, 100, false);
	g_assert_cmpint(net_stream_rx_chain(&f->s, &f->elem, &written, &why), ==, NET_XFER_BROKEN);
}

static void test_connect(void)
{
	char dir[] = "/tmp/atoll-stream-XXXXXX", path[128], err[256];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l, fd;

	g_assert_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	g_assert_cmpint(net_stream_connect(path, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "passt"));
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, path);
	g_assert_cmpint(bind(l, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	g_assert_cmpint(listen(l, 1), ==, 0);
	fd = net_stream_connect(path, err, sizeof(err));
	g_assert_cmpint(fd, >=, 0);
	g_assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
	close(l);
	unlink(path);
	rmdir(dir);
}

/* ---- a real passt -------------------------------------------------------- */

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A DHCPDISCOVER from 52:54:00:12:34:56, broadcast. */
static size_t dhcp_discover(uint8_t *f)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	uint8_t *ip = f + 14, *udp = ip + 20, *bootp = udp + 8, *opt = bootp + 236;
	size_t bootp_len = 236 + 4 + 3 + 1, ip_len = 20 + 8 + bootp_len;
	uint16_t c;

	memset(f, 0, 14 + ip_len);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8);
	ip[3] = (uint8_t)ip_len;
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);
	c = ip_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	udp[1] = 68;
	udp[3] = 67;
	udp[4] = (uint8_t)((8 + bootp_len) >> 8);
	udp[5] = (uint8_t)(8 + bootp_len);
	bootp[0] = 1;
	bootp[1] = 1;
	bootp[2] = 6;
	memcpy(bootp + 4, "\x12\x34\x56\x78", 4);
	bootp[10] = 0x80;                   /* broadcast reply */
	memcpy(bootp + 28, mac, 6);
	memcpy(opt, "\x63\x82\x53\x63", 4);
	memcpy(opt + 4, "\x35\x01\x01\xff", 4);   /* DHCPDISCOVER, end */
	return 14 + ip_len;
}

static bool host_has_default_route(void)
{
	g_autofree char *routes = NULL;

	if (!g_file_get_contents("/proc/net/route", &routes, NULL, NULL))
		return false;
	/* Destination 00000000 on some interface. */
	return strstr(routes, "\t00000000\t") != NULL;
}

/* passt answers a DHCPDISCOVER sent through the stream backend with an
 * offer, delivered into a guest RX chain.  Skipped without passt or a
 * default route (passt then refuses to start). */
static void test_passt_dhcp(struct fixture *f, gconstpointer data)
{
	g_autofree char *passt = g_find_program_in_path("passt");
	char dir[] = "/tmp/atoll-passt-XXXXXX", path[128], err[256];
	const char *why = NULL;
	uint8_t frame[600];
	uint32_t flen = 0, written = 0;
	bool offered = false;
	int fd = -1;
	pid_t pid;

	(void)data;
	if (!passt || !host_has_default_route()) {
		g_test_skip("passt is not installed or the host has no default route");
		return;
	}
	g_assert_nonnull(mkdtemp(dir));
	chmod(dir, 0777);       /* passt drops to nobody before binding */
	snprintf(path, sizeof(path), "%s/p.sock", dir);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 1);
		dup2(null, 2);
		execl(passt, passt, "--socket", path, "--foreground", "--quiet",
		      "--mtu", "1500", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 150 && fd < 0; i++) {
		fd = net_stream_connect(path, err, sizeof(err));
		if (fd < 0)
			g_usleep(20 * 1000);
	}
	if (fd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		rmdir(dir);
		g_test_skip("passt did not start here");
		return;
	}
	net_stream_free(&f->s);
	g_assert_cmpint(net_stream_init(&f->s, fd), ==, 0);

	tx_chain(f, frame, (uint32_t)dhcp_discover(frame));
	g_assert_cmpint(net_stream_tx_chain(&f->s, &f->elem, &flen, &why), ==, NET_XFER_DONE);
	for (int i = 0; i < 100 && !offered; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		const uint8_t *g;

		rx_chain(f, 2048);
		poll(&p, 1, 50);
		switch (net_stream_rx_chain(&f->s, &f->elem, &written, &why)) {
		case NET_XFER_DONE:
			g = gpa(f, 0x80000) + VIRTIO_NET_HDR_LEN;
			/* IPv4/UDP from port 67 to 68, our xid, op BOOTREPLY. */
			if (written >= VIRTIO_NET_HDR_LEN + 14 + 20 + 8 + 240 &&
			    g[12] == 0x08 && g[13] == 0x00 && g[14 + 9] == 17 &&
			    g[34 + 1] == 67 && g[34 + 3] == 68 &&
			    !memcmp(g + 42 + 4, "\x12\x34\x56\x78", 4)) {
				g_assert_cmpuint(g[42], ==, 2);
				/* yiaddr: an address was offered. */
				g_assert_true(g[42 + 16] | g[42 + 17] | g[42 + 18] | g[42 + 19]);
				g_test_message("passt offered %u.%u.%u.%u", g[58], g[59], g[60], g[61]);
				offered = true;
			}
			break;
		case NET_XFER_AGAIN:
		case NET_XFER_DROPPED:
			break;
		default:
			g_assert_not_reached();
		}
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	unlink(path);
	rmdir(dir);
	g_assert_true(offered);
}

/* ---- the virtio-net device on a stream --------------------------------- */

#define RXQ_DESC  0x10000
#define RXQ_AVAIL 0x11000
#define RXQ_USED  0x12000
#define TXQ_DESC  0x20000
#define TXQ_AVAIL 0x21000
#define TXQ_USED  0x22000

static void test_device(void)
{
	char dir[] = "/tmp/atoll-netdev-XXXXXX", path[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct nic_config nic = { .tap_fd = -1 };
	struct vm_config cfg = { .name = "sdom" };
	struct virtio_device *dev;
	struct vm vm;
	uint8_t frame[100], got[4 + 100], in[4 + 80];
	int l, peer;

	g_assert_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	strcpy(sa.sun_path, path);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	g_assert_cmpint(bind(l, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	g_assert_cmpint(listen(l, 1), ==, 0);
	testvm_init(&vm, 16 << 20);
	vm.cfg = &cfg;
	nic.socket = path;
	g_assert_cmpint(virtio_net_create(&vm, &nic, 1), ==, 0);
	peer = accept(l, NULL, NULL);
	g_assert_cmpint(peer, >=, 0);
	dev = (struct virtio_device *)vm.pci->devs[1 << 3];
	g_assert_nonnull(dev);
	g_assert_cmphex(testvm_dev_read(&vm, dev, 0x2006, 2), ==, 1);   /* link up */

	testvm_dev_write(&vm, dev, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	testvm_dev_write(&vm, dev, 0x08, 4, 0);
	testvm_dev_write(&vm, dev, 0x0c, 4, (1u << 5) | (1u << 16));
	testvm_dev_write(&vm, dev, 0x08, 4, 1);
	testvm_dev_write(&vm, dev, 0x0c, 4, 1);
	testvm_dev_write(&vm, dev, 0x14, 1, 0xb);
	testvm_queue_setup(&vm, dev, 0, RXQ_DESC, RXQ_AVAIL, RXQ_USED);
	testvm_queue_setup(&vm, dev, 1, TXQ_DESC, TXQ_AVAIL, TXQ_USED);
	testvm_dev_write(&vm, dev, 0x14, 1, 0xf);
	g_assert_false(dev->broken);

	/* TX: the peer reads length + frame, no virtio-net header. */
	fill_frame(frame, sizeof(frame), 5);
	memset(guest_ptr(&vm.mem, 0x100000, 12), 0, 12);
	memcpy(guest_ptr(&vm.mem, 0x10000c, sizeof(frame)), frame, sizeof(frame));
	testvm_post(&vm, TXQ_DESC, TXQ_AVAIL, 0, 0x100000, 12 + sizeof(frame), 0);
	testvm_dev_write(&vm, dev, 0x3000 + 4, 2, 1);
	testvm_pump(&vm, 50);
	g_assert_cmpuint(testvm_used_idx(&vm, TXQ_USED), ==, 1);
	read_exact(peer, got, sizeof(got));
	g_assert_cmpuint(ntohl(*(uint32_t *)got), ==, sizeof(frame));
	g_assert_cmpmem(got + 4, sizeof(frame), frame, sizeof(frame));

	/* RX: a frame written in two pieces reaches a posted buffer. */
	put_len(in, 80);
	fill_frame(in + 4, 80, 77);
	memset(guest_ptr(&vm.mem, 0x200000, 2048), 0xee, 2048);
	testvm_post(&vm, RXQ_DESC, RXQ_AVAIL, 0, 0x200000, 2048, VIRTQ_DESC_F_WRITE);
	testvm_dev_write(&vm, dev, 0x3000, 2, 0);
	write_all(peer, in, 30);
	testvm_pump(&vm, 50);
	g_assert_cmpuint(testvm_used_idx(&vm, RXQ_USED), ==, 0);
	write_all(peer, in + 30, sizeof(in) - 30);
	for (int i = 0; i < 20 && testvm_used_idx(&vm, RXQ_USED) == 0; i++)
		testvm_pump(&vm, 20);
	g_assert_cmpuint(testvm_used_idx(&vm, RXQ_USED), ==, 1);
	{
		uint8_t *b = guest_ptr(&vm.mem, 0x200000, 2048);

		g_assert_cmpuint(b[10], ==, 1);   /* num_buffers */
		g_assert_cmpmem(b + 12, 80, in + 4, 80);
	}

	/* The peer closing takes the link down. */
	close(peer);
	for (int i = 0; i < 20 && testvm_dev_read(&vm, dev, 0x2006, 2); i++)
		testvm_pump(&vm, 20);
	g_assert_cmphex(testvm_dev_read(&vm, dev, 0x2006, 2), ==, 0);

	testvm_destroy(&vm);
	close(l);
	unlink(path);
	rmdir(dir);
}

#define ADD(path, fn) \
	g_test_add(path, struct fixture, NULL, fx_setup, fn, fx_teardown)

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("/net_stream/tx/frame", test_tx_frame);
	ADD("/net_stream/tx/rejects", test_tx_rejects);
	ADD("/net_stream/tx/queue_full", test_tx_queue_full);
	ADD("/net_stream/tx/peer_closed", test_tx_peer_closed);
	ADD("/net_stream/rx/frame", test_rx_frame);
	ADD("/net_stream/rx/split", test_rx_split);
	ADD("/net_stream/rx/drops", test_rx_drops);
	ADD("/net_stream/rx/bad_length", test_rx_bad_length);
	ADD("/net_stream/rx/zero_length", test_rx_zero_length);
	ADD("/net_stream/rx/peer_closed", test_rx_peer_closed);
	ADD("/net_stream/rx/broken_chain", test_rx_broken_chain);
	g_test_add_func("/net_stream/connect", test_connect);
	g_test_add_func("/net_stream/device", test_device);
	ADD("/net_stream/passt/dhcp", test_passt_dhcp);
	return g_test_run();
}
