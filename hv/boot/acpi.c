/* ACPI tables for direct kernel boot: there is no firmware, so the VMM
 * writes RSDP, XSDT, FADT, FACS, DSDT, MADT and MCFG itself.  The DSDT's
 * AML comes from the small emitter below. */
#include "acpi.h"

#include <string.h>

#include "../devices/platform.h"
#include "../log.h"
#include "../pci/pci.h"

#define OEM_ID        "ATOLL "
#define OEM_TABLE_ID  "ATOLLVM "
#define CREATOR_ID    "ATOL"
#define HDR_LEN       36

/* ---- little-endian stores ---------------------------------------------- */

static void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void st32(uint8_t *p, uint32_t v)
{
	st16(p, (uint16_t)v);
	st16(p + 2, (uint16_t)(v >> 16));
}

static void st64(uint8_t *p, uint64_t v)
{
	st32(p, (uint32_t)v);
	st32(p + 4, (uint32_t)(v >> 32));
}

uint8_t acpi_checksum(const uint8_t *buf, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + buf[i]);
	return (uint8_t)-sum;
}

/* ---- AML emitter --------------------------------------------------------
 * Writes straight into the table buffer.  A package-like construct is
 * opened by remembering where its PkgLength goes and closed by inserting
 * the PkgLength there once the body size is known. */

struct aml {
	uint8_t *p;
	size_t cap, len;
	bool overflow;
};

static void aml_put(struct aml *a, const void *d, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->p + a->len, d, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_put(a, &b, 1);
}

/* PkgLength counts its own bytes (ACPI 6.5, 20.2.4). */
static size_t aml_pkglen_encode(size_t body, uint8_t out[4])
{
	if (body + 1 <= 0x3f) {
		out[0] = (uint8_t)(body + 1);
		return 1;
	}
	for (size_t n = 2; n <= 4; n++) {
		size_t total = body + n;
		if (total >= (size_t)1 << (4 + 8 * (n - 1)))
			continue;
		out[0] = (uint8_t)((n - 1) << 6 | (total & 0xf));
		for (size_t i = 1; i < n; i++)
			out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
		return n;
	}
	return 0;
}

static size_t aml_pkg_begin(struct aml *a)
{
	return a->len;
}

static void aml_pkg_end(struct aml *a, size_t start)
{
	uint8_t enc[4];

	if (a->overflow)
		return;
	size_t body = a->len - start;
	size_t n = aml_pkglen_encode(body, enc);
	if (n == 0 || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memmove(a->p + start + n, a->p + start, body);
	memcpy(a->p + start, enc, n);
	a->len += n;
}

/* A NameString from ASL-style text: optional '\' root prefix, then
 * dot-separated segments of up to four characters, padded with '_'. */
static void aml_name(struct aml *a, const char *name)
{
	size_t nseg = 0;

	if (*name == '\\')
		aml_byte(a, *name++);
	for (const char *s = name; *s; s++)
		nseg += (*s == '.');
	nseg += (*name != '\0');
	if (nseg == 0)
		aml_byte(a, 0x00);          /* NullName */
	else if (nseg == 2)
		aml_byte(a, 0x2e);          /* DualNamePrefix */
	else if (nseg > 2) {
		aml_byte(a, 0x2f);          /* MultiNamePrefix */
		aml_byte(a, (uint8_t)nseg);
	}
	while (*name) {
		char seg[4] = { '_', '_', '_', '_' };
		for (size_t i = 0; *name && *name != '.'; name++, i++)
			if (i < 4)
				seg[i] = *name;
		aml_put(a, seg, 4);
		if (*name == '.')
			name++;
	}
}

static void aml_int(struct aml *a, uint64_t v)
{
	uint8_t b[8];

	if (v <= 1) {
		aml_byte(a, (uint8_t)v);        /* ZeroOp / OneOp */
	} else if (v <= 0xff) {
		aml_byte(a, 0x0a);
		aml_byte(a, (uint8_t)v);
	} else if (v <= 0xffff) {
		aml_byte(a, 0x0b);
		st16(b, (uint16_t)v);
		aml_put(a, b, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, 0x0c);
		st32(b, (uint32_t)v);
		aml_put(a, b, 4);
	} else {
		aml_byte(a, 0x0e);
		st64(b, v);
		aml_put(a, b, 8);
	}
}

/* EISAID("PNP0A08"): three 5-bit letters and four hex digits, stored so
 * the bytes read in ID order. */
static uint32_t eisaid(const char *id)
{
	uint32_t v = (uint32_t)((id[0] - '@') & 0x1f) << 26 |
		     (uint32_t)((id[1] - '@') & 0x1f) << 21 |
		     (uint32_t)((id[2] - '@') & 0x1f) << 16;
	for (int i = 3; i < 7; i++) {
		char c = id[i];
		uint32_t d = c >= 'A' ? (uint32_t)(c - 'A' + 10) : (uint32_t)(c - '0');
		v |= (d & 0xf) << (4 * (6 - i));
	}
	return __builtin_bswap32(v);
}

static void aml_buffer(struct aml *a, const uint8_t *data, size_t n)
{
	aml_byte(a, 0x11);                  /* BufferOp */
	size_t pkg = aml_pkg_begin(a);
	aml_int(a, n);
	aml_put(a, data, n);
	aml_pkg_end(a, pkg);
}

static void aml_name_int(struct aml *a, const char *name, uint64_t v)
{
	aml_byte(a, 0x08);                  /* NameOp */
	aml_name(a, name);
	aml_int(a, v);
}

static void aml_name_buffer(struct aml *a, const char *name,
			    const uint8_t *data, size_t n)
{
	aml_byte(a, 0x08);
	aml_name(a, name);
	aml_buffer(a, data, n);
}

static void aml_name_package(struct aml *a, const char *name,
			     const uint64_t *vals, uint8_t n)
{
	aml_byte(a, 0x08);
	aml_name(a, name);
	aml_byte(a, 0x12);                  /* PackageOp */
	size_t pkg = aml_pkg_begin(a);
	aml_byte(a, n);
	for (uint8_t i = 0; i < n; i++)
		aml_int(a, vals[i]);
	aml_pkg_end(a, pkg);
}

/* Scope, Device and Method: opcode, PkgLength, name, then the body; the
 * caller closes it with aml_pkg_end. */
static size_t aml_scope_begin(struct aml *a, const char *name)
{
	aml_byte(a, 0x10);                  /* ScopeOp */
	size_t pkg = aml_pkg_begin(a);
	aml_name(a, name);
	return pkg;
}

static size_t aml_device_begin(struct aml *a, const char *name)
{
	aml_byte(a, 0x5b);                  /* ExtOpPrefix */
	aml_byte(a, 0x82);                  /* DeviceOp */
	size_t pkg = aml_pkg_begin(a);
	aml_name(a, name);
	return pkg;
}

static size_t aml_method_begin(struct aml *a, const char *name, uint8_t nargs)
{
	aml_byte(a, 0x14);                  /* MethodOp */
	size_t pkg = aml_pkg_begin(a);
	aml_name(a, name);
	aml_byte(a, nargs & 7);             /* NotSerialized, SyncLevel 0 */
	return pkg;
}

/* ---- resource templates (ACPI 6.5, 6.4) -------------------------------- */

struct res {
	uint8_t b[256];
	size_t len;
	bool overflow;
};

static uint8_t *res_grow(struct res *r, size_t n)
{
	if (r->overflow || n > sizeof(r->b) - r->len) {
		r->overflow = true;
		return NULL;
	}
	uint8_t *p = r->b + r->len;
	memset(p, 0, n);
	r->len += n;
	return p;
}

#define RES_PRODUCER_FIXED 0x0c     /* producer, MinFixed, MaxFixed, PosDecode */
#define RES_CONSUMER_FIXED 0x0d
#define RES_TYPE_MEM  0
#define RES_TYPE_IO   1
#define RES_TYPE_BUS  2

/* Word Address Space descriptor: bus numbers or I/O window. */
static void res_word(struct res *r, uint8_t type, uint8_t tflags,
		     uint16_t min, uint16_t max)
{
	uint8_t *p = res_grow(r, 16);

	if (!p)
		return;
	p[0] = 0x88;
	st16(p + 1, 13);
	p[3] = type;
	p[4] = RES_PRODUCER_FIXED;
	p[5] = tflags;
	st16(p + 8, min);
	st16(p + 10, max);
	st16(p + 14, (uint16_t)(max - min + 1));
}

static void res_dword_mem(struct res *r, uint8_t gflags, uint8_t tflags,
			  uint32_t min, uint32_t len)
{
	uint8_t *p = res_grow(r, 26);

	if (!p)
		return;
	p[0] = 0x87;
	st16(p + 1, 23);
	p[3] = RES_TYPE_MEM;
	p[4] = gflags;
	p[5] = tflags;
	st32(p + 10, min);
	st32(p + 14, min + len - 1);
	st32(p + 22, len);
}

static void res_qword_mem(struct res *r, uint8_t gflags, uint8_t tflags,
			  uint64_t min, uint64_t len)
{
	uint8_t *p = res_grow(r, 46);

	if (!p)
		return;
	p[0] = 0x8a;
	st16(p + 1, 43);
	p[3] = RES_TYPE_MEM;
	p[4] = gflags;
	p[5] = tflags;
	st64(p + 14, min);
	st64(p + 22, min + len - 1);
	st64(p + 38, len);
}

static void res_mem32_fixed(struct res *r, uint32_t base, uint32_t len)
{
	uint8_t *p = res_grow(r, 12);

	if (!p)
		return;
	p[0] = 0x86;
	st16(p + 1, 9);
	p[3] = 1;                           /* read/write */
	st32(p + 4, base);
	st32(p + 8, len);
}

static void res_io(struct res *r, uint16_t base, uint8_t len)
{
	uint8_t *p = res_grow(r, 8);

	if (!p)
		return;
	p[0] = 0x47;
	p[1] = 1;                           /* 16-bit decode */
	st16(p + 2, base);
	st16(p + 4, base);
	p[6] = 1;
	p[7] = len;
}

static void res_irq(struct res *r, unsigned irq)
{
	uint8_t *p = res_grow(r, 3);

	if (!p)
		return;
	p[0] = 0x22;                        /* IRQNoFlags: edge, active high */
	st16(p + 1, (uint16_t)(1u << irq));
}

/* Close with an End Tag and emit Name(name, ResourceTemplate(){...}). */
static void aml_name_res(struct aml *a, const char *name, struct res *r)
{
	uint8_t *p = res_grow(r, 2);

	if (!p) {
		a->overflow = true;
		return;
	}
	p[0] = 0x79;
	p[1] = 0;                           /* checksum 0: "treat as valid" */
	aml_name_buffer(a, name, r->b, r->len);
}

/* ---- DSDT -------------------------------------------------------------- */

#define MEM_RW            0x01
#define MEM_CACHEABLE     0x02
#define IO_ENTIRE_RANGE   0x03

static void dsdt_pci0_crs(struct aml *a, const struct acpi_platform *p)
{
	struct res r = { .len = 0 };

	res_word(&r, RES_TYPE_BUS, 0, 0, p->ecam_bus_end);
	/* The config ports are the bridge's own (Linux drops this entry from
	 * the windows); the two word ranges around it are forwarded I/O. */
	res_io(&r, 0x0cf8, 8);
	res_word(&r, RES_TYPE_IO, IO_ENTIRE_RANGE, 0x0000, 0x0cf7);
	res_word(&r, RES_TYPE_IO, IO_ENTIRE_RANGE, 0x0d00, 0xffff);
	/* Neither window is prefetchable: Linux refuses to claim a
	 * non-prefetchable BAR inside a prefetchable host bridge window. */
	res_dword_mem(&r, RES_PRODUCER_FIXED, MEM_RW, (uint32_t)p->mmio32_base,
		      (uint32_t)p->mmio32_size);
	if (p->mmio64_size)
		res_qword_mem(&r, RES_PRODUCER_FIXED, MEM_RW | MEM_CACHEABLE,
			      p->mmio64_base, p->mmio64_size);
	aml_name_res(a, "_CRS", &r);
}

/* PCI Firmware spec 3.3, 4.5: the OS asks for control of native PCIe
 * features (hotplug, PME, AER, capability structure, LTR, DPC, ...).
 * There is no firmware to keep any of them, so every request is granted
 * as asked; only a wrong UUID or revision is flagged.  Without _OSC,
 * Linux treats a PNP0A08 bridge as "platform retains control", logs
 * "_OSC: platform retains control of PCIe features (AE_NOT_FOUND)" and
 * disables ASPM. */
static void dsdt_pci0_osc(struct aml *a)
{
	static const uint8_t pci_host_uuid[16] = {  /* 33DB4D5B-1FF7-401C-9657-7441C03DD766 */
		0x5b, 0x4d, 0xdb, 0x33, 0xf7, 0x1f, 0x1c, 0x40,
		0x96, 0x57, 0x74, 0x41, 0xc0, 0x3d, 0xd7, 0x66,
	};
	size_t m = aml_method_begin(a, "_OSC", 4);

	/* CreateDWordField (Arg3, 0, CDW1) */
	aml_byte(a, 0x8a);
	aml_byte(a, 0x6b);
	aml_int(a, 0);
	aml_name(a, "CDW1");

	/* If (Arg0 == ToUUID(...)) { If (Arg1 != 1) { CDW1 |= 8 } } */
	aml_byte(a, 0xa0);
	size_t if1 = aml_pkg_begin(a);
	aml_byte(a, 0x93);                  /* LEqual */
	aml_byte(a, 0x68);                  /* Arg0 */
	aml_buffer(a, pci_host_uuid, sizeof(pci_host_uuid));
	aml_byte(a, 0xa0);
	size_t if2 = aml_pkg_begin(a);
	aml_byte(a, 0x92);                  /* LNot */
	aml_byte(a, 0x93);
	aml_byte(a, 0x69);                  /* Arg1 */
	aml_int(a, 1);
	aml_byte(a, 0x7d);                  /* Or (CDW1, 8, CDW1): bad revision */
	aml_name(a, "CDW1");
	aml_int(a, 0x08);
	aml_name(a, "CDW1");
	aml_pkg_end(a, if2);
	aml_pkg_end(a, if1);

	/* Else { CDW1 |= 4 }: unrecognised UUID */
	aml_byte(a, 0xa1);
	size_t el = aml_pkg_begin(a);
	aml_byte(a, 0x7d);
	aml_name(a, "CDW1");
	aml_int(a, 0x04);
	aml_name(a, "CDW1");
	aml_pkg_end(a, el);

	aml_byte(a, 0xa4);                  /* Return (Arg3) */
	aml_byte(a, 0x6b);
	aml_pkg_end(a, m);
}

/* _PRT: INTx of every slot and pin to an IOAPIC GSI (pci_intx_gsi).  The
 * emulated devices use MSI-X and report Interrupt Pin 0; passed-through
 * devices (e1000 and friends) may only have INTx. */
static void dsdt_pci0_prt(struct aml *a)
{
	aml_byte(a, 0x08);                  /* NameOp */
	aml_name(a, "_PRT");
	aml_byte(a, 0x12);                  /* PackageOp */
	size_t outer = aml_pkg_begin(a);
	aml_byte(a, (PCI_MAX_SLOTS - 1) * 4);
	for (unsigned slot = 1; slot < PCI_MAX_SLOTS; slot++) {
		for (unsigned pin = 1; pin <= 4; pin++) {
			aml_byte(a, 0x12);
			size_t e = aml_pkg_begin(a);
			aml_byte(a, 4);
			aml_int(a, (uint64_t)slot << 16 | 0xffff);
			aml_int(a, pin - 1);
			aml_int(a, 0);              /* no link device: a GSI */
			aml_int(a, pci_intx_gsi(slot, pin));
			aml_pkg_end(a, e);
		}
	}
	aml_pkg_end(a, outer);
}

static void dsdt_pci0(struct aml *a, const struct acpi_platform *p)
{
	size_t d = aml_device_begin(a, "PCI0");

	aml_name_int(a, "_HID", eisaid("PNP0A08"));
	aml_name_int(a, "_CID", eisaid("PNP0A03"));
	aml_name_int(a, "_SEG", 0);
	aml_name_int(a, "_BBN", 0);
	aml_name_int(a, "_UID", 0);
	dsdt_pci0_crs(a, p);
	dsdt_pci0_osc(a);
	dsdt_pci0_prt(a);
	aml_pkg_end(a, d);
}

static uint64_t ecam_size(const struct acpi_platform *p)
{
	return ((uint64_t)p->ecam_bus_end + 1) << 20;
}

/* Motherboard resources: Linux only trusts MCFG's ECAM once it finds the
 * range reserved by a PNP0C01/PNP0C02 device ("MMCONFIG ... reserved as
 * ACPI motherboard resource"). */
static void dsdt_mbrd(struct aml *a, const struct acpi_platform *p)
{
	struct res r = { .len = 0 };
	size_t d = aml_device_begin(a, "MBRD");

	aml_name_int(a, "_HID", eisaid("PNP0C02"));
	aml_name_int(a, "_UID", 0);
	if (p->ecam_base + ecam_size(p) <= 0x100000000ull)
		res_mem32_fixed(&r, (uint32_t)p->ecam_base, (uint32_t)ecam_size(p));
	else
		res_qword_mem(&r, RES_CONSUMER_FIXED, MEM_RW, p->ecam_base,
			      ecam_size(p));
	aml_name_res(a, "_CRS", &r);
	aml_pkg_end(a, d);
}

static void dsdt_com1(struct aml *a)
{
	struct res r = { .len = 0 };
	size_t d = aml_device_begin(a, "COM1");

	aml_name_int(a, "_HID", eisaid("PNP0501"));
	aml_name_int(a, "_UID", 1);
	res_io(&r, COM1_PORT, 8);
	res_irq(&r, COM1_IRQ);
	aml_name_res(a, "_CRS", &r);
	aml_pkg_end(a, d);
}

static void dsdt_body(struct aml *a, const struct acpi_platform *p)
{
	/* \_S5: SLP_TYPa, SLP_TYPb, reserved, reserved */
	static const uint64_t s5[4] = { ACPI_SLP_TYP_S5, 0, 0, 0 };

	aml_name_package(a, "\\_S5_", s5, 4);
	size_t sb = aml_scope_begin(a, "\\_SB_");
	dsdt_pci0(a, p);
	dsdt_mbrd(a, p);
	dsdt_com1(a);
	aml_pkg_end(a, sb);
}

/* ---- table layout ------------------------------------------------------ */

struct tbuf {
	uint8_t *p;
	size_t cap, len;
	uint64_t gpa;
	bool overflow;
};

/* Zeroed space for a table at `align`; NULL once the buffer is full. */
static uint8_t *tb_alloc(struct tbuf *t, size_t n, size_t align, size_t *off)
{
	size_t o = (t->len + align - 1) & ~(align - 1);

	if (t->overflow || o > t->cap || n > t->cap - o) {
		t->overflow = true;
		return NULL;
	}
	memset(t->p + t->len, 0, o + n - t->len);
	t->len = o + n;
	*off = o;
	return t->p + o;
}

static void table_header(uint8_t *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h, sig, 4);
	st32(h + 4, len);
	h[8] = rev;
	memcpy(h + 10, OEM_ID, 6);
	memcpy(h + 16, OEM_TABLE_ID, 8);
	st32(h + 24, 1);
	memcpy(h + 28, CREATOR_ID, 4);
	st32(h + 32, 1);
}

static void table_finish(uint8_t *h)
{
	uint32_t len = (uint32_t)(h[4] | h[5] << 8 | h[6] << 16 | (uint32_t)h[7] << 24);

	h[9] = 0;
	h[9] = acpi_checksum(h, len);
}

static uint64_t build_facs(struct tbuf *t)
{
	size_t off;
	uint8_t *f = tb_alloc(t, 64, 64, &off);

	if (!f)
		return 0;
	memcpy(f, "FACS", 4);
	st32(f + 4, 64);
	f[32] = 2;                          /* version */
	return t->gpa + off;
}

static uint64_t build_dsdt(struct tbuf *t, const struct acpi_platform *p)
{
	size_t off;
	uint8_t *h = tb_alloc(t, HDR_LEN, 16, &off);

	if (!h)
		return 0;
	struct aml a = { .p = t->p + t->len, .cap = t->cap - t->len };
	dsdt_body(&a, p);
	if (a.overflow) {
		t->overflow = true;
		return 0;
	}
	t->len += a.len;
	/* Revision 2: 64-bit AML integers. */
	table_header(h, "DSDT", (uint32_t)(HDR_LEN + a.len), 2);
	table_finish(h);
	return t->gpa + off;
}

/* Generic Address Structure in system I/O space. */
static void gas_io(uint8_t *g, uint16_t port, uint8_t bytes, uint8_t access)
{
	g[0] = 1;
	g[1] = (uint8_t)(bytes * 8);
	g[2] = 0;
	g[3] = access;                      /* 1 byte, 2 word, 3 dword */
	st64(g + 4, port);
}

#define FADT_LEN 276
#define FADT_F_WBINVD        (1u << 0)
#define FADT_F_PROC_C1       (1u << 2)
#define FADT_F_SLP_BUTTON    (1u << 5)
#define FADT_F_FIX_RTC       (1u << 6)
#define FADT_F_RESET_REG_SUP (1u << 10)
#define BOOT_ARCH_LEGACY_DEVICES (1u << 0)
#define BOOT_ARCH_8042           (1u << 1)
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)

static uint64_t build_fadt(struct tbuf *t, uint64_t facs, uint64_t dsdt)
{
	size_t off;
	uint8_t *f = tb_alloc(t, FADT_LEN, 16, &off);

	if (!f)
		return 0;
	table_header(f, "FACP", FADT_LEN, 6);
	/* FACS only through the 32-bit field: ACPICA installs both copies
	 * when both are given.  The DSDT goes in both (identical, so no
	 * "32/64X address mismatch"). */
	st32(f + 36, (uint32_t)facs);
	st32(f + 40, (uint32_t)dsdt);
	st16(f + 46, ACPI_SCI_IRQ);
	/* SMI_CMD (48) = 0: no SMM, the platform is in ACPI mode from reset. */
	st32(f + 56, ACPI_PM1A_EVT_PORT);
	st32(f + 64, ACPI_PM1A_CNT_PORT);
	st32(f + 76, ACPI_PM_TMR_PORT);
	f[88] = 4;                          /* PM1_EVT_LEN */
	f[89] = 2;                          /* PM1_CNT_LEN */
	f[91] = 4;                          /* PM_TMR_LEN */
	/* C2/C3 latencies above 100/1000 us mean "not supported". */
	st16(f + 96, 0x0fff);
	st16(f + 98, 0x0fff);
	/* An i8042 exists (i8042 probing, keyboard reset fallback); no VGA,
	 * so nothing may poke at 0xA0000 or the VGA ports; CMOS RTC present
	 * (bit 5 clear); MSI and ASPM allowed (bits 3 and 4 clear). */
	st16(f + 109, BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_8042 |
		      BOOT_ARCH_VGA_NOT_PRESENT);
	/* PWR_BUTTON clear: the power button is fixed hardware.  FIX_RTC:
	 * the RTC alarm is not a fixed event here. */
	st32(f + 112, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
		      FADT_F_FIX_RTC | FADT_F_RESET_REG_SUP);
	gas_io(f + 116, ACPI_RESET_PORT, 1, 1);
	f[128] = ACPI_RESET_VALUE;
	f[131] = 0;                         /* FADT minor version */
	st64(f + 140, dsdt);                /* X_DSDT */
	gas_io(f + 148, ACPI_PM1A_EVT_PORT, 4, 2);
	gas_io(f + 172, ACPI_PM1A_CNT_PORT, 2, 2);
	gas_io(f + 208, ACPI_PM_TMR_PORT, 4, 3);
	table_finish(f);
	return t->gpa + off;
}

#define MADT_PCAT_COMPAT 1u

static uint64_t build_madt(struct tbuf *t, const struct acpi_platform *p)
{
	size_t len = HDR_LEN + 8 + 8 * p->n_cpus + 12 + 10 + 6, off;
	uint8_t *m = tb_alloc(t, len, 16, &off);

	if (!m)
		return 0;
	table_header(m, "APIC", (uint32_t)len, 5);
	st32(m + 36, p->lapic_addr);
	/* The in-kernel irqchip has the dual 8259 too. */
	st32(m + 40, MADT_PCAT_COMPAT);
	uint8_t *e = m + HDR_LEN + 8;
	for (unsigned i = 0; i < p->n_cpus; i++, e += 8) {
		e[0] = 0;                   /* Processor Local APIC */
		e[1] = 8;
		e[2] = (uint8_t)i;          /* ACPI processor UID */
		e[3] = (uint8_t)i;          /* APIC id */
		st32(e + 4, 1);             /* enabled */
	}
	/* I/O APIC id after the CPUs' so no APIC id is used twice. */
	e[0] = 1;
	e[1] = 12;
	e[2] = (uint8_t)p->n_cpus;
	st32(e + 4, p->ioapic_addr);
	st32(e + 8, 0);                     /* GSI base */
	e += 12;
	/* SCI: level, active high.  Linux's default for an SCI without an
	 * override is level, active low, which is not how irq_line drives
	 * it.  ISA IRQ 0 needs no override: the in-kernel PIT raises GSI 0,
	 * which KVM's default routing sends to IOAPIC pin 0. */
	e[0] = 2;
	e[1] = 10;
	e[2] = 0;                           /* ISA */
	e[3] = ACPI_SCI_IRQ;
	st32(e + 4, ACPI_SCI_IRQ);
	st16(e + 8, 0x000d);                /* active high (01), level (11) */
	e += 10;
	e[0] = 4;                           /* Local APIC NMI */
	e[1] = 6;
	e[2] = 0xff;                        /* all processors */
	st16(e + 3, 0);
	e[5] = 1;                           /* LINT1 */
	table_finish(m);
	return t->gpa + off;
}

static uint64_t build_mcfg(struct tbuf *t, const struct acpi_platform *p)
{
	size_t len = HDR_LEN + 8 + 16, off;
	uint8_t *m = tb_alloc(t, len, 16, &off);

	if (!m)
		return 0;
	table_header(m, "MCFG", (uint32_t)len, 1);
	uint8_t *e = m + HDR_LEN + 8;
	st64(e, p->ecam_base);
	st16(e + 8, 0);                     /* segment */
	e[10] = 0;
	e[11] = p->ecam_bus_end;
	table_finish(m);
	return t->gpa + off;
}

static uint64_t build_xsdt(struct tbuf *t, const uint64_t *tables, size_t n)
{
	size_t len = HDR_LEN + 8 * n, off;
	uint8_t *x = tb_alloc(t, len, 16, &off);

	if (!x)
		return 0;
	table_header(x, "XSDT", (uint32_t)len, 1);
	for (size_t i = 0; i < n; i++)
		st64(x + HDR_LEN + 8 * i, tables[i]);
	table_finish(x);
	return t->gpa + off;
}

static void build_rsdp(uint8_t *r, uint64_t xsdt)
{
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, OEM_ID, 6);
	r[15] = 2;                          /* ACPI 2.0+: XSDT */
	st32(r + 16, 0);                    /* no RSDT */
	st32(r + 20, 36);
	st64(r + 24, xsdt);
	r[8] = acpi_checksum(r, 20);
	r[32] = acpi_checksum(r, 36);
}

static bool platform_ok(const struct acpi_platform *p)
{
	/* xAPIC MADT entries hold 8-bit ids and the IOAPIC takes id n_cpus. */
	if (p->n_cpus == 0 || p->n_cpus > 254) {
		log_error("ACPI: %u vCPUs cannot be described (1 to 254 supported)",
			  p->n_cpus);
		return false;
	}
	if (p->mmio32_size == 0 || p->mmio32_base + p->mmio32_size > 0x100000000ull) {
		log_error("ACPI: 32-bit PCI window 0x%llx+0x%llx does not fit below 4 GiB",
			  (unsigned long long)p->mmio32_base,
			  (unsigned long long)p->mmio32_size);
		return false;
	}
	if (p->mmio64_size && p->mmio64_size - 1 > UINT64_MAX - p->mmio64_base) {
		log_error("ACPI: 64-bit PCI window 0x%llx+0x%llx wraps around",
			  (unsigned long long)p->mmio64_base,
			  (unsigned long long)p->mmio64_size);
		return false;
	}
	if (ecam_size(p) - 1 > UINT64_MAX - p->ecam_base) {
		log_error("ACPI: ECAM at 0x%llx for buses 0-%u wraps around",
			  (unsigned long long)p->ecam_base, p->ecam_bus_end);
		return false;
	}
	return true;
}

/* Where build_tables put each table (guest addresses, or offsets when the
 * buffer's gpa is 0). */
struct acpi_offsets {
	uint64_t facs, dsdt, xsdt;
	uint64_t tables[8];     /* what the XSDT lists, FADT first */
	size_t n;
};

static void build_tables(struct tbuf *t, const struct acpi_platform *p,
			 struct acpi_offsets *o)
{
	o->facs = build_facs(t);
	o->dsdt = build_dsdt(t, p);
	o->tables[0] = build_fadt(t, o->facs, o->dsdt);
	o->tables[1] = build_madt(t, p);
	o->tables[2] = build_mcfg(t, p);
	o->n = 3;
	o->xsdt = build_xsdt(t, o->tables, o->n);
}

size_t acpi_build(const struct acpi_platform *p, uint8_t *buf, size_t len,
		  uint64_t gpa)
{
	struct tbuf t = { .p = buf, .cap = len, .gpa = gpa };
	size_t rsdp_off;

	if (!platform_ok(p))
		return 0;
	/* FADT's FACS and DSDT pointers are 32-bit. */
	if (gpa + len > 0x100000000ull || gpa & 15) {
		log_error("ACPI: table area 0x%llx+0x%zx must be 16-byte aligned "
			  "and below 4 GiB", (unsigned long long)gpa, len);
		return 0;
	}
	uint8_t *rsdp = tb_alloc(&t, 36, 16, &rsdp_off);
	struct acpi_offsets o;
	build_tables(&t, p, &o);
	if (t.overflow || !rsdp) {
		log_error("ACPI: tables do not fit in %zu bytes", len);
		return 0;
	}
	build_rsdp(rsdp, o.xsdt);
	return t.len;
}

void acpi_build_rsdp(uint8_t rsdp[ACPI_RSDP_LEN], uint64_t xsdt)
{
	memset(rsdp, 0, ACPI_RSDP_LEN);
	build_rsdp(rsdp, xsdt);
}

static void lay_ptr(struct acpi_layout *lay, uint64_t off, uint8_t size)
{
	if (lay->n_ptrs < ACPI_LAYOUT_MAX)
		lay->ptrs[lay->n_ptrs++] = (struct acpi_link){ (uint32_t)off, size };
}

static void lay_sum(struct acpi_layout *lay, const uint8_t *buf, uint64_t off)
{
	const uint8_t *h = buf + off;
	uint32_t len = (uint32_t)(h[4] | h[5] << 8 | h[6] << 16 | (uint32_t)h[7] << 24);
	if (lay->n_sums < ACPI_LAYOUT_MAX)
		lay->sums[lay->n_sums++] = (struct acpi_sum){ (uint32_t)off, len,
							       (uint32_t)off + 9 };
}

size_t acpi_build_tables(const struct acpi_platform *p, uint8_t *buf, size_t len,
			 struct acpi_layout *lay)
{
	struct tbuf t = { .p = buf, .cap = len, .gpa = 0 };
	struct acpi_offsets o;

	memset(lay, 0, sizeof(*lay));
	if (!platform_ok(p))
		return 0;
	/* Offsets, not addresses: the firmware's loader adds where it put
	 * the blob to every pointer listed here and then recomputes the
	 * checksums. */
	build_tables(&t, p, &o);
	if (t.overflow) {
		log_error("ACPI: tables do not fit in %zu bytes", len);
		return 0;
	}
	uint64_t fadt = o.tables[0];
	lay_ptr(lay, fadt + 36, 4);           /* FIRMWARE_CTRL -> FACS */
	lay_ptr(lay, fadt + 40, 4);           /* DSDT */
	lay_ptr(lay, fadt + 140, 8);          /* X_DSDT */
	for (size_t i = 0; i < o.n; i++)
		lay_ptr(lay, o.xsdt + 36 + 8 * i, 8);
	lay_sum(lay, buf, o.dsdt);
	for (size_t i = 0; i < o.n; i++)
		lay_sum(lay, buf, o.tables[i]);
	lay_sum(lay, buf, o.xsdt);
	lay->xsdt = (uint32_t)o.xsdt;
	return t.len;
}
