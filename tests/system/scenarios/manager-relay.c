/* manager-relay PORT SOCKET: dom0 side of the `manager` hwsim scenario.
 * Accepts TCP connections on PORT (all addresses: the outer QEMU's
 * user-mode NIC forwards a host port to it) and joins each to a new
 * connection to the unix SOCKET (atolld's API, a domain's SPICE console).
 * Built static by manager.py; one process per connection. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int write_all(int fd, const char *buf, ssize_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, buf, (size_t)n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		buf += k;
		n -= k;
	}
	return 0;
}

/* Copies both ways until both sides have closed. */
static void pump(int a, int b)
{
	struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
	int open_ends = 2;
	char buf[65536];
	while (open_ends > 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int other = i ? a : b;
			ssize_t n = read(p[i].fd, buf, sizeof(buf));
			if (n > 0 && write_all(other, buf, n) == 0)
				continue;
			shutdown(other, SHUT_WR);
			p[i].fd = -1;
			open_ends--;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: manager-relay PORT SOCKET\n");
		return 2;
	}
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
	if (l < 0 || bind(l, (struct sockaddr *)&in, sizeof(in)) < 0 || listen(l, 16) < 0) {
		perror("manager-relay: listen");
		return 1;
	}
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	if (strlen(argv[2]) >= sizeof(un.sun_path)) {
		fprintf(stderr, "manager-relay: socket path too long\n");
		return 2;
	}
	strcpy(un.sun_path, argv[2]);
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		if (fork() == 0) {
			close(l);
			int u = socket(AF_UNIX, SOCK_STREAM, 0);
			if (u < 0 || connect(u, (struct sockaddr *)&un, sizeof(un)) < 0) {
				perror("manager-relay: connect");
				_exit(1);
			}
			pump(c, u);
			_exit(0);
		}
		close(c);
	}
}
