/* Booting UEFI firmware (OVMF): the flash images, and everything OVMF reads
 * through fw_cfg -- memory map, CPUs, boot order, a kernel for direct EFI
 * boot, SMBIOS and the VMM's ACPI tables with the table-loader script. */
#ifndef ATOLL_UEFI_H
#define ATOLL_UEFI_H

#include <stddef.h>
#include <stdint.h>

#include "../devices/fw_cfg.h"
#include "../devices/pflash.h"

struct vm;
struct vcpu;
struct acpi_platform;

/* OVMF's fixed ECAM base on Q35 (PcdPciExpressBaseAddress): RAM below
 * 4 GiB must end under it. */
#define UEFI_ECAM_BASE     0xB0000000ULL
#define UEFI_LOW_RAM_MAX   UEFI_ECAM_BASE
/* OVMF's 32-bit PCI aperture on Q35: above ECAM up to 0xFC000000. */
#define UEFI_MMIO32_BASE   0xC0000000ULL
#define UEFI_MMIO32_SIZE   0x3C000000ULL

struct uefi {
	struct fw_cfg fw;
	struct pflash code, vars;
};

/* After the devices exist: load the flash images, fill fw_cfg. */
int uefi_create(struct vm *vm, char *err, size_t errlen);
void uefi_destroy(struct vm *vm);
/* The fw_cfg items OVMF and SeaBIOS both read: UUID, RAM, CPUs, e820,
 * SMBIOS, ACPI tables + table-loader, bootorder, a direct-boot kernel. */
int uefi_fill_fw_cfg(struct vm *vm, struct fw_cfg *fw, char *err, size_t errlen);
/* The boot vCPU starts at the reset vector: nothing to set. */
int uefi_setup_bsp(struct vcpu *vcpu, void *opaque);

/* The table-loader script for tables built by acpi_build_tables into
 * "etc/acpi/tables" with the RSDP in "etc/acpi/rsdp": ALLOCATE both,
 * ADD_POINTER for every link, ADD_CHECKSUM for every table.  Zeroes the
 * checksum bytes in tables/rsdp as the loader expects.  Returns a malloc'd
 * script of *len bytes (128 per command), or NULL. */
struct acpi_layout;
uint8_t *uefi_table_loader(const struct acpi_layout *lay, uint8_t *tables,
			   uint8_t *rsdp, size_t *len);
/* Add the ACPI blobs and loader to fw. 0 or -errno. */
int uefi_add_acpi(struct fw_cfg *fw, const struct acpi_platform *p);
/* The "bootorder" file's OpenFirmware paths for a boot_order spec, given
 * the PCI slots of the disks and NICs.  Returns a malloc'd string. */
char *uefi_bootorder(const char *spec, const uint8_t *disk_slots, unsigned n_disks,
		     const uint8_t *nic_slots, unsigned n_nics);

#endif
