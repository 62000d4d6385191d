/* The daemon object: its directories and the table of domains. */
#include "atolld.h"
#include "usb_watch.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#ifdef ATOLLD_HAVE_LIBVIRT
#include "hostres.h"
#endif
#ifdef ATOLLD_HAVE_EVENTS
#include "vmm_client.h"   /* events_free() */
#endif

void domain_set_state(Domain *dom, DomainState state, const char *reason)
{
	dom->state = state;
#ifdef ATOLLD_HAVE_EVENTS
	events_emit_state(dom->daemon, dom, reason);
#else
	g_debug("%s: state %s (%s)", dom->name, domain_state_name(state),
		reason ? reason : "-");
#endif
}

bool domain_is_active(const Domain *dom)
{
	switch (dom->state) {
	case DOMAIN_STARTING:
	case DOMAIN_RUNNING:
	case DOMAIN_PAUSED:
	case DOMAIN_SHUTTING_DOWN:
		return true;
	default:
		/* A crashed domain with on_crash=preserve keeps its VMM. */
		return dom->pid > 0;
	}
}

static void domain_free(Domain *dom)
{
#ifdef ATOLLD_HAVE_SUPERVISOR
	/* Frees the supervisor/stats/console state; a VMM keeps running. */
	supervisor_forget(dom);
#endif
	domain_def_free(dom->def);
	g_free(dom->name);
	g_free(dom->broken_reason);
	g_free(dom->last_exit_reason);
	if (dom->pci_held)
		g_ptr_array_unref(dom->pci_held);
	if (dom->usb_held)
		g_ptr_array_unref(dom->usb_held);
	g_free(dom);
}

static bool make_dir(const char *path, int mode, GError **error)
{
	if (g_mkdir_with_parents(path, mode) == 0)
		return true;
	int e = errno;
	g_set_error(error, ATOLLD_ERROR, ATOLLD_ERROR_HOST,
		    "cannot create directory %s: %s — check that the parent "
		    "exists and atolld runs as root", path, g_strerror(e));
	return false;
}

Atolld *atolld_new(const char *state_dir, const char *run_dir,
		   const char *vmm_path, GError **error)
{
	g_autofree char *domains = g_build_filename(state_dir, "domains", NULL);
	g_autofree char *images = g_build_filename(state_dir, "images", NULL);
	g_autofree char *vmm = g_build_filename(run_dir, "vmm", NULL);

	/* run_dir must be searchable by group atoll to reach the socket. */
	if (!make_dir(state_dir, 0755, error) || !make_dir(domains, 0750, error) ||
	    !make_dir(images, 0750, error) || !make_dir(run_dir, 0755, error) ||
	    !make_dir(vmm, 0750, error))
		return NULL;

	Atolld *d = g_new0(Atolld, 1);
	d->state_dir = g_strdup(state_dir);
	d->run_dir = g_strdup(run_dir);
	d->vmm_path = g_strdup(vmm_path);
	/* Another sysfs tree only for tests (passthrough's fixtures). */
	const char *sysfs = g_getenv("ATOLL_SYSFS_ROOT");
	d->sysfs_root = g_strdup(sysfs && *sysfs ? sysfs : "/sys");
	d->domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					   (GDestroyNotify)domain_free);
	return d;
}

#ifdef ATOLLD_HAVE_LIBVIRT
AtollLibvirt *atolld_libvirt(Atolld *d, GError **error)
{
	if (!d->libvirt)
		d->libvirt = atoll_libvirt_open(g_getenv("ATOLL_LIBVIRT_URI"), error);
	return d->libvirt;
}

void atolld_libvirt_reset(Atolld *d)
{
	g_clear_pointer((AtollLibvirt **)&d->libvirt, atoll_libvirt_close);
}
#endif

void atolld_free(Atolld *d)
{
	if (!d)
		return;
	api_stop(d);
	usb_watch_stop(d);
	g_hash_table_destroy(d->domains);
#ifdef ATOLLD_HAVE_EVENTS
	/* After the domains: forgetting one may still emit an event. */
	events_free(d);
#endif
#ifdef ATOLLD_HAVE_LIBVIRT
	atolld_libvirt_reset(d);
#endif
	g_free(d->state_dir);
	g_free(d->run_dir);
	g_free(d->vmm_path);
	g_free(d->sysfs_root);
	g_free(d);
}

Domain *atolld_lookup(Atolld *d, const char *name)
{
	return g_hash_table_lookup(d->domains, name);
}

static Domain *add_entry(Atolld *d, const char *name)
{
	Domain *dom = g_new0(Domain, 1);
	dom->daemon = d;
	dom->name = g_strdup(name);
	/* The key is the entry's own name, freed with the entry. */
	g_hash_table_replace(d->domains, dom->name, dom);
	return dom;
}

Domain *atolld_add_domain(Atolld *d, DomainDef *def)
{
	Domain *dom = add_entry(d, def->name);
	dom->def = def;
	dom->state = DOMAIN_SHUTOFF;
	return dom;
}

Domain *atolld_add_broken(Atolld *d, const char *name, const char *reason)
{
	Domain *dom = add_entry(d, name);
	dom->broken_reason = g_strdup(reason);
	dom->state = DOMAIN_BROKEN;
	return dom;
}

void atolld_remove_domain(Atolld *d, const char *name)
{
	g_hash_table_remove(d->domains, name);
}

void atolld_autostart(Atolld *d)
{
#ifdef ATOLLD_HAVE_SUPERVISOR
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, d->domains);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		Domain *dom = value;
		g_autoptr(GError) err = NULL;
		if (!dom->def || !dom->def->autostart || domain_is_active(dom))
			continue;
		if (!supervisor_start(dom, &err))
			g_warning("autostart of %s failed: %s", dom->name,
				  err->message);
	}
#else
	(void)d;
	g_message("atolld was built without the supervisor: autostart skipped");
#endif
}
