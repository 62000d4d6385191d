/* atoll-vmmctl SOCKET REQUEST...: send JSON requests to an atoll-vmm
 * control socket (docs/vmm-control.md) and print each reply line.  For
 * debugging and for tests; atolld speaks the protocol itself.
 * Exit status: 0 if every reply had "ok":true, 1 otherwise, 2 on usage or
 * connection errors. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "atoll-vmmctl: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "atoll-vmmctl: cannot connect to %s: %s (is the VMM running "
			"with --control %s?)\n", path, strerror(errno), path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read one reply line to stdout; returns 1 if it said ok, 0 if not, -1
 * if the VMM closed the connection. */
static int read_reply(int fd)
{
	char line[65536];
	size_t len = 0;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		if (len < sizeof(line) - 1)
			line[len++] = c;
	}
	line[len] = 0;
	puts(line);
	return strstr(line, "\"ok\":true") != NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: atoll-vmmctl SOCKET '{\"cmd\":\"query\"}' [REQUEST...]\n");
		return 2;
	}
	int fd = connect_to(argv[1]);
	if (fd < 0)
		return 2;
	int status = 0;
	for (int i = 2; i < argc; i++) {
		if (send_all(fd, argv[i], strlen(argv[i])) < 0 || send_all(fd, "\n", 1) < 0) {
			fprintf(stderr, "atoll-vmmctl: write: %s\n", strerror(errno));
			return 2;
		}
		int ok = read_reply(fd);
		if (ok < 0) {
			fprintf(stderr, "atoll-vmmctl: the VMM closed the connection\n");
			return 2;
		}
		if (!ok)
			status = 1;
	}
	close(fd);
	return status;
}
