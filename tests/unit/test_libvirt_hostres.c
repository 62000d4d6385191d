/* Host resources through libvirt: connection errors, networks, node
 * devices (libvirt's test driver and a fake sysfs), and real taps on a
 * bridge inside a private network namespace. */
#include "hostres.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *fixture_uri(void)
{
	return g_strdup_printf("test://%s/host.xml", ATOLL_LIBVIRT_FIXTURES);
}

static AtollLibvirt *open_fixture(void)
{
	g_autofree char *uri = fixture_uri();
	GError *err = NULL;
	AtollLibvirt *lv = atoll_libvirt_open(uri, &err);

	g_assert_no_error(err);
	g_assert_nonnull(lv);
	return lv;
}

static JsonObject *find_by(JsonArray *a, const char *key, const char *value)
{
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonObject *o = json_array_get_object_element(a, i);

		if (!g_strcmp0(json_object_get_string_member(o, key), value))
			return o;
	}
	return NULL;
}

static bool member_is_null(JsonObject *o, const char *key)
{
	return json_object_has_member(o, key) && json_object_get_null_member(o, key);
}

/* ---- connection ------------------------------------------------------------ */

static void test_open_default(void)
{
	GError *err = NULL;
	g_autoptr(AtollLibvirt) lv = atoll_libvirt_open("test:///default", &err);

	g_assert_no_error(err);
	g_assert_cmpstr(atoll_libvirt_uri(lv), ==, "test:///default");
	g_assert_nonnull(atoll_libvirt_conn(lv));
}

static void test_open_daemon_down(void)
{
	GError *err = NULL;
	/* A socket nobody listens on behaves like a stopped libvirtd. */
	AtollLibvirt *lv = atoll_libvirt_open(
		"qemu+unix:///system?socket=/nonexistent/atoll-test-libvirt-sock",
		&err);

	g_assert_null(lv);
	g_assert_error(err, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_UNREACHABLE);
	g_assert_nonnull(strstr(err->message, "not running"));
	g_assert_nonnull(strstr(err->message, "systemctl start libvirtd"));
	g_error_free(err);
}

static void test_open_bad_uri(void)
{
	GError *err = NULL;
	AtollLibvirt *lv = atoll_libvirt_open("nosuchdriver:///x", &err);

	g_assert_null(lv);
	g_assert_nonnull(err);
	g_assert_true(err->domain == ATOLL_LIBVIRT_ERROR);
	g_assert_nonnull(strstr(err->message, "nosuchdriver:///x"));
	g_error_free(err);
}

/* ---- networks ---------------------------------------------------------------- */

static void test_networks_default(void)
{
	GError *err = NULL;
	g_autoptr(AtollLibvirt) lv = atoll_libvirt_open("test:///default", &err);
	g_autoptr(JsonNode) n = atoll_libvirt_list_networks(lv, &err);
	JsonObject *def, *ip, *dhcp;

	g_assert_no_error(err);
	def = find_by(json_node_get_array(n), "name", "default");
	g_assert_nonnull(def);
	g_assert_cmpstr(json_object_get_string_member(def, "bridge"), ==, "virbr0");
	g_assert_true(json_object_get_boolean_member(def, "active"));
	g_assert_cmpstr(json_object_get_string_member(def, "forward"), ==, "nat");
	ip = json_object_get_object_member(def, "ipv4");
	g_assert_cmpstr(json_object_get_string_member(ip, "address"), ==,
			"192.168.122.1");
	g_assert_cmpint(json_object_get_int_member(ip, "prefix"), ==, 24);
	dhcp = json_object_get_object_member(ip, "dhcp");
	g_assert_cmpstr(json_object_get_string_member(dhcp, "start"), ==,
			"192.168.122.2");
	g_assert_cmpstr(json_object_get_string_member(dhcp, "end"), ==,
			"192.168.122.254");
}

static void test_networks_fixture(void)
{
	g_autoptr(AtollLibvirt) lv = open_fixture();
	GError *err = NULL;
	g_autoptr(JsonNode) n = atoll_libvirt_list_networks(lv, &err);
	JsonArray *a;
	JsonObject *o, *ip;

	g_assert_no_error(err);
	a = json_node_get_array(n);
	g_assert_cmpuint(json_array_get_length(a), ==, 4);
	/* Sorted by name. */
	o = json_array_get_object_element(a, 0);
	g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, "hostonly");
	g_assert_cmpstr(json_object_get_string_member(o, "forward"), ==, "isolated");
	g_assert_cmpstr(json_object_get_string_member(o, "bridge"), ==, "atlbr-iso");
	ip = json_object_get_object_member(o, "ipv4");
	g_assert_cmpint(json_object_get_int_member(ip, "prefix"), ==, 24);
	g_assert_true(member_is_null(ip, "dhcp"));

	o = json_array_get_object_element(a, 1);
	g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, "lan");
	g_assert_cmpstr(json_object_get_string_member(o, "forward"), ==, "bridge");
	g_assert_cmpstr(json_object_get_string_member(o, "bridge"), ==, "br-lan");
	g_assert_true(member_is_null(o, "ipv4"));

	o = json_array_get_object_element(a, 2);
	g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, "macvtap");
	g_assert_true(member_is_null(o, "bridge"));

	o = json_array_get_object_element(a, 3);
	g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, "nat0");
	g_assert_true(json_object_get_boolean_member(o, "active"));
	g_assert_false(json_object_get_boolean_member(o, "autostart"));
	g_assert_true(json_object_get_boolean_member(o, "persistent"));
	ip = json_object_get_object_member(o, "ipv4");
	g_assert_cmpstr(json_object_get_string_member(ip, "address"), ==, "10.77.0.1");
	g_assert_cmpint(json_object_get_int_member(ip, "prefix"), ==, 24);
	g_assert_cmpstr(json_object_get_string_member(
		json_object_get_object_member(ip, "dhcp"), "start"), ==, "10.77.0.100");
}

static void test_network_state_changes(void)
{
	g_autoptr(AtollLibvirt) lv = open_fixture();
	virConnectPtr conn = atoll_libvirt_conn(lv);
	virNetworkPtr net;
	GError *err = NULL;
	g_autoptr(JsonNode) n = NULL;
	JsonObject *o;

	net = virNetworkLookupByName(conn, "nat0");
	g_assert_cmpint(virNetworkSetAutostart(net, 1), ==, 0);
	g_assert_cmpint(virNetworkDestroy(net), ==, 0);
	virNetworkFree(net);

	n = atoll_libvirt_list_networks(lv, &err);
	g_assert_no_error(err);
	o = find_by(json_node_get_array(n), "name", "nat0");
	g_assert_false(json_object_get_boolean_member(o, "active"));
	g_assert_true(json_object_get_boolean_member(o, "autostart"));

	g_assert_null(atoll_libvirt_network_bridge(lv, "nat0", &err));
	g_assert_error(err, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INACTIVE);
	g_assert_nonnull(strstr(err->message,
		"libvirt network 'nat0' is not active — start it with `virsh net-start nat0`"));
	g_clear_error(&err);
}

static void test_network_bridge(void)
{
	g_autoptr(AtollLibvirt) lv = open_fixture();
	GError *err = NULL;
	g_autofree char *br = atoll_libvirt_network_bridge(lv, "nat0", &err);

	g_assert_no_error(err);
	g_assert_cmpstr(br, ==, "atlbr-nat0");

	g_assert_null(atoll_libvirt_network_bridge(lv, "nope", &err));
	g_assert_error(err, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(err->message, "'nope' does not exist"));
	g_clear_error(&err);

	g_assert_null(atoll_libvirt_network_bridge(lv, "macvtap", &err));
	g_assert_error(err, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_UNSUPPORTED);
	g_assert_nonnull(strstr(err->message, "has no bridge"));
	g_clear_error(&err);
}

/* ---- host devices -------------------------------------------------------------- */

static void test_devices_pci(void)
{
	g_autoptr(AtollLibvirt) lv = open_fixture();
	GError *err = NULL;
	g_autoptr(JsonNode) n = atoll_libvirt_list_host_devices(lv, "pci", &err);
	JsonArray *a, *group;
	JsonObject *gpu, *nic;

	g_assert_no_error(err);
	a = json_node_get_array(n);
	g_assert_cmpuint(json_array_get_length(a), ==, 4);
	gpu = find_by(a, "address", "0000:01:00.0");
	g_assert_nonnull(gpu);
	g_assert_cmpstr(json_object_get_string_member(gpu, "type"), ==, "pci");
	g_assert_cmpstr(json_object_get_string_member(gpu, "name"), ==, "pci_0000_01_00_0");
	g_assert_cmpstr(json_object_get_string_member(gpu, "vendor_id"), ==, "0x10de");
	g_assert_cmpstr(json_object_get_string_member(gpu, "vendor"), ==, "NVIDIA Corporation");
	g_assert_cmpstr(json_object_get_string_member(gpu, "product_id"), ==, "0x2484");
	g_assert_cmpstr(json_object_get_string_member(gpu, "product"), ==,
			"GA104 [GeForce RTX 3070]");
	g_assert_cmpstr(json_object_get_string_member(gpu, "class"), ==, "0x030000");
	g_assert_cmpint(json_object_get_int_member(gpu, "iommu_group"), ==, 12);
	group = json_object_get_array_member(gpu, "iommu_group_devices");
	g_assert_cmpuint(json_array_get_length(group), ==, 1);
	g_assert_cmpstr(json_array_get_string_element(group, 0), ==, "0000:01:00.1");
	/* The test driver keeps no driver, and test:// has no sysfs fallback. */
	g_assert_true(member_is_null(gpu, "driver"));

	nic = find_by(a, "address", "0000:03:00.0");
	g_assert_true(member_is_null(nic, "iommu_group"));
	g_assert_cmpuint(json_array_get_length(
		json_object_get_array_member(nic, "iommu_group_devices")), ==, 0);
}

static void symlink_in(const char *root, const char *target, const char *link)
{
	g_autofree char *path = g_build_filename(root, link, NULL);
	g_autofree char *dir = g_path_get_dirname(path);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	g_assert_cmpint(symlink(target, path), ==, 0);
}

static void touch_in(const char *root, const char *file)
{
	g_autofree char *path = g_build_filename(root, file, NULL);
	g_autofree char *dir = g_path_get_dirname(path);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	g_assert_true(g_file_set_contents(path, "", 0, NULL));
}

static void rm_rf(const char *path)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", path);

	g_assert_cmpint(system(cmd), ==, 0);
}

static void test_devices_sysfs_fallback(void)
{
	g_autoptr(AtollLibvirt) lv = open_fixture();
	g_autofree char *root = g_dir_make_tmp("atoll-sysfs-XXXXXX", NULL);
	GError *err = NULL;
	g_autoptr(JsonNode) n = NULL;
	JsonObject *nic, *gpu;
	JsonArray *group;

	g_assert_nonnull(root);
	symlink_in(root, "../../../kernel/iommu_groups/7",
		   "bus/pci/devices/0000:03:00.0/iommu_group");
	symlink_in(root, "../../../../bus/pci/drivers/e1000e",
		   "bus/pci/devices/0000:03:00.0/driver");
	touch_in(root, "kernel/iommu_groups/7/devices/0000:03:00.0");
	touch_in(root, "kernel/iommu_groups/7/devices/0000:00:1c.0");
	touch_in(root, "kernel/iommu_groups/7/devices/0000:00:1c.4");
	atoll_libvirt_set_sysfs_root(lv, root);

	n = atoll_libvirt_list_host_devices(lv, "pci", &err);
	g_assert_no_error(err);
	nic = find_by(json_node_get_array(n), "address", "0000:03:00.0");
	g_assert_cmpint(json_object_get_int_member(nic, "iommu_group"), ==, 7);
	g_assert_cmpstr(json_object_get_string_member(nic, "driver"), ==, "e1000e");
	group = json_object_get_array_member(nic, "iommu_group_devices");
	g_assert_cmpuint(json_array_get_length(group), ==, 2);
	g_assert_cmpstr(json_array_get_string_element(group, 0), ==, "0000:00:1c.0");
	g_assert_cmpstr(json_array_get_string_element(group, 1), ==, "0000:00:1c.4");
	/* libvirt's own group wins over sysfs; no sysfs driver link: null. */
	gpu = find_by(json_node_get_array(n), "address", "0000:01:00.0");
	g_assert_cmpint(json_object_get_int_member(gpu, "iommu_group"), ==, 12);
	g_assert_true(member_is_null(gpu, "driver"));
	rm_rf(root);
}

static void test_devices_usb(void)
{
	g_autoptr(AtollLibvirt) lv = open_fixture();
	GError *err = NULL;
	g_autoptr(JsonNode) n = atoll_libvirt_list_host_devices(lv, "usb", &err);
	JsonArray *a;
	JsonObject *rx, *hub;

	g_assert_no_error(err);
	a = json_node_get_array(n);
	/* USB interfaces (usb_1_4_1_0) are not devices one can pass through. */
	g_assert_cmpuint(json_array_get_length(a), ==, 2);
	rx = find_by(a, "name", "usb_1_4");
	g_assert_nonnull(rx);
	g_assert_cmpstr(json_object_get_string_member(rx, "type"), ==, "usb");
	g_assert_cmpint(json_object_get_int_member(rx, "bus"), ==, 1);
	g_assert_cmpint(json_object_get_int_member(rx, "device"), ==, 5);
	g_assert_cmpstr(json_object_get_string_member(rx, "port"), ==, "1-4");
	g_assert_cmpstr(json_object_get_string_member(rx, "vendor_id"), ==, "0x046d");
	g_assert_cmpstr(json_object_get_string_member(rx, "vendor"), ==, "Logitech, Inc.");
	g_assert_cmpstr(json_object_get_string_member(rx, "product_id"), ==, "0xc52b");
	g_assert_cmpstr(json_object_get_string_member(rx, "product"), ==, "Unifying Receiver");
	hub = find_by(a, "name", "usb_usb1");
	g_assert_true(member_is_null(hub, "port"));
}

static void test_devices_all_and_bad_type(void)
{
	g_autoptr(AtollLibvirt) lv = open_fixture();
	GError *err = NULL;
	g_autoptr(JsonNode) n = atoll_libvirt_list_host_devices(lv, NULL, &err);
	JsonArray *a;

	g_assert_no_error(err);
	a = json_node_get_array(n);
	g_assert_cmpuint(json_array_get_length(a), ==, 6);
	g_assert_cmpstr(json_object_get_string_member(
		json_array_get_object_element(a, 0), "type"), ==, "pci");
	g_assert_cmpstr(json_object_get_string_member(
		json_array_get_object_element(a, 5), "type"), ==, "usb");

	g_assert_null(atoll_libvirt_list_host_devices(lv, "scsi", &err));
	g_assert_error(err, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID);
	g_clear_error(&err);
}

/* ---- tap names ------------------------------------------------------------------- */

static void test_tap_names(void)
{
	g_autofree char *a = atoll_tap_name("work", 0);
	g_autofree char *b = atoll_tap_name("workstation-linux", 3);
	g_autofree char *c = atoll_tap_name("workstation-windows", 3);
	g_autofree char *b2 = atoll_tap_name("workstation-linux", 3);
	g_autofree char *d = atoll_tap_name("abcdefghi", 1);   /* exactly 15 */

	g_assert_cmpstr(a, ==, "atl-work-0");
	g_assert_cmpstr(d, ==, "atl-abcdefghi-1");
	g_assert_cmpuint(strlen(b), ==, IFNAMSIZ - 1);
	g_assert_cmpuint(strlen(c), ==, IFNAMSIZ - 1);
	g_assert_true(g_str_has_prefix(b, "atl-work"));
	g_assert_true(g_str_has_suffix(b, "-3"));
	g_assert_cmpstr(b, !=, c);
	g_assert_cmpstr(b, ==, b2);
}

/* ---- real taps, in a private network namespace --------------------------------------- */

/* A namespace of our own, with /sys remounted so /sys/class/net shows it. */
static bool enter_private_netns(void)
{
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0)
		return false;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return false;
	if (umount2("/sys", MNT_DETACH) < 0 && errno != EINVAL)
		return false;
	return mount("sysfs", "/sys", "sysfs", 0, NULL) == 0;
}

static int ctl(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(s, >=, 0);
	return s;
}

static void make_bridge(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = ctl();

	g_assert_cmpint(ioctl(s, SIOCBRADDBR, name), ==, 0);
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	g_assert_cmpint(ioctl(s, SIOCGIFFLAGS, &ifr), ==, 0);
	ifr.ifr_flags |= IFF_UP;
	g_assert_cmpint(ioctl(s, SIOCSIFFLAGS, &ifr), ==, 0);
	close(s);
}

static void delete_bridge(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = ctl();

	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	g_assert_cmpint(ioctl(s, SIOCGIFFLAGS, &ifr), ==, 0);
	ifr.ifr_flags &= ~IFF_UP;
	g_assert_cmpint(ioctl(s, SIOCSIFFLAGS, &ifr), ==, 0);
	g_assert_cmpint(ioctl(s, SIOCBRDELBR, name), ==, 0);
	close(s);
}

static char *sys_net(const char *ifname, const char *what)
{
	g_autofree char *p = g_strdup_printf("/sys/class/net/%s/%s", ifname, what);
	char *s = NULL;

	if (g_file_get_contents(p, &s, NULL, NULL))
		g_strstrip(s);
	return s;
}

static bool if_exists(const char *ifname)
{
	g_autofree char *p = g_strdup_printf("/sys/class/net/%s", ifname);

	return g_file_test(p, G_FILE_TEST_EXISTS);
}

/* The bridge ifname is a port of, or NULL. */
static char *master_of(const char *ifname)
{
	g_autofree char *p = g_strdup_printf("/sys/class/net/%s/master", ifname);
	g_autofree char *t = g_file_read_link(p, NULL);

	return t ? g_path_get_basename(t) : NULL;
}

/* What atoll-vmm does with --net tap=NAME. */
static int vmm_open(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void tap_checks(void)
{
	GError *err = NULL;
	g_autofree char *addr = NULL, *flags = NULL, *master = NULL;
	guint64 f;
	int fd;

	make_bridge("atltestbr0");
	g_assert_true(atoll_tap_create("atl-t-0", "atltestbr0",
				       "52:54:00:12:34:56", &err));
	g_assert_no_error(err);
	g_assert_true(if_exists("atl-t-0"));
	master = master_of("atl-t-0");
	g_assert_cmpstr(master, ==, "atltestbr0");
	addr = sys_net("atl-t-0", "address");
	g_assert_cmpstr(addr, ==, "fe:54:00:12:34:56");
	flags = sys_net("atl-t-0", "flags");
	f = g_ascii_strtoull(flags, NULL, 16);   /* "0x1003" */
	g_assert_true(f & IFF_UP);

	/* The VMM can attach by name; while it holds the tap, a second
	 * create reports it busy instead of stealing it. */
	fd = vmm_open("atl-t-0");
	g_assert_cmpint(fd, >=, 0);
	g_assert_false(atoll_tap_create("atl-t-0", "atltestbr0", NULL, &err));
	g_assert_nonnull(strstr(err->message, "in use"));
	g_clear_error(&err);
	close(fd);

	/* A leftover (after a crash) is replaced and enslaved again. */
	g_assert_true(atoll_tap_create("atl-t-0", "atltestbr0", NULL, &err));
	g_assert_no_error(err);
	g_clear_pointer(&master, g_free);
	master = master_of("atl-t-0");
	g_assert_cmpstr(master, ==, "atltestbr0");

	g_assert_true(atoll_tap_delete("atl-t-0", &err));
	g_assert_no_error(err);
	g_assert_false(if_exists("atl-t-0"));
	g_assert_true(atoll_tap_delete("atl-t-0", &err));   /* absent: fine */

	/* Never deletes what is not a tap. */
	g_assert_false(atoll_tap_delete("atltestbr0", &err));
	g_assert_error(err, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID);
	g_clear_error(&err);
	g_assert_true(if_exists("atltestbr0"));

	/* Isolated: a tap on no bridge. */
	g_assert_true(atoll_tap_create("atl-t-1", NULL, NULL, &err));
	g_assert_no_error(err);
	g_assert_null(master_of("atl-t-1"));
	g_assert_true(atoll_tap_delete("atl-t-1", &err));

	/* A missing bridge fails and leaves no tap behind. */
	g_assert_false(atoll_tap_create("atl-t-2", "atlnobr0", NULL, &err));
	g_assert_nonnull(strstr(err->message, "does not exist"));
	g_clear_error(&err);
	g_assert_false(if_exists("atl-t-2"));
	delete_bridge("atltestbr0");
}

static void nic_checks(void)
{
	g_autoptr(AtollLibvirt) lv = open_fixture();
	GError *err = NULL;
	g_autofree char *t0 = NULL, *t1 = NULL, *m0 = NULL;

	make_bridge("atlbr-nat0");   /* network nat0's bridge */
	t0 = atoll_libvirt_nic_setup(lv, "work", 0, "network", "nat0",
				     "52:54:00:aa:bb:01", &err);
	g_assert_no_error(err);
	g_assert_cmpstr(t0, ==, "atl-work-0");
	m0 = master_of(t0);
	g_assert_cmpstr(m0, ==, "atlbr-nat0");
	t1 = atoll_libvirt_nic_setup(lv, "work", 1, "isolated", NULL, NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(t1, ==, "atl-work-1");
	g_assert_null(master_of(t1));

	g_assert_null(atoll_libvirt_nic_setup(lv, "work", 2, "user", NULL, NULL, &err));
	g_assert_error(err, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_UNSUPPORTED);
	g_clear_error(&err);
	/* hostonly's bridge was never created on this "host". */
	g_assert_null(atoll_libvirt_nic_setup(lv, "work", 2, "network", "hostonly",
					      NULL, &err));
	g_assert_nonnull(strstr(err->message, "atlbr-iso does not exist"));
	g_clear_error(&err);
	g_assert_false(if_exists("atl-work-2"));

	g_assert_true(atoll_libvirt_nics_teardown("work", 8, &err));
	g_assert_no_error(err);
	g_assert_false(if_exists("atl-work-0"));
	g_assert_false(if_exists("atl-work-1"));
	delete_bridge("atlbr-nat0");
}

/* Whether this host lets us make one (containers often do not). */
static bool can_enter_private_netns(void)
{
	int status;
	pid_t pid = fork();

	g_assert_cmpint(pid, >=, 0);
	if (pid == 0)
		_exit(enter_private_netns() ? 0 : 1);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_taps(void)
{
	if (g_test_subprocess()) {
		g_assert_true(enter_private_netns());
		tap_checks();
		nic_checks();
		return;
	}
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		g_test_skip("needs root and /dev/net/tun");
		return;
	}
	if (!can_enter_private_netns()) {
		g_test_skip("cannot make a private network namespace here");
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/libvirt/open/default", test_open_default);
	g_test_add_func("/libvirt/open/daemon-down", test_open_daemon_down);
	g_test_add_func("/libvirt/open/bad-uri", test_open_bad_uri);
	g_test_add_func("/libvirt/networks/default", test_networks_default);
	g_test_add_func("/libvirt/networks/fixture", test_networks_fixture);
	g_test_add_func("/libvirt/networks/state", test_network_state_changes);
	g_test_add_func("/libvirt/networks/bridge", test_network_bridge);
	g_test_add_func("/libvirt/devices/pci", test_devices_pci);
	g_test_add_func("/libvirt/devices/sysfs-fallback", test_devices_sysfs_fallback);
	g_test_add_func("/libvirt/devices/usb", test_devices_usb);
	g_test_add_func("/libvirt/devices/all", test_devices_all_and_bad_type);
	g_test_add_func("/libvirt/taps/names", test_tap_names);
	g_test_add_func("/libvirt/taps/real", test_taps);
	return g_test_run();
}
