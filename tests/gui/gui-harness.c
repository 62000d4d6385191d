/* gui-harness.c - see gui-harness.h. */
#include "gui-harness.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <string.h>
#include <unistd.h>

static GSubprocess *xvfb;
static char *tmpdir;

/* Children die with the test, even when an assertion aborts it. */
static void child_setup(gpointer data)
{
    (void)data;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocessLauncher *new_launcher(GSubprocessFlags flags)
{
    GSubprocessLauncher *l = g_subprocess_launcher_new(flags);

    g_subprocess_launcher_set_child_setup(l, child_setup, NULL, NULL);
    return l;
}

static void cleanup(void)
{
    if (xvfb)
        g_subprocess_force_exit(xvfb);
    if (tmpdir) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);

        if (system(cmd) != 0)
            g_printerr("could not remove %s\n", tmpdir);
    }
}

void harness_init_display(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xvfb_path = g_find_program_in_path("Xvfb");
    int fds[2];
    char buf[32] = { 0 };
    ssize_t n;

    if (!xvfb_path) {
        g_print("1..0 # SKIP Xvfb is not installed (apt-get install xvfb)\n");
        exit(77);
    }
    if (!g_unix_open_pipe(fds, FD_CLOEXEC, &error))
        g_error("pipe: %s", error->message);
    /* -displayfd: Xvfb picks a free display and tells us which. */
    g_autoptr(GSubprocessLauncher) l = new_launcher(
        G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_subprocess_launcher_take_fd(l, fds[1], 3);
    xvfb = g_subprocess_launcher_spawn(l, &error, xvfb_path, "-displayfd", "3",
                                       "-screen", "0", "1280x800x24", "-nolisten",
                                       "tcp", NULL);
    if (!xvfb)
        g_error("cannot start Xvfb: %s", error->message);
    atexit(cleanup);
    /* Xvfb writes the number and the newline separately; closing the pipe
     * before the newline would kill it with SIGPIPE. */
    for (size_t len = 0; len < sizeof(buf) - 1 && !strchr(buf, '\n'); len += n) {
        n = read(fds[0], buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            g_error("Xvfb did not report its display number");
    }
    close(fds[0]);
    g_autofree char *display = g_strdup_printf(":%d", atoi(buf));
    g_setenv("DISPLAY", display, TRUE);
    g_setenv("GDK_BACKEND", "x11", TRUE);
    g_setenv("GSK_RENDERER", "cairo", TRUE);
    g_setenv("GTK_A11Y", "none", TRUE);
    g_unsetenv("WAYLAND_DISPLAY");
}

const char *harness_tmpdir(void)
{
    if (!tmpdir)
        tmpdir = g_dir_make_tmp("atoll-gui-XXXXXX", NULL);
    return tmpdir;
}

gboolean harness_wait(gboolean (*cond)(gpointer), gpointer data, guint timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (!cond(data)) {
        if (g_get_monotonic_time() > end)
            return cond(data);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(2000);
    }
    return TRUE;
}

static gboolean never(gpointer data)
{
    (void)data;
    return FALSE;
}

void harness_spin(guint ms)
{
    harness_wait(never, NULL, ms);
}

/* ---- the test server ---- */

static void read_next_line(TestServer *srv);

static void on_line(GObject *source, GAsyncResult *res, gpointer data)
{
    TestServer *srv = data;
    char *line = g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(source),
                                                      res, NULL, NULL);

    if (!line) {
        srv->eof = TRUE;
        return;
    }
    if (g_getenv("GUI_TEST_VERBOSE"))
        g_printerr("%s: %s\n", g_subprocess_get_identifier(srv->proc), line);
    g_ptr_array_add(srv->lines, line);
    read_next_line(srv);
}

static void read_next_line(TestServer *srv)
{
    g_data_input_stream_read_line_async(srv->out, G_PRIORITY_DEFAULT, NULL, on_line, srv);
}

TestServer *harness_spawn(const char *const *argv, const char *const *env)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocessLauncher) l = new_launcher(G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                                    G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    TestServer *srv = g_new0(TestServer, 1);

    for (; env && env[0] && env[1]; env += 2)
        g_subprocess_launcher_setenv(l, env[0], env[1], TRUE);
    srv->proc = g_subprocess_launcher_spawnv(l, argv, &error);
    g_assert_no_error(error);
    srv->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(srv->proc));
    srv->in = g_subprocess_get_stdin_pipe(srv->proc);
    srv->lines = g_ptr_array_new_with_free_func(g_free);
    read_next_line(srv);
    return srv;
}

TestServer *test_server_start(const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    const char *path = g_getenv("SPICE_TEST_SERVER");
    TestServer *srv;

    g_assert_nonnull(path);
    g_ptr_array_add(argv, (gpointer)path);
    for (; args && *args; args++)
        g_ptr_array_add(argv, (gpointer)*args);
    g_ptr_array_add(argv, NULL);
    srv = harness_spawn((const char *const *)argv->pdata, NULL);
    g_assert_nonnull(test_server_wait_line(srv, "ready", 5000));
    return srv;
}

typedef struct {
    TestServer *srv;
    const char *prefix;
    const char *found;
} LineWait;

static gboolean line_arrived(gpointer data)
{
    LineWait *w = data;

    for (guint i = w->srv->cursor; i < w->srv->lines->len; i++) {
        const char *line = w->srv->lines->pdata[i];

        if (g_str_has_prefix(line, w->prefix) ||
            (w->prefix[0] == '*' && strstr(line, w->prefix + 1))) {
            w->found = line;
            w->srv->cursor = i + 1;
            return TRUE;
        }
    }
    return w->srv->eof;
}

const char *test_server_wait_line(TestServer *srv, const char *prefix, guint timeout_ms)
{
    LineWait w = { srv, prefix, NULL };

    harness_wait(line_arrived, &w, timeout_ms);
    return w.found;
}

void test_server_skip(TestServer *srv)
{
    srv->cursor = srv->lines->len;
}

void test_server_send(TestServer *srv, const char *command)
{
    g_autofree char *line = g_strconcat(command, "\n", NULL);
    g_autoptr(GError) error = NULL;

    g_output_stream_write_all(srv->in, line, strlen(line), NULL, NULL, &error);
    g_assert_no_error(error);
}

void test_server_free(TestServer *srv)
{
    if (!srv)
        return;
    g_subprocess_force_exit(srv->proc);
    g_subprocess_wait(srv->proc, NULL, NULL);
    /* Let the pending read see EOF before the stream goes away. */
    harness_spin(50);
    g_object_unref(srv->out);
    g_object_unref(srv->proc);
    g_ptr_array_unref(srv->lines);
    g_free(srv);
}

/* ---- external tools ---- */

static void on_proc_exit(GObject *source, GAsyncResult *res, gpointer data)
{
    gboolean *done = data;

    g_subprocess_wait_finish(G_SUBPROCESS(source), res, NULL);
    *done = TRUE;
}

static gboolean flag_set(gpointer data)
{
    return *(gboolean *)data;
}

gboolean harness_run(const char *const *argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocessLauncher) l = new_launcher(G_SUBPROCESS_FLAGS_NONE);
    g_autoptr(GSubprocess) p = g_subprocess_launcher_spawnv(l, argv, &error);
    gboolean done = FALSE;

    g_assert_no_error(error);
    g_subprocess_wait_async(p, NULL, on_proc_exit, &done);
    g_assert_true(harness_wait(flag_set, &done, 20000));
    return g_subprocess_get_successful(p);
}

void harness_xdotool(const char *first, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    va_list ap;

    g_ptr_array_add(argv, "xdotool");
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        g_ptr_array_add(argv, (gpointer)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    g_assert_true(harness_run((const char *const *)argv->pdata));
}

GdkPixbuf *harness_screenshot(const char *name)
{
    const char *dir = g_getenv("GUI_TEST_OUTDIR");
    g_autofree char *file = g_strdup_printf("%s/%s.png", dir ? dir : ".", name);
    const char *argv[] = { "import", "-window", "root", file, NULL };
    g_autoptr(GError) error = NULL;
    GdkPixbuf *shot;

    g_assert_true(harness_run(argv));
    shot = gdk_pixbuf_new_from_file(file, &error);
    g_assert_no_error(error);
    g_test_message("screenshot %s", file);
    return shot;
}

guint32 harness_pixel(GdkPixbuf *shot, int x, int y)
{
    const guint8 *p;

    g_assert_cmpint(x, >=, 0);
    g_assert_cmpint(y, >=, 0);
    g_assert_cmpint(x, <, gdk_pixbuf_get_width(shot));
    g_assert_cmpint(y, <, gdk_pixbuf_get_height(shot));
    p = gdk_pixbuf_read_pixels(shot) + (gsize)y * gdk_pixbuf_get_rowstride(shot) +
        (gsize)x * gdk_pixbuf_get_n_channels(shot);
    return ((guint32)p[0] << 16) | ((guint32)p[1] << 8) | p[2];
}

void harness_assert_pixel_impl(GdkPixbuf *shot, int x, int y, guint32 rgb,
                               const char *file, int line)
{
    guint32 got = harness_pixel(shot, x, y);

    for (int shift = 0; shift <= 16; shift += 8) {
        int a = (got >> shift) & 0xff, b = (rgb >> shift) & 0xff;

        if (ABS(a - b) > 8) {
            g_autofree char *msg = g_strdup_printf(
                "pixel (%d,%d) is #%06x, expected #%06x", x, y, got, rgb);
            g_assertion_message(G_LOG_DOMAIN, file, line, G_STRFUNC, msg);
        }
    }
}
