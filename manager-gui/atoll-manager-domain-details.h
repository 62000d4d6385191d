/* atoll-manager-domain-details.h - the right-hand side for one domain:
 * overview, editable settings (PUT /v1/domains/NAME), performance graphs
 * (GET .../stats) and the console tab. */
#pragma once

#include <adwaita.h>
#include "atoll-client.h"
#include "atoll-manager-host.h"

G_BEGIN_DECLS

#define ATOLL_TYPE_MANAGER_DOMAIN_DETAILS (atoll_manager_domain_details_get_type())
G_DECLARE_FINAL_TYPE(AtollManagerDomainDetails, atoll_manager_domain_details, ATOLL,
		     MANAGER_DOMAIN_DETAILS, AdwBin)

void atoll_manager_domain_details_set_client(AtollManagerDomainDetails *self,
					     AtollClient *client);
/* The host the client talks to: consoles of a remote host are forwarded
 * through it (atoll_manager_host_map_uri_async). */
void atoll_manager_domain_details_set_host(AtollManagerDomainDetails *self,
					   AtollManagerHost *host);
/* Shows @name (NULL: nothing) and loads its definition. */
void atoll_manager_domain_details_show(AtollManagerDomainDetails *self, const char *name);
/* Loads the definition and status again (the overview; settings being
 * edited are left alone). */
void atoll_manager_domain_details_reload(AtollManagerDomainDetails *self);
/* An atolld "device-changed" event: the Devices tab refreshes. */
void atoll_manager_domain_details_device_changed(AtollManagerDomainDetails *self,
						 JsonNode *event);
/* The definition last loaded (GET /v1/domains/NAME), or NULL. */
JsonNode *atoll_manager_domain_details_get_definition(AtollManagerDomainDetails *self);
/* Number of stats replies received for the shown domain (tests). */
guint atoll_manager_domain_details_get_stats_count(AtollManagerDomainDetails *self);

/* Draws the graphs from @samples in the format of GET …/stats (the poll
 * does this every 2 s; tests call it with samples of their own). */
void atoll_manager_domain_details_show_samples(AtollManagerDomainDetails *self,
					       JsonArray *samples);
/* "cpu", "memory", "disk" or "network". */
GtkWidget *atoll_manager_domain_details_get_graph(AtollManagerDomainDetails *self,
						  const char *which);

G_END_DECLS
