/* atoll-manager: the GTK 4 + libadwaita manager for atolld. */
#include "atoll-manager-application.h"

#include <glib/gi18n.h>

int main(int argc, char **argv)
{
	g_set_application_name(_("Atoll Manager"));
	g_autoptr(AtollManagerApplication) app = atoll_manager_application_new();
	return g_application_run(G_APPLICATION(app), argc, argv);
}
