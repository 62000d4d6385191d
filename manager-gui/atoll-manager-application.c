/* atoll-manager-application.c - see atoll-manager-application.h. */
#include "atoll-manager-application.h"
#include "atoll-manager-window.h"

#include <glib/gi18n.h>

struct _AtollManagerApplication {
	AdwApplication parent;
	char *socket;
};

G_DEFINE_FINAL_TYPE(AtollManagerApplication, atoll_manager_application, ADW_TYPE_APPLICATION)

static void about_activated(GSimpleAction *a, GVariant *p, gpointer data)
{
	GtkApplication *app = data;
	(void)a;
	(void)p;
	GtkWidget *about = adw_about_window_new();
	g_object_set(about, "application-name", _("Atoll Manager"),
		     "application-icon", ATOLL_MANAGER_APP_ID,
		     "version", ATOLL_VERSION,
		     "developer-name", _("The Atoll developers"),
		     "license-type", GTK_LICENSE_GPL_2_0,
		     "comments", _("Create, run and watch Atoll virtual machines"),
		     "transient-for", gtk_application_get_active_window(app),
		     NULL);
	gtk_window_present(GTK_WINDOW(about));
}

static void quit_activated(GSimpleAction *a, GVariant *p, gpointer data)
{
	(void)a;
	(void)p;
	g_application_quit(data);
}

static const GActionEntry app_actions[] = {
	{ .name = "about", .activate = about_activated },
	{ .name = "quit", .activate = quit_activated },
};

static void atoll_manager_application_startup(GApplication *app)
{
	G_APPLICATION_CLASS(atoll_manager_application_parent_class)->startup(app);
	g_action_map_add_action_entries(G_ACTION_MAP(app), app_actions,
					G_N_ELEMENTS(app_actions), app);
	const char *quit[] = { "<Control>q", NULL };
	gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.quit", quit);
	const char *close[] = { "<Control>w", NULL };
	gtk_application_set_accels_for_action(GTK_APPLICATION(app), "window.close", close);
}

static void atoll_manager_application_activate(GApplication *app)
{
	AtollManagerApplication *self = ATOLL_MANAGER_APPLICATION(app);
	GtkWindow *win = gtk_application_get_active_window(GTK_APPLICATION(app));
	if (!win)
		win = GTK_WINDOW(atoll_manager_window_new(GTK_APPLICATION(app), self->socket));
	gtk_window_present(win);
}

static int atoll_manager_application_handle_local_options(GApplication *app,
							  GVariantDict *options)
{
	AtollManagerApplication *self = ATOLL_MANAGER_APPLICATION(app);
	const char *socket = NULL;
	if (g_variant_dict_lookup(options, "socket", "&s", &socket))
		atoll_manager_application_set_socket(self, socket);
	if (g_variant_dict_contains(options, "version")) {
		g_print("atoll-manager %s\n", ATOLL_VERSION);
		return 0;
	}
	return -1;
}

static void atoll_manager_application_finalize(GObject *object)
{
	g_free(ATOLL_MANAGER_APPLICATION(object)->socket);
	G_OBJECT_CLASS(atoll_manager_application_parent_class)->finalize(object);
}

static void atoll_manager_application_class_init(AtollManagerApplicationClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = atoll_manager_application_finalize;
	G_APPLICATION_CLASS(klass)->startup = atoll_manager_application_startup;
	G_APPLICATION_CLASS(klass)->activate = atoll_manager_application_activate;
	G_APPLICATION_CLASS(klass)->handle_local_options =
		atoll_manager_application_handle_local_options;
}

static void atoll_manager_application_init(AtollManagerApplication *self)
{
	static const GOptionEntry options[] = {
		{ "socket", 's', 0, G_OPTION_ARG_STRING, NULL,
		  N_("atolld's socket (default: $ATOLL_SOCKET or /run/atoll/atolld.sock)"),
		  N_("PATH") },
		{ "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Print the version"), NULL },
		{ NULL },
	};
	g_application_add_main_option_entries(G_APPLICATION(self), options);
}

AtollManagerApplication *atoll_manager_application_new(void)
{
	/* NON_UNIQUE: a second instance may be pointed at another socket. */
	return g_object_new(ATOLL_TYPE_MANAGER_APPLICATION,
			    "application-id", ATOLL_MANAGER_APP_ID,
			    "flags", G_APPLICATION_NON_UNIQUE,
			    "resource-base-path", "/org/atoll/Manager",
			    NULL);
}

const char *atoll_manager_application_get_socket(AtollManagerApplication *self)
{
	return self->socket;
}

void atoll_manager_application_set_socket(AtollManagerApplication *self, const char *path)
{
	g_free(self->socket);
	self->socket = g_strdup(path && *path ? path : NULL);
}
