/* Console backends: file, unix socket, pty and none, driven through a real
 * event loop running on its own thread. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/chardev.h"
#include "evloop.h"

struct harness {
	struct evloop loop;
	GThread *thread;
	GMutex lock;
	GByteArray *input;
	char *dir;
};

static gpointer loop_main(gpointer p)
{
	struct harness *h = p;
	evloop_run(&h->loop);
	return NULL;
}

static void wake(void *opaque, uint32_t events)
{
	(void)opaque;
	(void)events;
}

static void harness_start(struct harness *h)
{
	memset(h, 0, sizeof(*h));
	g_assert_cmpint(evloop_init(&h->loop), ==, 0);
	g_mutex_init(&h->lock);
	h->input = g_byte_array_new();
	h->dir = g_dir_make_tmp("chardev-XXXXXX", NULL);
	g_assert_nonnull(h->dir);
}

static void harness_run(struct harness *h)
{
	h->thread = g_thread_new("loop", loop_main, h);
}

/* Stop the loop thread (a short timer wakes epoll_wait) so that the test
 * thread may then call chardev_close, which touches the loop. */
static void harness_stop(struct harness *h)
{
	if (!h->thread)
		return;
	evloop_stop(&h->loop);
	struct evloop_watch *t = evloop_timer(&h->loop, 1, false, wake, NULL);
	g_assert_nonnull(t);
	g_thread_join(h->thread);
	h->thread = NULL;
	evloop_remove(&h->loop, t);
}

static void harness_end(struct harness *h)
{
	harness_stop(h);
	/* With stop set, one more run only frees the removed watches. */
	h->loop.stop = true;
	evloop_run(&h->loop);
	evloop_destroy(&h->loop);
	g_byte_array_free(h->input, TRUE);
	g_mutex_clear(&h->lock);
	g_rmdir(h->dir);
	g_free(h->dir);
}

static void on_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct harness *h = opaque;
	g_mutex_lock(&h->lock);
	g_byte_array_append(h->input, buf, (guint)len);
	g_mutex_unlock(&h->lock);
}

static bool input_is(struct harness *h, const char *want)
{
	bool eq;
	g_mutex_lock(&h->lock);
	eq = h->input->len == strlen(want) &&
	     memcmp(h->input->data, want, h->input->len) == 0;
	g_mutex_unlock(&h->lock);
	return eq;
}

static void wait_input(struct harness *h, const char *want)
{
	for (int i = 0; i < 2000 && !input_is(h, want); i++)
		g_usleep(1000);
	g_mutex_lock(&h->lock);
	g_assert_cmpmem(h->input->data, h->input->len, want, strlen(want));
	g_mutex_unlock(&h->lock);
}

/* Read exactly `len` bytes within two seconds. */
static void read_exact(int fd, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		g_assert_cmpint(poll(&p, 1, 2000), ==, 1);
		ssize_t n = read(fd, buf + got, len - got);
		g_assert_cmpint(n, >, 0);
		got += (size_t)n;
	}
}

static void assert_nothing_to_read(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	g_assert_cmpint(poll(&p, 1, ms), ==, 0);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint(fd, >=, 0);
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	return fd;
}

static void test_file(void)
{
	struct harness h;
	char err[256];
	gchar *data = NULL;
	gsize len;

	harness_start(&h);
	char *path = g_build_filename(h.dir, "out.log", NULL);
	g_assert_true(g_file_set_contents(path, "old\n", -1, NULL));
	struct chardev_config cfg = { .kind = CHARDEV_FILE, .path = path };
	struct chardev *ch = chardev_open(NULL, &cfg, "serial", err, sizeof(err));
	g_assert_nonnull(ch);
	chardev_write(ch, "hello ", 6);
	chardev_write(ch, "world", 5);
	chardev_close(ch);   /* flushes */
	g_assert_true(g_file_get_contents(path, &data, &len, NULL));
	g_assert_cmpstr(data, ==, "old\nhello world");
	g_free(data);
	g_unlink(path);

	/* A new file is created private. */
	ch = chardev_open(NULL, &cfg, "serial", err, sizeof(err));
	g_assert_nonnull(ch);
	chardev_close(ch);
	struct stat st;
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_unlink(path);

	/* Unwritable location: a message, no object. */
	char *bad = g_build_filename(h.dir, "missing", "out.log", NULL);
	cfg.path = bad;
	err[0] = '\0';
	g_assert_null(chardev_open(NULL, &cfg, "serial", err, sizeof(err)));
	g_assert_nonnull(strstr(err, "missing"));
	g_free(bad);
	g_free(path);
	harness_end(&h);
}

static void test_unix(void)
{
	struct harness h;
	char err[256], buf[16];
	struct stat st;

	harness_start(&h);
	char *path = g_build_filename(h.dir, "console.sock", NULL);
	struct chardev_config cfg = { .kind = CHARDEV_UNIX, .path = path };
	struct chardev *ch = chardev_open(&h.loop, &cfg, "serial", err, sizeof(err));
	g_assert_nonnull(ch);
	chardev_set_input(ch, on_input, &h);
	harness_run(&h);
	g_assert_cmpstr(chardev_path(ch), ==, path);
	g_assert_cmpint(lstat(path, &st), ==, 0);
	g_assert_true(S_ISSOCK(st.st_mode));
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	chardev_write(ch, "early", 5);   /* nobody connected: dropped */

	int c1 = connect_to(path);
	g_assert_cmpint(write(c1, "hi", 2), ==, 2);
	wait_input(&h, "hi");             /* accepted and reading */
	chardev_write(ch, "out1", 4);
	read_exact(c1, buf, 4);
	g_assert_cmpmem(buf, 4, "out1", 4);

	/* Input paused: nothing delivered until resumed, nothing lost. */
	chardev_accept_input(ch, false);
	g_usleep(50 * 1000);
	g_assert_cmpint(write(c1, "zz", 2), ==, 2);
	g_usleep(200 * 1000);
	g_assert_true(input_is(&h, "hi"));
	chardev_accept_input(ch, true);
	wait_input(&h, "hizz");

	/* A second client replaces the first. */
	int c2 = connect_to(path);
	g_assert_cmpint(write(c2, "c2", 2), ==, 2);
	wait_input(&h, "hizzc2");
	struct pollfd p = { .fd = c1, .events = POLLIN };
	g_assert_cmpint(poll(&p, 1, 2000), ==, 1);
	g_assert_cmpint(read(c1, buf, sizeof(buf)), ==, 0);   /* EOF */
	chardev_write(ch, "out2", 4);
	read_exact(c2, buf, 4);
	g_assert_cmpmem(buf, 4, "out2", 4);
	assert_nothing_to_read(c2, 50);

	/* The client leaving is noticed; output is dropped meanwhile. */
	close(c2);
	g_usleep(100 * 1000);
	chardev_write(ch, "lost", 4);
	int c3 = connect_to(path);
	g_assert_cmpint(write(c3, "3", 1), ==, 1);
	wait_input(&h, "hizzc23");
	chardev_write(ch, "new", 3);
	read_exact(c3, buf, 3);
	g_assert_cmpmem(buf, 3, "new", 3);

	harness_stop(&h);
	chardev_close(ch);
	g_assert_cmpint(lstat(path, &st), ==, -1);   /* removed at close */
	g_assert_cmpint(errno, ==, ENOENT);
	close(c1);
	close(c3);
	g_free(path);
	harness_end(&h);
}

static void test_unix_path_checks(void)
{
	struct harness h;
	char err[256];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	harness_start(&h);
	char *path = g_build_filename(h.dir, "s.sock", NULL);
	struct chardev_config cfg = { .kind = CHARDEV_UNIX, .path = path };

	/* A stale socket file (its owner died) is replaced. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	close(fd);
	struct chardev *ch = chardev_open(&h.loop, &cfg, "serial", err, sizeof(err));
	g_assert_nonnull(ch);

	/* A live one (ours, still open) is refused. */
	err[0] = '\0';
	g_assert_null(chardev_open(&h.loop, &cfg, "console", err, sizeof(err)));
	g_assert_nonnull(strstr(err, "in use"));
	chardev_close(ch);

	/* A regular file is never deleted. */
	g_assert_true(g_file_set_contents(path, "keep", -1, NULL));
	err[0] = '\0';
	g_assert_null(chardev_open(&h.loop, &cfg, "serial", err, sizeof(err)));
	g_assert_nonnull(strstr(err, "not a socket"));
	g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
	g_unlink(path);

	/* Too long for sun_path. */
	char *longp = g_strnfill(200, 'a');
	cfg.path = longp;
	g_assert_null(chardev_open(&h.loop, &cfg, "serial", err, sizeof(err)));
	g_assert_nonnull(strstr(err, "path"));
	g_free(longp);
	g_free(path);
	harness_end(&h);
}

static void test_pty(void)
{
	struct harness h;
	char err[256], buf[8];

	harness_start(&h);
	struct chardev_config cfg = { .kind = CHARDEV_PTY };
	struct chardev *ch = chardev_open(&h.loop, &cfg, "serial", err, sizeof(err));
	if (!ch) {
		g_test_skip(err);
		harness_end(&h);
		return;
	}
	chardev_set_input(ch, on_input, &h);
	harness_run(&h);
	const char *path = chardev_path(ch);
	g_assert_nonnull(path);
	g_assert_true(g_str_has_prefix(path, "/dev/pts/"));

	int s = open(path, O_RDWR | O_NOCTTY);
	g_assert_cmpint(s, >=, 0);
	chardev_write(ch, "ping\n", 5);
	read_exact(s, buf, 5);
	g_assert_cmpmem(buf, 5, "ping\n", 5);  /* raw: no \r\n translation */
	g_assert_cmpint(write(s, "pong\r", 5), ==, 5);
	wait_input(&h, "pong\r");               /* raw: no echo, no ICRNL */
	close(s);

	harness_stop(&h);
	chardev_close(ch);
	harness_end(&h);
}

/* Nobody reads the pty: the guest side must keep running at full speed. */
static void test_slow_reader_never_blocks(void)
{
	struct harness h;
	char err[256];
	static uint8_t chunk[4096];

	harness_start(&h);
	struct chardev_config cfg = { .kind = CHARDEV_PTY };
	struct chardev *ch = chardev_open(&h.loop, &cfg, "serial", err, sizeof(err));
	if (!ch) {
		g_test_skip(err);
		harness_end(&h);
		return;
	}
	memset(chunk, 'x', sizeof(chunk));
	gint64 t0 = g_get_monotonic_time();
	for (int i = 0; i < 1024; i++)   /* 4 MiB */
		chardev_write(ch, chunk, sizeof(chunk));
	for (int i = 0; i < 100000; i++)
		chardev_write(ch, "y", 1);
	g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
	t0 = g_get_monotonic_time();
	chardev_close(ch);
	g_assert_cmpint(g_get_monotonic_time() - t0, <, 3 * G_USEC_PER_SEC);
	harness_end(&h);
}

/* The VMM exits right after the guest's last words: they must reach the
 * backend, and the socket file must go. */
static void test_flush_at_exit(void)
{
	struct harness h;
	static char big[60000];
	gchar *data = NULL;
	gsize len;

	harness_start(&h);
	char *path = g_build_filename(h.dir, "last.log", NULL);
	char *sock = g_build_filename(h.dir, "exit.sock", NULL);
	memset(big, 'w', sizeof(big));
	pid_t pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		char err[256];
		struct chardev_config f = { .kind = CHARDEV_FILE, .path = path };
		struct chardev_config u = { .kind = CHARDEV_UNIX, .path = sock };
		struct chardev *ch = chardev_open(NULL, &f, "serial", err, sizeof(err));
		if (!ch || !chardev_open(&h.loop, &u, "console", err, sizeof(err)))
			_exit(2);
		for (size_t i = 0; i < sizeof(big); i += 1000)
			chardev_write(ch, big + i, 1000);
		exit(0);
	}
	int status;
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	g_assert_true(g_file_get_contents(path, &data, &len, NULL));
	g_assert_cmpuint(len, ==, sizeof(big));
	g_assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));
	g_free(data);
	g_unlink(path);
	g_free(path);
	g_free(sock);
	harness_end(&h);
}

static void test_none(void)
{
	char err[64];
	struct chardev_config cfg = { .kind = CHARDEV_NONE };
	struct chardev *ch = chardev_open(NULL, &cfg, "console", err, sizeof(err));
	g_assert_nonnull(ch);
	chardev_write(ch, "void", 4);
	chardev_accept_input(ch, false);
	g_assert_null(chardev_path(ch));
	chardev_close(ch);
	chardev_write(NULL, "x", 1);
	chardev_close(NULL);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/chardev/file", test_file);
	g_test_add_func("/chardev/unix", test_unix);
	g_test_add_func("/chardev/unix-path-checks", test_unix_path_checks);
	g_test_add_func("/chardev/pty", test_pty);
	g_test_add_func("/chardev/slow-reader-never-blocks", test_slow_reader_never_blocks);
	g_test_add_func("/chardev/flush-at-exit", test_flush_at_exit);
	g_test_add_func("/chardev/none", test_none);
	return g_test_run();
}
