/* usbevents-reader SOCKET: subscribes to atolld's /v1/events on its unix
 * socket and prints every text message, one a line (stdout, flushed), until
 * the stream ends.  "READY" goes to stderr once the WebSocket is open.
 * Built static by usbevents.py: dom0 has no curl and no websocket client,
 * and the atoll CLI has no event command. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_MSG (1 << 20)

static int fd;

static void die(const char *what)
{
	fprintf(stderr, "usbevents-reader: %s: %s\n", what, errno ? strerror(errno) : "protocol");
	exit(1);
}

static void read_all(void *buf, size_t n)
{
	char *p = buf;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0)
				exit(0);   /* atolld closed the stream */
			die("read");
		}
		p += r;
		n -= (size_t)r;
	}
}

static void write_all(const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("write");
		p += r;
		n -= (size_t)r;
	}
}

/* A client frame must be masked; a zero mask keeps the payload as is. */
static void send_frame(int opcode, const unsigned char *data, size_t len)
{
	unsigned char h[6] = { (unsigned char)(0x80 | opcode), (unsigned char)(0x80 | len) };
	if (len > 125)
		return;
	write_all(h, sizeof(h));
	write_all(data, len);
}

static void handshake(void)
{
	static const char req[] =
		"GET /v1/events HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Version: 13\r\n\r\n";
	char head[4096];
	size_t n = 0;

	write_all(req, strlen(req));
	/* Byte by byte: the first frame may follow the headers at once. */
	while (n < sizeof(head) - 1) {
		read_all(head + n, 1);
		n++;
		if (n >= 4 && !memcmp(head + n - 4, "\r\n\r\n", 4))
			break;
	}
	head[n] = '\0';
	if (strncmp(head, "HTTP/1.1 101", 12)) {
		fprintf(stderr, "usbevents-reader: no upgrade: %.200s\n", head);
		exit(1);
	}
	fprintf(stderr, "READY\n");
}

int main(int argc, char **argv)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	static unsigned char msg[MAX_MSG + 1];
	size_t have = 0;

	if (argc != 2 || strlen(argv[1]) >= sizeof(a.sun_path)) {
		fprintf(stderr, "usage: usbevents-reader /run/atoll/atolld.sock\n");
		return 2;
	}
	strcpy(a.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die(argv[1]);
	handshake();
	for (;;) {
		unsigned char h[2];
		uint64_t len;
		read_all(h, 2);
		len = h[1] & 0x7f;
		if (len == 126) {
			unsigned char l[2];
			read_all(l, 2);
			len = (uint64_t)l[0] << 8 | l[1];
		} else if (len == 127) {
			unsigned char l[8];
			read_all(l, 8);
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | l[i];
		}
		if ((h[1] & 0x80) || len > MAX_MSG - have)
			die("frame (masked or too large)");
		int op = h[0] & 0x0f;
		if (op >= 8) {   /* control frames: at most 125 bytes */
			unsigned char c[125];
			if (len > sizeof(c))
				die("control frame");
			read_all(c, (size_t)len);
			if (op == 8)
				return 0;
			if (op == 9)
				send_frame(10, c, (size_t)len);
			continue;
		}
		read_all(msg + have, (size_t)len);
		have += (size_t)len;
		if (!(h[0] & 0x80))
			continue;   /* more fragments follow */
		msg[have] = '\0';
		printf("%s\n", msg);
		fflush(stdout);
		have = 0;
	}
}
