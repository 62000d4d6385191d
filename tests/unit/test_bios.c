/* BIOS boot (hv/boot/bios.c): which images are accepted, the shadow copy
 * below 1 MiB the BIOS runs from, the fw_cfg items SeaBIOS reads beyond
 * OVMF's, the configuration rules for firmware bios, and bochs-display's
 * expansion ROM BAR carrying the VGA BIOS. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "boot/bios.h"
#include "config.h"
#include "devices/bochs_display.h"
#include "devices/fw_cfg.h"
#include "memory.h"
#include "testvm.h"

#define SEABIOS "/usr/share/seabios/bios-256k.bin"

/* A synthetic image: a byte pattern and a far jump at the reset vector. */
static uint8_t *fake_image(uint64_t size)
{
	uint8_t *img = g_malloc(size);
	for (uint64_t i = 0; i < size; i++)
		img[i] = (uint8_t)(i * 7 + (i >> 16));
	img[size - 16] = 0xea;
	return img;
}

static void test_check_sizes(void)
{
	char err[256];
	uint8_t *img = fake_image(BIOS_SIZE_MAX);

	/* Valid: 64 KiB steps up to 4 MiB, the jump 16 bytes from the end. */
	for (uint64_t sz = BIOS_SIZE_UNIT; sz <= BIOS_SIZE_MAX; sz *= 2) {
		uint8_t *i2 = fake_image(sz);
		g_assert_cmpint(bios_image_check(i2, sz, err, sizeof(err)), ==, 0);
		g_free(i2);
	}
	static const uint64_t bad[] = { 0, 512, BIOS_SIZE_UNIT - 1, BIOS_SIZE_UNIT + 4096,
					BIOS_SIZE_MAX + BIOS_SIZE_UNIT, 1ULL << 40 };
	for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
		err[0] = 0;
		g_assert_cmpint(bios_image_check(bad[i] <= BIOS_SIZE_MAX ? img : NULL, bad[i],
						 err, sizeof(err)), ==, -1);
		g_assert_nonnull(strstr(err, "64 KiB"));
	}
	g_free(img);
}

static void test_check_reset_vector(void)
{
	char err[256];
	uint64_t sz = 2 * BIOS_SIZE_UNIT;
	uint8_t *img = fake_image(sz);

	static const uint8_t jumps[] = { 0xea, 0xe9, 0xeb };
	for (unsigned i = 0; i < G_N_ELEMENTS(jumps); i++) {
		img[sz - 16] = jumps[i];
		g_assert_cmpint(bios_image_check(img, sz, err, sizeof(err)), ==, 0);
	}
	/* NOPs before the jump are fine; all-0xff flash or data is not. */
	img[sz - 16] = 0x90; img[sz - 15] = 0x90; img[sz - 14] = 0xe9;
	g_assert_cmpint(bios_image_check(img, sz, err, sizeof(err)), ==, 0);
	memset(img + sz - 16, 0x90, 16);
	g_assert_cmpint(bios_image_check(img, sz, err, sizeof(err)), ==, -1);
	memset(img + sz - 16, 0xff, 16);
	g_assert_cmpint(bios_image_check(img, sz, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "reset vector"));
	g_free(img);
}

static void test_load(void)
{
	char err[256];
	g_autofree char *dir = g_dir_make_tmp("test_bios_XXXXXX", NULL);
	g_autofree char *good = g_build_filename(dir, "bios.bin", NULL);
	g_autofree char *odd = g_build_filename(dir, "odd.bin", NULL);
	g_autofree char *junk = g_build_filename(dir, "junk.bin", NULL);
	uint64_t sz = 2 * BIOS_SIZE_UNIT;
	uint8_t *img = fake_image(sz);
	uint8_t *got = NULL;
	uint64_t got_sz = 0;

	g_assert_true(g_file_set_contents(good, (char *)img, (gssize)sz, NULL));
	g_assert_cmpint(bios_image_load(good, &got, &got_sz, err, sizeof(err)), ==, 0);
	g_assert_cmpuint(got_sz, ==, sz);
	g_assert_cmpuint((uintptr_t)got % 4096, ==, 0);   /* a KVM slot needs pages */
	g_assert_cmpmem(got, sz, img, sz);
	bios_image_free(got, got_sz);

	g_assert_true(g_file_set_contents(odd, (char *)img, 100000, NULL));
	g_assert_cmpint(bios_image_load(odd, &got, &got_sz, err, sizeof(err)), ==, -1);
	g_assert_null(got);
	g_assert_nonnull(strstr(err, odd));
	img[sz - 16] = 0;
	g_assert_true(g_file_set_contents(junk, (char *)img, (gssize)sz, NULL));
	g_assert_cmpint(bios_image_load(junk, &got, &got_sz, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "not a BIOS image"));
	g_assert_cmpint(bios_image_load("/nonexistent/bios.bin", &got, &got_sz, err,
					sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "seabios"));
	g_unlink(good); g_unlink(odd); g_unlink(junk); g_rmdir(dir);
	g_free(img);
}

static void test_shadow(void)
{
	struct guest_memory mem;
	uint8_t *ram = g_malloc(2 << 20);
	uint64_t sz = 4 * BIOS_SIZE_UNIT;
	uint8_t *img = fake_image(sz);

	memset(ram, 0x5a, 2 << 20);
	guest_memory_wrap(&mem, ram, 2 << 20);
	g_assert_cmpint(bios_shadow(&mem, img, sz), ==, 0);
	/* 0xE0000-0xFFFFF is the image's last 128 KiB: the reset vector at
	 * 0xFFFF0 is the image's, F000:FFF0 after the BIOS re-enters. */
	g_assert_cmpmem(ram + 0xe0000, BIOS_SHADOW_SIZE, img + sz - BIOS_SHADOW_SIZE,
			BIOS_SHADOW_SIZE);
	g_assert_cmpuint(ram[0xffff0], ==, 0xea);
	g_assert_cmpuint(ram[0xdffff], ==, 0x5a);
	g_assert_cmpuint(ram[0x100000], ==, 0x5a);

	/* A 64 KiB image covers only 0xF0000-0xFFFFF. */
	memset(ram, 0x5a, 2 << 20);
	g_assert_cmpint(bios_shadow(&mem, img + sz - BIOS_SIZE_UNIT, BIOS_SIZE_UNIT), ==, 0);
	g_assert_cmpmem(ram + 0xf0000, BIOS_SIZE_UNIT, img + sz - BIOS_SIZE_UNIT, BIOS_SIZE_UNIT);
	g_assert_cmpuint(ram[0xeffff], ==, 0x5a);

	/* RAM that ends below 1 MiB cannot hold it: an error, no write. */
	guest_memory_wrap(&mem, ram, 0xf0000);
	g_assert_cmpint(bios_shadow(&mem, img, sz), ==, -EFAULT);
	g_free(ram);
	g_free(img);
}

/* Debian's SeaBIOS, where installed: accepted, and its shadow holds the
 * code the reset vector jumps to (F000:E05B, SeaBIOS's POST entry). */
static void test_seabios_image(void)
{
	char err[256];
	uint8_t *img;
	uint64_t sz;

	if (!g_file_test(SEABIOS, G_FILE_TEST_EXISTS)) {
		g_test_skip(SEABIOS " not installed (package seabios)");
		return;
	}
	g_assert_cmpint(bios_image_load(SEABIOS, &img, &sz, err, sizeof(err)), ==, 0);
	g_assert_cmpuint(sz, ==, 256 * 1024);
	struct guest_memory mem;
	uint8_t *ram = g_malloc0(2 << 20);
	guest_memory_wrap(&mem, ram, 2 << 20);
	g_assert_cmpint(bios_shadow(&mem, img, sz), ==, 0);
	g_assert_cmpuint(ram[0xffff0], ==, 0xea);
	uint16_t ip = (uint16_t)(ram[0xffff1] | ram[0xffff2] << 8);
	uint16_t cs = (uint16_t)(ram[0xffff3] | ram[0xffff4] << 8);
	g_assert_cmpuint(cs, ==, 0xf000);
	g_assert_cmpuint(((uint32_t)cs << 4) + ip, >=, 0xe0000);
	g_free(ram);
	bios_image_free(img, sz);
}

static const struct fw_cfg_item *file(struct fw_cfg *fw, const char *name)
{
	return fw_cfg_find_file(fw, name);
}

static uint32_t le(const struct fw_cfg_item *it)
{
	uint32_t v = 0;
	for (uint32_t i = 0; i < it->len && i < 4; i++)
		v |= (uint32_t)it->data[i] << (8 * i);
	return v;
}

static void test_items(void)
{
	struct fw_cfg fw;

	fw_cfg_init(&fw, NULL);
	g_assert_cmpint(bios_add_items(&fw, 0x3f8), ==, 0);
	const struct fw_cfg_item *it = file(&fw, "etc/sercon-port");
	g_assert_nonnull(it);
	g_assert_cmpuint(it->len, ==, 2);
	g_assert_cmpuint(le(it), ==, 0x3f8);
	it = file(&fw, "etc/boot-fail-wait");
	g_assert_nonnull(it);
	g_assert_cmpuint(it->len, ==, 4);
	g_assert_cmpuint(le(it), ==, BIOS_BOOT_FAIL_WAIT_MS);
	fw_cfg_destroy(&fw);

	/* No serial console: no sercon item. */
	fw_cfg_init(&fw, NULL);
	g_assert_cmpint(bios_add_items(&fw, 0), ==, 0);
	g_assert_null(file(&fw, "etc/sercon-port"));
	g_assert_nonnull(file(&fw, "etc/boot-fail-wait"));
	fw_cfg_destroy(&fw);
}

static void cfg_w32(struct pci_device *d, uint32_t off, uint32_t v)
{
	pci_cfg_write(d, off, 4, v);
}

/* bochs-display's expansion ROM as SeaBIOS's map_pcirom() uses it: size
 * the BAR, place it, enable it and memory decoding, read the image. */
static void test_vga_rom_bar(void)
{
	struct vm vm;
	uint8_t rom[5000];

	for (unsigned i = 0; i < sizeof(rom); i++)
		rom[i] = (uint8_t)(i * 13);
	rom[0] = 0x55; rom[1] = 0xaa;
	testvm_init(&vm, 64 << 20);
	g_assert_cmpint(bios_attach_vga_rom(&vm, rom, sizeof(rom)), ==, -ENODEV);
	g_assert_cmpint(bochs_display_create(&vm), ==, 0);
	g_assert_cmpint(bios_attach_vga_rom(&vm, rom, sizeof(rom)), ==, 0);
	struct pci_device *d = NULL;
	for (unsigned i = 0; i < 256 && !d; i++)
		if (vm.pci->devs[i] && pci_cfg_get16(vm.pci->devs[i], PCI_VENDOR_ID) == 0x1234)
			d = vm.pci->devs[i];
	g_assert_nonnull(d);
	cfg_w32(d, PCI_ROM_ADDRESS, 0xfffffffe);
	uint32_t sz = ~(pci_cfg_read(d, PCI_ROM_ADDRESS, 4) & ~1u) + 1;
	g_assert_cmpuint(sz, ==, 8192);           /* 5000 bytes -> 8 KiB BAR */
	const uint64_t at = 0xfeb00000;
	cfg_w32(d, PCI_ROM_ADDRESS, (uint32_t)at | 1);
	uint16_t cmd = pci_cfg_get16(d, PCI_COMMAND);
	pci_cfg_write(d, PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY);
	g_assert_cmphex(testvm_mmio_read(&vm, at, 2), ==, 0xffff);   /* decoding off */
	pci_cfg_write(d, PCI_COMMAND, 2, cmd | PCI_COMMAND_MEMORY);
	g_assert_cmphex(testvm_mmio_read(&vm, at, 2), ==, 0xaa55);
	g_assert_cmphex(testvm_mmio_read(&vm, at + 4999, 1), ==, rom[4999]);
	g_assert_cmphex(testvm_mmio_read(&vm, at + 5000, 1), ==, 0xff);   /* padding */
	testvm_mmio_write(&vm, at, 2, 0);                                  /* read-only */
	g_assert_cmphex(testvm_mmio_read(&vm, at, 2), ==, 0xaa55);
	/* Disabled again (bit 0 clear): gone from the bus. */
	cfg_w32(d, PCI_ROM_ADDRESS, (uint32_t)at);
	g_assert_cmphex(testvm_mmio_read(&vm, at, 2), ==, 0xffff);
	/* Over guest RAM it is never decoded. */
	cfg_w32(d, PCI_ROM_ADDRESS, 0x100000 | 1);
	g_assert_cmphex(testvm_mmio_read(&vm, 0x100000, 2), !=, 0xaa55);
	bochs_display_destroy(&vm);
	testvm_destroy(&vm);
}

static int parse(struct vm_config *cfg, char *err, size_t errlen, const char *const *args)
{
	char *argv[16] = { "atoll-vmm" };
	int argc = 1;
	for (; args[argc - 1]; argc++)
		argv[argc] = (char *)args[argc - 1];
	vm_config_init(cfg);
	if (vm_config_parse_args(cfg, argc, argv, err, errlen))
		return -1;
	return vm_config_validate(cfg, err, errlen);
}

static void test_config(void)
{
	struct vm_config cfg;
	char err[512];

	const char *ok[] = { "--name", "b", "--firmware", "bios", "--disk", "path=/dev/null",
			     "--boot-order", "disk0", NULL };
	g_assert_cmpint(parse(&cfg, err, sizeof(err), ok), ==, 0);
	g_assert_cmpint(cfg.firmware, ==, FIRMWARE_BIOS);
	g_assert_cmpstr(firmware_kind_name(cfg.firmware), ==, "bios");
	vm_config_free(&cfg);

	const char *code[] = { "--name", "b", "--firmware", "bios", "--firmware-code",
			       "/usr/share/seabios/bios.bin", NULL };
	g_assert_cmpint(parse(&cfg, err, sizeof(err), code), ==, 0);
	vm_config_free(&cfg);

	const char *kernel[] = { "--name", "b", "--firmware", "bios", "--kernel", "/dev/null", NULL };
	g_assert_cmpint(parse(&cfg, err, sizeof(err), kernel), ==, -1);
	g_assert_nonnull(strstr(err, "firmware bios"));
	vm_config_free(&cfg);

	const char *vars[] = { "--name", "b", "--firmware", "bios", "--firmware-vars",
			       "/dev/null", NULL };
	g_assert_cmpint(parse(&cfg, err, sizeof(err), vars), ==, -1);
	g_assert_nonnull(strstr(err, "firmware_vars"));
	vm_config_free(&cfg);

	const char *json = "{\"name\": \"b\", \"firmware\": \"bios\"}";
	vm_config_init(&cfg);
	g_assert_cmpint(vm_config_load_json(&cfg, json, strlen(json), err, sizeof(err)), ==, 0);
	g_assert_cmpint(vm_config_validate(&cfg, err, sizeof(err)), ==, 0);
	g_assert_cmpint(cfg.firmware, ==, FIRMWARE_BIOS);
	vm_config_free(&cfg);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/bios/check/sizes", test_check_sizes);
	g_test_add_func("/bios/check/reset_vector", test_check_reset_vector);
	g_test_add_func("/bios/load", test_load);
	g_test_add_func("/bios/shadow", test_shadow);
	g_test_add_func("/bios/seabios_image", test_seabios_image);
	g_test_add_func("/bios/fw_cfg_items", test_items);
	g_test_add_func("/bios/config", test_config);
	g_test_add_func("/bios/vga_rom_bar", test_vga_rom_bar);
	return g_test_run();
}
