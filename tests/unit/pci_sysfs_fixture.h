/* A sysfs tree in the real layout for the passthrough tests (bus/pci/
 * devices -> devices/..., iommu_group links, driver links, kernel/
 * iommu_groups), with a q35-like set of devices: a root port and a GPU +
 * audio pair sharing group 1, a boot VGA (group 2), an e1000 alone in
 * group 5, the 00:1f.* chipset functions in group 7.  Its "kernel" is
 * pci_sysfs_kernel(), a HostPciWriteFn doing to the tree what Linux does on
 * writes to driver_override, unbind, bind and drivers_probe; it can be
 * told to refuse a probe or a bind.  A fixture, not product code. */
#ifndef ATOLL_PCI_SYSFS_FIXTURE_H
#define ATOLL_PCI_SYSFS_FIXTURE_H

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

typedef struct {
	char *root, *state;
	GHashTable *defaults;   /* bdf -> the driver drivers_probe picks */
	char *fail_probe;       /* this bdf does not bind to vfio-pci */
	char *fail_bind;        /* drivers/X/bind refuses this bdf */
	unsigned writes;
} PciSysfs;

typedef struct {
	const char *bdf;
	unsigned vendor, device, class_code;
	int group;
	const char *driver;
	unsigned header;        /* config byte 0x0e */
	bool boot_vga, rom;
	const char *reset_method;
} PciSysfsDev;

static const PciSysfsDev pci_sysfs_devs[] = {
	{ "0000:00:01.0", 0x8086, 0x29c1, 0x060400, 1, "pcieport", 0x01, false, false, NULL },
	{ "0000:00:02.0", 0x1234, 0x1111, 0x030000, 2, "bochs-drm", 0x00, true, false, NULL },
	{ "0000:00:06.0", 0x8086, 0x100e, 0x020000, 5, "e1000", 0x00, false, false, NULL },
	{ "0000:00:1f.0", 0x8086, 0x2918, 0x060100, 7, "lpc_ich", 0x80, false, false, NULL },
	{ "0000:00:1f.2", 0x8086, 0x2922, 0x010601, 7, "ahci", 0x00, false, false, "bus" },
	{ "0000:00:1f.3", 0x8086, 0x2930, 0x0c0500, 7, NULL, 0x00, false, false, NULL },
	{ "0000:01:00.0", 0x10de, 0x1b80, 0x030000, 1, "nouveau", 0x80, false, true, "flr bus" },
	{ "0000:01:00.1", 0x10de, 0x10f0, 0x040300, 1, "snd_hda_intel", 0x80, false, false, "flr" },
};

static const char *const pci_sysfs_drivers[] = {
	"pcieport", "bochs-drm", "e1000", "lpc_ich", "ahci", "nouveau",
	"snd_hda_intel", "vfio-pci", "pci-stub", NULL,
};

static inline char *ps_path_in(PciSysfs *f, const char *rel)
{
	return g_build_filename(f->root, rel, NULL);
}

static inline void ps_put(const char *path, const char *text, gssize len)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	g_assert_true(g_file_set_contents(path, text, len, NULL));
}

static inline void ps_put_at(const char *dir, const char *name, const char *text, gssize len)
{
	g_autofree char *p = g_build_filename(dir, name, NULL);
	ps_put(p, text, len);
}

static inline void ps_link_to(const char *target, const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	g_unlink(path);
	g_assert_cmpint(symlink(target, path), ==, 0);
}

static inline char *ps_devdir(PciSysfs *f, const char *bdf)
{
	return g_strdup_printf("%s/devices/pci0000:00/%s", f->root, bdf);
}

static inline void ps_bind_link(PciSysfs *f, const char *bdf, const char *driver)
{
	g_autofree char *d = ps_devdir(f, bdf);
	g_autofree char *p = g_build_filename(d, "driver", NULL);
	g_autofree char *t = g_strdup_printf("../../../bus/pci/drivers/%s", driver);
	ps_link_to(t, p);
}

static inline void ps_add_dev(PciSysfs *f, const PciSysfsDev *fd)
{
	g_autofree char *d = ps_devdir(f, fd->bdf);
	g_autofree char *bus = g_strdup_printf("%s/bus/pci/devices/%s", f->root, fd->bdf);
	g_autofree char *grp = g_strdup_printf("%s/kernel/iommu_groups/%d", f->root,
					       fd->group);
	g_autofree char *member = g_strdup_printf("%s/devices/%s", grp, fd->bdf);
	char cfg[64] = { 0 };
	char num[32];

	g_snprintf(num, sizeof(num), "0x%04x\n", fd->vendor);
	ps_put_at(d, "vendor", num, -1);
	g_snprintf(num, sizeof(num), "0x%04x\n", fd->device);
	ps_put_at(d, "device", num, -1);
	g_snprintf(num, sizeof(num), "0x%06x\n", fd->class_code);
	ps_put_at(d, "class", num, -1);
	ps_put_at(d, "driver_override", "(null)\n", -1);
	cfg[0x0e] = (char)fd->header;
	ps_put_at(d, "config", cfg, sizeof(cfg));
	if (fd->class_code >> 16 == 0x03)
		ps_put_at(d, "boot_vga", fd->boot_vga ? "1\n" : "0\n", -1);
	if (fd->reset_method) {
		g_autofree char *rm = g_strdup_printf("%s\n", fd->reset_method);
		ps_put_at(d, "reset_method", rm, -1);
		ps_put_at(d, "reset", "", 0);
	}
	if (fd->rom)
		ps_put_at(d, "rom", "\x55\xaa\x40rom", 5);
	ps_link_to(d, bus);
	g_autofree char *grp_link = g_build_filename(d, "iommu_group", NULL);
	ps_link_to(grp, grp_link);
	ps_link_to(d, member);
	if (fd->driver) {
		ps_bind_link(f, fd->bdf, fd->driver);
		g_hash_table_insert(f->defaults, g_strdup(fd->bdf), g_strdup(fd->driver));
	}
}

/* ---- the fixture's kernel ---- */

static inline char *ps_read_trim(const char *path)
{
	char *s = NULL;
	if (!g_file_get_contents(path, &s, NULL, NULL))
		return NULL;
	return g_strstrip(s);
}

static inline char *pci_sysfs_driver(PciSysfs *f, const char *bdf)
{
	g_autofree char *d = ps_devdir(f, bdf);
	g_autofree char *p = g_build_filename(d, "driver", NULL);
	g_autofree char *t = g_file_read_link(p, NULL);
	return t ? g_path_get_basename(t) : NULL;
}

static inline char *pci_sysfs_override(PciSysfs *f, const char *bdf)
{
	g_autofree char *d = ps_devdir(f, bdf);
	g_autofree char *p = g_build_filename(d, "driver_override", NULL);
	return ps_read_trim(p);
}

static inline bool ps_kfail(GError **error, int e, const char *what)
{
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s",
		    what, g_strerror(e));
	return false;
}

static inline bool ps_try_bind(PciSysfs *f, const char *bdf, const char *drv)
{
	g_autofree char *ddir = g_strdup_printf("%s/bus/pci/drivers/%s", f->root, drv);
	if (!g_file_test(ddir, G_FILE_TEST_IS_DIR))
		return false;
	if (!g_strcmp0(drv, "vfio-pci") && !g_strcmp0(bdf, f->fail_probe))
		return false;
	ps_bind_link(f, bdf, drv);
	return true;
}

static inline bool pci_sysfs_kernel(const char *path, const char *value, void *data,
			GError **error)
{
	PciSysfs *f = data;
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *bdf = g_strstrip(g_strdup(value));
	g_autofree char *probe = ps_path_in(f, "bus/pci/drivers_probe");

	f->writes++;
	if (!strcmp(base, "rom"))
		return true;   /* enabling the ROM: nothing to model */
	if (!strcmp(base, "driver_override")) {
		g_autofree char *v = g_strstrip(g_strdup(value));
		g_assert_true(g_file_set_contents(path, *v ? v : "(null)", -1, NULL));
		return true;
	}
	if (!strcmp(path, probe)) {
		g_autofree char *cur = pci_sysfs_driver(f, bdf);
		g_autofree char *ov = pci_sysfs_override(f, bdf);
		const char *drv = ov && strcmp(ov, "(null)") ? ov :
				  g_hash_table_lookup(f->defaults, bdf);
		if (!cur && drv)
			ps_try_bind(f, bdf, drv);
		return true;   /* the kernel says nothing when no driver takes it */
	}
	g_autofree char *drv = g_path_get_basename(dir);
	g_autofree char *cur = pci_sysfs_driver(f, bdf);
	if (!strcmp(base, "unbind")) {
		if (g_strcmp0(cur, drv))
			return ps_kfail(error, ENODEV, "unbind");
		g_autofree char *d = ps_devdir(f, bdf);
		g_autofree char *p = g_build_filename(d, "driver", NULL);
		g_assert_cmpint(g_unlink(p), ==, 0);
		return true;
	}
	if (!strcmp(base, "bind")) {
		g_autofree char *ov = pci_sysfs_override(f, bdf);
		if (cur)
			return ps_kfail(error, EBUSY, "bind");
		if ((ov && strcmp(ov, "(null)") && strcmp(ov, drv)) ||
		    !g_strcmp0(bdf, f->fail_bind) || !ps_try_bind(f, bdf, drv))
			return ps_kfail(error, ENODEV, "bind");
		return true;
	}
	return ps_kfail(error, EACCES, path);
}

static inline void pci_sysfs_set_up(PciSysfs *f, gconstpointer data)
{
	(void)data;
	f->root = g_dir_make_tmp("atoll-sysfs-XXXXXX", NULL);
	g_assert_nonnull(f->root);
	f->state = g_build_filename(f->root, "state", NULL);
	f->defaults = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	for (const char *const *d = pci_sysfs_drivers; *d; d++) {
		g_autofree char *p = g_strdup_printf("%s/bus/pci/drivers/%s/bind",
						     f->root, *d);
		ps_put(p, "", 0);
	}
	ps_put_at(f->root, "bus/pci/drivers_probe", "", 0);
	g_autofree char *dmar = g_build_filename(f->root, "class/iommu/dmar0", NULL);
	g_assert_cmpint(g_mkdir_with_parents(dmar, 0755), ==, 0);
	for (gsize i = 0; i < G_N_ELEMENTS(pci_sysfs_devs); i++)
		ps_add_dev(f, &pci_sysfs_devs[i]);
}

static inline void pci_sysfs_rm_rf(const char *path)
{
	g_autoptr(GDir) d = NULL;
	const char *e;

	if (g_file_test(path, G_FILE_TEST_IS_SYMLINK) ||
	    !g_file_test(path, G_FILE_TEST_IS_DIR)) {
		g_unlink(path);
		return;
	}
	d = g_dir_open(path, 0, NULL);
	while (d && (e = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(path, e, NULL);
		pci_sysfs_rm_rf(p);
	}
	g_rmdir(path);
}

static inline void pci_sysfs_tear_down(PciSysfs *f, gconstpointer data)
{
	(void)data;
	pci_sysfs_rm_rf(f->root);
	g_free(f->root);
	g_free(f->state);
	g_free(f->fail_probe);
	g_free(f->fail_bind);
	g_hash_table_unref(f->defaults);
}

#endif
