/* fw_cfg: the port interface, the DMA interface with hostile requests, and
 * what the UEFI boot path puts in it (table-loader script, bootorder,
 * SMBIOS), checked the way the firmware consumes them. */
#include <glib.h>
#include <string.h>

#include "boot/acpi.h"
#include "boot/smbios.h"
#include "boot/uefi.h"
#include "devices/fw_cfg.h"
#include "memory.h"

#define RAM (1u << 20)

struct fx {
	uint8_t *buf;
	struct guest_memory mem;
	struct fw_cfg fw;
};

static void fx_init(struct fx *f)
{
	f->buf = g_malloc0(RAM);
	guest_memory_wrap(&f->mem, f->buf, RAM);
	fw_cfg_init(&f->fw, &f->mem);
}

static void fx_free(struct fx *f)
{
	fw_cfg_destroy(&f->fw);
	g_free(f->buf);
}

static void port_select(struct fw_cfg *fw, uint16_t key)
{
	uint8_t d[2] = { (uint8_t)key, (uint8_t)(key >> 8) };
	fw_cfg_io(fw, FW_CFG_SEL_OFF, d, 2, true);
}

static void port_read(struct fw_cfg *fw, void *dst, size_t n)
{
	uint8_t *p = dst;
	for (size_t i = 0; i < n; i++)
		fw_cfg_io(fw, FW_CFG_DATA_OFF, p + i, 1, false);
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t rd_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Write a descriptor at `desc` and kick the DMA register like OVMF: high
 * then low half, big endian. */
static void dma(struct fx *f, uint64_t desc, uint32_t control, uint32_t len, uint64_t addr)
{
	if (desc < RAM && desc + 16 <= RAM) {
		be32(f->buf + desc, control);
		be32(f->buf + desc + 4, len);
		be32(f->buf + desc + 8, (uint32_t)(addr >> 32));
		be32(f->buf + desc + 12, (uint32_t)addr);
	}
	uint8_t hi[4], lo[4];
	be32(hi, (uint32_t)(desc >> 32));
	be32(lo, (uint32_t)desc);
	fw_cfg_io(&f->fw, FW_CFG_DMA_OFF, hi, 4, true);
	fw_cfg_io(&f->fw, FW_CFG_DMA_OFF + 4, lo, 4, true);
}

static void test_signature_id(void)
{
	struct fx f;
	fx_init(&f);
	char sig[5] = "";
	port_select(&f.fw, FW_CFG_SIGNATURE);
	port_read(&f.fw, sig, 4);
	g_assert_cmpstr(sig, ==, "QEMU");
	uint32_t id = 0;
	port_select(&f.fw, FW_CFG_ID);
	port_read(&f.fw, &id, 4);
	g_assert_cmphex(id, ==, FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
	/* The DMA register reads as "QEMU CFG". */
	uint8_t d[4];
	fw_cfg_io(&f.fw, FW_CFG_DMA_OFF, d, 4, false);
	g_assert_cmpmem(d, 4, "QEMU", 4);
	fx_free(&f);

	struct fw_cfg nodma;
	fw_cfg_init(&nodma, NULL);
	port_select(&nodma, FW_CFG_ID);
	port_read(&nodma, &id, 4);
	g_assert_cmphex(id, ==, FW_CFG_ID_TRADITIONAL);
	fw_cfg_destroy(&nodma);
}

static void test_files_and_dir(void)
{
	struct fx f;
	fx_init(&f);
	int k1 = fw_cfg_add_file(&f.fw, "etc/one", "hello", 5);
	int k2 = fw_cfg_add_file(&f.fw, "opt/two", "abcdefgh", 8);
	g_assert_cmpint(k1, ==, FW_CFG_FILE_FIRST);
	g_assert_cmpint(k2, ==, FW_CFG_FILE_FIRST + 1);
	/* Replacing keeps the key. */
	g_assert_cmpint(fw_cfg_add_file(&f.fw, "etc/one", "HELLO!", 6), ==, k1);
	g_assert_cmpint(fw_cfg_add(&f.fw, FW_CFG_SIGNATURE, "x", 1), ==, -EEXIST);
	g_assert_cmpint(fw_cfg_add(&f.fw, 0x25, "x", 1), ==, -EINVAL);
	char longname[80];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[79] = 0;
	g_assert_cmpint(fw_cfg_add_file(&f.fw, longname, "x", 1), ==, -EINVAL);

	uint8_t dir[4 + 2 * 64];
	port_select(&f.fw, FW_CFG_FILE_DIR);
	port_read(&f.fw, dir, sizeof(dir));
	g_assert_cmpuint(rd_be32(dir), ==, 2);
	g_assert_cmpuint(rd_be32(dir + 4), ==, 6);
	g_assert_cmpuint(dir[8] << 8 | dir[9], ==, (unsigned)k1);
	g_assert_cmpstr((char *)dir + 12, ==, "etc/one");
	g_assert_cmpuint(rd_be32(dir + 68), ==, 8);
	g_assert_cmpstr((char *)dir + 76, ==, "opt/two");

	char got[10] = "";
	port_select(&f.fw, (uint16_t)k1);
	port_read(&f.fw, got, 8);       /* two past the end read 0 */
	g_assert_cmpmem(got, 8, "HELLO!\0\0", 8);
	/* An unknown key reads zeros. */
	port_select(&f.fw, 0x1234);
	port_read(&f.fw, got, 4);
	g_assert_cmpmem(got, 4, "\0\0\0\0", 4);
	fx_free(&f);
}

static void test_dma_read(void)
{
	struct fx f;
	fx_init(&f);
	uint8_t blob[300];
	for (unsigned i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7 + 1);
	int key = fw_cfg_add_file(&f.fw, "etc/blob", blob, sizeof(blob));

	memset(f.buf + 0x2000, 0xee, 400);
	dma(&f, 0x1000, (uint32_t)key << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 100, 0x2000);
	g_assert_cmphex(rd_be32(f.buf + 0x1000), ==, 0);   /* done, no error */
	g_assert_cmpmem(f.buf + 0x2000, 100, blob, 100);
	g_assert_cmphex(f.buf[0x2000 + 100], ==, 0xee);
	/* Skip 100, then read past the end: the rest is zero-filled. */
	dma(&f, 0x1000, FW_CFG_DMA_SKIP, 100, 0);
	g_assert_cmphex(rd_be32(f.buf + 0x1000), ==, 0);
	dma(&f, 0x1000, FW_CFG_DMA_READ, 150, 0x3000);
	g_assert_cmpmem(f.buf + 0x3000, 100, blob + 200, 100);
	for (int i = 100; i < 150; i++)
		g_assert_cmphex(f.buf[0x3000 + i], ==, 0);
	/* The port continues where DMA left off. */
	port_select(&f.fw, (uint16_t)key);
	dma(&f, 0x1000, FW_CFG_DMA_SKIP, 299, 0);
	uint8_t last;
	port_read(&f.fw, &last, 1);
	g_assert_cmphex(last, ==, blob[299]);
	g_assert_cmpuint(f.fw.dma_errors, ==, 0);
	fx_free(&f);
}

static void test_dma_hostile(void)
{
	struct fx f;
	fx_init(&f);
	int key = fw_cfg_add_file(&f.fw, "etc/blob", "0123456789", 10);
	uint32_t sel = (uint32_t)key << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ;

	/* Target outside RAM, straddling its end, wrapping around. */
	dma(&f, 0x1000, sel, 10, RAM + 0x1000);
	g_assert_cmphex(rd_be32(f.buf + 0x1000), ==, FW_CFG_DMA_ERROR);
	dma(&f, 0x1000, sel, 10, RAM - 4);
	g_assert_cmphex(rd_be32(f.buf + 0x1000), ==, FW_CFG_DMA_ERROR);
	dma(&f, 0x1000, sel, 0xffffffffu, 0x2000);
	g_assert_cmphex(rd_be32(f.buf + 0x1000), ==, FW_CFG_DMA_ERROR);
	dma(&f, 0x1000, sel, 16, UINT64_MAX - 8);
	g_assert_cmphex(rd_be32(f.buf + 0x1000), ==, FW_CFG_DMA_ERROR);
	/* Writes: nothing is writable. */
	dma(&f, 0x1000, (uint32_t)key << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_WRITE, 4, 0x2000);
	g_assert_cmphex(rd_be32(f.buf + 0x1000), ==, FW_CFG_DMA_ERROR);
	/* Descriptor outside RAM or half in it: nothing to answer, no crash. */
	uint64_t before = f.fw.dma_errors;
	dma(&f, RAM + 64, sel, 10, 0x2000);
	dma(&f, RAM - 8, sel, 10, 0x2000);
	dma(&f, UINT64_MAX - 3, sel, 10, 0x2000);
	g_assert_cmpuint(f.fw.dma_errors, ==, before + 3);
	/* Skip past everything saturates; a following read gives zeros. */
	dma(&f, 0x1000, FW_CFG_DMA_SKIP, 0xffffffffu, 0);
	dma(&f, 0x1000, FW_CFG_DMA_SKIP, 0xffffffffu, 0);
	memset(f.buf + 0x2000, 0xaa, 4);
	dma(&f, 0x1000, FW_CFG_DMA_READ, 4, 0x2000);
	g_assert_cmphex(rd_be32(f.buf + 0x1000), ==, 0);
	g_assert_cmpmem(f.buf + 0x2000, 4, "\0\0\0\0", 4);
	/* Odd widths and offsets on the ports are ignored. */
	uint8_t d[4] = { 1, 2, 3, 4 };
	fw_cfg_io(&f.fw, 2, d, 2, true);
	fw_cfg_io(&f.fw, FW_CFG_DMA_OFF + 2, d, 4, true);
	fw_cfg_io(&f.fw, FW_CFG_DATA_OFF, d, 2, false);
	g_assert_cmpmem(d, 2, "\0\0", 2);
	/* And a good request still works afterwards. */
	dma(&f, 0x1000, sel, 10, 0x2000);
	g_assert_cmphex(rd_be32(f.buf + 0x1000), ==, 0);
	g_assert_cmpmem(f.buf + 0x2000, 10, "0123456789", 10);
	fx_free(&f);
}

/* ---- the table loader, run the way OVMF runs it ---------------------- */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static const struct acpi_platform plat = {
	.n_cpus = 2, .ecam_base = UEFI_ECAM_BASE, .ecam_bus_end = 255,
	.mmio32_base = UEFI_MMIO32_BASE, .mmio32_size = UEFI_MMIO32_SIZE,
	.mmio64_base = 0x800000000ULL, .mmio64_size = 0x1000000000ULL,
	.ioapic_addr = 0xfec00000, .lapic_addr = 0xfee00000,
};

static void test_table_loader(void)
{
	struct fx f;
	fx_init(&f);
	g_assert_cmpint(uefi_add_acpi(&f.fw, &plat), ==, 0);
	const struct fw_cfg_item *t = fw_cfg_find_file(&f.fw, "etc/acpi/tables");
	const struct fw_cfg_item *r = fw_cfg_find_file(&f.fw, "etc/acpi/rsdp");
	const struct fw_cfg_item *l = fw_cfg_find_file(&f.fw, "etc/table-loader");
	g_assert_nonnull(t);
	g_assert_nonnull(r);
	g_assert_nonnull(l);
	g_assert_cmpuint(r->len, ==, 36);
	g_assert_cmpuint(l->len % 128, ==, 0);

	/* Place the blobs in "guest memory" and run every command. */
	uint8_t *mem = f.buf;
	const uint64_t rsdp_at = 0xe0000, tables_at = 0x40000;
	memcpy(mem + rsdp_at, r->data, r->len);
	memcpy(mem + tables_at, t->data, t->len);
	unsigned allocs = 0, ptrs = 0, sums = 0;
	for (uint32_t o = 0; o < l->len; o += 128) {
		const uint8_t *c = l->data + o;
		uint32_t type = le32(c);
		const char *f1 = (const char *)c + 4;
		uint64_t base1 = !strcmp(f1, "etc/acpi/rsdp") ? rsdp_at : tables_at;
		if (type == 1) {
			allocs++;
			g_assert_true(!strcmp(f1, "etc/acpi/rsdp") ? c[64] == 2 : c[64] == 1);
		} else if (type == 2) {
			const char *f2 = (const char *)c + 60;
			uint64_t base2 = !strcmp(f2, "etc/acpi/rsdp") ? rsdp_at : tables_at;
			uint32_t off = le32(c + 116);
			uint8_t size = c[120];
			g_assert_true(size == 4 || size == 8);
			uint64_t v = 0;
			memcpy(&v, mem + base1 + off, size);
			v += base2;
			memcpy(mem + base1 + off, &v, size);
			ptrs++;
		} else if (type == 3) {
			uint32_t res = le32(c + 60), start = le32(c + 64), len = le32(c + 68);
			/* The loader's contract: the byte is zero before summing. */
			g_assert_cmphex(mem[base1 + res], ==, 0);
			mem[base1 + res] = (uint8_t)-sum(mem + base1 + start, len);
			sums++;
		} else {
			g_assert_not_reached();
		}
	}
	g_assert_cmpuint(allocs, ==, 2);
	g_assert_cmpuint(ptrs, >=, 7);    /* RSDP, FACS, DSDT x2, 3 XSDT entries */
	g_assert_cmpuint(sums, >=, 7);

	/* Now walk it like an OS. */
	const uint8_t *rs = mem + rsdp_at;
	g_assert_cmpmem(rs, 8, "RSD PTR ", 8);
	g_assert_cmpuint(sum(rs, 20), ==, 0);
	g_assert_cmpuint(sum(rs, 36), ==, 0);
	uint64_t xsdt;
	memcpy(&xsdt, rs + 24, 8);
	g_assert_cmpuint(xsdt, >=, tables_at);
	const uint8_t *x = mem + xsdt;
	g_assert_cmpmem(x, 4, "XSDT", 4);
	g_assert_cmpuint(sum(x, le32(x + 4)), ==, 0);
	unsigned n = (le32(x + 4) - 36) / 8;
	g_assert_cmpuint(n, ==, 3);
	bool seen_fadt = false, seen_madt = false, seen_mcfg = false;
	for (unsigned i = 0; i < n; i++) {
		uint64_t a;
		memcpy(&a, x + 36 + 8 * i, 8);
		const uint8_t *h = mem + a;
		g_assert_cmpuint(sum(h, le32(h + 4)), ==, 0);
		if (!memcmp(h, "FACP", 4)) {
			seen_fadt = true;
			uint64_t xd;
			memcpy(&xd, h + 140, 8);
			g_assert_cmpuint(xd, ==, le32(h + 40));
			g_assert_cmpmem(mem + xd, 4, "DSDT", 4);
			g_assert_cmpuint(sum(mem + xd, le32(mem + xd + 4)), ==, 0);
			g_assert_cmpmem(mem + le32(h + 36), 4, "FACS", 4);
		} else if (!memcmp(h, "APIC", 4)) {
			seen_madt = true;
		} else if (!memcmp(h, "MCFG", 4)) {
			seen_mcfg = true;
			uint64_t ecam;
			memcpy(&ecam, h + 44, 8);
			g_assert_cmphex(ecam, ==, UEFI_ECAM_BASE);
		}
	}
	g_assert_true(seen_fadt && seen_madt && seen_mcfg);
	fx_free(&f);
}

static void test_bootorder(void)
{
	uint8_t disks[] = { 3, 4 }, nics[] = { 5 };
	char *s = uefi_bootorder("disk1,net,disk0", disks, 2, nics, 1);
	g_assert_cmpstr(s, ==, "/pci@i0cf8/scsi@4/disk@0,0\n"
				"/pci@i0cf8/ethernet@5/ethernet-phy@0\n"
				"/pci@i0cf8/scsi@3/disk@0,0\n");
	g_free(s);
	s = uefi_bootorder("disk,net7", disks, 2, nics, 1);   /* no NIC 7 */
	g_assert_cmpstr(s, ==, "/pci@i0cf8/scsi@3/disk@0,0\n/pci@i0cf8/scsi@4/disk@0,0\n");
	g_free(s);
}

static void test_smbios(void)
{
	struct smbios_info in = { .product = "win11", .memory_bytes = 8ULL << 30, .n_cpus = 3 };
	for (int i = 0; i < 16; i++)
		in.uuid[i] = (uint8_t)i;
	uint8_t t[8192], a[SMBIOS_ANCHOR_LEN];
	size_t len = smbios_build(&in, t, sizeof(t), a);
	g_assert_cmpuint(len, >, 0);
	g_assert_cmpmem(a, 4, "_SM_", 4);
	g_assert_cmpuint(sum(a, SMBIOS_ANCHOR_LEN), ==, 0);
	g_assert_cmpuint(sum(a + 0x10, 0x0f), ==, 0);
	g_assert_cmpuint(a[0x16] | a[0x17] << 8, ==, len);
	/* Walk the structures: formatted part, strings, double NUL. */
	unsigned count = 0, cpus = 0;
	size_t o = 0;
	bool end = false, sys = false;
	while (o < len && !end) {
		const uint8_t *s = t + o;
		g_assert_cmpuint(s[1], >=, 4);
		if (s[0] == 1) {
			sys = true;
			g_assert_cmpmem(s + 8, 16, in.uuid, 16);
			const char *str = (const char *)s + s[1];
			g_assert_cmpstr(str, ==, "Atoll");
			g_assert_cmpstr(str + 6, ==, "win11");
		}
		cpus += s[0] == 4;
		end = s[0] == 127;
		size_t p = o + s[1];
		while (p + 1 < len && !(t[p] == 0 && t[p + 1] == 0))
			p++;
		o = p + 2;
		count++;
	}
	g_assert_true(end && sys);
	g_assert_cmpuint(o, ==, len);
	g_assert_cmpuint(cpus, ==, 3);
	g_assert_cmpuint(a[0x1c] | a[0x1d] << 8, ==, count);
	/* Too small a buffer fails cleanly. */
	g_assert_cmpuint(smbios_build(&in, t, 40, a), ==, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/fw_cfg/signature-id", test_signature_id);
	g_test_add_func("/fw_cfg/files-and-dir", test_files_and_dir);
	g_test_add_func("/fw_cfg/dma-read", test_dma_read);
	g_test_add_func("/fw_cfg/dma-hostile", test_dma_hostile);
	g_test_add_func("/fw_cfg/table-loader", test_table_loader);
	g_test_add_func("/fw_cfg/bootorder", test_bootorder);
	g_test_add_func("/fw_cfg/smbios", test_smbios);
	return g_test_run();
}
