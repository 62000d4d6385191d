/* viewer.c - atoll-viewer: a standalone window on one domain's console.
 *
 *   atoll-viewer URI [--password P] [--fullscreen] [--scale fit|1:1]
 *                    [--resize-guest] [--size WxH]
 */
#define G_LOG_DOMAIN "atoll-viewer"

#include <stdio.h>

#include "atoll-viewer-window.h"

typedef struct {
    char *uri;
    char *password;
    char *scale;
    char *size;
    gboolean fullscreen;
    gboolean resize_guest;
} Options;

static Options opts;

static void on_activate(GApplication *app, gpointer data)
{
    AtollViewerWindow *win = atoll_viewer_window_new(ADW_APPLICATION(app));
    int w, h;

    (void)data;
    if (opts.size && sscanf(opts.size, "%dx%d", &w, &h) == 2 && w > 0 && h > 0)
        gtk_window_set_default_size(GTK_WINDOW(win), w, h);
    g_object_set(win, "scale", opts.scale ? opts.scale : "fit",
                 "resize-guest", opts.resize_guest, NULL);
    if (opts.fullscreen)
        gtk_window_fullscreen(GTK_WINDOW(win));
    gtk_window_present(GTK_WINDOW(win));
    atoll_viewer_window_connect(win, opts.uri, opts.password);
}

static gboolean parse_options(int *argc, char ***argv)
{
    GOptionEntry entries[] = {
        { "password", 'p', 0, G_OPTION_ARG_STRING, &opts.password,
          "Console password", "P" },
        { "fullscreen", 'f', 0, G_OPTION_ARG_NONE, &opts.fullscreen,
          "Start fullscreen (Ctrl+Alt+F toggles)", NULL },
        { "scale", 's', 0, G_OPTION_ARG_STRING, &opts.scale,
          "fit (default) or 1:1", "MODE" },
        { "resize-guest", 'r', 0, G_OPTION_ARG_NONE, &opts.resize_guest,
          "Ask the guest to follow the window size", NULL },
        { "size", 0, 0, G_OPTION_ARG_STRING, &opts.size, "Initial window size", "WxH" },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("URI - show a virtual machine's SPICE console");
    g_autoptr(GError) error = NULL;

    g_option_context_set_description(ctx,
        "URI is spice://HOST:PORT or spice+unix:///PATH.\n"
        "Ctrl+Alt releases the keyboard grab; click the console to grab again.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, argc, argv, &error)) {
        g_printerr("atoll-viewer: %s. Run atoll-viewer --help for usage.\n",
                   error->message);
        return FALSE;
    }
    if (*argc != 2) {
        g_printerr("atoll-viewer: give exactly one console URI, e.g. "
                   "spice://127.0.0.1:5900 or spice+unix:///run/atoll/dom.sock\n");
        return FALSE;
    }
    if (opts.scale && g_strcmp0(opts.scale, "fit") && g_strcmp0(opts.scale, "1:1")) {
        g_printerr("atoll-viewer: --scale takes fit or 1:1, not '%s'\n", opts.scale);
        return FALSE;
    }
    opts.uri = g_strdup((*argv)[1]);
    return TRUE;
}

int main(int argc, char **argv)
{
    g_autoptr(AdwApplication) app = NULL;

    if (!parse_options(&argc, &argv))
        return 2;
    /* Non-unique: every viewer is its own process on its own console, and
     * no session bus is needed. */
    app = adw_application_new("org.atoll.Viewer", G_APPLICATION_NON_UNIQUE);
    g_signal_connect(app, "activate", G_CALLBACK(on_activate), NULL);
    gtk_application_set_accels_for_action(GTK_APPLICATION(app), "win.fullscreen",
        (const char *[]){ "<Control><Alt>f", NULL });
    return g_application_run(G_APPLICATION(app), 1, argv);
}
