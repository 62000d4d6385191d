/* atoll-manager-add-host.h - the "Add Remote Host" dialog: an ssh
 * destination and atolld's socket path on that host.  "add" is enabled
 * only while the destination is acceptable; the reason is shown beside
 * the field otherwise. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define ATOLL_TYPE_MANAGER_ADD_HOST (atoll_manager_add_host_get_type())
G_DECLARE_FINAL_TYPE(AtollManagerAddHost, atoll_manager_add_host, ATOLL, MANAGER_ADD_HOST,
		     AdwMessageDialog)

AtollManagerAddHost *atoll_manager_add_host_new(GtkWindow *parent);
const char *atoll_manager_add_host_get_destination(AtollManagerAddHost *self);
/* The socket path on the host (the default when left as it was). */
const char *atoll_manager_add_host_get_socket(AtollManagerAddHost *self);

G_END_DECLS
