/* usb_watch.c's event shaping and passthrough.c's bookkeeping on unplug:
 * listings in (as host_usb_list makes them), "device-changed" events out,
 * and what the domains hold before and after. */
#include "usb_watch.h"

#include <glib/gstdio.h>
#include <string.h>

typedef struct {
	char *tmp;
	Atolld *d;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) e = NULL;
	g_autofree char *state = NULL, *run = NULL;
	(void)data;
	f->tmp = g_dir_make_tmp("atolld-usbw-XXXXXX", NULL);
	state = g_build_filename(f->tmp, "state", NULL);
	run = g_build_filename(f->tmp, "run", NULL);
	f->d = atolld_new(state, run, "/bin/false", &e);
	g_assert_no_error(e);
}

static void teardown(Fixture *f, gconstpointer data)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->tmp);
	(void)data;
	atolld_free(f->d);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(f->tmp);
}

/* A listing entry the way host_usb_list writes it. */
static void dev_json(GString *s, const char *id, int bus, int addr, const char *path)
{
	g_string_append_printf(s, "%s{\"id\": \"%s\", \"vendor_id\": \"0x%.4s\", "
			       "\"product_id\": \"0x%s\", \"bus\": %d, \"address\": %d, "
			       "\"path\": %s%s%s, \"speed\": \"full\", \"class\": \"0x00\", "
			       "\"manufacturer\": \"QEMU\", \"product\": \"QEMU USB Keyboard\", "
			       "\"serial\": null, \"hub\": false}",
			       s->len > 1 ? ", " : "", id, id, id + 5, bus, addr,
			       path ? "\"" : "", path ? path : "null", path ? "\"" : "");
}

/* "id@bus.addr=path ..." -> a listing; a root hub is always there. */
static JsonNode *listing(const char *spec)
{
	g_autoptr(GString) s = g_string_new("[");
	g_auto(GStrv) devs = g_strsplit(spec, " ", -1);
	dev_json(s, "1d6b:0002", 1, 1, NULL);
	for (char **p = devs; *p && **p; p++) {
		char id[10];
		int bus, addr;
		char path[32];
		g_assert_cmpint(sscanf(*p, "%9[^@]@%d.%d=%31s", id, &bus, &addr, path), ==, 4);
		dev_json(s, id, bus, addr, path);
	}
	g_string_append_c(s, ']');
	g_autoptr(GError) e = NULL;
	JsonNode *n = json_from_string(s->str, &e);
	g_assert_no_error(e);
	return n;
}

static Domain *running_domain(Fixture *f, const char *name, const char *usb_host)
{
	g_autofree char *json = g_strdup_printf(
		"{\"name\": \"%s\", \"memory_mib\": 256, \"vcpus\": 1, "
		"\"kernel\": \"/boot/vmlinuz\", \"usb\": [{\"host\": \"%s\"}]}",
		name, usb_host);
	g_autoptr(GError) e = NULL;
	g_autoptr(JsonNode) n = json_from_string(json, &e);
	g_assert_no_error(e);
	DomainDef *def = domain_def_from_json(n, &e);
	g_assert_no_error(e);
	Domain *dom = atolld_add_domain(f->d, def);
	dom->state = DOMAIN_RUNNING;
	dom->pid = 4242;   /* never signalled: nothing here touches processes */
	passthrough_domain_adopt(dom);
	return dom;
}

static guint n_held(Domain *dom)
{
	g_autoptr(JsonNode) n = passthrough_domain_usb(dom);
	return json_array_get_length(json_node_get_array(n));
}

static JsonObject *event(GPtrArray *evs, guint i)
{
	g_assert_cmpuint(i, <, evs->len);
	JsonObject *o = json_node_get_object(evs->pdata[i]);
	g_assert_cmpstr(json_object_get_string_member(o, "type"), ==, "device-changed");
	g_assert_cmpstr(json_object_get_string_member(o, "kind"), ==, "usb");
	return o;
}

static const char *ev_domain(JsonObject *o)
{
	g_assert_true(json_object_has_member(o, "domain"));
	return json_object_get_string_member_with_default(o, "domain", NULL);
}

static JsonObject *ev_device(JsonObject *o)
{
	return json_object_get_object_member(o, "device");
}

static void test_added_removed(Fixture *f, gconstpointer data)
{
	g_autoptr(JsonNode) a = listing("");
	g_autoptr(JsonNode) b = listing("0627:0001@1.3=1-1");
	(void)data;

	g_autoptr(GPtrArray) none = usb_watch_changes(f->d, b, b);
	g_assert_cmpuint(none->len, ==, 0);

	g_autoptr(GPtrArray) add = usb_watch_changes(f->d, a, b);
	g_assert_cmpuint(add->len, ==, 1);
	JsonObject *ev = event(add, 0);
	g_assert_cmpstr(json_object_get_string_member(ev, "action"), ==, "added");
	g_assert_null(ev_domain(ev));
	/* The whole GET /v1/host/usb entry, used_by included. */
	JsonObject *dev = ev_device(ev);
	JsonObject *listed = json_array_get_object_element(json_node_get_array(b), 1);
	GList *members = json_object_get_members(listed);
	for (GList *l = members; l; l = l->next)
		g_assert_true(json_node_equal(json_object_get_member(dev, l->data),
					      json_object_get_member(listed, l->data)));
	g_list_free(members);
	g_assert_cmpuint(json_object_get_size(dev), ==, json_object_get_size(listed) + 1);
	g_assert_true(json_object_get_null_member(dev, "used_by"));
	g_assert_cmpstr(json_object_get_string_member(dev, "path"), ==, "1-1");

	g_autoptr(GPtrArray) rm = usb_watch_changes(f->d, b, a);
	g_assert_cmpuint(rm->len, ==, 1);
	ev = event(rm, 0);
	g_assert_cmpstr(json_object_get_string_member(ev, "action"), ==, "removed");
	g_assert_null(ev_domain(ev));
	g_assert_cmpstr(json_object_get_string_member(ev_device(ev), "id"), ==, "0627:0001");
	g_assert_cmpint(json_object_get_int_member(ev_device(ev), "address"), ==, 3);
}

/* Unplugged while a running domain had it (named by path): the event
 * names the domain, the hold is gone, and the device comes back free. */
static void test_unplug_held(Fixture *f, gconstpointer data)
{
	g_autoptr(JsonNode) before = listing("0627:0001@1.3=1-1 46f4:0001@1.4=1-2");
	g_autoptr(JsonNode) gone = listing("46f4:0001@1.4=1-2");
	g_autoptr(JsonNode) back = listing("0627:0001@1.5=1-1 46f4:0001@1.4=1-2");
	Domain *dom = running_domain(f, "u1", "1-1");
	Domain *other = running_domain(f, "u2", "1-2");
	(void)data;

	g_assert_cmpuint(n_held(dom), ==, 1);
	g_autoptr(GPtrArray) rm = usb_watch_changes(f->d, before, gone);
	g_assert_cmpuint(rm->len, ==, 1);
	JsonObject *ev = event(rm, 0);
	g_assert_cmpstr(json_object_get_string_member(ev, "action"), ==, "removed");
	g_assert_cmpstr(ev_domain(ev), ==, "u1");
	g_assert_cmpstr(json_object_get_string_member(ev_device(ev), "used_by"), ==, "u1");
	g_assert_cmpuint(n_held(dom), ==, 0);
	g_assert_cmpuint(n_held(other), ==, 1);
	g_assert_null(passthrough_usb_user(f->d, "0627:0001", "1-1", true));

	g_autoptr(GPtrArray) add = usb_watch_changes(f->d, gone, back);
	g_assert_cmpuint(add->len, ==, 1);
	ev = event(add, 0);
	g_assert_cmpstr(json_object_get_string_member(ev, "action"), ==, "added");
	g_assert_null(ev_domain(ev));
	g_assert_true(json_object_get_null_member(ev_device(ev), "used_by"));
	g_assert_cmpuint(n_held(other), ==, 1);
}

/* Re-plugged between two passes: a new address, so removed then added. */
static void test_replug(Fixture *f, gconstpointer data)
{
	g_autoptr(JsonNode) before = listing("0627:0001@1.3=1-1");
	g_autoptr(JsonNode) after = listing("0627:0001@1.6=1-1");
	Domain *dom = running_domain(f, "u1", "1-1");
	(void)data;

	g_autoptr(GPtrArray) evs = usb_watch_changes(f->d, before, after);
	g_assert_cmpuint(evs->len, ==, 2);
	g_assert_cmpstr(json_object_get_string_member(event(evs, 0), "action"), ==, "removed");
	g_assert_cmpstr(ev_domain(event(evs, 0)), ==, "u1");
	g_assert_cmpstr(json_object_get_string_member(event(evs, 1), "action"), ==, "added");
	g_assert_null(ev_domain(event(evs, 1)));
	g_assert_cmpuint(n_held(dom), ==, 0);
}

/* Held by VID:PID: the unplugged device is the held one only when it had
 * no twin; a stopped domain holds nothing. */
static void test_by_id(Fixture *f, gconstpointer data)
{
	g_autoptr(JsonNode) twins = listing("abcd:0001@2.3=2-1 abcd:0001@2.4=2-2");
	g_autoptr(JsonNode) one = listing("abcd:0001@2.4=2-2");
	g_autoptr(JsonNode) none = listing("");
	Domain *dom = running_domain(f, "u1", "abcd:0001");
	(void)data;

	g_autoptr(GPtrArray) evs = usb_watch_changes(f->d, twins, one);
	g_assert_cmpuint(evs->len, ==, 1);
	g_assert_null(ev_domain(event(evs, 0)));
	g_assert_cmpuint(n_held(dom), ==, 1);

	dom->state = DOMAIN_SHUTOFF;
	dom->pid = 0;
	g_autoptr(GPtrArray) off = usb_watch_changes(f->d, one, none);
	g_assert_null(ev_domain(event(off, 0)));
	g_assert_cmpuint(n_held(dom), ==, 1);

	dom->state = DOMAIN_RUNNING;
	dom->pid = 4242;
	g_autoptr(GPtrArray) on = usb_watch_changes(f->d, one, none);
	g_assert_cmpuint(on->len, ==, 1);
	g_assert_cmpstr(ev_domain(event(on, 0)), ==, "u1");
	g_assert_cmpuint(n_held(dom), ==, 0);
}

/* Listings that are not what host_usb_list writes do not crash it. */
static void test_odd_input(Fixture *f, gconstpointer data)
{
	g_autoptr(JsonNode) obj = json_from_string("{\"a\": 1}", NULL);
	g_autoptr(JsonNode) odd = json_from_string("[1, \"x\", {}, {\"bus\": \"1\"}]", NULL);
	g_autoptr(JsonNode) b = listing("0627:0001@1.3=1-1");
	(void)data;

	g_autoptr(GPtrArray) e1 = usb_watch_changes(f->d, NULL, NULL);
	g_assert_cmpuint(e1->len, ==, 0);
	g_autoptr(GPtrArray) e2 = usb_watch_changes(f->d, obj, b);
	g_assert_cmpuint(e2->len, ==, 2);
	g_autoptr(GPtrArray) e3 = usb_watch_changes(f->d, odd, NULL);
	g_assert_cmpuint(e3->len, >=, 1);
	for (guint i = 0; i < e3->len; i++)
		g_assert_cmpstr(json_object_get_string_member(event(e3, i), "action"), ==, "removed");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* passthrough's VID:PID resolution lists this host; keep it out. */
	g_setenv("ATOLL_SYSFS_ROOT", "/nonexistent", TRUE);
	g_test_add("/usb_watch/added_removed", Fixture, NULL, setup, test_added_removed, teardown);
	g_test_add("/usb_watch/unplug_held", Fixture, NULL, setup, test_unplug_held, teardown);
	g_test_add("/usb_watch/replug", Fixture, NULL, setup, test_replug, teardown);
	g_test_add("/usb_watch/by_id", Fixture, NULL, setup, test_by_id, teardown);
	g_test_add("/usb_watch/odd_input", Fixture, NULL, setup, test_odd_input, teardown);
	return g_test_run();
}
