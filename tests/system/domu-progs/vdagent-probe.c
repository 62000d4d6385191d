/* A minimal SPICE guest agent for the hwsim `agent` scenario: finds the
 * virtio-serial port com.redhat.spice.0 the way spice-vdagentd does (sysfs
 * name, /dev/vportNpM), and speaks the VDAgent protocol on it:
 *
 *   - answers the client's ANNOUNCE_CAPABILITIES with its own (monitors
 *     config, clipboard by demand, clipboard selections), then grabs the
 *     CLIPBOARD selection for UTF-8 text, as an agent does when something
 *     is copied in the guest;
 *   - prints what arrives: ATOLL-AGENT-CAPS request=N, ATOLL-AGENT-MONITORS
 *     n=N WxH, ATOLL-AGENT-GRAB selection=S types=T,..., ATOLL-AGENT-MSG
 *     type=T for the rest.
 *
 * Built static on the host (agent.py): gcc -static -I/usr/include/spice-1. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spice/vd_agent.h>

#define PORT_NAME "com.redhat.spice.0"
#define MAX_MSG (64 * 1024)

static int fd = -1;
static int grabbed;

static int find_port(char *dev, size_t len)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int found = 0;

	if (!d) {
		printf("ATOLL-AGENT-NOPORTS %s\n", strerror(errno));
		return 0;
	}
	while ((e = readdir(d))) {
		char path[512], name[128] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(name, sizeof(name), f))
				name[0] = 0;
			fclose(f);
		}
		name[strcspn(name, "\n")] = 0;
		printf("ATOLL-AGENT-SYSFS %s name=%s\n", e->d_name, name);
		if (!strcmp(name, PORT_NAME)) {
			snprintf(dev, len, "/dev/%s", e->d_name);
			found = 1;
		}
	}
	closedir(d);
	return found;
}

static void send_msg(uint32_t type, const void *data, uint32_t size)
{
	uint8_t buf[sizeof(VDIChunkHeader) + sizeof(VDAgentMessage) + 256];
	VDIChunkHeader c = { .port = VDP_CLIENT_PORT, .size = sizeof(VDAgentMessage) + size };
	VDAgentMessage m = { .protocol = VD_AGENT_PROTOCOL, .type = type, .size = size };
	size_t n = sizeof(c) + sizeof(m) + size, off = 0;

	if (size > 256)
		return;
	memcpy(buf, &c, sizeof(c));
	memcpy(buf + sizeof(c), &m, sizeof(m));
	memcpy(buf + sizeof(c) + sizeof(m), data, size);
	while (off < n) {
		ssize_t w = write(fd, buf + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			printf("ATOLL-AGENT-WRITE-FAILED %s\n", strerror(errno));
			return;
		}
		off += (size_t)w;
	}
}

static void send_caps(void)
{
	uint32_t caps[1 + VD_AGENT_CAPS_SIZE] = { 0 };   /* request, then bits */

	VD_AGENT_SET_CAPABILITY(caps + 1, VD_AGENT_CAP_MONITORS_CONFIG);
	VD_AGENT_SET_CAPABILITY(caps + 1, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND);
	VD_AGENT_SET_CAPABILITY(caps + 1, VD_AGENT_CAP_CLIPBOARD_SELECTION);
	send_msg(VD_AGENT_ANNOUNCE_CAPABILITIES, caps, sizeof(caps));
}

static void handle(const VDAgentMessage *m, const uint8_t *data)
{
	switch (m->type) {
	case VD_AGENT_ANNOUNCE_CAPABILITIES: {
		uint32_t request = 0;
		if (m->size >= 4)
			memcpy(&request, data, 4);
		printf("ATOLL-AGENT-CAPS request=%u\n", request);
		if (request)
			send_caps();
		if (!grabbed) {
			uint8_t grab[8] = { VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD, 0, 0, 0 };
			uint32_t t = VD_AGENT_CLIPBOARD_UTF8_TEXT;
			memcpy(grab + 4, &t, 4);
			send_msg(VD_AGENT_CLIPBOARD_GRAB, grab, sizeof(grab));
			grabbed = 1;
			printf("ATOLL-AGENT-SENT caps+grab\n");
		}
		break;
	}
	case VD_AGENT_MONITORS_CONFIG: {
		VDAgentMonitorsConfig mc;
		VDAgentMonConfig mon = { 0 };
		if (m->size < sizeof(mc))
			break;
		memcpy(&mc, data, sizeof(mc));
		if (mc.num_of_monitors && m->size >= sizeof(mc) + sizeof(mon))
			memcpy(&mon, data + sizeof(mc), sizeof(mon));
		printf("ATOLL-AGENT-MONITORS n=%u %ux%u\n", mc.num_of_monitors, mon.width, mon.height);
		break;
	}
	case VD_AGENT_CLIPBOARD_GRAB: {
		printf("ATOLL-AGENT-GRAB");
		if (m->size >= 4)
			printf(" selection=%u types=", data[0]);
		for (uint32_t off = 4; off + 4 <= m->size; off += 4) {
			uint32_t t;
			memcpy(&t, data + off, 4);
			printf("%s%u", off > 4 ? "," : "", t);
		}
		printf("\n");
		break;
	}
	default:
		printf("ATOLL-AGENT-MSG type=%u size=%u\n", m->type, m->size);
	}
	fflush(stdout);
}

int main(void)
{
	static uint8_t in[MAX_MSG * 2], msg[MAX_MSG];
	size_t in_len = 0, msg_len = 0;
	char dev[300];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!find_port(dev, sizeof(dev))) {
		printf("ATOLL-AGENT-NO-PORT %s\n", PORT_NAME);
		return 1;
	}
	fd = open(dev, O_RDWR);
	if (fd < 0) {
		printf("ATOLL-AGENT-OPEN-FAILED %s %s\n", dev, strerror(errno));
		return 1;
	}
	printf("ATOLL-AGENT-READY %s\n", dev);
	for (;;) {
		ssize_t r = read(fd, in + in_len, sizeof(in) - in_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			printf("ATOLL-AGENT-READ-FAILED %s\n", strerror(errno));
			return 1;
		}
		if (r == 0) {          /* host side closed: wait for it again */
			sleep(1);
			continue;
		}
		in_len += (size_t)r;
		/* chunks -> message stream -> messages */
		while (in_len >= sizeof(VDIChunkHeader)) {
			VDIChunkHeader c;
			memcpy(&c, in, sizeof(c));
			if (c.size > MAX_MSG) {
				printf("ATOLL-AGENT-BAD-CHUNK size=%u\n", c.size);
				return 1;
			}
			if (in_len < sizeof(c) + c.size)
				break;
			if (msg_len + c.size > sizeof(msg)) {
				printf("ATOLL-AGENT-OVERFLOW\n");
				return 1;
			}
			memcpy(msg + msg_len, in + sizeof(c), c.size);
			msg_len += c.size;
			memmove(in, in + sizeof(c) + c.size, in_len - sizeof(c) - c.size);
			in_len -= sizeof(c) + c.size;
			while (msg_len >= sizeof(VDAgentMessage)) {
				VDAgentMessage m;
				memcpy(&m, msg, sizeof(m));
				if (msg_len < sizeof(m) + m.size)
					break;
				handle(&m, msg + sizeof(m));
				memmove(msg, msg + sizeof(m) + m.size, msg_len - sizeof(m) - m.size);
				msg_len -= sizeof(m) + m.size;
			}
		}
	}
}
