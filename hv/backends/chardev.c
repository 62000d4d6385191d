/* Character backends for the guest consoles.
 *
 * Output: chardev_write() only copies into a 64 KiB ring and wakes a
 * per-backend writer thread that does the actual write(2).  A vCPU thread
 * (the UART's THR handler) therefore never waits for the terminal, the pty
 * reader or the socket client.  When the reader is slower than the guest for
 * long enough to fill the ring, further output is dropped and counted (one
 * warning per episode, a total at close).  We chose dropping over blocking
 * because a stalled vCPU stalls the whole guest (and holding the UART lock
 * would stall the other vCPUs too), and chose a thread over O_NONBLOCK on
 * stdout because stdout usually shares its open file description with the
 * user's shell and our stderr: flipping it to non-blocking leaks into both.
 *
 * Input: read on the event loop thread and handed to the input callback.
 * chardev_accept_input() may be called from any thread; it records the wish
 * and kicks an eventfd so that all evloop calls happen on the loop thread.
 *
 * UNIX: one client at a time.  A new client replaces the current one (which
 * is disconnected): a forgotten or hung client must never lock the owner out
 * of the console, and the 0600 socket mode already limits who can connect.
 * With no client, output is dropped rather than queued for the next one.
 *
 * PTY: we keep the slave side open ourselves.  Otherwise the master reports
 * EPOLLHUP in a tight loop until someone opens /dev/pts/N, and whatever the
 * guest printed before that would be lost. */
#include "chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../evloop.h"
#include "../log.h"

#define OUT_RING_SIZE  (64 * 1024)
#define IN_CHUNK       256
#define WAIT_OUT_MS    100   /* re-check interval while the reader is stuck */
#define CLOSE_FLUSH_S  2     /* how long close waits for pending output */

struct chardev {
	enum chardev_kind kind;
	struct evloop *loop;
	char *what;
	char *path;

	int in_fd;        /* stdin, pty master, unix client; -1 if none */
	int out_fd;       /* stdout, pty master, file; unix uses client_fd */
	int pty_slave_fd;
	int listen_fd;
	dev_t sock_dev;
	ino_t sock_ino;

	/* Input state, touched only on the loop thread except want_input. */
	chardev_input_fn input_fn;
	void *input_opaque;
	atomic_bool want_input;
	bool input_eof;
	int kick_fd;
	struct evloop_watch *in_watch, *listen_watch, *kick_watch;

	/* Output state, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t *ring;
	size_t head, count;
	int client_fd;
	bool stop;
	bool writer_started;
	pthread_t writer;
	uint64_t dropped;
	bool dropping;      /* in a drop episode: warned already */
	bool out_failed;    /* a write error was reported already */
	struct chardev *next_open;   /* registry, for the exit-time flush */
};

/* ---- terminal mode for stdio -------------------------------------------- */

static atomic_bool stdio_taken;
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

/* Async-signal-safe: tcsetattr is on the POSIX list. */
static void tty_restore(void)
{
	if (tio_saved) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
		tio_saved = 0;
	}
}

static void tty_restore_on_signal(int sig)
{
	tty_restore();
	/* SA_RESETHAND put the default action back; the signal is blocked
	 * while we run, so it kills us as soon as we return. */
	raise(sig);
}

/* Fatal signals the rest of the VMM does not handle: restore the terminal
 * before dying.  A handler someone else installed is left alone (and then
 * exit() runs the atexit hook). */
static void tty_install_signal_hooks(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGABRT,
				    SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGPIPE };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old, sa;
		if (sigaction(sigs[i], NULL, &old) < 0 || old.sa_handler != SIG_DFL ||
		    (old.sa_flags & SA_SIGINFO))
			continue;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = tty_restore_on_signal;
		sa.sa_flags = SA_RESETHAND;
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}

/* Raw input so every key (arrows, Tab, Ctrl-D) reaches the guest.  ISIG is
 * kept: there is no escape sequence, so Ctrl-C is how the user stops the
 * VMM from this terminal.  OPOST is kept so our own log lines on the same
 * terminal still start at column 0. */
static int tty_make_raw(void)
{
	static bool atexit_done;
	struct termios tio;

	if (!isatty(STDIN_FILENO))
		return 0;
	if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return -errno;
	tio = saved_tio;
	cfmakeraw(&tio);
	tio.c_lflag |= ISIG;
	tio.c_oflag |= OPOST;
	tio_saved = 1;
	if (!atexit_done) {
		atexit(tty_restore);
		tty_install_signal_hooks();
		atexit_done = true;
	}
	if (tcsetattr(STDIN_FILENO, TCSANOW, &tio) < 0) {
		tio_saved = 0;
		return -errno;
	}
	return 0;
}

/* ---- flushing at exit ------------------------------------------------------ */

/* The VMM may exit() right after the guest powers off, while the writer
 * threads still hold its last words ("reboot: Power down", test markers):
 * give them a moment, and remove our socket files. */
#define EXIT_FLUSH_MS 1000

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chardev *registry;

static void remove_socket_file(struct chardev *ch);

static void flush_at_exit(void)
{
	int waited = 0;

	pthread_mutex_lock(&registry_lock);
	for (struct chardev *ch = registry; ch; ch = ch->next_open) {
		for (;;) {
			pthread_mutex_lock(&ch->lock);
			bool empty = ch->count == 0 || !ch->writer_started;
			pthread_mutex_unlock(&ch->lock);
			if (empty || waited >= EXIT_FLUSH_MS)
				break;
			usleep(1000);
			waited++;
		}
		remove_socket_file(ch);
	}
	pthread_mutex_unlock(&registry_lock);
}

void chardev_flush_all(void)
{
	flush_at_exit();
}

static void registry_add(struct chardev *ch)
{
	static bool hooked;

	pthread_mutex_lock(&registry_lock);
	if (!hooked) {
		atexit(flush_at_exit);
		hooked = true;
	}
	ch->next_open = registry;
	registry = ch;
	pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(struct chardev *ch)
{
	pthread_mutex_lock(&registry_lock);
	for (struct chardev **p = &registry; *p; p = &(*p)->next_open) {
		if (*p == ch) {
			*p = ch->next_open;
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
}

/* ---- output --------------------------------------------------------------- */

static void wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, WAIT_OUT_MS) > 0 && (p.revents & POLLNVAL))
		usleep(WAIT_OUT_MS * 1000); /* fd vanished under us: just pace */
}

static ssize_t write_blocking_fd(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	/* The only place the writer may be cancelled: close() gives up on a
	 * terminal that stopped reading.  No lock is held here. */
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	w = write(fd, p, n);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	return w;
}

/* Unix client: the fd may be replaced by the loop thread at any time, so send
 * under the lock, without ever waiting in send(). */
static ssize_t write_client(struct chardev *ch, const uint8_t *p, size_t n,
			    int *wait_fd)
{
	ssize_t w;

	pthread_mutex_lock(&ch->lock);
	if (ch->client_fd < 0) {
		pthread_mutex_unlock(&ch->lock);
		return (ssize_t)n; /* nobody listening: drop */
	}
	w = send(ch->client_fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	*wait_fd = ch->client_fd;
	pthread_mutex_unlock(&ch->lock);
	if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
		return (ssize_t)n; /* the loop thread reaps the client on HUP */
	return w;
}

/* Returns bytes consumed (written or deliberately discarded), 0 to retry. */
static size_t backend_write(struct chardev *ch, const uint8_t *p, size_t n,
			    bool stopping)
{
	int wait_fd = ch->out_fd;
	ssize_t w;

	if (ch->kind == CHARDEV_UNIX)
		w = write_client(ch, p, n, &wait_fd);
	else if (ch->kind == CHARDEV_PTY)
		w = write(ch->out_fd, p, n);
	else
		w = write_blocking_fd(ch->out_fd, p, n);

	if (w > 0)
		return (size_t)w;
	if (w == 0 || errno == EINTR)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		if (stopping)
			return n; /* closing: do not wait for a stuck reader */
		wait_writable(wait_fd);
		return 0;
	}
	if (!ch->out_failed) {
		log_warn("%s: writing output failed: %s; further output is discarded",
			 ch->what, strerror(errno));
		ch->out_failed = true;
	}
	return n;
}

static void *writer_main(void *arg)
{
	struct chardev *ch = arg;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_mutex_lock(&ch->lock);
	for (;;) {
		while (ch->count == 0 && !ch->stop)
			pthread_cond_wait(&ch->cond, &ch->lock);
		if (ch->count == 0)
			break;
		/* Only this thread moves head, and producers only fill the free
		 * part of the ring, so the chunk stays valid unlocked. */
		size_t n = ch->count;
		if (n > OUT_RING_SIZE - ch->head)
			n = OUT_RING_SIZE - ch->head;
		const uint8_t *p = ch->ring + ch->head;
		bool stopping = ch->stop;
		pthread_mutex_unlock(&ch->lock);

		size_t done = backend_write(ch, p, n, stopping);

		pthread_mutex_lock(&ch->lock);
		ch->head = (ch->head + done) % OUT_RING_SIZE;
		ch->count -= done;
	}
	pthread_mutex_unlock(&ch->lock);
	return NULL;
}

void chardev_write(struct chardev *ch, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	bool warn = false;

	if (!ch || !ch->ring || len == 0)
		return;
	pthread_mutex_lock(&ch->lock);
	if (ch->kind == CHARDEV_UNIX && ch->client_fd < 0) {
		pthread_mutex_unlock(&ch->lock);
		return;
	}
	size_t room = OUT_RING_SIZE - ch->count;
	size_t n = len < room ? len : room;
	size_t tail = (ch->head + ch->count) % OUT_RING_SIZE;
	size_t first = n < OUT_RING_SIZE - tail ? n : OUT_RING_SIZE - tail;
	memcpy(ch->ring + tail, src, first);
	memcpy(ch->ring, src + first, n - first);
	ch->count += n;
	if (n < len) {
		ch->dropped += len - n;
		warn = !ch->dropping;
		ch->dropping = true;
	} else if (ch->count < OUT_RING_SIZE / 2) {
		ch->dropping = false;
	}
	if (n)
		pthread_cond_signal(&ch->cond);
	pthread_mutex_unlock(&ch->lock);
	if (warn)
		log_warn("%s: output is not being read fast enough; dropping guest output",
			 ch->what);
}

/* ---- input (event loop thread) ------------------------------------------- */

static void on_input(void *opaque, uint32_t events);

static void sync_input_watch(struct chardev *ch)
{
	bool want = atomic_load(&ch->want_input) && ch->in_fd >= 0 && !ch->input_eof;

	if (want && !ch->in_watch) {
		ch->in_watch = evloop_add(ch->loop, ch->in_fd, EPOLLIN, on_input, ch);
		if (!ch->in_watch) {
			/* EPERM: stdin is a regular file or /dev/null. */
			if (errno != EPERM)
				log_warn("%s: cannot watch input: %s; input disabled",
					 ch->what, strerror(errno));
			ch->input_eof = true;
		}
	} else if (!want && ch->in_watch) {
		evloop_remove(ch->loop, ch->in_watch);
		ch->in_watch = NULL;
	}
}

static void drop_client(struct chardev *ch)
{
	int fd;

	if (ch->in_watch) {
		evloop_remove(ch->loop, ch->in_watch);
		ch->in_watch = NULL;
	}
	pthread_mutex_lock(&ch->lock);
	fd = ch->client_fd;
	ch->client_fd = -1;
	pthread_mutex_unlock(&ch->lock);
	if (fd >= 0)
		close(fd);
	ch->in_fd = -1;
}

static void on_input(void *opaque, uint32_t events)
{
	struct chardev *ch = opaque;
	uint8_t buf[IN_CHUNK];
	ssize_t n;

	(void)events;
	if (!atomic_load(&ch->want_input)) {
		sync_input_watch(ch);
		return;
	}
	n = read(ch->in_fd, buf, sizeof(buf));
	if (n > 0) {
		if (ch->input_fn)
			ch->input_fn(ch->input_opaque, buf, (size_t)n);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		if (ch->kind == CHARDEV_UNIX) {
			log_info("%s: client disconnected from %s", ch->what, ch->path);
			drop_client(ch);
		} else {
			ch->input_eof = true;
		}
	}
	sync_input_watch(ch);
}

static void on_kick(void *opaque, uint32_t events)
{
	struct chardev *ch = opaque;
	uint64_t v;

	(void)events;
	if (read(ch->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("%s: input kick read failed: %s", ch->what, strerror(errno));
	sync_input_watch(ch);
}

static void on_accept(void *opaque, uint32_t events)
{
	struct chardev *ch = opaque;
	int fd;

	(void)events;
	fd = accept4(ch->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (ch->in_fd >= 0) {
		log_info("%s: new client on %s replaces the connected one", ch->what,
			 ch->path);
		drop_client(ch);
	} else {
		log_info("%s: client connected on %s", ch->what, ch->path);
	}
	pthread_mutex_lock(&ch->lock);
	ch->client_fd = fd;
	pthread_mutex_unlock(&ch->lock);
	ch->in_fd = fd;
	ch->input_eof = false;
	sync_input_watch(ch);
}

void chardev_set_input(struct chardev *ch, chardev_input_fn fn, void *opaque)
{
	if (!ch)
		return;
	ch->input_fn = fn;
	ch->input_opaque = opaque;
}

void chardev_accept_input(struct chardev *ch, bool accept)
{
	uint64_t one = 1;

	if (!ch || ch->kick_fd < 0)
		return;
	if (atomic_exchange(&ch->want_input, accept) == accept)
		return;
	/* Nonblocking eventfd: only fails if the counter would overflow,
	 * and then a wakeup is pending anyway. */
	if (write(ch->kick_fd, &one, sizeof(one)) < 0)
		return;
}

const char *chardev_path(const struct chardev *ch)
{
	return ch ? ch->path : NULL;
}

/* ---- opening each kind ---------------------------------------------------- */

static int open_stdio(struct chardev *ch, char *err, size_t errlen)
{
	int r;

	if (atomic_exchange(&stdio_taken, true)) {
		snprintf(err, errlen, "%s: stdio is already used by another console; "
			 "choose pty, unix:PATH or file:PATH for one of them", ch->what);
		return -EBUSY;
	}
	ch->out_fd = STDOUT_FILENO;
	/* Started in the background (`atoll-vmm ... &`): touching the
	 * terminal's mode or reading from it would stop us with SIGTTOU or
	 * SIGTTIN, so the console is output-only. */
	pid_t fg = isatty(STDIN_FILENO) ? tcgetpgrp(STDIN_FILENO) : -1;
	if (fg != -1 && fg != getpgrp()) {
		log_info("%s: not in the terminal's foreground; console input is "
			 "disabled", ch->what);
		return 0;
	}
	r = tty_make_raw();
	if (r < 0)
		log_warn("%s: cannot put the terminal in raw mode: %s", ch->what,
			 strerror(-r));
	ch->in_fd = STDIN_FILENO;
	return 0;
}

static int open_pty(struct chardev *ch, char *err, size_t errlen)
{
	char name[64];
	struct termios tio;
	int m, s;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 ||
	    ptsname_r(m, name, sizeof(name)) != 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot create a pseudo-terminal: %s; "
			 "check that /dev/pts is mounted", ch->what, strerror(e));
		if (m >= 0)
			close(m);
		return -e;
	}
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open %s: %s", ch->what, name,
			 strerror(e));
		close(m);
		return -e;
	}
	if (tcgetattr(s, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(s, TCSANOW, &tio);
	}
	fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
	ch->in_fd = ch->out_fd = m;
	ch->pty_slave_fd = s;
	ch->path = strdup(name);
	if (strcmp(ch->what, "console") == 0)
		log_info("console on %s", name);
	else
		log_info("%s console on %s", ch->what, name);
	return 0;
}

/* A socket file left by a VMM that died is removed; a live one (someone
 * accepts connections on it) or a non-socket file is an error. */
static int clear_stale_socket(struct chardev *ch, const struct sockaddr_un *sa,
			      char *err, size_t errlen)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s: %s exists and is not a socket; remove it "
			 "or choose another path", ch->what, sa->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int e = errno;
	close(fd);
	if (r == 0 || e != ECONNREFUSED) {
		snprintf(err, errlen, "%s: socket %s is in use by another process; "
			 "stop it or choose another path", ch->what, sa->sun_path);
		return -EADDRINUSE;
	}
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int open_unix(struct chardev *ch, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (!ch->path || !ch->path[0] || strlen(ch->path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: unix socket path must be 1 to %zu bytes long",
			 ch->what, sizeof(sa.sun_path) - 1);
		return -EINVAL;
	}
	memcpy(sa.sun_path, ch->path, strlen(ch->path) + 1);
	err[0] = '\0';
	r = clear_stale_socket(ch, &sa, err, errlen);
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s: cannot replace %s: %s", ch->what,
				 ch->path, strerror(-r));
		return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot create unix socket %s: %s; check "
			 "that the directory exists and is writable", ch->what,
			 ch->path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	/* Bound but not yet listening: nobody can connect before the mode is
	 * tightened, so chmod after bind is race-free (umask is per process
	 * and would race with other threads). */
	if (chmod(ch->path, 0600) < 0 || stat(ch->path, &st) < 0 ||
	    listen(fd, 1) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot set up unix socket %s: %s",
			 ch->what, ch->path, strerror(e));
		unlink(ch->path);
		close(fd);
		return -e;
	}
	ch->sock_dev = st.st_dev;
	ch->sock_ino = st.st_ino;
	ch->listen_fd = fd;
	return 0;
}

static int open_file(struct chardev *ch, char *err, size_t errlen)
{
	/* 0600: console logs can carry secrets the guest printed. */
	int fd = open(ch->path ? ch->path : "",
		      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open output file %s: %s", ch->what,
			 ch->path ? ch->path : "(none)", strerror(e));
		return -e;
	}
	ch->out_fd = fd;
	return 0;
}

static int start_input(struct chardev *ch, char *err, size_t errlen)
{
	bool has_input = ch->kind == CHARDEV_STDIO || ch->kind == CHARDEV_PTY ||
			 ch->kind == CHARDEV_UNIX;

	if (!has_input || !ch->loop)
		return 0;
	ch->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->kick_fd < 0)
		goto fail;
	ch->kick_watch = evloop_add(ch->loop, ch->kick_fd, EPOLLIN, on_kick, ch);
	if (!ch->kick_watch)
		goto fail;
	if (ch->kind == CHARDEV_UNIX) {
		ch->listen_watch = evloop_add(ch->loop, ch->listen_fd, EPOLLIN,
					      on_accept, ch);
		if (!ch->listen_watch)
			goto fail;
	}
	sync_input_watch(ch);
	return 0;
fail:
	snprintf(err, errlen, "%s: cannot watch console input: %s", ch->what,
		 strerror(errno));
	return -errno;
}

static int start_writer(struct chardev *ch, char *err, size_t errlen)
{
	int r;

	if (ch->kind == CHARDEV_NONE)
		return 0;
	ch->ring = malloc(OUT_RING_SIZE);
	if (!ch->ring) {
		snprintf(err, errlen, "%s: out of memory", ch->what);
		return -ENOMEM;
	}
	r = pthread_create(&ch->writer, NULL, writer_main, ch);
	if (r) {
		snprintf(err, errlen, "%s: cannot start output thread: %s", ch->what,
			 strerror(r));
		return -r;
	}
	ch->writer_started = true;
	return 0;
}

struct chardev *chardev_open(struct evloop *loop, const struct chardev_config *cfg,
			     const char *what, char *err, size_t errlen)
{
	struct chardev *ch = calloc(1, sizeof(*ch));
	int r = 0;

	if (!ch) {
		snprintf(err, errlen, "%s: out of memory", what);
		return NULL;
	}
	ch->kind = cfg->kind;
	ch->loop = loop;
	ch->what = strdup(what ? what : "chardev");
	ch->path = cfg->path ? strdup(cfg->path) : NULL;
	ch->in_fd = ch->out_fd = ch->pty_slave_fd = -1;
	ch->listen_fd = ch->client_fd = ch->kick_fd = -1;
	atomic_init(&ch->want_input, true);
	pthread_mutex_init(&ch->lock, NULL);
	pthread_cond_init(&ch->cond, NULL);
	if (!ch->what) {
		snprintf(err, errlen, "out of memory");
		chardev_close(ch);
		return NULL;
	}

	switch (cfg->kind) {
	case CHARDEV_NONE: break;
	case CHARDEV_STDIO: r = open_stdio(ch, err, errlen); break;
	case CHARDEV_PTY: r = open_pty(ch, err, errlen); break;
	case CHARDEV_UNIX: r = open_unix(ch, err, errlen); break;
	case CHARDEV_FILE: r = open_file(ch, err, errlen); break;
	default:
		snprintf(err, errlen, "%s: unknown backend type %d", ch->what,
			 (int)cfg->kind);
		r = -EINVAL;
	}
	if (r == 0)
		r = start_writer(ch, err, errlen);
	if (r == 0)
		r = start_input(ch, err, errlen);
	if (r < 0) {
		chardev_close(ch);
		return NULL;
	}
	registry_add(ch);
	return ch;
}

static void stop_writer(struct chardev *ch)
{
	struct timespec deadline;

	if (!ch->writer_started)
		return;
	pthread_mutex_lock(&ch->lock);
	ch->stop = true;
	pthread_cond_signal(&ch->cond);
	pthread_mutex_unlock(&ch->lock);

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += CLOSE_FLUSH_S;
	if (pthread_timedjoin_np(ch->writer, NULL, &deadline) != 0) {
		/* Blocked in write() on a terminal nobody reads. */
		pthread_cancel(ch->writer);
		pthread_join(ch->writer, NULL);
	}
	ch->writer_started = false;
}

static void remove_watch(struct chardev *ch, struct evloop_watch **w)
{
	if (*w) {
		evloop_remove(ch->loop, *w);
		*w = NULL;
	}
}

/* Remove the socket file only if it is still ours, not one a newer VMM
 * created at the same path after we started. */
static void remove_socket_file(struct chardev *ch)
{
	struct stat st;

	if (ch->listen_fd < 0 || !ch->path)
		return;
	if (lstat(ch->path, &st) == 0 && st.st_dev == ch->sock_dev &&
	    st.st_ino == ch->sock_ino)
		unlink(ch->path);
}

void chardev_close(struct chardev *ch)
{
	if (!ch)
		return;
	registry_remove(ch);
	remove_watch(ch, &ch->in_watch);
	remove_watch(ch, &ch->listen_watch);
	remove_watch(ch, &ch->kick_watch);
	stop_writer(ch);
	if (ch->dropped)
		log_warn("%s: %llu bytes of guest output were dropped because the "
			 "reader was too slow", ch->what,
			 (unsigned long long)ch->dropped);

	if (ch->client_fd >= 0)
		close(ch->client_fd);
	remove_socket_file(ch);
	if (ch->listen_fd >= 0)
		close(ch->listen_fd);
	if (ch->kind == CHARDEV_PTY || ch->kind == CHARDEV_FILE) {
		if (ch->out_fd >= 0)
			close(ch->out_fd);
	}
	if (ch->pty_slave_fd >= 0)
		close(ch->pty_slave_fd);
	if (ch->kick_fd >= 0)
		close(ch->kick_fd);
	if (ch->kind == CHARDEV_STDIO && ch->out_fd == STDOUT_FILENO) {
		tty_restore();
		atomic_store(&stdio_taken, false);
	}
	pthread_cond_destroy(&ch->cond);
	pthread_mutex_destroy(&ch->lock);
	free(ch->ring);
	free(ch->path);
	free(ch->what);
	free(ch);
}
