/* atoll-console.h - a GTK 4 widget showing one domain's SPICE console.
 *
 * See docs/console-widget.md for the API, the key bindings and how to embed
 * the widget.
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef enum {
    ATOLL_CONSOLE_STATE_DISCONNECTED,
    ATOLL_CONSOLE_STATE_CONNECTING,
    ATOLL_CONSOLE_STATE_CONNECTED,
    ATOLL_CONSOLE_STATE_RECONNECTING,
    ATOLL_CONSOLE_STATE_ERROR,
} AtollConsoleState;

typedef enum {
    ATOLL_CONSOLE_SCALE_FIT,        /* scale to the widget, keep aspect */
    ATOLL_CONSOLE_SCALE_ONE_TO_ONE, /* one guest pixel per device pixel */
} AtollConsoleScale;

#define ATOLL_TYPE_CONSOLE_STATE (atoll_console_state_get_type())
GType atoll_console_state_get_type(void);
#define ATOLL_TYPE_CONSOLE_SCALE (atoll_console_scale_get_type())
GType atoll_console_scale_get_type(void);

#define ATOLL_TYPE_CONSOLE (atoll_console_get_type())
G_DECLARE_FINAL_TYPE(AtollConsole, atoll_console, ATOLL, CONSOLE, GtkWidget)

/* Returns a new connected socket to the domain's SPICE server (ownership
 * passes to the console), or -1 with @error set.  Called once per SPICE
 * channel and again on every reconnect. */
typedef int (*AtollConsoleSocketFunc)(AtollConsole *console, gpointer user_data,
                                      GError **error);

GtkWidget *atoll_console_new(void);

/* spice://host:port, spice+unix:///path (query options as spice-gtk
 * understands them).  @password may be NULL. */
void atoll_console_connect_uri(AtollConsole *self, const char *uri,
                               const char *password);
/* Connect over sockets the caller makes, e.g. one end of a socketpair whose
 * other end atolld handed to the VMM.  @fd (owned by the console from now
 * on) carries the main channel; @socket_func supplies the rest. */
void atoll_console_open_fd(AtollConsole *self, int fd, const char *password,
                           AtollConsoleSocketFunc socket_func,
                           gpointer user_data, GDestroyNotify destroy);
void atoll_console_disconnect(AtollConsole *self);
/* Connect again to the last target, e.g. from an error page. */
void atoll_console_reconnect(AtollConsole *self);

AtollConsoleState atoll_console_get_state(AtollConsole *self);
/* The message of the last error, or NULL; says what to do about it. */
const char *atoll_console_get_error_message(AtollConsole *self);
/* The guest screen size, 0x0 while there is none. */
void atoll_console_get_guest_size(AtollConsole *self, int *width, int *height);

void atoll_console_set_scale_mode(AtollConsole *self, AtollConsoleScale mode);
AtollConsoleScale atoll_console_get_scale_mode(AtollConsole *self);
void atoll_console_set_resize_guest(AtollConsole *self, gboolean resize);
gboolean atoll_console_get_resize_guest(AtollConsole *self);
void atoll_console_set_auto_reconnect(AtollConsole *self, gboolean reconnect);
gboolean atoll_console_get_auto_reconnect(AtollConsole *self);

void atoll_console_send_ctrl_alt_del(AtollConsole *self);
/* Keyboard grab = the desktop's own shortcuts (Alt+Tab, Super, ...) go to
 * the guest while the console has focus. */
void atoll_console_grab_keyboard(AtollConsole *self);
void atoll_console_release_keyboard(AtollConsole *self);
gboolean atoll_console_get_keyboard_grabbed(AtollConsole *self);

G_END_DECLS
