/* gui-harness.h - helpers for the console's GUI tests: a private Xvfb, the
 * SPICE test server as a subprocess, screenshots and xdotool. */
#pragma once

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <gio/gio.h>

typedef struct {
    GSubprocess *proc;
    GDataInputStream *out;
    GOutputStream *in;
    GPtrArray *lines;
    guint cursor; /* lines before this were consumed by a wait */
    gboolean eof;
} TestServer;

/* Starts Xvfb on a free display and points DISPLAY at it; exits 77 (skip)
 * if Xvfb is not installed.  Also forces the cairo renderer and X11. */
void harness_init_display(void);

/* Runs until @cond returns TRUE or @timeout_ms passes, iterating the
 * default main context.  Returns the last value of @cond. */
gboolean harness_wait(gboolean (*cond)(gpointer), gpointer data, guint timeout_ms);
/* Iterates the main context for @ms. */
void harness_spin(guint ms);

/* Starts a process whose stdout lines are collected; its stdin is a pipe.
 * @env: NULL or name, value pairs, NULL-terminated. */
TestServer *harness_spawn(const char *const *argv, const char *const *env);
/* Starts spice-test-server with @args (NULL-terminated) and waits for its
 * "ready" line. */
TestServer *test_server_start(const char *const *args);
/* Waits for the next line (after the last one consumed) starting with
 * @prefix (or containing it, if @prefix starts with '*'); returns it (owned by the server) or NULL on timeout. */
const char *test_server_wait_line(TestServer *srv, const char *prefix, guint timeout_ms);
/* Marks every line received so far as consumed. */
void test_server_skip(TestServer *srv);
void test_server_send(TestServer *srv, const char *command);
/* Kills the server and waits for it to exit. */
void test_server_free(TestServer *srv);

/* Runs a command to completion while the main loop keeps running. */
gboolean harness_run(const char *const *argv);
/* xdotool with the given arguments. */
void harness_xdotool(const char *first, ...) G_GNUC_NULL_TERMINATED;
/* Screenshot of the whole screen into $GUI_TEST_OUTDIR/@name.png. */
GdkPixbuf *harness_screenshot(const char *name);
/* The pixel at (x, y) as 0xRRGGBB. */
guint32 harness_pixel(GdkPixbuf *shot, int x, int y);
/* Asserts that the pixel at (x, y) of @shot is @rgb (each channel +-8). */
#define harness_assert_pixel(shot, x, y, rgb) \
    harness_assert_pixel_impl(shot, x, y, rgb, __FILE__, __LINE__)
void harness_assert_pixel_impl(GdkPixbuf *shot, int x, int y, guint32 rgb,
                               const char *file, int line);
/* A fresh temporary directory for sockets, removed at exit. */
const char *harness_tmpdir(void);
