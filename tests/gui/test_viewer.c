/* GUI tests of atoll-viewer (the real program) against spice-test-server
 * under a private Xvfb. */
#include <glib/gstdio.h>
#include <string.h>

#include "gui-harness.h"

#define RED 0xff0000
#define GREEN 0x00ff00
#define BLUE 0x0000ff
#define YELLOW 0xffff00

typedef struct {
    char *socket_path;
    char *uri;
    TestServer *srv;
    TestServer *viewer;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    (void)data;
    f->socket_path = g_build_filename(harness_tmpdir(), "viewer.sock", NULL);
    f->uri = g_strdup_printf("spice+unix://%s", f->socket_path);
    f->srv = NULL;
    f->viewer = NULL;
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    test_server_free(f->viewer);
    test_server_free(f->srv);
    g_unlink(f->socket_path);
    g_free(f->socket_path);
    g_free(f->uri);
}

static void start(Fixture *f, const char *server_password, const char *const *viewer_args)
{
    const char *sargs[] = { "--unix", f->socket_path,
                            server_password ? "--password" : NULL, server_password,
                            NULL };
    g_autoptr(GPtrArray) argv = g_ptr_array_new();

    f->srv = test_server_start(sargs);
    g_ptr_array_add(argv, (gpointer)g_getenv("ATOLL_VIEWER"));
    g_ptr_array_add(argv, f->uri);
    g_ptr_array_add(argv, "--size");
    g_ptr_array_add(argv, "800x600");
    for (; viewer_args && *viewer_args; viewer_args++)
        g_ptr_array_add(argv, (gpointer)*viewer_args);
    g_ptr_array_add(argv, NULL);
    /* The viewer logs its state changes as debug messages (on stdout). */
    f->viewer = harness_spawn((const char *const *)argv->pdata,
                              (const char *[]){ "G_MESSAGES_DEBUG", "atoll-viewer", NULL });
}

static void wait_state(Fixture *f, const char *state)
{
    const char *line;

    do {
        line = test_server_wait_line(f->viewer, "*atoll-viewer-DEBUG", 10000);
        g_assert_nonnull(line);
    } while (!g_str_has_suffix(line, state));
}

static void test_connect(Fixture *f, gconstpointer data)
{
    g_autoptr(GdkPixbuf) shot = NULL;

    (void)data;
    start(f, NULL, NULL);
    wait_state(f, "state connected");
    g_assert_nonnull(test_server_wait_line(f->srv, "channel-connected 2", 5000));
    harness_spin(1500);
    shot = harness_screenshot("viewer-connected");
    /* 800x600 window, header bar on top, 640x480 guest scaled to fit
     * below it: these points are inside each quadrant for any header bar
     * height from 30 to 70 pixels. */
    harness_assert_pixel(shot, 200, 200, RED);
    harness_assert_pixel(shot, 600, 200, GREEN);
    harness_assert_pixel(shot, 200, 500, BLUE);
    harness_assert_pixel(shot, 600, 500, YELLOW);
    g_assert_cmpuint(harness_pixel(shot, 400, 10), !=, RED); /* header bar */

    /* The Ctrl+Alt+Del button is the first one in the header bar. */
    test_server_skip(f->srv);
    harness_xdotool("mousemove", "40", "23", "click", "1", NULL);
    const char *want[] = { "key 0x1d", "key 0x38", "key 0xe0", "key 0x53", NULL };
    for (const char **w = want; *w; w++)
        g_assert_cmpstr(test_server_wait_line(f->srv, "key", 3000), ==, *w);
}

static void test_scale_one_to_one(Fixture *f, gconstpointer data)
{
    const char *args[] = { "--scale", "1:1", NULL };
    g_autoptr(GdkPixbuf) shot = NULL;

    (void)data;
    start(f, NULL, args);
    wait_state(f, "state connected");
    harness_spin(1500);
    shot = harness_screenshot("viewer-1to1");
    /* Unscaled and centred in the 800x~550 console area: x 80..720, the
     * bottom half (blue, yellow) covers y 340..530 whatever the header bar
     * height between 30 and 70. */
    harness_assert_pixel(shot, 85, 500, BLUE);
    harness_assert_pixel(shot, 395, 500, BLUE);
    harness_assert_pixel(shot, 405, 500, YELLOW);
    harness_assert_pixel(shot, 715, 500, YELLOW);
    harness_assert_pixel(shot, 75, 500, 0x000000);
    harness_assert_pixel(shot, 725, 500, 0x000000);
}

static void test_wrong_password(Fixture *f, gconstpointer data)
{
    const char *args[] = { "--password", "wrong", NULL };
    g_autoptr(GdkPixbuf) shot = NULL;

    (void)data;
    start(f, "secret", args);
    wait_state(f, "state error");
    harness_spin(1000);
    shot = harness_screenshot("viewer-wrong-password");
    /* The status page replaces the console: no guest pixels anywhere. */
    g_assert_cmpuint(harness_pixel(shot, 200, 200), !=, RED);
    g_assert_cmpuint(harness_pixel(shot, 600, 500), !=, YELLOW);
}

int main(int argc, char **argv)
{
    harness_init_display();
    g_test_init(&argc, &argv, NULL);
    g_test_add("/viewer/connect", Fixture, NULL, fixture_setup, test_connect,
               fixture_teardown);
    g_test_add("/viewer/scale-1to1", Fixture, NULL, fixture_setup, test_scale_one_to_one,
               fixture_teardown);
    g_test_add("/viewer/wrong-password", Fixture, NULL, fixture_setup,
               test_wrong_password, fixture_teardown);
    return g_test_run();
}
