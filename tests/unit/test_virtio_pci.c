/* The PCI host bridge and the virtio-pci transport, driven the way a guest
 * driver drives them (config cycles through 0xCF8/0xCFC and ECAM, BAR
 * registers on the MMIO bus), on a VM with buses and RAM but no KVM. */
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "pci/pci.h"
#include "virtio/virtio.h"
#include "vm.h"
#include "testvm.h"

static struct vm vm;
static struct virtio_device dev;
static int notified, activated, resets;

static void t_notify(struct virtio_device *d, struct virtq *vq)
{
	(void)d; (void)vq;
	notified++;
}
static void t_activate(struct virtio_device *d) { (void)d; activated++; }
static void t_reset(struct virtio_device *d) { (void)d; resets++; }
static void t_config(struct virtio_device *d, uint32_t off, uint8_t *data,
		     uint32_t len, bool is_write)
{
	(void)d;
	if (!is_write)
		for (uint32_t i = 0; i < len; i++)
			data[i] = (uint8_t)(0xa0 + off + i);
}

static const struct virtio_device_ops test_ops = {
	.name = "test", .device_id = 4, .pci_class = 0xff0000,
	.config_access = t_config, .queue_notify = t_notify,
	.activate = t_activate, .reset = t_reset,
};

static void setup(void)
{
	memset(&dev, 0, sizeof(dev));
	testvm_init(&vm, 16 << 20);
	g_assert_cmpint(virtio_pci_init(&dev, &vm, &test_ops, 1ULL << 3, 2, 64, NULL), ==, 0);
	notified = activated = resets = 0;
}

static void teardown(void)
{
	testvm_destroy(&vm);
}

static uint32_t cfg_read_cf8(uint8_t devfn, uint32_t reg, uint32_t len)
{
	uint8_t d[4];
	bus_data_set(d, 4, 0x80000000u | (uint32_t)devfn << 8 | (reg & 0xfc));
	bus_access(&vm.io_bus, 0xcf8, d, 4, true);
	bus_access(&vm.io_bus, 0xcfc + (reg & 3), d, len, false);
	return (uint32_t)bus_data_get(d, len);
}

static uint32_t ecam_read(uint8_t devfn, uint32_t reg, uint32_t len)
{
	uint8_t d[4];
	bus_access(&vm.mmio_bus, PCI_ECAM_BASE + ((uint64_t)devfn << 12) + reg, d, len, false);
	return (uint32_t)bus_data_get(d, len);
}

static void ecam_write(uint8_t devfn, uint32_t reg, uint32_t len, uint32_t v)
{
	uint8_t d[4];
	bus_data_set(d, len, v);
	bus_access(&vm.mmio_bus, PCI_ECAM_BASE + ((uint64_t)devfn << 12) + reg, d, len, true);
}

static uint64_t bar0(void)
{
	return ecam_read(dev.pci.devfn, PCI_BAR0, 4) & ~0xfu;
}

static uint32_t mmio_read(uint64_t addr, uint32_t len)
{
	return testvm_mmio_read(&vm, addr, len);
}

static void mmio_write(uint64_t addr, uint32_t len, uint64_t v)
{
	testvm_mmio_write(&vm, addr, len, v);
}

static void test_enumeration(void)
{
	setup();
	/* Host bridge at 00.0, the device in the next slot. */
	g_assert_cmphex(cfg_read_cf8(0, 0, 4), ==, 0x29c08086);
	g_assert_cmpuint(dev.pci.devfn, ==, 1 << 3);
	g_assert_cmphex(cfg_read_cf8(dev.pci.devfn, 0, 2), ==, 0x1af4);
	g_assert_cmphex(cfg_read_cf8(dev.pci.devfn, 2, 2), ==, 0x1044);
	g_assert_cmphex(ecam_read(dev.pci.devfn, 0, 4), ==, 0x10441af4);
	/* Empty slots read all-ones. */
	g_assert_cmphex(cfg_read_cf8(5 << 3, 0, 4), ==, 0xffffffff);
	/* Capability chain: 4 virtio structures and MSI-X. */
	int vndr = 0, msix = 0, types = 0;
	for (uint32_t c = ecam_read(dev.pci.devfn, PCI_CAPABILITY_LIST, 1), n = 0;
	     c && n < 16; c = ecam_read(dev.pci.devfn, c + 1, 1), n++) {
		uint32_t id = ecam_read(dev.pci.devfn, c, 1);
		if (id == PCI_CAP_ID_VNDR) {
			vndr++;
			types |= 1 << ecam_read(dev.pci.devfn, c + 3, 1);
		}
		msix += id == PCI_CAP_ID_MSIX;
	}
	g_assert_cmpint(vndr, ==, 4);
	g_assert_cmphex(types, ==, 0x1e);
	g_assert_cmpint(msix, ==, 1);
	g_assert_cmpuint(bar0(), >=, PCI_MMIO32_BASE);
	teardown();
}

static void test_bar_sizing_and_move(void)
{
	setup();
	uint64_t old = bar0();
	uint8_t devfn = dev.pci.devfn;
	g_assert_cmpuint(mmio_read(old + 0x12, 2), ==, 2);  /* num_queues */
	ecam_write(devfn, PCI_COMMAND, 2, 0);
	g_assert_cmphex(mmio_read(old + 0x12, 2), ==, 0xffff);  /* decoding off */
	ecam_write(devfn, PCI_BAR0, 4, 0xffffffff);
	g_assert_cmphex(ecam_read(devfn, PCI_BAR0, 4), ==, 0xffffc000);
	uint64_t moved = PCI_MMIO32_BASE + 0x100000;
	ecam_write(devfn, PCI_BAR0, 4, (uint32_t)moved);
	ecam_write(devfn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	g_assert_cmpuint(mmio_read(moved + 0x12, 2), ==, 2);
	g_assert_cmphex(mmio_read(old + 0x12, 2), ==, 0xffff);
	/* A BAR pointed into RAM must not shadow it. */
	ecam_write(devfn, PCI_BAR0, 4, 0x100000);
	g_assert_false(dev.pci.bars[0].mapped);
	teardown();
}

static void negotiate(uint64_t base, uint32_t feat_hi)
{
	mmio_write(base + 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mmio_write(base + 0x00, 4, 1);
	g_assert_cmphex(mmio_read(base + 0x04, 4) & 1, ==, 1);  /* VERSION_1 */
	mmio_write(base + 0x08, 4, 1);
	mmio_write(base + 0x0c, 4, feat_hi);
	mmio_write(base + 0x14, 1, 0xb);
}

static void test_features(void)
{
	setup();
	uint64_t b = bar0();
	mmio_write(b, 4, 0);
	g_assert_cmphex(mmio_read(b + 4, 4), ==, 1 << 3);
	/* A driver without VERSION_1 is refused FEATURES_OK. */
	negotiate(b, 0);
	g_assert_cmphex(mmio_read(b + 0x14, 1) & VIRTIO_STATUS_FEATURES_OK, ==, 0);
	mmio_write(b + 0x14, 1, 0);
	g_assert_cmpint(resets, ==, 1);
	/* Features the device never offered are refused too. */
	negotiate(b, 1 | 2);
	g_assert_cmphex(mmio_read(b + 0x14, 1) & VIRTIO_STATUS_FEATURES_OK, ==, 0);
	mmio_write(b + 0x14, 1, 0);
	negotiate(b, 1);
	g_assert_cmphex(mmio_read(b + 0x14, 1) & VIRTIO_STATUS_FEATURES_OK, ==, 8);
	/* Device config is forwarded to the model. */
	g_assert_cmphex(mmio_read(b + 0x2000 + 2, 1), ==, 0xa2);
	/* Wrongly sized accesses to common config are ignored. */
	g_assert_cmphex(mmio_read(b + 0x14, 4), ==, 0);
	teardown();
}

static void setup_queue(uint64_t b, uint16_t q, uint64_t desc, uint64_t avail, uint64_t used)
{
	mmio_write(b + 0x16, 2, q);
	g_assert_cmpuint(mmio_read(b + 0x18, 2), ==, 64);
	mmio_write(b + 0x18, 2, 16);
	mmio_write(b + 0x20, 4, desc);
	mmio_write(b + 0x24, 4, desc >> 32);
	mmio_write(b + 0x28, 4, avail);
	mmio_write(b + 0x2c, 4, avail >> 32);
	mmio_write(b + 0x30, 4, used);
	mmio_write(b + 0x34, 4, used >> 32);
	mmio_write(b + 0x1c, 2, 1);
}

static void test_queues_and_kick(void)
{
	setup();
	uint64_t b = bar0();
	negotiate(b, 1);
	setup_queue(b, 0, 0x10000, 0x11000, 0x12000);
	g_assert_true(dev.vqs[0].enabled);
	g_assert_false(dev.broken);
	/* A queue index past num_queues reads as size 0. */
	mmio_write(b + 0x16, 2, 7);
	g_assert_cmpuint(mmio_read(b + 0x18, 2), ==, 0);
	mmio_write(b + 0x14, 1, 0xf);
	g_assert_cmpint(activated, ==, 1);
	/* Without KVM the ioeventfd can't be registered: the trapped kick
	 * signals the same eventfd. */
	mmio_write(b + 0x3000 + 0, 2, 0);
	uint64_t n = 0;
	g_assert_cmpint(read(dev.qio[0].ioeventfd, &n, 8), ==, 8);
	g_assert_cmpuint(n, ==, 1);
	/* Queue layout is frozen once enabled. */
	mmio_write(b + 0x16, 2, 0);
	mmio_write(b + 0x20, 4, 0x20000);
	g_assert_cmphex(dev.vqs[0].desc_addr, ==, 0x10000);
	teardown();
}

static void test_bad_ring_breaks_device(void)
{
	setup();
	uint64_t b = bar0();
	negotiate(b, 1);
	/* Rings outside guest RAM: the device breaks, the VM goes on. */
	setup_queue(b, 1, 0x7ff0000000ULL, 0x11000, 0x12000);
	g_assert_true(dev.broken);
	g_assert_false(dev.vqs[1].enabled);
	g_assert_cmphex(mmio_read(b + 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, ==, 0x40);
	/* A reset clears it. */
	mmio_write(b + 0x14, 1, 0);
	g_assert_false(dev.broken);
	g_assert_cmphex(mmio_read(b + 0x14, 1), ==, 0);
	teardown();
}

static void test_msix_masking(void)
{
	setup();
	uint64_t mbar = ecam_read(dev.pci.devfn, PCI_BAR0 + 4, 4) & ~0xfu;
	int cap = dev.msix.cap;
	/* Table entries start masked; a notify while masked only sets PBA. */
	g_assert_cmphex(mmio_read(mbar + 12, 4), ==, 1);
	ecam_write(dev.pci.devfn, (uint32_t)cap + 2, 2, 0x8000);
	g_assert_true(msix_enabled(&dev.msix));
	msix_notify(&dev.msix, 1);
	g_assert_cmphex(mmio_read(mbar + 0x800, 4), ==, 2);
	/* Out-of-range vectors and odd accesses are ignored. */
	msix_notify(&dev.msix, 99);
	mmio_write(mbar + 3, 2, 0xffff);
	g_assert_cmphex(mmio_read(mbar + 0, 4), ==, 0);
	mmio_write(mbar + 16, 4, 0xfee00000);
	g_assert_cmphex(mmio_read(mbar + 16, 4), ==, 0xfee00000);
	/* Only the mask bit of vector control is writable. */
	mmio_write(mbar + 28, 4, 0xfffffffe);
	g_assert_cmphex(mmio_read(mbar + 28, 4), ==, 0);
	teardown();
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/pci/enumeration", test_enumeration);
	g_test_add_func("/pci/bar-sizing-and-move", test_bar_sizing_and_move);
	g_test_add_func("/virtio-pci/features", test_features);
	g_test_add_func("/virtio-pci/queues-and-kick", test_queues_and_kick);
	g_test_add_func("/virtio-pci/bad-ring", test_bad_ring_breaks_device);
	g_test_add_func("/pci/msix-masking", test_msix_masking);
	return g_test_run();
}
