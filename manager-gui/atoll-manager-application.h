/* atoll-manager-application.h - the AdwApplication: command line
 * (--socket), the About window, one main window per activation. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define ATOLL_MANAGER_APP_ID "org.atoll.Manager"

#define ATOLL_TYPE_MANAGER_APPLICATION (atoll_manager_application_get_type())
G_DECLARE_FINAL_TYPE(AtollManagerApplication, atoll_manager_application, ATOLL,
		     MANAGER_APPLICATION, AdwApplication)

AtollManagerApplication *atoll_manager_application_new(void);
/* The socket given with --socket, or NULL ($ATOLL_SOCKET or the default). */
const char *atoll_manager_application_get_socket(AtollManagerApplication *self);
void atoll_manager_application_set_socket(AtollManagerApplication *self, const char *path);

G_END_DECLS
