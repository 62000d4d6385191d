/* GUI tests of AtollConsole against a real SPICE server (spice-test-server)
 * under a private Xvfb: the picture on screen, keyboard and pointer input
 * as the server receives them, authentication errors and reconnects. */
#include <gtk/gtk.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <unistd.h>
#include <string.h>

#include "atoll-console.h"
#include "gui-harness.h"

#define RED 0xff0000
#define GREEN 0x00ff00
#define BLUE 0x0000ff
#define YELLOW 0xffff00
#define CYAN 0x00ffff
#define MAGENTA 0xff00ff

typedef struct {
    GtkWidget *window;
    AtollConsole *console;
    TestServer *srv;
    char *socket_path;
    guint n_connected;
    guint n_reconnecting;
    guint n_errors;
    char *last_error;
} Fixture;

static void on_connected(AtollConsole *c, Fixture *f)
{
    (void)c;
    f->n_connected++;
}

static void on_reconnecting(AtollConsole *c, guint attempt, guint delay, Fixture *f)
{
    (void)c;
    g_test_message("reconnecting: attempt %u in %u ms", attempt, delay);
    f->n_reconnecting++;
}

static void on_error(AtollConsole *c, const char *message, Fixture *f)
{
    (void)c;
    g_free(f->last_error);
    f->last_error = g_strdup(message);
    f->n_errors++;
}

static gboolean window_ready(gpointer data)
{
    Fixture *f = data;

    return gtk_widget_get_mapped(f->window) &&
           gtk_widget_get_width(GTK_WIDGET(f->console)) > 0;
}

/* An undecorated window at (0,0) of the screen holding only the console. */
static void fixture_setup(Fixture *f, gconstpointer data)
{
    const int *size = data;
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    GtkWidget *scroller = gtk_scrolled_window_new();

    memset(f, 0, sizeof(*f));
    f->socket_path = g_build_filename(harness_tmpdir(), "console.sock", NULL);
    f->window = gtk_window_new();
    gtk_window_set_decorated(GTK_WINDOW(f->window), FALSE);
    gtk_window_set_default_size(GTK_WINDOW(f->window), size ? size[0] : 640,
                                size ? size[1] : 480);
    f->console = ATOLL_CONSOLE(atoll_console_new());
    g_signal_connect(f->console, "connected", G_CALLBACK(on_connected), f);
    g_signal_connect(f->console, "reconnecting", G_CALLBACK(on_reconnecting), f);
    g_signal_connect(f->console, "error", G_CALLBACK(on_error), f);
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroller), GTK_WIDGET(f->console));
    gtk_widget_set_vexpand(scroller, TRUE);
    gtk_box_append(GTK_BOX(box), scroller);
    gtk_window_set_child(GTK_WINDOW(f->window), box);
    gtk_window_present(GTK_WINDOW(f->window));
    g_assert_true(harness_wait(window_ready, f, 5000));
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    gtk_window_destroy(GTK_WINDOW(f->window));
    test_server_free(f->srv);
    harness_spin(100);
    g_unlink(f->socket_path);
    g_free(f->socket_path);
    g_free(f->last_error);
}

static void start_server(Fixture *f, const char *variant, const char *password)
{
    const char *args[] = { "--unix", f->socket_path, "--variant", variant,
                           password ? "--password" : NULL, password, NULL };

    f->srv = test_server_start(args);
}

static char *unix_uri(Fixture *f)
{
    return g_strdup_printf("spice+unix://%s", f->socket_path);
}

static gboolean showing_guest(gpointer data)
{
    Fixture *f = data;
    int w, h;

    atoll_console_get_guest_size(f->console, &w, &h);
    return atoll_console_get_state(f->console) == ATOLL_CONSOLE_STATE_CONNECTED &&
           w == 640 && h == 480;
}

static void wait_connected(Fixture *f)
{
    g_assert_true(harness_wait(showing_guest, f, 10000));
    /* Inputs and display channels come up after the main channel. */
    g_assert_nonnull(test_server_wait_line(f->srv, "channel-connected 3", 5000));
    harness_spin(400);
}

static void connect_unix(Fixture *f)
{
    g_autofree char *uri = unix_uri(f);

    start_server(f, "0", NULL);
    atoll_console_connect_uri(f->console, uri, NULL);
    wait_connected(f);
}

/* Screen, then repaint of one small rectangle by the server. */
static void test_pattern(Fixture *f, gconstpointer data)
{
    g_autoptr(GdkPixbuf) shot = NULL;
    g_autoptr(GdkPixbuf) shot2 = NULL;

    (void)data;
    connect_unix(f);
    shot = harness_screenshot("console-pattern");
    harness_assert_pixel(shot, 160, 120, RED);
    harness_assert_pixel(shot, 480, 120, GREEN);
    harness_assert_pixel(shot, 160, 360, BLUE);
    harness_assert_pixel(shot, 480, 360, YELLOW);
    harness_assert_pixel(shot, 5, 5, RED);
    harness_assert_pixel(shot, 634, 474, YELLOW);

    test_server_send(f->srv, "box 300 220 40 40 ff00ff");
    harness_spin(500);
    shot2 = harness_screenshot("console-damage");
    harness_assert_pixel(shot2, 320, 240, MAGENTA);
    harness_assert_pixel(shot2, 302, 222, MAGENTA);
    harness_assert_pixel(shot2, 296, 218, RED);
    harness_assert_pixel(shot2, 480, 360, YELLOW);
    g_assert_cmpuint(f->n_connected, ==, 1);
    g_assert_true(gtk_accessible_get_accessible_role(GTK_ACCESSIBLE(f->console)) ==
                  GTK_ACCESSIBLE_ROLE_WIDGET);
}

static void expect_keys(Fixture *f, const char *const *codes)
{
    for (; *codes; codes++) {
        g_autofree char *want = g_strdup_printf("key %s", *codes);
        const char *got = test_server_wait_line(f->srv, "key ", 3000);

        g_assert_nonnull(got);
        g_assert_cmpstr(got, ==, want);
    }
}

static void test_keyboard(Fixture *f, gconstpointer data)
{
    g_autofree char *port = NULL;
    g_autofree char *uri = NULL;
    g_autoptr(GSocketListener) l = g_socket_listener_new();
    guint16 p;

    (void)data;
    /* A free TCP port: bind to 0, read it back, give it up. */
    p = g_socket_listener_add_any_inet_port(l, NULL, NULL);
    g_assert_cmpuint(p, >, 0);
    g_socket_listener_close(l);
    port = g_strdup_printf("%u", p);
    const char *args[] = { "--port", port, NULL };
    f->srv = test_server_start(args);
    uri = g_strdup_printf("spice://127.0.0.1:%u", p);
    atoll_console_connect_uri(f->console, uri, NULL);
    wait_connected(f);
    harness_xdotool("mousemove", "100", "100", NULL);
    gtk_widget_grab_focus(GTK_WIDGET(f->console));
    harness_spin(200);
    test_server_skip(f->srv);

    harness_xdotool("key", "a", NULL);
    expect_keys(f, (const char *[]){ "0x1e", "0x9e", NULL });
    harness_xdotool("key", "Right", NULL);
    expect_keys(f, (const char *[]){ "0xe0", "0x4d", "0xe0", "0xcd", NULL });
    /* (xdotool adds Control_L around Control_R, so right-hand modifiers are
     * covered by test_keymap instead.) */
    harness_xdotool("key", "KP_Enter", "Home", "KP_Home", NULL);
    expect_keys(f, (const char *[]){ "0xe0", "0x1c", "0xe0", "0x9c",
                                     "0xe0", "0x47", "0xe0", "0xc7",
                                     "0x47", "0xc7", NULL });

    atoll_console_send_ctrl_alt_del(f->console);
    expect_keys(f, (const char *[]){ "0x1d", "0x38", "0xe0", "0x53",
                                     "0xe0", "0xd3", "0xb8", "0x9d", NULL });

    /* A key held while the focus leaves must be released in the guest. */
    harness_xdotool("keydown", "shift", NULL);
    expect_keys(f, (const char *[]){ "0x2a", NULL });
    gtk_window_set_focus(GTK_WINDOW(f->window), NULL);
    expect_keys(f, (const char *[]){ "0xaa", NULL });
    harness_xdotool("keyup", "shift", NULL);
    harness_spin(200);
    g_assert_null(test_server_wait_line(f->srv, "key ", 300));
}

static void test_grab_release(Fixture *f, gconstpointer data)
{
    (void)data;
    connect_unix(f);
    harness_xdotool("mousemove", "100", "100", "click", "1", NULL);
    harness_spin(300);
    g_assert_true(gtk_widget_has_focus(GTK_WIDGET(f->console)));
    g_assert_true(atoll_console_get_keyboard_grabbed(f->console));
    /* Ctrl+Alt+Del does not release the grab; Ctrl+Alt alone does. */
    harness_xdotool("key", "ctrl+alt+Delete", NULL);
    harness_spin(200);
    g_assert_true(atoll_console_get_keyboard_grabbed(f->console));
    harness_xdotool("key", "ctrl+alt", NULL);
    harness_spin(200);
    g_assert_false(atoll_console_get_keyboard_grabbed(f->console));
    harness_xdotool("click", "1", NULL);
    harness_spin(200);
    g_assert_true(atoll_console_get_keyboard_grabbed(f->console));
}

/* Window 960x720: the 640x480 guest is shown at 1.5x. */
static const int size_960[] = { 960, 720 };

static void test_pointer_scaled(Fixture *f, gconstpointer data)
{
    g_autoptr(GdkPixbuf) shot = NULL;
    const char *line;

    (void)data;
    connect_unix(f);
    shot = harness_screenshot("console-scaled");
    harness_assert_pixel(shot, 470, 350, RED);
    harness_assert_pixel(shot, 490, 350, GREEN);
    harness_assert_pixel(shot, 470, 370, BLUE);
    harness_assert_pixel(shot, 950, 710, YELLOW);
    test_server_skip(f->srv);

    harness_xdotool("mousemove", "300", "450", NULL);
    line = test_server_wait_line(f->srv, "tablet-position", 3000);
    g_assert_cmpstr(line, ==, "tablet-position 200 300 0");
    harness_xdotool("click", "1", NULL);
    /* spice-server reports a click in client mouse mode through wheel(0). */
    line = test_server_wait_line(f->srv, "tablet-wheel", 3000);
    g_assert_cmpstr(line, ==, "tablet-wheel 0 1");
    line = test_server_wait_line(f->srv, "tablet-buttons", 3000);
    g_assert_cmpstr(line, ==, "tablet-buttons 0");

    /* spice-server hands buttons on in PS/2 order: left 1, right 2, middle 4. */
    harness_xdotool("click", "3", NULL);
    g_assert_cmpstr(test_server_wait_line(f->srv, "tablet-wheel", 3000), ==,
                    "tablet-wheel 0 2");
    harness_xdotool("click", "2", NULL);
    g_assert_cmpstr(test_server_wait_line(f->srv, "tablet-wheel", 3000), ==,
                    "tablet-wheel 0 4");
    harness_xdotool("click", "4", NULL);
    g_assert_cmpstr(test_server_wait_line(f->srv, "tablet-wheel -1", 3000), ==,
                    "tablet-wheel -1 0");
    harness_xdotool("click", "5", NULL);
    g_assert_cmpstr(test_server_wait_line(f->srv, "tablet-wheel 1", 3000), ==,
                    "tablet-wheel 1 0");
}

/* Window 400x300, 1:1: the top-left 400x300 of the guest, scrollable. */
static const int size_400[] = { 400, 300 };

static void test_one_to_one(Fixture *f, gconstpointer data)
{
    g_autoptr(GdkPixbuf) fit = NULL;
    g_autoptr(GdkPixbuf) one = NULL;

    (void)data;
    connect_unix(f);
    fit = harness_screenshot("console-fit-400");
    harness_assert_pixel(fit, 210, 100, GREEN);  /* guest x 336 */
    atoll_console_set_scale_mode(f->console, ATOLL_CONSOLE_SCALE_ONE_TO_ONE);
    harness_spin(500);
    one = harness_screenshot("console-1to1-400");
    harness_assert_pixel(one, 210, 100, RED);    /* guest x 210 */
    harness_assert_pixel(one, 330, 100, GREEN);
    harness_assert_pixel(one, 100, 250, BLUE);
    g_assert_cmpint(gtk_widget_get_width(f->window), ==, 400);
    test_server_skip(f->srv);
    harness_xdotool("mousemove", "330", "250", NULL);
    g_assert_cmpstr(test_server_wait_line(f->srv, "tablet-position", 3000), ==,
                    "tablet-position 330 250 0");
}

static gboolean got_error(gpointer data)
{
    return ((Fixture *)data)->n_errors > 0;
}

static void test_wrong_password(Fixture *f, gconstpointer data)
{
    g_autofree char *uri = unix_uri(f);

    (void)data;
    start_server(f, "0", "secret");
    atoll_console_connect_uri(f->console, uri, "wrong");
    g_assert_true(harness_wait(got_error, f, 10000));
    g_assert_cmpuint(f->n_errors, ==, 1);
    g_assert_cmpint(atoll_console_get_state(f->console), ==, ATOLL_CONSOLE_STATE_ERROR);
    g_assert_nonnull(strstr(f->last_error, "password"));
    g_assert_cmpstr(atoll_console_get_error_message(f->console), ==, f->last_error);
    g_assert_cmpuint(f->n_reconnecting, ==, 0);

    /* The right password works on the same widget. */
    atoll_console_connect_uri(f->console, uri, "secret");
    wait_connected(f);
}

static gboolean is_reconnecting(gpointer data)
{
    Fixture *f = data;

    return f->n_reconnecting > 0 &&
           atoll_console_get_state(f->console) == ATOLL_CONSOLE_STATE_RECONNECTING;
}

static void test_reconnect(Fixture *f, gconstpointer data)
{
    g_autoptr(GdkPixbuf) lost = NULL;
    g_autoptr(GdkPixbuf) back = NULL;

    (void)data;
    connect_unix(f);
    test_server_free(f->srv);
    f->srv = NULL;
    g_assert_true(harness_wait(is_reconnecting, f, 5000));
    lost = harness_screenshot("console-reconnecting");
    /* The last frame stays up behind the "reconnecting" notice. */
    harness_assert_pixel(lost, 20, 20, RED);
    harness_spin(1000);

    start_server(f, "1", NULL);
    g_assert_true(harness_wait(showing_guest, f, 15000));
    g_assert_nonnull(test_server_wait_line(f->srv, "channel-connected 2", 5000));
    harness_spin(500);
    back = harness_screenshot("console-reconnected");
    harness_assert_pixel(back, 160, 120, CYAN);
    harness_assert_pixel(back, 480, 120, MAGENTA);
    g_assert_cmpuint(f->n_connected, ==, 2);
    g_assert_cmpuint(f->n_errors, ==, 0);
}

/* Guest resizing needs the guest agent; spice-test-server has none, so the
 * option must stay quiet (spice-gtk treats a monitor config sent without an
 * agent as a programming error) and nothing may reach the server. */
static const int size_800[] = { 800, 600 };

static void test_resize_guest_without_agent(Fixture *f, gconstpointer data)
{
    (void)data;
    atoll_console_set_resize_guest(f->console, TRUE);
    connect_unix(f);
    gtk_window_set_default_size(GTK_WINDOW(f->window), 700, 500);
    harness_spin(1000);
    g_assert_null(test_server_wait_line(f->srv, "monitors-config", 500));
    g_assert_cmpint(atoll_console_get_state(f->console), ==,
                    ATOLL_CONSOLE_STATE_CONNECTED);
}

static int connect_socket(AtollConsole *console, gpointer data, GError **error)
{
    Fixture *f = data;
    g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                        G_SOCKET_PROTOCOL_DEFAULT, error);
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(f->socket_path);

    (void)console;
    if (!s || !g_socket_connect(s, addr, NULL, error))
        return -1;
    return dup(g_socket_get_fd(s));
}

static void test_open_fd(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    int fd;

    (void)data;
    start_server(f, "0", NULL);
    fd = connect_socket(f->console, f, &error);
    g_assert_no_error(error);
    atoll_console_open_fd(f->console, fd, NULL, connect_socket, f, NULL);
    wait_connected(f);
    atoll_console_send_ctrl_alt_del(f->console);
    expect_keys(f, (const char *[]){ "0x1d", "0x38", "0xe0", "0x53", NULL });
}

int main(int argc, char **argv)
{
    harness_init_display();
    gtk_init();
    g_test_init(&argc, &argv, NULL);
#define ADD(path, size, fn) \
    g_test_add("/console/" path, Fixture, size, fixture_setup, fn, fixture_teardown)
    ADD("pattern", NULL, test_pattern);
    ADD("keyboard", NULL, test_keyboard);
    ADD("grab-release", NULL, test_grab_release);
    ADD("pointer-scaled", size_960, test_pointer_scaled);
    ADD("one-to-one", size_400, test_one_to_one);
    ADD("wrong-password", NULL, test_wrong_password);
    ADD("reconnect", NULL, test_reconnect);
    ADD("open-fd", NULL, test_open_fd);
    ADD("resize-guest-no-agent", size_800, test_resize_guest_without_agent);
    return g_test_run();
}
