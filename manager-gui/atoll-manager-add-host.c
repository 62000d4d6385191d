/* atoll-manager-add-host.c - see atoll-manager-add-host.h. */
#include "atoll-manager-add-host.h"
#include "atoll-manager-host.h"
#include "atoll-manager-util.h"

#include <glib/gi18n.h>

struct _AtollManagerAddHost {
	AdwMessageDialog parent;
	AdwActionRow *dest_row, *socket_row;
	GtkEntry *dest_entry, *socket_entry;
};

G_DEFINE_FINAL_TYPE(AtollManagerAddHost, atoll_manager_add_host, ADW_TYPE_MESSAGE_DIALOG)

static void validate(AtollManagerAddHost *self)
{
	const char *dest = gtk_editable_get_text(GTK_EDITABLE(self->dest_entry));
	const char *sock = gtk_editable_get_text(GTK_EDITABLE(self->socket_entry));
	const char *why = NULL;
	/* An empty field is not yet wrong, just not done. */
	gboolean dest_ok = atoll_manager_host_check_destination(dest, &why);
	atoll_field_row_set_error(self->dest_row, *dest && !dest_ok ? why : NULL);
	gboolean sock_ok = sock[0] == '/';
	atoll_field_row_set_error(self->socket_row, sock_ok ? NULL :
		_("Give the full path of atolld's socket on the host, starting with /"));
	adw_message_dialog_set_response_enabled(ADW_MESSAGE_DIALOG(self), "add",
						dest_ok && sock_ok);
}

static void on_changed(GtkEditable *editable, gpointer data)
{
	(void)editable;
	validate(data);
}

static void atoll_manager_add_host_class_init(AtollManagerAddHostClass *klass)
{
	GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
	gtk_widget_class_set_template_from_resource(wc,
		"/org/atoll/Manager/atoll-manager-add-host.ui");
	gtk_widget_class_bind_template_child(wc, AtollManagerAddHost, dest_row);
	gtk_widget_class_bind_template_child(wc, AtollManagerAddHost, socket_row);
	gtk_widget_class_bind_template_child(wc, AtollManagerAddHost, dest_entry);
	gtk_widget_class_bind_template_child(wc, AtollManagerAddHost, socket_entry);
}

static void atoll_manager_add_host_init(AtollManagerAddHost *self)
{
	gtk_widget_init_template(GTK_WIDGET(self));
	atoll_set_accessible_label(GTK_WIDGET(self->dest_entry),
				   _("Remote host as user@host or user@host:port"));
	atoll_set_accessible_label(GTK_WIDGET(self->socket_entry),
				   _("Path of atolld's socket on the remote host"));
	g_signal_connect(self->dest_entry, "changed", G_CALLBACK(on_changed), self);
	g_signal_connect(self->socket_entry, "changed", G_CALLBACK(on_changed), self);
}

AtollManagerAddHost *atoll_manager_add_host_new(GtkWindow *parent)
{
	return g_object_new(ATOLL_TYPE_MANAGER_ADD_HOST, "transient-for", parent, NULL);
}

const char *atoll_manager_add_host_get_destination(AtollManagerAddHost *self)
{
	return gtk_editable_get_text(GTK_EDITABLE(self->dest_entry));
}

const char *atoll_manager_add_host_get_socket(AtollManagerAddHost *self)
{
	return gtk_editable_get_text(GTK_EDITABLE(self->socket_entry));
}
