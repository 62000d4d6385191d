/* The agent channel (spice_agent.h).
 *
 * libspice has one agent slot: a SpiceCharDeviceInstance of subtype
 * "vdagent" through which it relays VDAgent messages (chunked, see
 * spice/vd_agent.h) between clients and the guest agent.  Two instances
 * take turns in it:
 *
 *  - guest: bytes to and from the guest's spice-vdagent on the virtio-serial
 *    port com.redhat.spice.0 (hv/virtio/console.h).  It is plugged in while
 *    the guest has the port open; libspice then tells clients an agent is
 *    there and they speak to it (clipboard, monitors config, ...).
 *  - stub: ours, plugged in otherwise.  libspice only forwards a client's
 *    monitor configuration while an agent is attached, and clients only send
 *    it then, so the stub answers the capability handshake (monitors config
 *    only) and drops everything else; the monitor config itself reaches the
 *    display device through the QXL instance (spice_server.c).
 *
 * Swapping instances is what QEMU does when the guest opens or closes the
 * port: libspice sends clients AGENT_DISCONNECTED / AGENT_CONNECTED and
 * resets its own stream state, so no half message crosses over.
 *
 * Threads: everything here runs on the main (event loop) thread: libspice's
 * char device calls, the port's callbacks and the stub's wake timer. */
#include "spice_agent.h"

#include <stdlib.h>
#include <string.h>

#include "evloop.h"
#include "log.h"
#include "virtio/console.h"
#include "vm.h"

#define STUB_OUT_MAX 256

struct stub {
	SpiceCharDeviceInstance sin;
	/* client -> agent stream: chunk headers, then agent messages */
	uint8_t chunk_hdr[sizeof(VDIChunkHeader)];
	size_t chunk_hdr_len;
	uint32_t chunk_left;
	bool chunk_is_client;
	uint8_t msg_hdr[sizeof(VDAgentMessage) + sizeof(uint32_t)];
	size_t msg_hdr_len, msg_hdr_want;
	uint32_t msg_left;
	/* agent -> client */
	uint8_t out[STUB_OUT_MAX];
	size_t out_len, out_pos;
	struct evloop_watch *wake_timer;
};

enum plugged { PLUGGED_NONE, PLUGGED_STUB, PLUGGED_GUEST };

struct spice_agent {
	SpiceServer *server;
	struct vm *vm;
	struct stub stub;
	SpiceCharDeviceInstance guest;
	struct virtio_console_port *port;   /* NULL: the VM has no agent port */
	enum plugged plugged;
};

/* ---- the stub ------------------------------------------------------------ */

static struct spice_agent *of_stub(SpiceCharDeviceInstance *sin)
{
	return SPICE_CONTAINEROF(sin, struct spice_agent, stub.sin);
}

static void stub_wake(void *opaque, uint32_t events)
{
	struct spice_agent *a = opaque;

	(void)events;
	evloop_remove(&a->vm->loop, a->stub.wake_timer);
	a->stub.wake_timer = NULL;
	if (a->plugged == PLUGGED_STUB)
		spice_server_char_device_wakeup(&a->stub.sin);
}

static void stub_reply_caps(struct spice_agent *a)
{
	struct stub *st = &a->stub;
	uint32_t caps[VD_AGENT_CAPS_SIZE] = { 0 };
	uint32_t request = 0;
	VDAgentMessage m = {
		.protocol = VD_AGENT_PROTOCOL,
		.type = VD_AGENT_ANNOUNCE_CAPABILITIES,
		.size = (uint32_t)(sizeof(request) + sizeof(caps)),
	};
	VDIChunkHeader c = { .port = VDP_CLIENT_PORT, .size = (uint32_t)sizeof(m) + m.size };

	if (st->out_len + sizeof(c) + c.size > sizeof(st->out))
		return;
	VD_AGENT_SET_CAPABILITY(caps, VD_AGENT_CAP_MONITORS_CONFIG);
	uint8_t *p = st->out + st->out_len;
	memcpy(p, &c, sizeof(c));
	memcpy(p + sizeof(c), &m, sizeof(m));
	memcpy(p + sizeof(c) + sizeof(m), &request, sizeof(request));
	memcpy(p + sizeof(c) + sizeof(m) + sizeof(request), caps, sizeof(caps));
	st->out_len += sizeof(c) + c.size;
	/* Not from inside libspice's write call: wake it from the loop. */
	if (!st->wake_timer)
		st->wake_timer = evloop_timer(&a->vm->loop, 1, false, stub_wake, a);
}

static void stub_message_done(struct spice_agent *a)
{
	struct stub *st = &a->stub;
	VDAgentMessage m;
	uint32_t request = 0;

	memcpy(&m, st->msg_hdr, sizeof(m));
	if (m.type != VD_AGENT_ANNOUNCE_CAPABILITIES)
		return;
	if (st->msg_hdr_len >= sizeof(m) + sizeof(request))
		memcpy(&request, st->msg_hdr + sizeof(m), sizeof(request));
	if (request)
		stub_reply_caps(a);
}

/* Bytes of the client's agent messages, whatever the chunking. */
static void stub_client_bytes(struct spice_agent *a, const uint8_t *p, size_t n)
{
	struct stub *st = &a->stub;

	while (n) {
		if (st->msg_hdr_len < sizeof(VDAgentMessage)) {
			size_t k = sizeof(VDAgentMessage) - st->msg_hdr_len;
			k = k < n ? k : n;
			memcpy(st->msg_hdr + st->msg_hdr_len, p, k);
			st->msg_hdr_len += k, p += k, n -= k;
			if (st->msg_hdr_len < sizeof(VDAgentMessage))
				return;
			VDAgentMessage m;
			memcpy(&m, st->msg_hdr, sizeof(m));
			st->msg_left = m.size;
			st->msg_hdr_want = sizeof(m) + (m.size < 4 ? m.size : 4);
		}
		size_t k = st->msg_hdr_want - st->msg_hdr_len;
		k = k < n ? k : n;
		memcpy(st->msg_hdr + st->msg_hdr_len, p, k);
		st->msg_hdr_len += k;
		size_t skip = st->msg_left < n ? st->msg_left : n;
		st->msg_left -= (uint32_t)skip, p += skip, n -= skip;
		if (st->msg_left == 0) {
			stub_message_done(a);
			st->msg_hdr_len = 0;
		}
	}
}

static int stub_write(SpiceCharDeviceInstance *sin, const uint8_t *buf, int len)
{
	struct spice_agent *a = of_stub(sin);
	struct stub *st = &a->stub;
	const uint8_t *p = buf;
	size_t n = len > 0 ? (size_t)len : 0;

	while (n) {
		if (st->chunk_hdr_len < sizeof(VDIChunkHeader)) {
			size_t k = sizeof(VDIChunkHeader) - st->chunk_hdr_len;
			k = k < n ? k : n;
			memcpy(st->chunk_hdr + st->chunk_hdr_len, p, k);
			st->chunk_hdr_len += k, p += k, n -= k;
			if (st->chunk_hdr_len < sizeof(VDIChunkHeader))
				break;
			VDIChunkHeader c;
			memcpy(&c, st->chunk_hdr, sizeof(c));
			st->chunk_left = c.size;
			st->chunk_is_client = c.port == VDP_CLIENT_PORT;
		}
		size_t k = st->chunk_left < n ? st->chunk_left : n;
		/* Server-port messages (client gone...) are whole chunks of
		 * their own and concern a real agent only. */
		if (st->chunk_is_client)
			stub_client_bytes(a, p, k);
		st->chunk_left -= (uint32_t)k, p += k, n -= k;
		if (st->chunk_left == 0)
			st->chunk_hdr_len = 0;
	}
	return len;
}

static int stub_read(SpiceCharDeviceInstance *sin, uint8_t *buf, int len)
{
	struct stub *st = &of_stub(sin)->stub;
	size_t n = st->out_len - st->out_pos;

	if (len <= 0 || !n)
		return 0;
	n = n < (size_t)len ? n : (size_t)len;
	memcpy(buf, st->out + st->out_pos, n);
	st->out_pos += n;
	if (st->out_pos == st->out_len)
		st->out_pos = st->out_len = 0;
	return (int)n;
}

static void no_state(SpiceCharDeviceInstance *sin, int connected)
{
	(void)sin, (void)connected;
}

static const SpiceCharDeviceInterface stub_if = {
	.base = {
		.type = SPICE_INTERFACE_CHAR_DEVICE,
		.description = "atoll in-VMM minimal agent",
		.major_version = SPICE_INTERFACE_CHAR_DEVICE_MAJOR,
		.minor_version = SPICE_INTERFACE_CHAR_DEVICE_MINOR,
	},
	.state = no_state,
	.write = stub_write,
	.read = stub_read,
};

/* ---- the guest's agent on the virtio-serial port ------------------------- */

static struct spice_agent *of_guest(SpiceCharDeviceInstance *sin)
{
	return SPICE_CONTAINEROF(sin, struct spice_agent, guest);
}

static int vdagent_port_write(SpiceCharDeviceInstance *sin, const uint8_t *buf, int len)
{
	struct spice_agent *a = of_guest(sin);

	if (len <= 0)
		return 0;
	/* A short count is flow control: libspice retries the rest, and
	 * port_writable wakes it when the guest has read. */
	return (int)virtio_console_port_write(a->port, buf, (size_t)len);
}

static int vdagent_port_read(SpiceCharDeviceInstance *sin, uint8_t *buf, int len)
{
	struct spice_agent *a = of_guest(sin);

	if (len <= 0)
		return 0;
	return (int)virtio_console_port_read(a->port, buf, (size_t)len);
}

static const SpiceCharDeviceInterface guest_if = {
	.base = {
		.type = SPICE_INTERFACE_CHAR_DEVICE,
		.description = "atoll guest agent (virtio-serial " VIRTIO_CONSOLE_SPICE_PORT ")",
		.major_version = SPICE_INTERFACE_CHAR_DEVICE_MAJOR,
		.minor_version = SPICE_INTERFACE_CHAR_DEVICE_MINOR,
	},
	.state = no_state,
	.write = vdagent_port_write,
	.read = vdagent_port_read,
};

/* ---- switching ------------------------------------------------------------ */

static void stub_reset(struct stub *st)
{
	st->chunk_hdr_len = 0;
	st->chunk_left = 0;
	st->msg_hdr_len = 0;
	st->msg_left = 0;
	st->out_len = st->out_pos = 0;
}

static void unplug(struct spice_agent *a)
{
	if (a->plugged == PLUGGED_STUB)
		spice_server_remove_interface(&a->stub.sin.base);
	else if (a->plugged == PLUGGED_GUEST)
		spice_server_remove_interface(&a->guest.base);
	a->plugged = PLUGGED_NONE;
}

static int plug(struct spice_agent *a, enum plugged which)
{
	SpiceBaseInstance *base = which == PLUGGED_GUEST ? &a->guest.base : &a->stub.sin.base;

	if (a->plugged == which)
		return 0;
	unplug(a);
	if (which == PLUGGED_STUB)
		stub_reset(&a->stub);
	if (spice_server_add_interface(a->server, base) < 0)
		return -1;
	a->plugged = which;
	return 0;
}

static void port_guest_open(void *opaque, bool open)
{
	struct spice_agent *a = opaque;

	if (open == (a->plugged == PLUGGED_GUEST))
		return;
	log_info("spice: guest agent %s", open ? "connected" : "gone");
	if (plug(a, open ? PLUGGED_GUEST : PLUGGED_STUB) < 0)
		log_warn("spice: cannot attach the %s agent; clipboard and resizing "
			 "through the agent are unavailable", open ? "guest's" : "in-VMM");
	/* Data the guest wrote before the swap is waiting. */
	if (open && a->plugged == PLUGGED_GUEST)
		spice_server_char_device_wakeup(&a->guest);
}

static void port_ready(void *opaque)
{
	struct spice_agent *a = opaque;

	if (a->plugged == PLUGGED_GUEST)
		spice_server_char_device_wakeup(&a->guest);
}

static const struct virtio_console_port_ops port_ops = {
	.readable = port_ready,
	.writable = port_ready,
	.guest_open = port_guest_open,
};

/* ---- lifecycle ------------------------------------------------------------- */

struct spice_agent *spice_agent_start(SpiceServer *server, struct vm *vm,
				      char *err, size_t errlen)
{
	struct spice_agent *a = calloc(1, sizeof(*a));

	if (!a) {
		snprintf(err, errlen, "spice: out of memory");
		return NULL;
	}
	a->server = server;
	a->vm = vm;
	a->stub.sin.base.sif = &stub_if.base;
	a->stub.sin.subtype = "vdagent";
	a->guest.base.sif = &guest_if.base;
	a->guest.subtype = "vdagent";
	if (plug(a, PLUGGED_STUB) < 0) {
		snprintf(err, errlen, "spice: cannot add the in-VMM agent");
		free(a);
		return NULL;
	}
	a->port = virtio_console_find_port(vm, VIRTIO_CONSOLE_SPICE_PORT);
	if (a->port && virtio_console_port_attach(a->port, &port_ops, a) < 0) {
		log_warn("spice: the agent port %s is taken; the guest's agent "
			 "will not be reachable", VIRTIO_CONSOLE_SPICE_PORT);
		a->port = NULL;
	}
	return a;
}

void spice_agent_stop(struct spice_agent *a)
{
	if (!a)
		return;
	if (a->port)
		virtio_console_port_detach(a->port);
	unplug(a);
	if (a->stub.wake_timer)
		evloop_remove(&a->vm->loop, a->stub.wake_timer);
	free(a);
}

bool spice_agent_guest_active(const struct spice_agent *a)
{
	return a && a->plugged == PLUGGED_GUEST;
}
