/* atoll-manager-new-domain.h - the new-domain assistant: name, memory and
 * vCPUs within the host's limits, boot source, network and label colour.
 * Input is checked beside each field before POST /v1/domains, and a field
 * atolld rejects is marked on its row. */
#pragma once

#include <adwaita.h>
#include "atoll-client.h"

G_BEGIN_DECLS

#define ATOLL_TYPE_MANAGER_NEW_DOMAIN (atoll_manager_new_domain_get_type())
G_DECLARE_FINAL_TYPE(AtollManagerNewDomain, atoll_manager_new_domain, ATOLL,
		     MANAGER_NEW_DOMAIN, AdwWindow)

/* @host: GET /v1/host (may be NULL: no limits known). */
AtollManagerNewDomain *atoll_manager_new_domain_new(GtkWindow *parent, AtollClient *client,
						    JsonNode *host);
/* What the Create button does: validate, then define (async).  Returns
 * FALSE when local validation failed (errors shown beside the fields). */
gboolean atoll_manager_new_domain_create(AtollManagerNewDomain *self);
/* The definition the current input makes (for tests and for Create). */
JsonNode *atoll_manager_new_domain_build(AtollManagerNewDomain *self);
/* TRUE once GET /v1/networks has answered (either way). */
gboolean atoll_manager_new_domain_networks_loaded(AtollManagerNewDomain *self);
/* The message shown for errors that name no field, or NULL. */
const char *atoll_manager_new_domain_get_general_error(AtollManagerNewDomain *self);

/* Signal "created" (const char *name): the domain was defined. */

G_END_DECLS
