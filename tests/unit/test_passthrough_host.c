/* passthrough/host_pci.c and host_usb.c on a sysfs tree in the real layout
 * (pci_sysfs_fixture.h), whose "kernel" does to the tree what Linux does
 * when driver_override, unbind, bind and drivers_probe are written, and can
 * be told to refuse a probe.  The real sysfs and VFIO are exercised by the
 * hwsim scenario pcihost. */
#include "host_pci.h"
#include "host_usb.h"
#include "pci_sysfs_fixture.h"

typedef PciSysfs Fixture;

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static HostPci *open_hp(Fixture *f)
{
	HostPci *hp = host_pci_new(f->root, f->state);
	host_pci_set_writer(hp, pci_sysfs_kernel, f);
	return hp;
}

static const PreflightResult *find_check(GPtrArray *r, const char *check,
					 PreflightLevel level)
{
	for (guint i = 0; i < r->len; i++) {
		const PreflightResult *x = r->pdata[i];
		if (!strcmp(x->check, check) && x->level == level)
			return x;
	}
	return NULL;
}

/* ---- tests ---- */

static void test_parse_bdf(void)
{
	char out[HOST_PCI_BDF_LEN];

	g_assert_true(host_pci_parse_bdf("0000:01:00.0", out));
	g_assert_cmpstr(out, ==, "0000:01:00.0");
	g_assert_true(host_pci_parse_bdf("1:0.1", out));
	g_assert_cmpstr(out, ==, "0000:01:00.1");
	g_assert_true(host_pci_parse_bdf("00:1F.3", out));
	g_assert_cmpstr(out, ==, "0000:00:1f.3");
	g_assert_true(host_pci_parse_bdf("10000:00:00.0", out) == false);
	g_assert_false(host_pci_parse_bdf("00:20.0", out));   /* slot > 31 */
	g_assert_false(host_pci_parse_bdf("00:1f.8", out));   /* function > 7 */
	g_assert_false(host_pci_parse_bdf("00:1f", out));
	g_assert_false(host_pci_parse_bdf("0:0:0:0.0", out));
	g_assert_false(host_pci_parse_bdf("../../x:00.0", out));
	g_assert_false(host_pci_parse_bdf("", out));
	g_assert_false(host_pci_parse_bdf(NULL, out));
}

static void test_list(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(HostPci) hp = open_hp(f);
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) all = host_pci_list(hp, &err);

	g_assert_no_error(err);
	g_assert_cmpuint(all->len, ==, G_N_ELEMENTS(pci_sysfs_devs));
	const HostPciDev *port = all->pdata[0], *vga = all->pdata[1];
	const HostPciDev *nic = all->pdata[2], *gpu = all->pdata[6];
	g_assert_cmpstr(port->bdf, ==, "0000:00:01.0");
	g_assert_true(port->bridge);
	g_assert_cmpstr(nic->driver, ==, "e1000");
	g_assert_cmpint(nic->iommu_group, ==, 5);
	g_assert_cmphex(nic->vendor, ==, 0x8086);
	g_assert_cmphex(nic->device, ==, 0x100e);
	g_assert_cmphex(nic->class_code, ==, 0x020000);
	g_assert_false(nic->bridge);
	g_assert_false(nic->has_reset);
	g_assert_false(nic->has_rom);
	g_assert_null(nic->driver_override);
	g_assert_true(vga->boot_vga);
	g_assert_cmpstr(gpu->reset_method, ==, "flr bus");
	g_assert_true(gpu->has_rom);
	g_assert_false(gpu->bridge);   /* multi-function header 0x80 is type 0 */
	g_assert_true(host_pci_iommu_enabled(hp));

	g_autoptr(JsonNode) j = host_pci_dev_to_json(hp, gpu);
	JsonObject *o = json_node_get_object(j);
	g_assert_cmpstr(json_object_get_string_member(o, "class"), ==, "0x030000");
	g_assert_cmpstr(json_object_get_string_member(o, "vendor_id"), ==, "0x10de");
	g_assert_cmpint(json_object_get_int_member(o, "iommu_group"), ==, 1);
	JsonArray *others = json_object_get_array_member(o, "iommu_group_devices");
	g_assert_cmpuint(json_array_get_length(others), ==, 2);
	g_assert_cmpstr(json_array_get_string_element(others, 0), ==, "0000:00:01.0");
	JsonArray *fns = json_object_get_array_member(o, "functions");
	g_assert_cmpuint(json_array_get_length(fns), ==, 1);
	g_assert_cmpstr(json_array_get_string_element(fns, 0), ==, "0000:01:00.1");
	g_assert_false(json_object_get_boolean_member(o, "assignable"));
}

static void test_group_and_siblings(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(HostPci) hp = open_hp(f);
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) g = host_pci_group(hp, "00:1f.3", &err);

	g_assert_no_error(err);
	g_assert_cmpuint(g->len, ==, 3);
	g_assert_cmpstr(g->pdata[0], ==, "0000:00:1f.0");
	g_assert_cmpstr(g->pdata[2], ==, "0000:00:1f.3");
	g_autoptr(GPtrArray) s = host_pci_siblings(hp, "0000:01:00.1");
	g_assert_cmpuint(s->len, ==, 1);
	g_assert_cmpstr(s->pdata[0], ==, "0000:01:00.0");
	g_autoptr(GPtrArray) none = host_pci_siblings(hp, "0000:00:06.0");
	g_assert_cmpuint(none->len, ==, 0);
	g_autoptr(GPtrArray) missing = host_pci_group(hp, "0000:09:00.0", &err);
	g_assert_null(missing);
	g_assert_error(err, HOST_PCI_ERROR, HOST_PCI_ERROR_NOT_FOUND);
}

/* issue 6 test 4's unit half: a group with a bound endpoint is refused. */
static void test_preflight_bound(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(HostPci) hp = open_hp(f);
	g_autoptr(GPtrArray) r = host_pci_preflight(hp, "0000:00:06.0", NULL);

	g_assert_false(host_pci_preflight_passed(r));
	const PreflightResult *g = find_check(r, "group", PREFLIGHT_FAIL);
	g_assert_nonnull(g);
	g_assert_nonnull(strstr(g->message, "e1000"));
	g_assert_nonnull(strstr(g->message, "atoll pci-assignable-add 0000:00:06.0"));
	g_assert_nonnull(find_check(r, "iommu", PREFLIGHT_OK));
	g_assert_nonnull(find_check(r, "reset", PREFLIGHT_WARN));

	/* 00:1f.3 itself is unbound, but its group mates are not. */
	g_autoptr(GPtrArray) r2 = host_pci_preflight(hp, "00:1f.3", NULL);
	g_assert_false(host_pci_preflight_passed(r2));
	g_autofree char *sum = host_pci_preflight_summary(r2);
	g_assert_nonnull(strstr(sum, "0000:00:1f.0"));
	g_assert_nonnull(strstr(sum, "lpc_ich"));
	g_assert_nonnull(strstr(sum, "0000:00:1f.2"));
	g_assert_nonnull(strstr(sum, "ahci"));
	g_autoptr(JsonNode) j = host_pci_preflight_to_json("00:1f.3", r2);
	g_assert_false(json_object_get_boolean_member(json_node_get_object(j), "passed"));
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(j), "address"),
			==, "0000:00:1f.3");
}

static void test_preflight_gpu(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(HostPci) hp = open_hp(f);
	static const char *const both[] = { "0000:01:00.0", "01:00.1", NULL };
	PreflightOptions opt = { .rebind = both };
	g_autoptr(GPtrArray) strict = host_pci_preflight(hp, "01:00.0", NULL);
	g_autoptr(GPtrArray) start = host_pci_preflight(hp, "01:00.0", &opt);

	g_assert_false(host_pci_preflight_passed(strict));
	/* the audio function blocks; the root port (a bridge) does not */
	g_autofree char *sum = host_pci_preflight_summary(strict);
	g_assert_nonnull(strstr(sum, "snd_hda_intel"));
	g_assert_null(strstr(sum, "pcieport"));
	g_assert_true(host_pci_preflight_passed(start));
	g_assert_nonnull(find_check(start, "rom", PREFLIGHT_OK));
	g_assert_nonnull(find_check(start, "boot-vga", PREFLIGHT_OK));
	g_assert_nonnull(find_check(start, "reset", PREFLIGHT_OK));

	/* A ROM file that is not a ROM */
	g_autofree char *bad = g_build_filename(f->root, "bad.rom", NULL);
	ps_put(bad, "MZ..", 4);
	opt.rom_file = bad;
	g_autoptr(GPtrArray) badrom = host_pci_preflight(hp, "01:00.0", &opt);
	g_assert_nonnull(find_check(badrom, "rom", PREFLIGHT_FAIL));

	/* The boot GPU: refused unless forced; it has no ROM either. */
	g_autoptr(GPtrArray) boot = host_pci_preflight(hp, "00:02.0", NULL);
	g_assert_nonnull(find_check(boot, "boot-vga", PREFLIGHT_FAIL));
	g_assert_nonnull(find_check(boot, "rom", PREFLIGHT_FAIL));
	PreflightOptions force = { .force_boot_vga = true };
	g_autoptr(GPtrArray) forced = host_pci_preflight(hp, "00:02.0", &force);
	g_assert_nonnull(find_check(forced, "boot-vga", PREFLIGHT_WARN));
}

static void test_preflight_no_iommu(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(HostPci) hp = open_hp(f);
	g_autofree char *cls = ps_path_in(f, "class/iommu");
	g_autofree char *grp = ps_path_in(f, "kernel/iommu_groups");
	pci_sysfs_rm_rf(cls);
	pci_sysfs_rm_rf(grp);
	for (gsize i = 0; i < G_N_ELEMENTS(pci_sysfs_devs); i++) {
		g_autofree char *d = ps_devdir(f, pci_sysfs_devs[i].bdf);
		g_autofree char *l = g_build_filename(d, "iommu_group", NULL);
		g_unlink(l);
	}
	g_autoptr(GPtrArray) r = host_pci_preflight(hp, "0000:00:06.0", NULL);
	const PreflightResult *x = find_check(r, "iommu", PREFLIGHT_FAIL);
	g_assert_nonnull(x);
	g_assert_nonnull(strstr(x->message, "intel_iommu=on"));
	g_autoptr(GError) err = NULL;
	g_assert_false(host_pci_make_assignable(hp, "0000:00:06.0", "user", &err));
	g_assert_error(err, HOST_PCI_ERROR, HOST_PCI_ERROR_REFUSED);
	g_autofree char *drv = pci_sysfs_driver(f, "0000:00:06.0");
	g_assert_cmpstr(drv, ==, "e1000");

	g_autoptr(GPtrArray) gone = host_pci_preflight(hp, "0000:05:00.0", NULL);
	g_assert_nonnull(find_check(gone, "present", PREFLIGHT_FAIL));
}

static void test_assign_release(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(HostPci) hp = open_hp(f);
	g_autoptr(GError) err = NULL;

	g_assert_true(host_pci_make_assignable(hp, "00:06.0", "user", &err));
	g_assert_no_error(err);
	g_autofree char *now = pci_sysfs_driver(f, "0000:00:06.0");
	g_assert_cmpstr(now, ==, "vfio-pci");
	g_autofree char *owner = NULL;
	g_autofree char *orig = host_pci_recorded_driver(hp, "0000:00:06.0", &owner);
	g_assert_cmpstr(orig, ==, "e1000");
	g_assert_cmpstr(owner, ==, "user");
	/* the record is on disk, as JSON */
	g_autofree char *sf = g_build_filename(f->state, "pci-assignable.json", NULL);
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(sf, &text, NULL, NULL));
	g_assert_nonnull(strstr(text, "\"e1000\""));
	g_autoptr(GPtrArray) r = host_pci_preflight(hp, "0000:00:06.0", NULL);
	g_assert_true(host_pci_preflight_passed(r));

	/* again: nothing to do, the record stays */
	g_assert_true(host_pci_make_assignable(hp, "00:06.0", "domain:x", &err));
	g_autofree char *owner2 = NULL;
	g_autofree char *orig2 = host_pci_recorded_driver(hp, "0000:00:06.0", &owner2);
	g_assert_cmpstr(owner2, ==, "user");

	/* another owner's release leaves it */
	g_assert_true(host_pci_release(hp, "00:06.0", "domain:x", &err));
	g_autofree char *still = pci_sysfs_driver(f, "0000:00:06.0");
	g_assert_cmpstr(still, ==, "vfio-pci");

	g_assert_true(host_pci_release(hp, "00:06.0", NULL, &err));
	g_assert_no_error(err);
	g_autofree char *back = pci_sysfs_driver(f, "0000:00:06.0");
	g_assert_cmpstr(back, ==, "e1000");
	g_autofree char *ov = pci_sysfs_override(f, "0000:00:06.0");
	g_assert_cmpstr(ov, ==, "(null)");
	g_autofree char *gone = host_pci_recorded_driver(hp, "0000:00:06.0", NULL);
	g_assert_null(gone);
}

static void test_assign_group(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(HostPci) hp = open_hp(f);
	g_autoptr(GError) err = NULL;

	g_assert_true(host_pci_make_assignable(hp, "01:00.0", "domain:game", &err));
	g_assert_no_error(err);
	g_autofree char *a = pci_sysfs_driver(f, "0000:01:00.0");
	g_autofree char *b = pci_sysfs_driver(f, "0000:01:00.1");
	g_autofree char *port = pci_sysfs_driver(f, "0000:00:01.0");
	g_assert_cmpstr(a, ==, "vfio-pci");
	g_assert_cmpstr(b, ==, "vfio-pci");
	g_assert_cmpstr(port, ==, "pcieport");   /* bridges keep theirs */
	g_assert_true(host_pci_release(hp, "0000:01:00.1", "domain:game", &err));
	g_autofree char *a2 = pci_sysfs_driver(f, "0000:01:00.0");
	g_autofree char *b2 = pci_sysfs_driver(f, "0000:01:00.1");
	g_assert_cmpstr(a2, ==, "nouveau");
	g_assert_cmpstr(b2, ==, "snd_hda_intel");

	/* an unbound endpoint goes to vfio-pci and back to no driver */
	g_assert_true(host_pci_make_assignable(hp, "00:1f.3", "user", &err));
	g_autofree char *smb = pci_sysfs_driver(f, "0000:00:1f.3");
	g_assert_cmpstr(smb, ==, "vfio-pci");
	g_assert_true(host_pci_release(hp, "00:1f.3", NULL, &err));
	g_autofree char *smb2 = pci_sysfs_driver(f, "0000:00:1f.3");
	g_autofree char *isa = pci_sysfs_driver(f, "0000:00:1f.0");
	g_assert_null(smb2);
	g_assert_cmpstr(isa, ==, "lpc_ich");
}

/* The second function will not bind: the first must get its driver back,
 * and nothing may stay recorded. */
static void test_failed_bind_rolls_back(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(HostPci) hp = open_hp(f);
	g_autoptr(GError) err = NULL;

	f->fail_probe = g_strdup("0000:01:00.1");
	g_assert_false(host_pci_make_assignable(hp, "01:00.0", "user", &err));
	g_assert_error(err, HOST_PCI_ERROR, HOST_PCI_ERROR_HOST);
	g_assert_nonnull(strstr(err->message, "0000:01:00.1 did not bind to vfio-pci"));
	g_assert_nonnull(strstr(err->message, "original drivers are bound again"));
	g_autofree char *a = pci_sysfs_driver(f, "0000:01:00.0");
	g_autofree char *b = pci_sysfs_driver(f, "0000:01:00.1");
	g_assert_cmpstr(a, ==, "nouveau");
	g_assert_cmpstr(b, ==, "snd_hda_intel");
	g_autofree char *ova = pci_sysfs_override(f, "0000:01:00.0");
	g_autofree char *ovb = pci_sysfs_override(f, "0000:01:00.1");
	g_assert_cmpstr(ova, ==, "(null)");
	g_assert_cmpstr(ovb, ==, "(null)");
	g_autofree char *rec = host_pci_recorded_driver(hp, "0000:01:00.0", NULL);
	g_assert_null(rec);
}

/* A driver that refuses a direct bind on the way back: drivers_probe
 * finds it instead. */
static void test_release_falls_back_to_probe(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(HostPci) hp = open_hp(f);
	g_autoptr(GError) err = NULL;

	g_assert_true(host_pci_make_assignable(hp, "00:06.0", "user", &err));
	f->fail_bind = g_strdup("0000:00:06.0");
	g_assert_true(host_pci_release(hp, "00:06.0", NULL, &err));
	g_assert_no_error(err);
	g_autofree char *back = pci_sysfs_driver(f, "0000:00:06.0");
	g_assert_cmpstr(back, ==, "e1000");
}

static void test_no_vfio_driver(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(HostPci) hp = open_hp(f);
	g_autoptr(GError) err = NULL;
	g_autofree char *vfio = ps_path_in(f, "bus/pci/drivers/vfio-pci");

	pci_sysfs_rm_rf(vfio);
	g_assert_false(host_pci_make_assignable(hp, "00:06.0", "user", &err));
	g_assert_nonnull(strstr(err->message, "modprobe vfio-pci"));
	g_autofree char *drv = pci_sysfs_driver(f, "0000:00:06.0");
	g_assert_cmpstr(drv, ==, "e1000");
	g_assert_cmpuint(f->writes, ==, 0);
}

static void test_broken_state_file(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(HostPci) hp = open_hp(f);
	g_autoptr(GError) err = NULL;
	g_autofree char *sf = g_build_filename(f->state, "pci-assignable.json", NULL);

	ps_put(sf, "{ not json", -1);
	g_assert_false(host_pci_make_assignable(hp, "00:06.0", "user", &err));
	g_assert_nonnull(strstr(err->message, "pci-assignable.json"));
	g_autofree char *drv = pci_sysfs_driver(f, "0000:00:06.0");
	g_assert_cmpstr(drv, ==, "e1000");
}

/* ---- USB ---- */

static void test_usb_spec(void)
{
	UsbSpec s;

	g_assert_true(host_usb_parse_spec("46F4:0001", &s));
	g_assert_cmpint(s.kind, ==, USB_SPEC_ID);
	g_autofree char *t = host_usb_spec_string(&s);
	g_assert_cmpstr(t, ==, "46f4:0001");
	g_assert_true(host_usb_parse_spec("1-4.2", &s));
	g_assert_cmpint(s.kind, ==, USB_SPEC_PATH);
	g_assert_cmpstr(s.path, ==, "1-4.2");
	g_assert_false(host_usb_parse_spec("46f4:1", &s));
	g_assert_false(host_usb_parse_spec("46f4:00012", &s));
	g_assert_false(host_usb_parse_spec("1-", &s));
	g_assert_false(host_usb_parse_spec("1-0", &s));
	g_assert_false(host_usb_parse_spec("1-4..2", &s));
	g_assert_false(host_usb_parse_spec("1-1.1.1.1.1.1.1.1", &s));
	g_assert_false(host_usb_parse_spec("usb1", &s));
	g_assert_false(host_usb_parse_spec("", &s));
}

static void test_usb_resolve(void)
{
	g_autoptr(JsonNode) list = json_from_string(
		"[{\"id\": \"1d6b:0002\", \"path\": null},"
		" {\"id\": \"46f4:0001\", \"path\": \"1-1\"},"
		" {\"id\": \"0627:0001\", \"path\": \"1-2\"},"
		" {\"id\": \"0627:0001\", \"path\": \"2-1.3\"}]", NULL);
	UsbSpec s;
	g_autoptr(GError) err = NULL;

	host_usb_parse_spec("46f4:0001", &s);
	g_autofree char *p = host_usb_resolve(list, &s, &err);
	g_assert_cmpstr(p, ==, "1-1");
	host_usb_parse_spec("2-1.3", &s);
	g_autofree char *q = host_usb_resolve(list, &s, &err);
	g_assert_cmpstr(q, ==, "2-1.3");
	host_usb_parse_spec("0627:0001", &s);
	g_assert_null(host_usb_resolve(list, &s, &err));
	g_assert_error(err, HOST_USB_ERROR, HOST_USB_ERROR_AMBIGUOUS);
	g_assert_nonnull(strstr(err->message, "1-2, 2-1.3"));
	g_clear_error(&err);
	host_usb_parse_spec("1d6b:0002", &s);   /* root hub: not passable */
	g_assert_null(host_usb_resolve(list, &s, &err));
	g_assert_error(err, HOST_USB_ERROR, HOST_USB_ERROR_NOT_FOUND);
}

/* libusb on this machine: whatever it finds must be well-formed. */
static void test_usb_list_real(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonNode) list = host_usb_list(NULL, &err);

	if (!list) {
		g_assert_nonnull(strstr(err->message, "libusb"));
		g_test_skip("libusb cannot enumerate here");
		return;
	}
	JsonArray *a = json_node_get_array(list);
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonObject *o = json_array_get_object_element(a, i);
		UsbSpec s;
		g_assert_true(host_usb_parse_spec(json_object_get_string_member(o, "id"), &s));
		const char *path = json_object_get_string_member_with_default(o, "path", NULL);
		if (path)
			g_assert_true(host_usb_parse_spec(path, &s));
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/host-pci/parse-bdf", test_parse_bdf);
#define FX(name, fn) g_test_add("/host-pci/" name, Fixture, NULL, \
				pci_sysfs_set_up, fn, pci_sysfs_tear_down)
	FX("list", test_list);
	FX("group-and-siblings", test_group_and_siblings);
	FX("preflight-bound-endpoint", test_preflight_bound);
	FX("preflight-gpu", test_preflight_gpu);
	FX("preflight-no-iommu", test_preflight_no_iommu);
	FX("assign-release", test_assign_release);
	FX("assign-group", test_assign_group);
	FX("failed-bind-rolls-back", test_failed_bind_rolls_back);
	FX("release-falls-back-to-probe", test_release_falls_back_to_probe);
	FX("no-vfio-driver", test_no_vfio_driver);
	FX("broken-state-file", test_broken_state_file);
	g_test_add_func("/host-usb/spec", test_usb_spec);
	g_test_add_func("/host-usb/resolve", test_usb_resolve);
	g_test_add_func("/host-usb/list-real", test_usb_list_real);
	return g_test_run();
}
