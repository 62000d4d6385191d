/* virtio-console (virtio 1.x, 5.3): port 0 is the guest's hvc0 on a
 * character backend; with named ports the device offers MULTIPORT and
 * becomes a small virtio-serial.
 *
 * Queues: 0/1 port 0 receive/transmit, 2/3 control receive/transmit,
 * then 2 * id + 2 / 2 * id + 3 for port `id` >= 1.  Without named ports
 * the device has only queues 0/1 and no features, as before MULTIPORT.
 *
 * Control protocol (5.3.6.2): the driver says DEVICE_READY; we announce
 * each port (DEVICE_ADD); for each PORT_READY we answer CONSOLE_PORT
 * (port 0), PORT_NAME and, if a backend is attached, PORT_OPEN; the
 * driver's PORT_OPEN says the guest opened or closed a port.  Every
 * control message is guest input: a short one, an unknown event, a port
 * id we did not announce or a value other than 0/1 breaks the device.
 *
 * Input (host -> guest) is buffered per port in a bounded console_inbuf.
 * Port 0 pauses its chardev at the high mark; named ports return short
 * writes and call ops->writable later.  Output of named ports is pulled by
 * the backend (virtio_console_port_read) straight from the transmit chain,
 * so a backend that does not read holds the guest back, not our memory.
 *
 * Backend callbacks go through an eventfd so they run without the device
 * lock: queue work runs with the lock held and a backend answers by
 * calling back into the port.
 *
 * Threads: chardev input, queue work and callbacks on the event loop
 * thread; activate/reset with dev->lock held (transport contract); port
 * read/write/attach take dev->lock. */
#include "console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../backends/chardev.h"
#include "../evloop.h"
#include "../log.h"
#include "../vm.h"
#include "virtio.h"

#define CONSOLE_RXQ        0
#define CONSOLE_TXQ        1
#define CTRL_RXQ           2
#define CTRL_TXQ           3
#define CONSOLE_QUEUE_SIZE 64
#define MAX_PORTS          (1 + VIRTIO_CONSOLE_MAX_NAMED)

#define VIRTIO_CONSOLE_F_MULTIPORT (1ULL << 1)

/* Control events (virtio 1.x, 5.3.6.2). */
enum {
	VCON_DEVICE_READY = 0,
	VCON_DEVICE_ADD = 1,
	VCON_DEVICE_REMOVE = 2,
	VCON_PORT_READY = 3,
	VCON_CONSOLE_PORT = 4,
	VCON_RESIZE = 5,
	VCON_PORT_OPEN = 6,
	VCON_PORT_NAME = 7,
};

struct vcon_control {
	uint32_t id;
	uint16_t event;
	uint16_t value;
} __attribute__((packed));

/* Control messages waiting for receive buffers.  Each guest PORT_READY
 * adds at most three: past the bound, further ones are dropped (a driver
 * that repeats itself without reading gets no answers). */
#define CTRL_QUEUE_LEN 32
struct ctrl_msg {
	struct vcon_control c;
	uint8_t name_len;
	char name[VIRTIO_CONSOLE_NAME_MAX];
};

/* Backend events delivered through the eventfd. */
#define EV_READABLE 1u
#define EV_WRITABLE 2u
#define EV_OPEN     4u

struct virtio_console;

struct virtio_console_port {
	struct virtio_console *con;
	unsigned id;
	bool present;                /* announced to a MULTIPORT driver */
	char name[VIRTIO_CONSOLE_NAME_MAX + 1];   /* "" for port 0 */
	bool guest_ready;            /* PORT_READY 1 seen */
	bool guest_open;
	struct console_inbuf in;
	bool write_blocked;          /* a backend write came up short */
	/* named ports: the transmit chain being read, and how far */
	bool tx_held;
	size_t tx_off;
	struct virtq_elem tx_elem;
	/* backend */
	const struct virtio_console_port_ops *ops;
	void *opaque;
	unsigned events;             /* EV_* not yet delivered */
	bool closed_since;           /* a close not yet delivered */
};

struct virtio_console {
	struct virtio_device vdev;
	struct chardev *ch;          /* port 0's backend, NULL without one */
	bool multiport_offered;
	unsigned n_ports;            /* ids 0 .. n_ports-1 */
	bool active;
	bool paused;                 /* port 0's backend told to stop reading */
	bool ports_announced;
	uint64_t dropped_logged;
	bool ctrl_drop_logged;
	struct virtq_elem elem;
	struct virtio_console_port ports[MAX_PORTS];
	struct ctrl_msg ctrl[CTRL_QUEUE_LEN];
	unsigned ctrl_head, ctrl_len;
	int event_fd;
	struct evloop_watch *event_watch;
};

/* ---- buffer logic (unit-tested) ----------------------------------------- */

void console_inbuf_init(struct console_inbuf *b)
{
	b->head = 0;
	b->len = 0;
	b->dropped = 0;
}

size_t console_inbuf_put(struct console_inbuf *b, const uint8_t *p, size_t n)
{
	size_t room = CONSOLE_INBUF_SIZE - b->len;
	size_t take = n < room ? n : room;
	size_t tail = (b->head + b->len) % CONSOLE_INBUF_SIZE;
	size_t first = CONSOLE_INBUF_SIZE - tail;

	if (first > take)
		first = take;
	memcpy(b->data + tail, p, first);
	memcpy(b->data, p + first, take - first);
	b->len += take;
	b->dropped += n - take;
	return take;
}

/* Copy the oldest bytes into one guest buffer; returns bytes copied. */
static size_t inbuf_take(struct console_inbuf *b, uint8_t *dst, size_t n)
{
	size_t take = n < b->len ? n : b->len;
	size_t first = CONSOLE_INBUF_SIZE - b->head;

	if (first > take)
		first = take;
	memcpy(dst, b->data + b->head, first);
	memcpy(dst + first, b->data, take - first);
	b->head = (b->head + take) % CONSOLE_INBUF_SIZE;
	b->len -= take;
	return take;
}

size_t console_inbuf_to_elem(struct console_inbuf *b, const struct virtq_elem *elem)
{
	const struct iovec *in = elem->iov + elem->n_out;
	size_t done = 0;

	for (unsigned i = 0; i < elem->n_in && b->len; i++)
		done += inbuf_take(b, in[i].iov_base, in[i].iov_len);
	return done;
}

int console_tx_chain(const struct virtq_elem *elem, console_out_fn out,
		     void *opaque, const char **why)
{
	if (elem->n_in) {
		*why = "transmitq chain has device-writable buffers";
		return -1;
	}
	for (unsigned i = 0; i < elem->n_out; i++)
		if (elem->iov[i].iov_len)
			out(opaque, elem->iov[i].iov_base, elem->iov[i].iov_len);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static bool multiport(const struct virtio_console *con)
{
	return virtio_has_feature(&con->vdev, VIRTIO_CONSOLE_F_MULTIPORT);
}

static uint16_t port_rxq(unsigned id)
{
	return id == 0 ? CONSOLE_RXQ : (uint16_t)(2 * id + 2);
}

static uint16_t port_txq(unsigned id)
{
	return id == 0 ? CONSOLE_TXQ : (uint16_t)(2 * id + 3);
}

/* The port whose data queue `q` is, or NULL (control queues). */
static struct virtio_console_port *port_of_queue(struct virtio_console *con, uint16_t q)
{
	unsigned id;

	if (q < 2)
		id = 0;
	else if (q < 4)
		return NULL;
	else
		id = (q - 2u) / 2u;
	return id < con->n_ports ? &con->ports[id] : NULL;
}

/* Queue a callback for the port's backend (dev->lock held). */
static void port_event(struct virtio_console_port *p, unsigned ev)
{
	uint64_t one = 1;

	if (!p->ops)
		return;
	p->events |= ev;
	if (p->con->event_fd >= 0 && write(p->con->event_fd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		log_warn("virtio-console: cannot signal the port backend: %s", strerror(errno));
}

static void port_drop_output(struct virtio_console *con, struct virtio_console_port *p);

/* ---- control queue ------------------------------------------------------ */

static void ctrl_queue(struct virtio_console *con, uint32_t id, uint16_t event,
		       uint16_t value, const char *name)
{
	struct ctrl_msg *m;

	if (con->ctrl_len == CTRL_QUEUE_LEN) {
		if (!con->ctrl_drop_logged)
			log_warn("virtio-console: the driver does not read control "
				 "messages; dropping them");
		con->ctrl_drop_logged = true;
		return;
	}
	m = &con->ctrl[(con->ctrl_head + con->ctrl_len++) % CTRL_QUEUE_LEN];
	m->c = (struct vcon_control){ .id = id, .event = event, .value = value };
	m->name_len = 0;
	if (name) {
		size_t n = strlen(name);
		m->name_len = (uint8_t)(n < sizeof(m->name) ? n : sizeof(m->name));
		memcpy(m->name, name, m->name_len);
	}
}

static void ctrl_rx(struct virtio_console *con)
{
	struct virtio_device *dev = &con->vdev;
	struct virtq *vq = &dev->vqs[CTRL_RXQ];
	bool used = false;

	while (con->active && con->ctrl_len && virtio_pop(dev, vq, &con->elem)) {
		struct ctrl_msg *m = &con->ctrl[con->ctrl_head];
		uint8_t buf[sizeof(m->c) + sizeof(m->name)];
		size_t len = sizeof(m->c) + m->name_len;

		if (con->elem.n_out || con->elem.in_len < len) {
			virtio_set_broken(dev, "virtio-console: control receive chain %s",
					  con->elem.n_out ? "has device-readable buffers" :
					  "is too small for a control message");
			return;
		}
		memcpy(buf, &m->c, sizeof(m->c));
		memcpy(buf + sizeof(m->c), m->name, m->name_len);
		iov_from_buf(con->elem.iov, con->elem.n_in, 0, buf, len);
		virtq_push(vq, con->elem.head, (uint32_t)len);
		con->ctrl_head = (con->ctrl_head + 1) % CTRL_QUEUE_LEN;
		con->ctrl_len--;
		used = true;
	}
	if (used)
		virtio_notify_used(dev, vq);
}

/* The driver is ready for port `p`: tell it what the port is. */
static void port_ready(struct virtio_console *con, struct virtio_console_port *p)
{
	p->guest_ready = true;
	if (p->id == 0)
		ctrl_queue(con, 0, VCON_CONSOLE_PORT, 1, NULL);
	else
		ctrl_queue(con, p->id, VCON_PORT_NAME, 1, p->name);
	if (p->id == 0 || p->ops)
		ctrl_queue(con, p->id, VCON_PORT_OPEN, 1, NULL);
}

static void set_guest_open(struct virtio_console_port *p, bool open)
{
	if (p->guest_open == open)
		return;
	p->guest_open = open;
	if (!open) {
		p->closed_since = true;
		/* What the closed port had not delivered is stale for the
		 * next opener. */
		console_inbuf_init(&p->in);
	}
	port_event(p, EV_OPEN);
}

/* One message from the driver; -1 with *why set if it is malformed. */
static int ctrl_message(struct virtio_console *con, const struct vcon_control *c,
			const char **why)
{
	struct virtio_console_port *p = NULL;

	if (c->event != VCON_DEVICE_READY) {
		if (c->id >= con->n_ports || !con->ports[c->id].present) {
			*why = "control message for a port that does not exist";
			return -1;
		}
		p = &con->ports[c->id];
	}
	if (c->value > 1) {
		*why = "control message value is neither 0 nor 1";
		return -1;
	}
	switch (c->event) {
	case VCON_DEVICE_READY:
		if (!c->value) {
			log_warn("virtio-console: the guest driver failed to set up the device");
			return 0;
		}
		if (con->ports_announced)
			return 0;
		con->ports_announced = true;
		for (unsigned i = 0; i < con->n_ports; i++)
			if (con->ports[i].present)
				ctrl_queue(con, i, VCON_DEVICE_ADD, 1, NULL);
		return 0;
	case VCON_PORT_READY:
		if (c->value)
			port_ready(con, p);
		else
			log_warn("virtio-console: the guest could not add port %u", p->id);
		return 0;
	case VCON_PORT_OPEN:
		if (p->id)
			set_guest_open(p, c->value);
		/* What the closed session wrote and the backend has not read
		 * would reach the next session as garbage. */
		if (p->id && !c->value)
			port_drop_output(con, p);
		return 0;
	default:
		*why = "unknown control event from the driver";
		return -1;
	}
}

static void ctrl_tx(struct virtio_console *con)
{
	struct virtio_device *dev = &con->vdev;
	struct virtq *vq = &dev->vqs[CTRL_TXQ];
	bool used = false;

	while (con->active && virtio_pop(dev, vq, &con->elem)) {
		struct vcon_control c;
		const char *why = NULL;

		if (con->elem.n_in)
			why = "control transmit chain has device-writable buffers";
		else if (con->elem.out_len < sizeof(c))
			why = "control message shorter than 8 bytes";
		else {
			iov_to_buf(con->elem.iov, con->elem.n_out, 0, &c, sizeof(c));
			ctrl_message(con, &c, &why);
		}
		if (why) {
			virtio_set_broken(dev, "virtio-console: %s", why);
			return;
		}
		virtq_push(vq, con->elem.head, 0);
		used = true;
	}
	if (used)
		virtio_notify_used(dev, vq);
	ctrl_rx(con);
}

/* ---- data queues -------------------------------------------------------- */

static void console_flow(struct virtio_console *con)
{
	struct console_inbuf *in = &con->ports[0].in;

	if (!con->ch)
		return;
	if (!con->paused && in->len >= CONSOLE_INBUF_PAUSE) {
		chardev_accept_input(con->ch, false);
		con->paused = true;
	} else if (con->paused && in->len <= CONSOLE_INBUF_RESUME) {
		chardev_accept_input(con->ch, true);
		con->paused = false;
	}
}

/* Whether port data may move now. */
static bool port_live(struct virtio_console *con, struct virtio_console_port *p)
{
	if (!con->active || con->vdev.broken)
		return false;
	return p->id == 0 || (multiport(con) && p->guest_ready);
}

static void port_rx(struct virtio_console *con, struct virtio_console_port *p)
{
	struct virtio_device *dev = &con->vdev;
	struct virtq *vq = &dev->vqs[port_rxq(p->id)];
	bool used = false;

	while (port_live(con, p) && p->in.len && virtio_pop(dev, vq, &con->elem)) {
		size_t n;

		if (con->elem.n_out || !con->elem.n_in) {
			virtio_set_broken(dev, "virtio-console: receiveq chain "
					  "has device-readable buffers");
			break;
		}
		n = console_inbuf_to_elem(&p->in, &con->elem);
		virtq_push(vq, con->elem.head, (uint32_t)n);
		used = true;
	}
	if (used)
		virtio_notify_used(dev, vq);
	if (p->id == 0)
		console_flow(con);
	else if (p->write_blocked && p->in.len <= CONSOLE_INBUF_RESUME) {
		p->write_blocked = false;
		port_event(p, EV_WRITABLE);
	}
}

static void console_out(void *opaque, const void *buf, size_t len)
{
	chardev_write(opaque, buf, len);
}

static void discard(void *opaque, const void *buf, size_t len)
{
	(void)opaque, (void)buf, (void)len;
}

/* Port 0, and named ports without a backend: pass on or drop at once. */
static void port_tx_push(struct virtio_console *con, struct virtio_console_port *p)
{
	struct virtio_device *dev = &con->vdev;
	struct virtq *vq = &dev->vqs[port_txq(p->id)];
	bool used = false;
	const char *why;

	while (port_live(con, p) && virtio_pop(dev, vq, &con->elem)) {
		if (console_tx_chain(&con->elem, con->ch && p->id == 0 ? console_out : discard,
				     con->ch, &why) < 0) {
			virtio_set_broken(dev, "virtio-console: %s", why);
			break;
		}
		virtq_push(vq, con->elem.head, 0);
		used = true;
	}
	if (used)
		virtio_notify_used(dev, vq);
}

static void port_drop_output(struct virtio_console *con, struct virtio_console_port *p)
{
	struct virtq *vq = &con->vdev.vqs[port_txq(p->id)];

	if (p->tx_held && port_live(con, p)) {
		virtq_push(vq, p->tx_elem.head, 0);
		virtio_notify_used(&con->vdev, vq);
	}
	p->tx_held = false;
	port_tx_push(con, p);
}

static void port_tx(struct virtio_console *con, struct virtio_console_port *p)
{
	if (p->id == 0 || !p->ops)
		port_tx_push(con, p);
	else if (port_live(con, p))
		port_event(p, EV_READABLE);
}

static void console_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct virtio_console *con = opaque;
	struct console_inbuf *in = &con->ports[0].in;

	pthread_mutex_lock(&con->vdev.lock);
	console_inbuf_put(in, buf, len);
	if (in->dropped > con->dropped_logged) {
		log_warn("virtio-console: input buffer full, %llu bytes dropped",
			 (unsigned long long)(in->dropped - con->dropped_logged));
		con->dropped_logged = in->dropped;
	}
	port_rx(con, &con->ports[0]);
	pthread_mutex_unlock(&con->vdev.lock);
}

static void console_queue_notify(struct virtio_device *dev, struct virtq *vq)
{
	struct virtio_console *con = dev->priv;
	struct virtio_console_port *p;

	if (vq->index == CTRL_RXQ && multiport(con))
		ctrl_rx(con);
	else if (vq->index == CTRL_TXQ && multiport(con))
		ctrl_tx(con);
	else if ((p = port_of_queue(con, vq->index)) && (p->id == 0 || multiport(con))) {
		if (vq->index == port_rxq(p->id))
			port_rx(con, p);
		else
			port_tx(con, p);
	}
}

/* ---- backend events (event loop thread, no device lock) ----------------- */

static void deliver_events(void *opaque, uint32_t events_)
{
	struct virtio_console *con = opaque;
	uint64_t n;

	(void)events_;
	if (read(con->event_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("virtio-console: event read: %s", strerror(errno));
	for (unsigned i = 1; i < con->n_ports; i++) {
		struct virtio_console_port *p = &con->ports[i];

		pthread_mutex_lock(&con->vdev.lock);
		const struct virtio_console_port_ops *ops = p->ops;
		void *o = p->opaque;
		unsigned ev = p->events;
		bool open = p->guest_open, closed = p->closed_since;
		p->events = 0;
		p->closed_since = false;
		pthread_mutex_unlock(&con->vdev.lock);
		if (!ops)
			continue;
		/* A close and a reopen between two deliveries are still two
		 * events: the backend must drop the old session. */
		if ((ev & EV_OPEN) && ops->guest_open && closed && open)
			ops->guest_open(o, false);
		if ((ev & EV_OPEN) && ops->guest_open)
			ops->guest_open(o, open);
		if ((ev & EV_WRITABLE) && ops->writable)
			ops->writable(o);
		if ((ev & EV_READABLE) && ops->readable)
			ops->readable(o);
	}
}

/* ---- named port API ----------------------------------------------------- */

static const struct virtio_device_ops console_ops;

struct virtio_console_port *virtio_console_find_port(struct vm *vm, const char *name)
{
	for (unsigned i = 0; i < vm->n_virtio; i++) {
		struct virtio_device *dev = vm->virtio_devs[i];
		struct virtio_console *con;

		if (dev->ops != &console_ops)
			continue;
		con = dev->priv;
		for (unsigned id = 1; id < con->n_ports; id++)
			if (!strcmp(con->ports[id].name, name))
				return &con->ports[id];
	}
	return NULL;
}

int virtio_console_port_attach(struct virtio_console_port *p,
			       const struct virtio_console_port_ops *ops, void *opaque)
{
	struct virtio_console *con = p->con;
	int ret = -1;

	pthread_mutex_lock(&con->vdev.lock);
	if (!p->ops) {
		p->ops = ops;
		p->opaque = opaque;
		p->events = 0;
		p->closed_since = false;
		if (port_live(con, p)) {
			ctrl_queue(con, p->id, VCON_PORT_OPEN, 1, NULL);
			ctrl_rx(con);
		}
		if (p->guest_open)
			port_event(p, EV_OPEN);
		ret = 0;
	}
	pthread_mutex_unlock(&con->vdev.lock);
	return ret;
}

void virtio_console_port_detach(struct virtio_console_port *p)
{
	struct virtio_console *con = p->con;

	pthread_mutex_lock(&con->vdev.lock);
	if (p->ops) {
		p->ops = NULL;
		p->opaque = NULL;
		p->events = 0;
		p->write_blocked = false;
		if (port_live(con, p)) {
			ctrl_queue(con, p->id, VCON_PORT_OPEN, 0, NULL);
			ctrl_rx(con);
		}
		/* Half-read output goes back to the guest as consumed. */
		port_drop_output(con, p);
	}
	pthread_mutex_unlock(&con->vdev.lock);
}

size_t virtio_console_port_read(struct virtio_console_port *p, void *buf, size_t len)
{
	struct virtio_console *con = p->con;
	struct virtio_device *dev = &con->vdev;
	struct virtq *vq = &dev->vqs[port_txq(p->id)];
	size_t done = 0;
	bool used = false;

	pthread_mutex_lock(&dev->lock);
	while (done < len && port_live(con, p)) {
		if (!p->tx_held) {
			if (!virtio_pop(dev, vq, &p->tx_elem))
				break;
			if (p->tx_elem.n_in) {
				virtio_set_broken(dev, "virtio-console: transmitq chain "
						  "has device-writable buffers");
				break;
			}
			p->tx_held = true;
			p->tx_off = 0;
		}
		size_t n = iov_to_buf(p->tx_elem.iov, p->tx_elem.n_out, p->tx_off,
				      (uint8_t *)buf + done, len - done);
		done += n;
		p->tx_off += n;
		if (p->tx_off >= p->tx_elem.out_len) {
			virtq_push(vq, p->tx_elem.head, 0);
			p->tx_held = false;
			used = true;
		}
	}
	if (used)
		virtio_notify_used(dev, vq);
	pthread_mutex_unlock(&dev->lock);
	return done;
}

size_t virtio_console_port_write(struct virtio_console_port *p, const void *buf, size_t len)
{
	struct virtio_console *con = p->con;
	size_t took;

	pthread_mutex_lock(&con->vdev.lock);
	if (!p->guest_open || !port_live(con, p)) {
		pthread_mutex_unlock(&con->vdev.lock);
		return len;
	}
	took = console_inbuf_put(&p->in, buf, len);
	/* A short write is flow control, not loss: the caller keeps the rest. */
	p->in.dropped = 0;
	if (took < len)
		p->write_blocked = true;
	port_rx(con, p);
	pthread_mutex_unlock(&con->vdev.lock);
	return took;
}

bool virtio_console_port_guest_open(struct virtio_console_port *p)
{
	bool open;

	pthread_mutex_lock(&p->con->vdev.lock);
	open = p->guest_open;
	pthread_mutex_unlock(&p->con->vdev.lock);
	return open;
}

/* ---- device ------------------------------------------------------------- */

/* struct virtio_console_config: cols, rows (le16), max_nr_ports (le32),
 * emerg_wr (le32).  Only max_nr_ports means anything here. */
static void console_config_access(struct virtio_device *dev, uint32_t off,
				  uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_console *con = dev->priv;
	uint8_t cfg[12] = { 0 };

	if (is_write)
		return;
	if (con->multiport_offered) {
		uint32_t n = con->n_ports;
		memcpy(cfg + 4, &n, sizeof(n));
	}
	memset(data, 0, len);
	if (off < sizeof(cfg))
		memcpy(data, cfg + off, len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

static void console_activate(struct virtio_device *dev)
{
	struct virtio_console *con = dev->priv;

	con->active = true;
	port_rx(con, &con->ports[0]);
}

static void console_reset(struct virtio_device *dev)
{
	struct virtio_console *con = dev->priv;

	/* Port 0's typed-ahead input is kept for the next driver. */
	con->active = false;
	con->ports_announced = false;
	con->ctrl_head = con->ctrl_len = 0;
	con->ctrl_drop_logged = false;
	for (unsigned i = 1; i < con->n_ports; i++) {
		struct virtio_console_port *p = &con->ports[i];

		p->guest_ready = false;
		p->tx_held = false;
		p->write_blocked = false;
		set_guest_open(p, false);
		console_inbuf_init(&p->in);
	}
}

static void console_destroy(struct virtio_device *dev)
{
	struct virtio_console *con = dev->priv;

	if (con->event_watch)
		evloop_remove(&dev->vm->loop, con->event_watch);
	if (con->event_fd >= 0)
		close(con->event_fd);
	if (con->ch)
		chardev_close(con->ch);
	free(con);
}

static const struct virtio_device_ops console_ops = {
	.name = "console",  /* the transport names it virtio-console */
	.device_id = VIRTIO_ID_CONSOLE,
	.pci_class = 0x078000,      /* simple communication controller, other */
	.config_access = console_config_access,
	.queue_notify = console_queue_notify,
	.activate = console_activate,
	.reset = console_reset,
	.destroy = console_destroy,
};

static int check_name(const char *name, const char *const *names, unsigned i)
{
	size_t n = strlen(name);

	if (!n || n > VIRTIO_CONSOLE_NAME_MAX) {
		log_error("virtio-console: port name \"%s\" must be 1 to %d characters",
			  name, VIRTIO_CONSOLE_NAME_MAX);
		return -1;
	}
	for (unsigned j = 0; j < i; j++)
		if (!strcmp(names[j], name)) {
			log_error("virtio-console: port name \"%s\" given twice", name);
			return -1;
		}
	return 0;
}

static void free_console(struct virtio_console *con)
{
	if (con->event_fd >= 0)
		close(con->event_fd);
	if (con->ch)
		chardev_close(con->ch);
	free(con);
}

int virtio_console_create_ports(struct vm *vm, const struct chardev_config *console,
				const char *const *names, unsigned n_names)
{
	struct virtio_console *con;
	char err[512];

	if (n_names > VIRTIO_CONSOLE_MAX_NAMED) {
		log_error("virtio-console: at most %d named ports", VIRTIO_CONSOLE_MAX_NAMED);
		return -1;
	}
	for (unsigned i = 0; i < n_names; i++)
		if (check_name(names[i], names, i) < 0)
			return -1;
	con = calloc(1, sizeof(*con));
	if (!con) {
		log_error("virtio-console: out of memory");
		return -1;
	}
	con->event_fd = -1;
	con->n_ports = 1 + n_names;
	con->multiport_offered = n_names > 0;
	for (unsigned i = 0; i < con->n_ports; i++) {
		con->ports[i].con = con;
		con->ports[i].id = i;
		console_inbuf_init(&con->ports[i].in);
		if (i)
			snprintf(con->ports[i].name, sizeof(con->ports[i].name), "%s",
				 names[i - 1]);
		con->ports[i].present = i > 0;
	}
	if (console->kind != CHARDEV_NONE) {
		con->ch = chardev_open(&vm->loop, console, "console", err, sizeof(err));
		if (!con->ch) {
			log_error("virtio-console: %s", err);
			free_console(con);
			return -1;
		}
		con->ports[0].present = true;
	}
	if (con->multiport_offered) {
		con->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (con->event_fd < 0) {
			log_error("virtio-console: eventfd: %s", strerror(errno));
			free_console(con);
			return -1;
		}
	}
	if (virtio_pci_init(&con->vdev, vm, &console_ops,
			    con->multiport_offered ? VIRTIO_CONSOLE_F_MULTIPORT : 0,
			    (uint16_t)(con->multiport_offered ? 2 + 2 * con->n_ports : 2),
			    CONSOLE_QUEUE_SIZE, con) < 0) {
		log_error("virtio-console: cannot add the PCI device");
		free_console(con);
		return -1;
	}
	/* From here the transport owns con (virtio_pci_destroy frees it). */
	if (con->event_fd >= 0) {
		con->event_watch = evloop_add(&vm->loop, con->event_fd, EPOLLIN,
					      deliver_events, con);
		if (!con->event_watch) {
			log_error("virtio-console: cannot watch the port eventfd: %s",
				  strerror(errno));
			return -1;
		}
	}
	/* After virtio_pci_init: input handling takes dev->lock.  The
	 * chardev logs its pty or socket path itself. */
	if (con->ch)
		chardev_set_input(con->ch, console_input, con);
	return 0;
}

int virtio_console_create(struct vm *vm, const struct chardev_config *cfg)
{
	if (cfg->kind == CHARDEV_NONE)
		return 0;
	return virtio_console_create_ports(vm, cfg, NULL, 0);
}
