/* Legacy BIOS boot with SeaBIOS.  The image sits read-only at the top of
 * 4 GiB, where the vCPU's reset vector (CS base 0xFFFF0000, IP 0xFFF0)
 * fetches from it; its last 128 KiB are also copied into RAM at 0xE0000,
 * the shadow a PC's BIOS runs from.  That RAM is plain guest RAM, writable
 * from the start: the Q35 PAM registers (devices/lpc.c) only read back
 * what is written.  SeaBIOS copes: finding PAM0 "not RAM" it re-copies
 * itself from the flash alias into RAM, which holds the same bytes.  A
 * reset re-executes the VMM (main.c), so every boot starts from a clean
 * copy.  Everything else SeaBIOS learns from the fw_cfg items OVMF gets. */
#include "bios.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../bus.h"
#include "../devices/lpc.h"
#include "../devices/platform.h"
#include "../log.h"
#include "../memory.h"
#include "../pci/pci.h"
#include "../vm.h"
#include "uefi.h"

static uint64_t page_round(uint64_t n)
{
	return (n + 4095) & ~4095ULL;
}

int bios_image_check(const uint8_t *img, uint64_t size, char *err, size_t errlen)
{
	if (size < BIOS_SIZE_UNIT || size % BIOS_SIZE_UNIT || size > BIOS_SIZE_MAX) {
		snprintf(err, errlen, "%llu bytes; a BIOS image is a multiple of 64 KiB up to "
			 "4 MiB (Debian's /usr/share/seabios/bios-256k.bin)",
			 (unsigned long long)size);
		return -1;
	}
	/* The reset vector: a far or near jump, perhaps after NOPs (OVMF's
	 * code image has one too, but is 2-4 MiB of 0xff-padded volumes that
	 * fail elsewhere; this catches random files and truncated images). */
	const uint8_t *rv = img + size - 16;
	unsigned i = 0;
	while (i < 15 && rv[i] == 0x90)
		i++;
	if (rv[i] != 0xea && rv[i] != 0xe9 && rv[i] != 0xeb) {
		snprintf(err, errlen, "no jump at the reset vector (0x%02x at 16 bytes below the "
			 "end); not a BIOS image", rv[i]);
		return -1;
	}
	return 0;
}

int bios_shadow(const struct guest_memory *mem, const uint8_t *img, uint64_t size)
{
	uint64_t n = size < BIOS_SHADOW_SIZE ? size : BIOS_SHADOW_SIZE;

	return guest_write(mem, BIOS_SHADOW_TOP - n, img + size - n, n);
}

void bios_image_free(uint8_t *img, uint64_t size)
{
	if (img)
		munmap(img, page_round(size));
}

int bios_image_load(const char *path, uint8_t **img, uint64_t *size,
		    char *err, size_t errlen)
{
	char why[160];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*img = NULL;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "BIOS image %s: %s (install the seabios package or give "
			 "--firmware-code PATH)", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	uint64_t len = st.st_size > 0 ? (uint64_t)st.st_size : 0;
	if (len < BIOS_SIZE_UNIT || len % BIOS_SIZE_UNIT || len > BIOS_SIZE_MAX) {
		/* Checked before mapping so a huge file is not read. */
		bios_image_check(NULL, len, why, sizeof(why));
		snprintf(err, errlen, "BIOS image %s: %s", path, why);
		close(fd);
		return -1;
	}
	uint8_t *m = mmap(NULL, page_round(len), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "BIOS image %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	for (uint64_t got = 0; got < len;) {
		ssize_t n = pread(fd, m + got, len - got, (off_t)got);
		if (n <= 0) {
			snprintf(err, errlen, "reading BIOS image %s: %s", path,
				 n < 0 ? strerror(errno) : "file shrank");
			close(fd);
			bios_image_free(m, len);
			return -1;
		}
		got += (uint64_t)n;
	}
	close(fd);
	if (bios_image_check(m, len, why, sizeof(why))) {
		snprintf(err, errlen, "BIOS image %s: %s", path, why);
		bios_image_free(m, len);
		return -1;
	}
	*img = m;
	*size = len;
	return 0;
}

static int add_int(struct fw_cfg *fw, const char *name, uint32_t v, size_t width)
{
	uint8_t b[4];

	for (unsigned i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	int ret = fw_cfg_add_file(fw, name, b, width);
	return ret < 0 ? ret : 0;
}

int bios_add_items(struct fw_cfg *fw, uint16_t sercon_port)
{
	int ret = add_int(fw, "etc/boot-fail-wait", BIOS_BOOT_FAIL_WAIT_MS, 4);
	/* SeaBIOS's sercon: its screen output and the boot loaders' int 10h
	 * text go to this UART as well as to any VGA BIOS. */
	if (!ret && sercon_port)
		ret = add_int(fw, "etc/sercon-port", sercon_port, 2);
	return ret;
}

int bios_attach_vga_rom(struct vm *vm, const uint8_t *rom, size_t len)
{
	for (unsigned i = 0; i < 256; i++) {
		struct pci_device *d = vm->pci->devs[i];
		if (d && pci_cfg_get16(d, PCI_VENDOR_ID) == 0x1234 &&
		    pci_cfg_get16(d, PCI_DEVICE_ID) == 0x1111)
			return pci_device_set_rom(d, rom, len);
	}
	return -ENODEV;
}

/* Writes to the read-only slot exit to the VMM: dropped, as ROM does. */
static void rom_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct bios *b = opaque;

	if (is_write)
		return;
	if (offset < b->size && len <= b->size - offset)
		memcpy(data, b->rom + offset, len);
	else
		memset(data, 0xff, len);
}

/* bochs-display has no VGA registers: SeaVGABIOS's bochs-display build
 * draws text into its framebuffer, which is what SPICE shows.  Missing
 * is not fatal: the serial console still has everything. */
static void add_vga_rom(struct vm *vm, struct bios *b)
{
	gchar *rom = NULL;
	gsize len = 0;
	GError *ge = NULL;

	if (vm->cfg->gpu != GPU_BOCHS)
		return;
	if (!g_file_get_contents(BIOS_VGA_BOCHS, &rom, &len, &ge)) {
		log_warn("firmware: %s (install the seabios package); the BIOS and boot "
			 "loader will not draw on the display", ge->message);
		g_error_free(ge);
		return;
	}
	b->vga_rom = (uint8_t *)rom;
	b->vga_len = len;
	int ret = bios_attach_vga_rom(vm, b->vga_rom, b->vga_len);
	if (ret)
		log_warn("firmware: cannot give bochs-display its VGA BIOS (%s); the "
			 "display stays blank until the OS drives it", strerror(-ret));
}

int bios_create(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *cfg = vm->cfg;
	struct bios *b = calloc(1, sizeof(*b));

	if (!b)
		return snprintf(err, errlen, "out of memory"), -1;
	vm->bios = b;
	b->slot = -1;
	fw_cfg_init(&b->fw, &vm->mem);
	const char *path = cfg->firmware_code ? cfg->firmware_code : BIOS_DEFAULT;
	if (bios_image_load(path, &b->rom, &b->size, err, errlen))
		return -1;
	b->gpa = FIRMWARE_FLASH_TOP - b->size;
	if (bios_shadow(&vm->mem, b->rom, b->size))
		return snprintf(err, errlen, "low RAM cannot hold the BIOS shadow at 0xE0000"), -1;
	if (q35_create(vm))
		return snprintf(err, errlen, "cannot create the Q35 chipset devices"), -1;
	uint16_t sercon = cfg->serial.kind != CHARDEV_NONE ? COM1_PORT : 0;
	if (uefi_fill_fw_cfg(vm, &b->fw, err, errlen))
		return -1;
	if (bios_add_items(&b->fw, sercon))
		return snprintf(err, errlen, "cannot fill the BIOS's fw_cfg items"), -1;
	add_vga_rom(vm, b);
	if (fw_cfg_attach(&b->fw, vm))
		return snprintf(err, errlen, "cannot attach fw_cfg"), -1;
	int ret = vm_map_ram(vm, b->gpa, b->size, b->rom, true, &b->slot);
	if (ret)
		return snprintf(err, errlen, "cannot map the BIOS read-only: %s (does this KVM "
				"support KVM_CAP_READONLY_MEM?)", strerror(-ret)), -1;
	if (bus_register(&vm->mmio_bus, b->gpa, b->size, rom_access, b, "bios"))
		return snprintf(err, errlen, "the BIOS area 0x%llx-4 GiB is taken",
				(unsigned long long)b->gpa), -1;
	log_info("firmware: BIOS %s, %llu KiB at 0x%llx (read-only), last %llu KiB "
		 "shadowed at 0x%llx", path, (unsigned long long)b->size >> 10,
		 (unsigned long long)b->gpa,
		 (unsigned long long)(b->size < BIOS_SHADOW_SIZE ? b->size : BIOS_SHADOW_SIZE) >> 10,
		 (unsigned long long)(BIOS_SHADOW_TOP -
				      (b->size < BIOS_SHADOW_SIZE ? b->size : BIOS_SHADOW_SIZE)));
	return 0;
}

void bios_destroy(struct vm *vm)
{
	struct bios *b = vm->bios;

	if (!b)
		return;
	if (b->slot >= 0)
		vm_unmap_ram(vm, b->slot);
	bios_image_free(b->rom, b->size);
	g_free(b->vga_rom);
	fw_cfg_destroy(&b->fw);
	free(b);
	vm->bios = NULL;
}
