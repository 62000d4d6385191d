/* SMBIOS tables for UEFI firmware, delivered through fw_cfg
 * (etc/smbios/smbios-tables + etc/smbios/smbios-anchor): the firmware
 * installs them with its own type 0 (BIOS information). */
#ifndef ATOLL_SMBIOS_H
#define ATOLL_SMBIOS_H

#include <stddef.h>
#include <stdint.h>

#define SMBIOS_ANCHOR_LEN 31   /* a 2.8 "_SM_" entry point */

struct smbios_info {
	const char *product;    /* the domain name, or NULL */
	uint8_t uuid[16];       /* system UUID (type 1), in SMBIOS byte order */
	uint64_t memory_bytes;  /* type 16/17/19 */
	unsigned n_cpus;        /* type 4, one per vCPU socket */
};

/* Structures into tables[0..cap), the entry point into anchor (its table
 * address left 0: the firmware relocates).  Returns the bytes used or 0 if
 * cap is too small. */
size_t smbios_build(const struct smbios_info *info, uint8_t *tables, size_t cap,
		    uint8_t anchor[SMBIOS_ANCHOR_LEN]);

#endif
