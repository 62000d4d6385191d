/* Booting a legacy BIOS (SeaBIOS): the image mapped read-only below 4 GiB,
 * its last 128 KiB copied into RAM at 0xE0000-0xFFFFF where a PC's BIOS
 * shadow lives, and the same fw_cfg items OVMF gets plus the few SeaBIOS
 * reads on its own (serial console port, boot retry).  bochs-display gets
 * SeaVGABIOS as its PCI expansion ROM. */
#ifndef ATOLL_BIOS_H
#define ATOLL_BIOS_H

#include <stddef.h>
#include <stdint.h>

#include "../devices/fw_cfg.h"

struct vm;
struct guest_memory;

#define BIOS_DEFAULT        "/usr/share/seabios/bios-256k.bin"
#define BIOS_VGA_BOCHS      "/usr/share/seabios/vgabios-bochs-display.bin"
#define BIOS_SIZE_UNIT      0x10000ULL   /* images come in 64 KiB steps */
#define BIOS_SIZE_MAX       0x400000ULL  /* the 4 MiB flash area below 4 GiB */
#define BIOS_SHADOW_TOP     0x100000ULL  /* the shadow ends at 1 MiB */
#define BIOS_SHADOW_SIZE    0x20000ULL   /* 0xE0000-0xFFFFF */
/* No bootable device: SeaBIOS retries (resets) after this long. */
#define BIOS_BOOT_FAIL_WAIT_MS 60000u

struct bios {
	struct fw_cfg fw;
	uint8_t *rom;        /* the image, page aligned, never written */
	uint64_t size;
	uint64_t gpa;        /* 4 GiB - size */
	int slot;            /* KVM slot of the read-only mapping, or -1 */
	uint8_t *vga_rom;    /* bochs-display's ROM BAR contents, or NULL */
	size_t vga_len;
};

/* Is img a BIOS image atoll-vmm can map: a 64 KiB multiple up to 4 MiB
 * whose reset vector (16 bytes below its end) starts with a jump?
 * 0, or -1 with err saying what is wrong. */
int bios_image_check(const uint8_t *img, uint64_t size, char *err, size_t errlen);
/* Copy the image's last 128 KiB (all of a smaller one) to the RAM below
 * 1 MiB, the shadow the BIOS runs from and writes.  0 or -EFAULT. */
int bios_shadow(const struct guest_memory *mem, const uint8_t *img, uint64_t size);
/* Read and check an image into a page-aligned buffer (*img, *size);
 * free it with bios_image_free.  0 or -1 with err. */
int bios_image_load(const char *path, uint8_t **img, uint64_t *size,
		    char *err, size_t errlen);
void bios_image_free(uint8_t *img, uint64_t size);
/* The fw_cfg items SeaBIOS reads beyond OVMF's: etc/sercon-port (0 for
 * none) and etc/boot-fail-wait.  0 or -errno. */
int bios_add_items(struct fw_cfg *fw, uint16_t sercon_port);
/* Make `rom` the expansion ROM of the VM's bochs-display (1234:1111), where
 * SeaBIOS finds and runs it with the device's PCI address -- a VGA BIOS
 * loaded from fw_cfg would not know which device it drives.  rom must
 * outlive the VM.  0, or -ENODEV without that device. */
int bios_attach_vga_rom(struct vm *vm, const uint8_t *rom, size_t len);

/* After the devices exist: map the image, fill the shadow and fw_cfg. */
int bios_create(struct vm *vm, char *err, size_t errlen);
void bios_destroy(struct vm *vm);

#endif
