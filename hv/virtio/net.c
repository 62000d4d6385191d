/* virtio-net (virtio 1.x, 5.1) on a tap or stream (passt) backend.
 *
 * Features: MAC and STATUS only.  No checksum/segmentation offloads, so
 * every frame is at most MTU-sized and fits one receive buffer; that is why
 * MRG_RXBUF is not offered (num_buffers is always 1).  One queue pair:
 * receiveq 0, transmitq 1.
 *
 * Threads: queue work, the tap callback and (by the transport's contract)
 * activate/reset all run with dev->lock held.  While the receive ring is
 * empty the tap is not watched, so a guest that stops posting buffers does
 * not make the event loop spin; the next receiveq kick resumes it. */
#include <endian.h>
#include <errno.h>
#include <linux/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backends/stream.h"
#include "../backends/tap.h"
#include "../evloop.h"
#include "../log.h"
#include "../vm.h"
#include "virtio.h"

#define VIRTIO_NET_F_MAC     (1ULL << 5)
#define VIRTIO_NET_F_STATUS  (1ULL << 16)
#define VIRTIO_NET_S_LINK_UP 1

#define NET_RXQ        0
#define NET_TXQ        1
#define NET_QUEUE_SIZE 256
/* Frames taken from the tap per wakeup, so TX and other devices get a
 * turn; the level-triggered watch calls us again for the rest. */
#define NET_RX_BURST   64
#define NET_SCRATCH    (NET_MAX_FRAME + VIRTIO_NET_HDR_LEN + 64)
/* Guest-caused drops logged per device before going quiet. */
#define NET_LOG_LIMIT  16

struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
} __attribute__((packed));

struct net_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped;
	uint64_t tx_packets, tx_bytes, tx_dropped;
};

struct virtio_net {
	struct virtio_device vdev;
	unsigned index;
	char ifname[IFNAMSIZ];
	int tap_fd;
	bool own_fd;
	struct evloop_watch *tap_watch;   /* NULL once the tap went away */
	bool rx_watching;
	/* The stream backend (tap_fd is then its socket), or NULL for a tap. */
	struct net_stream *stream;
	uint32_t watch_events;            /* what tap_watch waits for now */
	bool active;
	/* A receive chain popped but not yet filled: kept across EAGAIN and
	 * dropped frames instead of being handed back empty. */
	bool rx_pending;
	struct virtq_elem rx_elem;
	struct virtq_elem tx_elem;
	uint8_t *scratch;                 /* the tail of oversize frames */
	struct virtio_net_config config;
	struct net_stats stats;
	unsigned logged;
	const char *last_drop;            /* reason last logged */
};

/* One line per change of reason (a downed tap drops every frame for the
 * same reason), and a cap against a guest alternating reasons. */
static void net_note_drop(struct virtio_net *net, const char *dir, const char *why)
{
	if (why == net->last_drop || net->logged >= NET_LOG_LIMIT)
		return;
	net->last_drop = why;
	net->logged++;
	log_warn("virtio-net %u (%s): %s frame dropped: %s%s", net->index,
		 net->ifname, dir, why,
		 net->logged == NET_LOG_LIMIT ? " (further drops not logged)" : "");
}

/* Watch for input while receive buffers are wanted, and, on a stream,
 * for room to send while queued TX bytes wait. */
static void net_watch_update(struct virtio_net *net)
{
	uint32_t ev = net->rx_watching ? EPOLLIN : 0;

	if (net->stream && net_stream_tx_pending(net->stream))
		ev |= EPOLLOUT;
	if (!net->tap_watch || ev == net->watch_events)
		return;
	if (evloop_modify(&net->vdev.vm->loop, net->tap_watch, ev) < 0) {
		log_error("virtio-net %u (%s): cannot change what the backend is watched for: %s",
			  net->index, net->ifname, strerror(errno));
		return;
	}
	net->watch_events = ev;
}

static void net_rx_watch(struct virtio_net *net, bool on)
{
	if (!net->tap_watch || net->rx_watching == on)
		return;
	net->rx_watching = on;
	net_watch_update(net);
}

/* The tap interface was deleted or failed: take the link down instead of
 * spinning on a dead fd. */
static void net_tap_lost(struct virtio_net *net, const char *why)
{
	if (net->stream && net->stream->bad_len)
		log_error("virtio-net %u: %s sent a frame length of %u (at most %u allowed); "
			  "link is down until the domain restarts", net->index, net->ifname,
			  net->stream->bad_len, NET_MAX_FRAME);
	else if (net->stream)
		log_error("virtio-net %u: %s: %s; link is down until the domain restarts",
			  net->index, net->ifname, why ? why : "the socket failed");
	else
		log_error("virtio-net %u: tap %s failed or was removed; link is down "
			  "until the domain restarts", net->index, net->ifname);
	evloop_remove(&net->vdev.vm->loop, net->tap_watch);
	net->tap_watch = NULL;
	net->rx_watching = false;
	net->config.status = htole16(0);
	if (net->active)
		virtio_notify_config(&net->vdev);
}

/* Fill one receive chain; false when the caller should stop for now. */
static bool net_rx_one(struct virtio_net *net, struct virtq *vq, bool *used)
{
	struct virtio_device *dev = &net->vdev;
	const char *why = NULL;
	uint32_t written = 0;

	if (!net->rx_pending) {
		if (!virtio_pop(dev, vq, &net->rx_elem)) {
			net_rx_watch(net, false);
			return false;
		}
		net->rx_pending = true;
	}
	switch (net->stream ?
		net_stream_rx_chain(net->stream, &net->rx_elem, &written, &why) :
		net_rx_chain(net->tap_fd, &net->rx_elem, net->scratch,
			     NET_SCRATCH, &written, &why)) {
	case NET_XFER_DONE:
		virtq_push(vq, net->rx_elem.head, written);
		net->rx_pending = false;
		net->stats.rx_packets++;
		net->stats.rx_bytes += written - VIRTIO_NET_HDR_LEN;
		*used = true;
		return true;
	case NET_XFER_AGAIN:
		return false;
	case NET_XFER_DROPPED:
		net->stats.rx_dropped++;
		net_note_drop(net, "RX", why);
		return true;
	case NET_XFER_BROKEN:
		net->rx_pending = false;
		virtio_set_broken(dev, "virtio-net %u: %s", net->index, why);
		net_rx_watch(net, false);
		return false;
	case NET_XFER_FAILED:
		net_tap_lost(net, why);
		return false;
	}
	return false;
}

static void net_rx(struct virtio_net *net)
{
	struct virtq *vq = &net->vdev.vqs[NET_RXQ];
	bool used = false;

	/* After the backend is lost, the link stays down (logged once). */
	if (!net->tap_watch)
		return;
	if (!net->active || net->vdev.broken) {
		net_rx_watch(net, false);
		return;
	}
	for (int i = 0; i < NET_RX_BURST; i++)
		if (!net_rx_one(net, vq, &used))
			break;
	if (used)
		virtio_notify_used(&net->vdev, vq);
}

static void net_tx(struct virtio_net *net)
{
	struct virtio_device *dev = &net->vdev;
	struct virtq *vq = &dev->vqs[NET_TXQ];
	bool used = false;

	if (!net->active)
		return;
	while (virtio_pop(dev, vq, &net->tx_elem)) {
		const char *why = NULL;
		uint32_t len = 0;

		switch (net->stream ?
			net_stream_tx_chain(net->stream, &net->tx_elem, &len, &why) :
			net_tx_chain(net->tap_fd, &net->tx_elem, &len, &why)) {
		case NET_XFER_FAILED:
			if (net->stream) {
				/* The peer is gone: drop this and every later frame. */
				net->stats.tx_dropped++;
				if (net->tap_watch)
					net_tap_lost(net, why);
				break;
			}
			net->stats.tx_dropped++;
			net_note_drop(net, "TX", why);
			break;
		case NET_XFER_DONE:
			net->stats.tx_packets++;
			net->stats.tx_bytes += len;
			break;
		case NET_XFER_BROKEN:
			virtio_set_broken(dev, "virtio-net %u: %s", net->index, why);
			goto out;
		default:
			net->stats.tx_dropped++;
			net_note_drop(net, "TX", why);
			break;
		}
		virtq_push(vq, net->tx_elem.head, 0);
		used = true;
	}
out:
	if (used)
		virtio_notify_used(dev, vq);
	net_watch_update(net);
}

static void net_tap_event(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;

	pthread_mutex_lock(&net->vdev.lock);
	if (events & (EPOLLERR | EPOLLHUP)) {
		if (net->tap_watch)
			net_tap_lost(net, net->stream ? "the peer closed the network socket" : NULL);
	} else {
		if ((events & EPOLLOUT) && net->stream) {
			const char *why = NULL;

			if (net_stream_flush(net->stream, &why) < 0) {
				net_tap_lost(net, why);
				goto out;
			}
			net_watch_update(net);
		}
		if (events & EPOLLIN)
			net_rx(net);
	}
out:
	pthread_mutex_unlock(&net->vdev.lock);
}

static void net_queue_notify(struct virtio_device *dev, struct virtq *vq)
{
	struct virtio_net *net = dev->priv;

	if (vq->index == NET_TXQ) {
		net_tx(net);
	} else if (vq->index == NET_RXQ && net->active) {
		/* New receive buffers: resume reading the tap. */
		net_rx_watch(net, true);
		net_rx(net);
	}
}

static void net_config_access(struct virtio_device *dev, uint32_t off,
			      uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_net *net = dev->priv;
	const uint8_t *cfg = (const uint8_t *)&net->config;

	/* MAC and status are read-only for a VERSION_1 driver. */
	if (is_write)
		return;
	for (uint32_t i = 0; i < len; i++) {
		uint64_t at = (uint64_t)off + i;

		data[i] = at < sizeof(net->config) ? cfg[at] : 0;
	}
}

static void net_activate(struct virtio_device *dev)
{
	struct virtio_net *net = dev->priv;

	net->active = true;
	net_rx_watch(net, true);
}

static void net_reset(struct virtio_device *dev)
{
	struct virtio_net *net = dev->priv;

	net->active = false;
	net->rx_pending = false;
	net_rx_watch(net, false);
}

static void net_stats(struct virtio_device *dev, struct virtio_stats *out)
{
	const struct net_stats *st = &((struct virtio_net *)dev->priv)->stats;
	*out = (struct virtio_stats){ .to_guest_bytes = st->rx_bytes, .to_guest_ops = st->rx_packets,
				      .from_guest_bytes = st->tx_bytes, .from_guest_ops = st->tx_packets };
}

static void net_free(struct virtio_net *net);

static void net_destroy(struct virtio_device *dev)
{
	struct virtio_net *net = dev->priv;
	evloop_remove(&dev->vm->loop, net->tap_watch);
	net_free(net);
}

static const struct virtio_device_ops net_ops = {
	.name = "net",      /* the transport names it virtio-net */
	.device_id = VIRTIO_ID_NET,
	.pci_class = 0x020000,      /* network controller, Ethernet */
	.config_access = net_config_access,
	.queue_notify = net_queue_notify,
	.activate = net_activate,
	.reset = net_reset,
	.stats = net_stats,
	.destroy = net_destroy,
};

/* 52:54:00 plus 24 bits of FNV-1a over the domain name and NIC index, so a
 * domain keeps its MACs across restarts without storing them. */
static void net_default_mac(uint8_t mac[6], const char *name, unsigned index)
{
	uint32_t h = 2166136261u;

	for (const char *p = name ? name : ""; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (int i = 0; i < 4; i++)
		h = (h ^ ((index >> (8 * i)) & 0xff)) * 16777619u;
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = h >> 16;
	mac[4] = h >> 8;
	mac[5] = h;
}

static void net_free(struct virtio_net *net)
{
	if (net->stream) {
		net_stream_free(net->stream);   /* closes tap_fd */
		free(net->stream);
	} else if (net->own_fd && net->tap_fd >= 0) {
		close(net->tap_fd);
	}
	free(net->scratch);
	free(net);
}

static int net_open_stream(struct virtio_net *net, const char *path)
{
	char err[512];
	int fd = net_stream_connect(path, err, sizeof(err));

	if (fd < 0) {
		log_error("virtio-net %u: %s", net->index, err);
		return -1;
	}
	net->stream = malloc(sizeof(*net->stream));
	if (!net->stream || net_stream_init(net->stream, fd) < 0) {
		log_error("virtio-net %u: out of memory", net->index);
		free(net->stream);
		net->stream = NULL;
		close(fd);
		return -1;
	}
	net->tap_fd = fd;
	/* ifname is only for messages: name the socket's file, short. */
	snprintf(net->ifname, sizeof(net->ifname), "stream");
	return 0;
}

int virtio_net_create(struct vm *vm, const struct nic_config *cfg, unsigned index)
{
	struct virtio_net *net = calloc(1, sizeof(*net));
	const uint8_t *m;
	char err[512];

	if (!net || !(net->scratch = malloc(NET_SCRATCH))) {
		log_error("virtio-net %u: out of memory", index);
		free(net);
		return -1;
	}
	net->index = index;
	if (cfg->socket) {
		if (net_open_stream(net, cfg->socket) < 0) {
			net_free(net);
			return -1;
		}
	} else {
		net->tap_fd = tap_open(cfg, net->ifname, err, sizeof(err));
		if (net->tap_fd < 0) {
			log_error("virtio-net %u: %s", index, err);
			net_free(net);
			return -1;
		}
		net->own_fd = cfg->tap_fd < 0;
	}
	if (cfg->has_mac)
		memcpy(net->config.mac, cfg->mac, 6);
	else
		net_default_mac(net->config.mac, vm->cfg ? vm->cfg->name : NULL, index);
	net->config.status = htole16(VIRTIO_NET_S_LINK_UP);

	if (virtio_pci_init(&net->vdev, vm, &net_ops,
			    VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS,
			    2, NET_QUEUE_SIZE, net) < 0) {
		log_error("virtio-net %u: cannot add the PCI device", index);
		net_free(net);
		return -1;
	}
	/* Not watched for input until the driver is ready; errors still
	 * report, so a tap that vanishes is noticed. */
	net->tap_watch = evloop_add(&vm->loop, net->tap_fd, 0, net_tap_event, net);
	if (!net->tap_watch) {
		/* The device is already on the bus: keep the memory; the VM
		 * fails to start on this error anyway. */
		log_error("virtio-net %u: cannot watch tap %s: %s", index, net->ifname,
			  strerror(errno));
		return -1;
	}
	m = net->config.mac;
	log_info("virtio-net %u: %s %s, MAC %02x:%02x:%02x:%02x:%02x:%02x",
		 index, net->stream ? "stream" : "tap",
		 net->stream ? cfg->socket : net->ifname, m[0], m[1], m[2], m[3], m[4], m[5]);
	return 0;
}
