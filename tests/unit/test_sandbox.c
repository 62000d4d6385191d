/* The sandbox in a child process: denied calls fail with EPERM on every
 * thread, ordinary ones keep working. */
#include <errno.h>
#include <glib.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

static int thread_errno;

static void *try_mount(void *arg)
{
	(void)arg;
	thread_errno = mount("none", "/mnt", "tmpfs", 0, NULL) < 0 ? errno : 0;
	return NULL;
}

/* Exit codes tell the parent which check failed. */
static int child(void)
{
	pthread_t early;
	char err[256];
	if (sandbox_enter(err, sizeof(err)) < 0)
		return 10;
	if (mount("none", "/mnt", "tmpfs", 0, NULL) == 0 || errno != EPERM)
		return 11;
	if (syscall(SYS_init_module, NULL, 0, "") == 0 || errno != EPERM)
		return 12;
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0 || errno != EPERM)
		return 13;
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || clock_settime(CLOCK_REALTIME, &ts) == 0 ||
	    errno != EPERM)
		return 14;
	/* A thread made after the filter is covered too. */
	if (pthread_create(&early, NULL, try_mount, NULL) || pthread_join(early, NULL) ||
	    thread_errno != EPERM)
		return 15;
	if (getpid() <= 0 || write(-1, "", 0) != -1)
		return 16;
	return 0;
}

static void test_denied(void)
{
	pid_t pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0)
		_exit(child());
	int status;
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/sandbox/denied", test_denied);
	return g_test_run();
}
