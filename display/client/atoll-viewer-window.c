/* atoll-viewer-window.c - header bar, console, and an error page. */
#define G_LOG_DOMAIN "atoll-viewer"

#include "atoll-viewer-window.h"

struct _AtollViewerWindow {
    AdwApplicationWindow parent_instance;

    GtkWidget *header_bar;
    AdwWindowTitle *window_title;
    GtkStack *stack;
    AtollConsole *console;
    AdwStatusPage *error_page;
};

G_DEFINE_FINAL_TYPE(AtollViewerWindow, atoll_viewer_window, ADW_TYPE_APPLICATION_WINDOW)

enum {
    PROP_0,
    PROP_SCALE,
    PROP_RESIZE_GUEST,
    N_PROPS
};

static GParamSpec *props[N_PROPS];

static void on_state(AtollConsole *console, GParamSpec *pspec, AtollViewerWindow *self)
{
    AtollConsoleState state = atoll_console_get_state(console);
    g_autoptr(GEnumClass) klass = g_type_class_ref(ATOLL_TYPE_CONSOLE_STATE);
    GEnumValue *value = g_enum_get_value(klass, state);

    (void)pspec;
    /* Tests and scripts follow the state through G_MESSAGES_DEBUG=atoll-viewer. */
    g_debug("state %s", value ? value->value_nick : "?");
    if (state == ATOLL_CONSOLE_STATE_ERROR) {
        adw_status_page_set_description(self->error_page,
                                        atoll_console_get_error_message(console));
        gtk_stack_set_visible_child_name(self->stack, "error");
    } else {
        gtk_stack_set_visible_child_name(self->stack, "console");
    }
    if (state == ATOLL_CONSOLE_STATE_CONNECTED)
        gtk_widget_grab_focus(GTK_WIDGET(console));
}

static void on_fullscreened(GObject *window, GParamSpec *pspec, AtollViewerWindow *self)
{
    (void)pspec;
    gtk_widget_set_visible(self->header_bar,
                           !gtk_window_is_fullscreen(GTK_WINDOW(window)));
}

static void action_cad(GtkWidget *widget, const char *name, GVariant *param)
{
    (void)name;
    (void)param;
    atoll_console_send_ctrl_alt_del(ATOLL_VIEWER_WINDOW(widget)->console);
}

static void action_reconnect(GtkWidget *widget, const char *name, GVariant *param)
{
    (void)name;
    (void)param;
    atoll_console_reconnect(ATOLL_VIEWER_WINDOW(widget)->console);
}

static void atoll_viewer_window_get_property(GObject *object, guint id, GValue *value,
                                             GParamSpec *pspec)
{
    AtollViewerWindow *self = ATOLL_VIEWER_WINDOW(object);

    /* Property actions read the state while the template is still being
     * built. */
    switch (id) {
    case PROP_SCALE:
        g_value_set_string(value, !self->console ||
                                  atoll_console_get_scale_mode(self->console) ==
                                  ATOLL_CONSOLE_SCALE_FIT ? "fit" : "1:1");
        break;
    case PROP_RESIZE_GUEST:
        g_value_set_boolean(value, self->console &&
                                   atoll_console_get_resize_guest(self->console));
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

static void atoll_viewer_window_set_property(GObject *object, guint id,
                                             const GValue *value, GParamSpec *pspec)
{
    AtollViewerWindow *self = ATOLL_VIEWER_WINDOW(object);

    switch (id) {
    case PROP_SCALE:
        atoll_console_set_scale_mode(self->console,
            g_strcmp0(g_value_get_string(value), "1:1") == 0 ?
            ATOLL_CONSOLE_SCALE_ONE_TO_ONE : ATOLL_CONSOLE_SCALE_FIT);
        g_object_notify_by_pspec(object, pspec);
        break;
    case PROP_RESIZE_GUEST:
        atoll_console_set_resize_guest(self->console, g_value_get_boolean(value));
        g_object_notify_by_pspec(object, pspec);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

static void atoll_viewer_window_class_init(AtollViewerWindowClass *klass)
{
    GObjectClass *oclass = G_OBJECT_CLASS(klass);
    GtkWidgetClass *wclass = GTK_WIDGET_CLASS(klass);

    oclass->get_property = atoll_viewer_window_get_property;
    oclass->set_property = atoll_viewer_window_set_property;
    props[PROP_SCALE] = g_param_spec_string("scale", NULL, NULL, "fit",
        G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
    props[PROP_RESIZE_GUEST] = g_param_spec_boolean("resize-guest", NULL, NULL, FALSE,
        G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
    g_object_class_install_properties(oclass, N_PROPS, props);

    g_type_ensure(ATOLL_TYPE_CONSOLE);
    gtk_widget_class_set_template_from_resource(wclass,
        "/org/atoll/Viewer/atoll-viewer-window.ui");
    gtk_widget_class_bind_template_child(wclass, AtollViewerWindow, header_bar);
    gtk_widget_class_bind_template_child(wclass, AtollViewerWindow, window_title);
    gtk_widget_class_bind_template_child(wclass, AtollViewerWindow, stack);
    gtk_widget_class_bind_template_child(wclass, AtollViewerWindow, console);
    gtk_widget_class_bind_template_child(wclass, AtollViewerWindow, error_page);

    gtk_widget_class_install_action(wclass, "win.send-ctrl-alt-del", NULL, action_cad);
    gtk_widget_class_install_action(wclass, "win.reconnect", NULL, action_reconnect);
    gtk_widget_class_install_property_action(wclass, "win.fullscreen", "fullscreened");
    gtk_widget_class_install_property_action(wclass, "win.scale", "scale");
    gtk_widget_class_install_property_action(wclass, "win.resize-guest", "resize-guest");
}

static void atoll_viewer_window_init(AtollViewerWindow *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    g_signal_connect(self->console, "notify::state", G_CALLBACK(on_state), self);
    g_signal_connect(self, "notify::fullscreened", G_CALLBACK(on_fullscreened), self);
}

AtollViewerWindow *atoll_viewer_window_new(AdwApplication *app)
{
    return g_object_new(ATOLL_TYPE_VIEWER_WINDOW, "application", app, NULL);
}

AtollConsole *atoll_viewer_window_get_console(AtollViewerWindow *self)
{
    g_return_val_if_fail(ATOLL_IS_VIEWER_WINDOW(self), NULL);
    return self->console;
}

void atoll_viewer_window_connect(AtollViewerWindow *self, const char *uri,
                                 const char *password)
{
    g_return_if_fail(ATOLL_IS_VIEWER_WINDOW(self));
    adw_window_title_set_subtitle(self->window_title, uri);
    atoll_console_connect_uri(self->console, uri, password);
}
