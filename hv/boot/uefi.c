/* UEFI boot: OVMF runs from flash and learns the machine from fw_cfg.  The
 * ACPI tables are the same ones a direct Linux boot gets (boot/acpi.c),
 * delivered as blobs plus a table-loader script so the firmware can place
 * them; OVMF then installs them for the OS. */
#include "uefi.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../devices/lpc.h"
#include "../log.h"
#include "../memory.h"
#include "../pci/pci.h"
#include "../vcpu.h"
#include "../virtio/virtio.h"
#include "../vm.h"
#include "acpi.h"
#include "smbios.h"

/* Table-loader commands (QEMU's hw/acpi/bios-linker-loader.c format). */
#define LOADER_ALLOCATE     1
#define LOADER_ADD_POINTER  2
#define LOADER_ADD_CHECKSUM 3
#define LOADER_ENTRY        128
#define LOADER_FNAME        56
#define ZONE_HIGH           1
#define ZONE_FSEG           2

#define TABLES_FILE "etc/acpi/tables"
#define RSDP_FILE   "etc/acpi/rsdp"
#define ACPI_BLOB_MAX (64 * 1024)

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *cmd(uint8_t *script, unsigned *n, uint32_t type)
{
	uint8_t *e = script + (size_t)(*n)++ * LOADER_ENTRY;
	memset(e, 0, LOADER_ENTRY);
	put32(e, type);
	return e + 4;
}

static void loader_alloc(uint8_t *s, unsigned *n, const char *file, uint32_t align,
			 uint8_t zone)
{
	uint8_t *e = cmd(s, n, LOADER_ALLOCATE);
	memcpy(e, file, strlen(file));
	put32(e + LOADER_FNAME, align);
	e[LOADER_FNAME + 4] = zone;
}

static void loader_pointer(uint8_t *s, unsigned *n, const char *dst, const char *src,
			   uint32_t off, uint8_t size)
{
	uint8_t *e = cmd(s, n, LOADER_ADD_POINTER);
	memcpy(e, dst, strlen(dst));
	memcpy(e + LOADER_FNAME, src, strlen(src));
	put32(e + 2 * LOADER_FNAME, off);
	e[2 * LOADER_FNAME + 4] = size;
}

static void loader_checksum(uint8_t *s, unsigned *n, const char *file, uint32_t result,
			    uint32_t start, uint32_t len)
{
	uint8_t *e = cmd(s, n, LOADER_ADD_CHECKSUM);
	memcpy(e, file, strlen(file));
	put32(e + LOADER_FNAME, result);
	put32(e + LOADER_FNAME + 4, start);
	put32(e + LOADER_FNAME + 8, len);
}

uint8_t *uefi_table_loader(const struct acpi_layout *lay, uint8_t *tables,
			   uint8_t *rsdp, size_t *len)
{
	unsigned max = 2 + 1 + lay->n_ptrs + lay->n_sums + 2, n = 0;
	uint8_t *s = calloc(max, LOADER_ENTRY);
	if (!s)
		return NULL;
	/* The RSDP where OSes scan for it (below 1 MiB), the rest anywhere. */
	loader_alloc(s, &n, RSDP_FILE, 16, ZONE_FSEG);
	loader_alloc(s, &n, TABLES_FILE, 64, ZONE_HIGH);
	/* Pointers first: the checksums cover the relocated values. */
	loader_pointer(s, &n, RSDP_FILE, TABLES_FILE, 24, 8);
	for (unsigned i = 0; i < lay->n_ptrs; i++)
		loader_pointer(s, &n, TABLES_FILE, TABLES_FILE, lay->ptrs[i].offset,
			       lay->ptrs[i].size);
	for (unsigned i = 0; i < lay->n_sums; i++) {
		tables[lay->sums[i].result] = 0;
		loader_checksum(s, &n, TABLES_FILE, lay->sums[i].result,
				lay->sums[i].start, lay->sums[i].len);
	}
	/* ACPI 1.0 checksum over 20 bytes, then the extended one over all. */
	rsdp[8] = rsdp[32] = 0;
	loader_checksum(s, &n, RSDP_FILE, 8, 0, 20);
	loader_checksum(s, &n, RSDP_FILE, 32, 0, ACPI_RSDP_LEN);
	*len = (size_t)n * LOADER_ENTRY;
	return s;
}

int uefi_add_acpi(struct fw_cfg *fw, const struct acpi_platform *p)
{
	struct acpi_layout lay;
	uint8_t *tables = calloc(1, ACPI_BLOB_MAX);
	uint8_t rsdp[ACPI_RSDP_LEN];
	int ret = -ENOMEM;

	if (!tables)
		return -ENOMEM;
	size_t tlen = acpi_build_tables(p, tables, ACPI_BLOB_MAX, &lay);
	if (!tlen) {
		free(tables);
		return -EINVAL;
	}
	acpi_build_rsdp(rsdp, lay.xsdt);
	size_t slen = 0;
	uint8_t *script = uefi_table_loader(&lay, tables, rsdp, &slen);
	if (script) {
		ret = fw_cfg_add_file(fw, TABLES_FILE, tables, tlen);
		if (ret >= 0)
			ret = fw_cfg_add_file(fw, RSDP_FILE, rsdp, sizeof(rsdp));
		if (ret >= 0)
			ret = fw_cfg_add_file(fw, "etc/table-loader", script, slen);
	}
	free(script);
	free(tables);
	return ret < 0 ? ret : 0;
}

char *uefi_bootorder(const char *spec, const uint8_t *disk_slots, unsigned n_disks,
		     const uint8_t *nic_slots, unsigned n_nics)
{
	GString *out = g_string_new(NULL);
	gchar **v = g_strsplit(spec, ",", -1);

	/* QEMU's OpenFirmware paths for virtio-blk-pci and virtio-net-pci,
	 * which OVMF translates to device path prefixes. */
	for (gchar **w = v; *w; w++) {
		bool disk = g_str_has_prefix(*w, "disk");
		const char *num = *w + (disk ? 4 : 3);
		unsigned n = disk ? n_disks : n_nics;
		const uint8_t *slots = disk ? disk_slots : nic_slots;
		unsigned first = 0, last = n;
		if (*num) {
			first = (unsigned)atoi(num);
			last = first + 1;
		}
		for (unsigned i = first; i < last && i < n; i++) {
			if (disk)
				g_string_append_printf(out, "/pci@i0cf8/scsi@%x/disk@0,0\n", slots[i]);
			else
				g_string_append_printf(out, "/pci@i0cf8/ethernet@%x/ethernet-phy@0\n",
						       slots[i]);
		}
	}
	g_strfreev(v);
	return g_string_free(out, FALSE);
}

/* Stable per-domain UUID (FNV-1a of the name), version 4 / variant 1 bits. */
static void domain_uuid(const char *name, uint8_t uuid[16])
{
	uint64_t h = 14695981039346656037ULL;
	for (unsigned i = 0; i < 16; i++) {
		for (const char *p = name; *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ULL;
		h = (h ^ i) * 1099511628211ULL;
		uuid[i] = (uint8_t)(h >> 56);
	}
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
}

static int add_e820(struct fw_cfg *fw, const struct guest_memory *mem)
{
	uint8_t e[3 * 20] = { 0 };
	unsigned n = 0;
	const struct { uint64_t base, len; uint32_t type; } ent[] = {
		{ 0, mem->low_size, 1 },
		/* KVM's identity map and TSS pages (vm.c). */
		{ 0xfeffc000ULL, 0x4000, 2 },
		{ GUEST_HIGH_RAM_BASE, mem->high_size, 1 },
	};
	for (unsigned i = 0; i < 3; i++) {
		if (!ent[i].len)
			continue;
		uint8_t *p = e + 20 * n++;
		put32(p, (uint32_t)ent[i].base);
		put32(p + 4, (uint32_t)(ent[i].base >> 32));
		put32(p + 8, (uint32_t)ent[i].len);
		put32(p + 12, (uint32_t)(ent[i].len >> 32));
		put32(p + 16, ent[i].type);
	}
	int ret = fw_cfg_add_file(fw, "etc/e820", e, 20 * (size_t)n);
	return ret < 0 ? ret : 0;
}

/* A kernel for OVMF's direct boot: the bzImage split into its real-mode
 * setup and the rest, as the fw_cfg kernel items carry it. */
static int add_kernel(struct fw_cfg *fw, const struct vm_config *cfg,
		      char *err, size_t errlen)
{
	gchar *k = NULL, *initrd = NULL;
	gsize klen = 0, ilen = 0;
	GError *ge = NULL;
	int ret = -1;

	if (!g_file_get_contents(cfg->kernel, &k, &klen, &ge)) {
		snprintf(err, errlen, "kernel %s: %s", cfg->kernel, ge->message);
		goto out;
	}
	/* setup_sects at 0x1f1 (0 means 4), "HdrS" at 0x202. */
	size_t setup = klen > 0x206 ? ((size_t)((uint8_t)k[0x1f1] ? (uint8_t)k[0x1f1] : 4) + 1) * 512
				    : 0;
	if (!setup || memcmp(k + 0x202, "HdrS", 4) || setup >= klen) {
		snprintf(err, errlen, "kernel %s: not an x86 bzImage (an EFI-stub Linux "
			 "kernel is needed for direct UEFI boot)", cfg->kernel);
		goto out;
	}
	if (cfg->initrd && !g_file_get_contents(cfg->initrd, &initrd, &ilen, &ge)) {
		snprintf(err, errlen, "initrd %s: %s", cfg->initrd, ge->message);
		goto out;
	}
	const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
	if (fw_cfg_add_u32(fw, FW_CFG_SETUP_SIZE, (uint32_t)setup) ||
	    fw_cfg_add(fw, FW_CFG_SETUP_DATA, k, setup) ||
	    fw_cfg_add_u32(fw, FW_CFG_KERNEL_SIZE, (uint32_t)(klen - setup)) ||
	    fw_cfg_add(fw, FW_CFG_KERNEL_DATA, k + setup, klen - setup) ||
	    fw_cfg_add_u32(fw, FW_CFG_CMDLINE_SIZE, (uint32_t)strlen(cmdline) + 1) ||
	    fw_cfg_add(fw, FW_CFG_CMDLINE_DATA, cmdline, strlen(cmdline) + 1) ||
	    (initrd && (fw_cfg_add_u32(fw, FW_CFG_INITRD_SIZE, (uint32_t)ilen) ||
			fw_cfg_add(fw, FW_CFG_INITRD_DATA, initrd, ilen)))) {
		snprintf(err, errlen, "kernel %s: cannot hand it to the firmware (too large?)",
			 cfg->kernel);
		goto out;
	}
	ret = 0;
out:
	if (ge)
		g_error_free(ge);
	g_free(k);
	g_free(initrd);
	return ret;
}

static int add_bootorder(struct vm *vm, struct fw_cfg *fw)
{
	uint8_t disks[32], nics[32];
	unsigned nd = 0, nn = 0;

	for (unsigned i = 0; i < vm->n_virtio; i++) {
		const struct pci_device *d = &vm->virtio_devs[i]->pci;
		if (!strcmp(d->name, "virtio-blk") && nd < 32)
			disks[nd++] = d->devfn >> 3;
		else if (!strcmp(d->name, "virtio-net") && nn < 32)
			nics[nn++] = d->devfn >> 3;
	}
	char *order = uefi_bootorder(vm->cfg->boot_order, disks, nd, nics, nn);
	int ret = fw_cfg_add_file(fw, "bootorder", order, strlen(order) + 1);
	free(order);
	return ret < 0 ? ret : 0;
}

static int add_smbios(struct vm *vm, struct fw_cfg *fw, const uint8_t uuid[16])
{
	struct smbios_info in = { .product = vm->cfg->name, .memory_bytes = vm->mem.size,
				  .n_cpus = vm->cfg->vcpus };
	uint8_t anchor[SMBIOS_ANCHOR_LEN];
	size_t cap = 16384 + 128 * (size_t)in.n_cpus;
	uint8_t *t = malloc(cap);

	if (!t)
		return -ENOMEM;
	/* SMBIOS stores the first three UUID fields little endian. */
	memcpy(in.uuid, uuid, 16);
	in.uuid[0] = uuid[3]; in.uuid[1] = uuid[2]; in.uuid[2] = uuid[1]; in.uuid[3] = uuid[0];
	in.uuid[4] = uuid[5]; in.uuid[5] = uuid[4]; in.uuid[6] = uuid[7]; in.uuid[7] = uuid[6];
	size_t len = smbios_build(&in, t, cap, anchor);
	int ret = len ? fw_cfg_add_file(fw, "etc/smbios/smbios-tables", t, len) : -ENOSPC;
	if (ret >= 0)
		ret = fw_cfg_add_file(fw, "etc/smbios/smbios-anchor", anchor, sizeof(anchor));
	free(t);
	return ret < 0 ? ret : 0;
}

int uefi_fill_fw_cfg(struct vm *vm, struct fw_cfg *fw, char *err, size_t errlen)
{
	const struct vm_config *cfg = vm->cfg;
	uint8_t uuid[16];
	/* SeaBIOS packs BARs down from the IOAPIC, OVMF up from 0xC0000000. */
	uint64_t mmio32_size = cfg->firmware == FIRMWARE_BIOS ? IOAPIC_BASE - UEFI_MMIO32_BASE
							      : UEFI_MMIO32_SIZE;

	domain_uuid(cfg->name ? cfg->name : "atoll", uuid);
	struct acpi_platform p = {
		.n_cpus = cfg->vcpus,
		.ecam_base = UEFI_ECAM_BASE,
		.ecam_bus_end = 255,
		.mmio32_base = UEFI_MMIO32_BASE, .mmio32_size = mmio32_size,
		.mmio64_base = vm->pci->mmio64_base, .mmio64_size = PCI_MMIO64_SIZE,
		.ioapic_addr = (uint32_t)IOAPIC_BASE, .lapic_addr = (uint32_t)LAPIC_BASE,
	};
	int ret = 0;
	if (fw_cfg_add(fw, FW_CFG_UUID, uuid, 16) ||
	    fw_cfg_add_u64(fw, FW_CFG_RAM_SIZE, vm->mem.size) ||
	    fw_cfg_add_u16(fw, FW_CFG_NOGRAPHIC, cfg->gpu == GPU_NONE) ||
	    fw_cfg_add_u16(fw, FW_CFG_NB_CPUS, (uint16_t)cfg->vcpus) ||
	    fw_cfg_add_u16(fw, FW_CFG_MAX_CPUS, (uint16_t)cfg->vcpus) ||
	    fw_cfg_add_u16(fw, FW_CFG_BOOT_MENU, 0) ||
	    add_e820(fw, &vm->mem) || add_smbios(vm, fw, uuid))
		ret = -1;
	if (!ret && uefi_add_acpi(fw, &p))
		return snprintf(err, errlen, "the ACPI tables for the firmware cannot be built"), -1;
	if (!ret && cfg->boot_order && add_bootorder(vm, fw))
		ret = -1;
	if (ret)
		return snprintf(err, errlen, "cannot fill the firmware's fw_cfg items (out of memory?)"), -1;
	if (cfg->kernel && add_kernel(fw, cfg, err, errlen))
		return -1;
	return 0;
}

int uefi_create(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *cfg = vm->cfg;
	struct uefi *u = calloc(1, sizeof(*u));

	if (!u)
		return snprintf(err, errlen, "out of memory"), -1;
	vm->uefi = u;
	u->code.fd = u->vars.fd = -1;
	fw_cfg_init(&u->fw, &vm->mem);
	const char *code = cfg->firmware_code ? cfg->firmware_code : OVMF_CODE_DEFAULT;
	const char *vars = cfg->firmware_vars ? cfg->firmware_vars : OVMF_VARS_TEMPLATE;
	if (pflash_open(&u->code, code, false, err, errlen) ||
	    pflash_open(&u->vars, vars, cfg->firmware_vars != NULL, err, errlen))
		return -1;
	if (!cfg->firmware_vars)
		log_warn("firmware: no --firmware-vars file; UEFI variables (boot entries) "
			 "start from %s and are lost at exit", vars);
	if (q35_create(vm))
		return snprintf(err, errlen, "cannot create the Q35 chipset devices"), -1;
	if (uefi_fill_fw_cfg(vm, &u->fw, err, errlen) || fw_cfg_attach(&u->fw, vm))
		return -1;
	return pflash_attach(vm, &u->code, &u->vars, err, errlen);
}

void uefi_destroy(struct vm *vm)
{
	struct uefi *u = vm->uefi;

	if (!u)
		return;
	pflash_detach(vm, &u->code, &u->vars);
	pflash_close(&u->code);
	pflash_close(&u->vars);
	fw_cfg_destroy(&u->fw);
	free(u);
	vm->uefi = NULL;
}

int uefi_setup_bsp(struct vcpu *vcpu, void *opaque)
{
	(void)vcpu;
	(void)opaque;
	/* KVM creates vCPUs in the x86 reset state: CS base 0xffff0000, IP
	 * 0xfff0, the top of the flash. */
	return 0;
}
