/* Import of libvirt domains: the XML -> Atoll definition mapping, the list
 * of unmapped parts, and the import through libvirt's test driver. */
#include "hostres.h"

#include <string.h>

static JsonObject *def_obj(JsonNode *n)
{
	g_assert_nonnull(n);
	return json_node_get_object(n);
}

static bool has_note(GPtrArray *notes, const char *text)
{
	for (guint i = 0; i < notes->len; i++)
		if (strstr(notes->pdata[i], text))
			return true;
	return false;
}

static void dump_notes(GPtrArray *notes)
{
	for (guint i = 0; i < notes->len; i++)
		g_test_message("unmapped: %s", (char *)notes->pdata[i]);
}

static JsonNode *convert(const char *xml, const char *name, GPtrArray **notes)
{
	GError *err = NULL;
	JsonNode *n = atoll_libvirt_domain_xml_to_def(xml, name, notes, &err);

	g_assert_no_error(err);
	g_assert_nonnull(n);
	dump_notes(*notes);
	return n;
}

/* ---- through the test driver --------------------------------------------------- */

static void test_import_fixture_direct(void)
{
	g_autofree char *uri = g_strdup_printf("test://%s/host.xml",
					       ATOLL_LIBVIRT_FIXTURES);
	GError *err = NULL;
	g_autoptr(AtollLibvirt) lv = atoll_libvirt_open(uri, &err);
	g_autoptr(GPtrArray) notes = NULL;
	g_autoptr(JsonNode) n = NULL;
	JsonObject *d, *disk, *nic;
	JsonArray *disks, *nics;

	g_assert_no_error(err);
	n = atoll_libvirt_import(lv, "direct", NULL, &notes, &err);
	g_assert_no_error(err);
	dump_notes(notes);
	d = def_obj(n);
	g_assert_cmpstr(json_object_get_string_member(d, "name"), ==, "direct");
	g_assert_cmpint(json_object_get_int_member(d, "memory_mib"), ==, 2048);
	g_assert_cmpint(json_object_get_int_member(d, "vcpus"), ==, 2);
	g_assert_cmpstr(json_object_get_string_member(d, "kernel"), ==,
			"/var/lib/atoll/images/vmlinuz");
	g_assert_cmpstr(json_object_get_string_member(d, "initrd"), ==,
			"/var/lib/atoll/images/initrd.img");
	g_assert_cmpstr(json_object_get_string_member(d, "cmdline"), ==,
			"console=ttyS0 root=/dev/vda rw");
	disks = json_object_get_array_member(d, "disks");
	g_assert_cmpuint(json_array_get_length(disks), ==, 2);
	disk = json_array_get_object_element(disks, 0);
	g_assert_cmpstr(json_object_get_string_member(disk, "path"), ==,
			"/var/lib/atoll/images/direct.img");
	g_assert_false(json_object_get_boolean_member(disk, "readonly"));
	g_assert_cmpstr(json_object_get_string_member(disk, "serial"), ==, "DIRECT1");
	disk = json_array_get_object_element(disks, 1);
	g_assert_true(json_object_get_boolean_member(disk, "readonly"));
	g_assert_false(json_object_has_member(disk, "serial"));
	nics = json_object_get_array_member(d, "nics");
	g_assert_cmpuint(json_array_get_length(nics), ==, 1);
	nic = json_array_get_object_element(nics, 0);
	g_assert_cmpstr(json_object_get_string_member(nic, "type"), ==, "network");
	g_assert_cmpstr(json_object_get_string_member(nic, "network"), ==, "nat0");
	g_assert_cmpstr(json_object_get_string_member(nic, "mac"), ==,
			"52:54:00:aa:bb:01");
	g_assert_cmpstr(json_object_get_string_member(d, "on_poweroff"), ==, "destroy");
	g_assert_cmpstr(json_object_get_string_member(d, "on_reboot"), ==, "restart");
	g_assert_cmpstr(json_object_get_string_member(d, "on_crash"), ==, "preserve");
	/* A direct-kernel domain with raw disks and a pty console maps fully. */
	g_assert_cmpuint(notes->len, ==, 0);
}

static void test_import_default_test_domain(void)
{
	GError *err = NULL;
	g_autoptr(AtollLibvirt) lv = atoll_libvirt_open("test:///default", &err);
	g_autoptr(GPtrArray) notes = NULL;
	g_autoptr(JsonNode) n = NULL;
	JsonObject *d, *nic;

	g_assert_no_error(err);
	n = atoll_libvirt_import(lv, "test", "imported", &notes, &err);
	g_assert_no_error(err);
	dump_notes(notes);
	d = def_obj(n);
	g_assert_cmpstr(json_object_get_string_member(d, "name"), ==, "imported");
	g_assert_cmpint(json_object_get_int_member(d, "memory_mib"), ==, 8192);
	g_assert_cmpint(json_object_get_int_member(d, "vcpus"), ==, 2);
	g_assert_false(json_object_has_member(d, "kernel"));
	g_assert_cmpstr(json_object_get_string_member(
		json_array_get_object_element(json_object_get_array_member(d, "disks"), 0),
		"path"), ==, "/guest/diskimage1");
	nic = json_array_get_object_element(json_object_get_array_member(d, "nics"), 0);
	g_assert_cmpstr(json_object_get_string_member(nic, "network"), ==, "default");
	g_assert_cmpstr(json_object_get_string_member(nic, "mac"), ==,
			"aa:bb:cc:dd:ee:ff");
	g_assert_true(has_note(notes, "os: no <kernel> (boots from dev=hd)"));
	g_assert_true(has_note(notes, "currentMemory 2048 MiB: ballooning is not mapped"));
	g_assert_true(has_note(notes, "memballoon virtio: not mapped yet"));
	g_assert_cmpuint(notes->len, ==, 3);
}

static void test_import_missing(void)
{
	GError *err = NULL;
	g_autoptr(AtollLibvirt) lv = atoll_libvirt_open("test:///default", &err);

	g_assert_no_error(err);
	g_assert_null(atoll_libvirt_import(lv, "nope", NULL, NULL, &err));
	g_assert_error(err, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(err->message, "virsh -c test:///default list --all"));
	g_clear_error(&err);
}

/* ---- the mapping, on XML strings -------------------------------------------------- */

static const char kitchen_sink[] =
	"<domain type='kvm'>"
	"  <name>desk</name>"
	"  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>"
	"  <memory unit='GiB'>4</memory>"
	"  <currentMemory unit='GiB'>4</currentMemory>"
	"  <memoryBacking><hugepages/></memoryBacking>"
	"  <vcpu placement='static' current='2' cpuset='0-3'>4</vcpu>"
	"  <os firmware='efi'>"
	"    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>"
	"    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>"
	"    <boot dev='hd'/>"
	"  </os>"
	"  <features><acpi/><apic/></features>"
	"  <cpu mode='host-passthrough'/>"
	"  <on_reboot>rename-restart</on_reboot>"
	"  <devices>"
	"    <emulator>/usr/bin/qemu-system-x86_64</emulator>"
	"    <disk type='file' device='disk'>"
	"      <driver name='qemu' type='raw'/>"
	"      <source file='/img/root.img'/>"
	"      <target dev='vda' bus='virtio'/>"
	"    </disk>"
	"    <disk type='file' device='disk'>"
	"      <driver name='qemu' type='qcow2'/>"
	"      <source file='/img/data.qcow2'/>"
	"      <target dev='vdb' bus='virtio'/>"
	"    </disk>"
	"    <disk type='file' device='disk'>"
	"      <source file='/img/sata.img'/>"
	"      <target dev='sda' bus='sata'/>"
	"      <serial>ABCDEFGHIJKLMNOPQRSTUVWXYZ</serial>"
	"    </disk>"
	"    <disk type='file' device='cdrom'>"
	"      <source file='/iso/debian.iso'/>"
	"      <target dev='sdb' bus='sata'/><readonly/>"
	"    </disk>"
	"    <disk type='block' device='disk'>"
	"      <source dev='/dev/sdz'/><target dev='vdc' bus='virtio'/>"
	"    </disk>"
	"    <disk type='volume' device='disk'>"
	"      <source pool='default' volume='v1.img'/><target dev='vdd' bus='virtio'/>"
	"    </disk>"
	"    <controller type='usb' model='qemu-xhci'/>"
	"    <interface type='network'>"
	"      <mac address='52:54:00:AB:CD:EF'/>"
	"      <source network='default'/>"
	"      <model type='e1000e'/>"
	"    </interface>"
	"    <interface type='bridge'>"
	"      <mac address='52:54:00:00:00:02'/>"
	"      <source bridge='br0'/>"
	"    </interface>"
	"    <interface type='user'><mac address='52:54:00:00:00:03'/></interface>"
	"    <serial type='pty'><target port='0'/></serial>"
	"    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
	"    <input type='tablet' bus='usb'/>"
	"    <input type='keyboard' bus='ps2'/>"
	"    <graphics type='spice' autoport='yes'/>"
	"    <video><model type='qxl'/></video>"
	"    <hostdev mode='subsystem' type='pci' managed='yes'>"
	"      <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>"
	"    </hostdev>"
	"    <hostdev mode='subsystem' type='usb'>"
	"      <source><vendor id='0x046d'/><product id='0xc52b'/></source>"
	"    </hostdev>"
	"    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"
	"    <memballoon model='none'/>"
	"  </devices>"
	"</domain>";

static void test_mapping_kitchen_sink(void)
{
	g_autoptr(GPtrArray) notes = NULL;
	g_autoptr(JsonNode) n = convert(kitchen_sink, NULL, &notes);
	JsonObject *d = def_obj(n), *disk, *nic;
	JsonArray *disks, *nics;

	g_assert_cmpint(json_object_get_int_member(d, "memory_mib"), ==, 4096);
	g_assert_cmpint(json_object_get_int_member(d, "vcpus"), ==, 2);
	g_assert_false(json_object_has_member(d, "kernel"));
	g_assert_cmpstr(json_object_get_string_member(d, "on_reboot"), ==, "restart");

	disks = json_object_get_array_member(d, "disks");
	g_assert_cmpuint(json_array_get_length(disks), ==, 2);
	g_assert_cmpstr(json_object_get_string_member(
		json_array_get_object_element(disks, 0), "path"), ==, "/img/root.img");
	disk = json_array_get_object_element(disks, 1);
	g_assert_cmpstr(json_object_get_string_member(disk, "path"), ==, "/img/sata.img");
	g_assert_cmpstr(json_object_get_string_member(disk, "serial"), ==,
			"ABCDEFGHIJKLMNOPQRST");

	nics = json_object_get_array_member(d, "nics");
	g_assert_cmpuint(json_array_get_length(nics), ==, 2);
	nic = json_array_get_object_element(nics, 0);
	g_assert_cmpstr(json_object_get_string_member(nic, "network"), ==, "default");
	g_assert_cmpstr(json_object_get_string_member(nic, "mac"), ==,
			"52:54:00:ab:cd:ef");
	nic = json_array_get_object_element(nics, 1);
	g_assert_cmpstr(json_object_get_string_member(nic, "type"), ==, "user");
	g_assert_false(json_object_has_member(nic, "network"));

	g_assert_true(has_note(notes, "disk vdb: format qcow2 is not supported (raw only)"));
	g_assert_true(has_note(notes, "disk sda: bus sata becomes virtio-blk"));
	g_assert_true(has_note(notes, "disk sda: serial 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' is longer than 20 bytes"));
	g_assert_true(has_note(notes, "disk sdb: cdrom (/iso/debian.iso) not mapped yet"));
	g_assert_true(has_note(notes, "disk vdc: block device /dev/sdz not mapped yet"));
	g_assert_true(has_note(notes, "disk vdd: storage volume default/v1.img not mapped yet"));
	g_assert_true(has_note(notes, "interface 52:54:00:AB:CD:EF: model e1000e becomes virtio-net"));
	g_assert_true(has_note(notes, "interface 52:54:00:00:00:02: type bridge (br0) not mapped yet"));
	g_assert_true(has_note(notes, "interface 52:54:00:00:00:03: type user maps to an Atoll \"user\" NIC"));
	g_assert_true(has_note(notes, "os firmware=efi: not supported yet"));
	g_assert_true(has_note(notes, "os loader /usr/share/OVMF/OVMF_CODE.fd: firmware boot is not supported yet"));
	g_assert_true(has_note(notes, "os: no <kernel> (boots from dev=hd)"));
	g_assert_true(has_note(notes, "vcpu: 2 of a maximum 4 online"));
	g_assert_true(has_note(notes, "vcpu cpuset=0-3: CPU pinning is not mapped yet"));
	g_assert_true(has_note(notes, "on_reboot rename-restart: not mapped; uses restart"));
	g_assert_true(has_note(notes, "memoryBacking: not mapped yet"));
	g_assert_true(has_note(notes, "channel org.qemu.guest_agent.0: not mapped yet"));
	g_assert_true(has_note(notes, "input tablet (usb): not mapped yet"));
	g_assert_true(has_note(notes, "graphics spice: not mapped yet"));
	g_assert_true(has_note(notes, "video qxl: not mapped yet"));
	g_assert_true(has_note(notes, "hostdev 0000:01:00.0: PCI passthrough not mapped yet"));
	g_assert_true(has_note(notes, "hostdev usb 0x046d:0xc52b: USB passthrough not mapped yet"));
	g_assert_true(has_note(notes, "rng virtio: not mapped yet"));
	/* Quiet: emulator, controller, ps2 keyboard, pty serial, balloon none,
	 * features, cpu, uuid. */
	g_assert_false(has_note(notes, "emulator"));
	g_assert_false(has_note(notes, "controller"));
	g_assert_false(has_note(notes, "keyboard"));
	g_assert_false(has_note(notes, "serial type"));
	g_assert_false(has_note(notes, "memballoon"));
	g_assert_false(has_note(notes, "features"));
	g_assert_cmpuint(notes->len, ==, 23);
}

static void test_mapping_memory_units(void)
{
	static const struct { const char *mem; gint64 mib; } cases[] = {
		{ "<memory>524288</memory>", 512 },                 /* KiB default */
		{ "<memory unit='b'>1048577</memory>", 2 },        /* rounded up */
		{ "<memory unit='MB'>1000</memory>", 954 },
		{ "<memory unit='M'>300</memory>", 300 },
		{ "<memory unit='GB'>1</memory>", 954 },
		{ "<memory unit='T'>1</memory>", 1048576 },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *xml = g_strdup_printf(
			"<domain type='kvm'><name>m</name>%s<os><type>hvm</type>"
			"<kernel>/k</kernel></os></domain>", cases[i].mem);
		g_autoptr(GPtrArray) notes = NULL;
		g_autoptr(JsonNode) n = convert(xml, NULL, &notes);

		g_assert_cmpint(json_object_get_int_member(def_obj(n), "memory_mib"),
				==, cases[i].mib);
		g_assert_cmpint(json_object_get_int_member(def_obj(n), "vcpus"), ==, 1);
		g_assert_cmpuint(notes->len, ==, 0);
	}
}

static void expect_error(const char *xml, const char *name, int code,
			 const char *text)
{
	GError *err = NULL;
	GPtrArray *notes = NULL;
	JsonNode *n = atoll_libvirt_domain_xml_to_def(xml, name, &notes, &err);

	g_assert_null(n);
	g_assert_null(notes);
	g_assert_error(err, ATOLL_LIBVIRT_ERROR, code);
	if (!strstr(err->message, text))
		g_error("message '%s' lacks '%s'", err->message, text);
	g_error_free(err);
}

#define DOM(name, body) "<domain type='kvm'><name>" name "</name>" body "</domain>"
#define MEM "<memory>1048576</memory>"

static void test_mapping_errors(void)
{
	expect_error("<domain", NULL, ATOLL_LIBVIRT_ERROR_INVALID, "not valid XML");
	expect_error("<network><name>x</name></network>", NULL,
		     ATOLL_LIBVIRT_ERROR_INVALID, "not a libvirt <domain>");
	expect_error(DOM("bad name", MEM), NULL, ATOLL_LIBVIRT_ERROR_INVALID,
		     "name: 'bad name' is not a valid Atoll domain name");
	expect_error(DOM("ok", MEM), ".hidden", ATOLL_LIBVIRT_ERROR_INVALID,
		     "'.hidden' is not a valid");
	expect_error(DOM("ok", ""), NULL, ATOLL_LIBVIRT_ERROR_INVALID,
		     "has no <memory>");
	expect_error(DOM("ok", "<memory unit='parsec'>1</memory>"), NULL,
		     ATOLL_LIBVIRT_ERROR_INVALID, "'1 parsec'");
	expect_error(DOM("ok", "<memory unit='TiB'>99999999999</memory>"), NULL,
		     ATOLL_LIBVIRT_ERROR_INVALID, "is not a size");
	expect_error(DOM("ok", MEM "<os><type arch='aarch64'>hvm</type></os>"), NULL,
		     ATOLL_LIBVIRT_ERROR_UNSUPPORTED, "os arch aarch64");
	expect_error(DOM("ok", MEM "<os><type>exe</type></os>"), NULL,
		     ATOLL_LIBVIRT_ERROR_UNSUPPORTED, "not a virtual machine");
	/* An external entity must not be fetched or expanded. */
	expect_error("<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
		     DOM("&x;", MEM), NULL, ATOLL_LIBVIRT_ERROR_INVALID,
		     "name: '' is not a valid Atoll domain name");
}

static void test_mapping_rename(void)
{
	g_autoptr(GPtrArray) notes = NULL;
	g_autoptr(JsonNode) n = convert(DOM("bad name", MEM
		"<os><type>hvm</type><kernel>/k</kernel></os>"), "good-name", &notes);

	g_assert_cmpstr(json_object_get_string_member(def_obj(n), "name"), ==,
			"good-name");
	g_assert_cmpint(json_object_get_int_member(def_obj(n), "memory_mib"), ==, 1024);
}

/* The definition is plain JSON that survives a round trip. */
static void test_mapping_json_roundtrip(void)
{
	g_autoptr(GPtrArray) notes = NULL;
	g_autoptr(JsonNode) n = convert(kitchen_sink, "rt", &notes);
	g_autofree char *text = json_to_string(n, FALSE);
	g_autoptr(JsonNode) back = json_from_string(text, NULL);

	g_assert_nonnull(back);
	g_assert_true(json_node_equal(n, back));
	g_assert_nonnull(strstr(text, "\"name\":\"rt\""));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/libvirt/import/fixture-direct", test_import_fixture_direct);
	g_test_add_func("/libvirt/import/test-domain", test_import_default_test_domain);
	g_test_add_func("/libvirt/import/missing", test_import_missing);
	g_test_add_func("/libvirt/mapping/kitchen-sink", test_mapping_kitchen_sink);
	g_test_add_func("/libvirt/mapping/memory-units", test_mapping_memory_units);
	g_test_add_func("/libvirt/mapping/errors", test_mapping_errors);
	g_test_add_func("/libvirt/mapping/rename", test_mapping_rename);
	g_test_add_func("/libvirt/mapping/json-roundtrip", test_mapping_json_roundtrip);
	return g_test_run();
}
