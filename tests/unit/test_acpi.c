/* ACPI tables (boot/acpi.c) and the ACPI PM register block
 * (devices/acpi_pm.c). */
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/acpi.h"
#include "bus.h"
#include "devices/platform.h"
#include "vm.h"

#define GPA 0xE0000u

static const struct acpi_platform plat4 = {
	.n_cpus = 4,
	.ecam_base = 0xB0000000ull,
	.ecam_bus_end = 255,
	.mmio32_base = 0xC0000000ull, .mmio32_size = 0x3EC00000ull,
	.mmio64_base = 0x8000000000ull, .mmio64_size = 0x8000000000ull,
	.ioapic_addr = 0xFEC00000u,
	.lapic_addr = 0xFEE00000u,
};

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t ld32(const uint8_t *p) { return ld16(p) | (uint32_t)ld16(p + 2) << 16; }
static uint64_t ld64(const uint8_t *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

/* Table at guest address `gpa` inside buf, with a valid header. */
static const uint8_t *table_at(const uint8_t *buf, size_t used, uint64_t gpa,
			       const char *sig)
{
	g_assert_cmpuint(gpa, >=, GPA);
	g_assert_cmpuint(gpa - GPA + 36, <=, used);
	const uint8_t *t = buf + (gpa - GPA);
	g_assert_cmpmem(t, 4, sig, 4);
	uint32_t len = ld32(t + 4);
	g_assert_cmpuint(len, >=, 36);
	g_assert_cmpuint(gpa - GPA + len, <=, used);
	g_assert_cmpuint(sum(t, len), ==, 0);
	return t;
}

static uint8_t *build(const struct acpi_platform *p, size_t *used)
{
	uint8_t *buf = g_malloc(0x20000);
	memset(buf, 0xcc, 0x20000);
	*used = acpi_build(p, buf, 0x20000, GPA);
	g_assert_cmpuint(*used, >, 0);
	g_assert_cmpuint(*used, <=, 0x20000);
	return buf;
}

static const uint8_t *xsdt_find(const uint8_t *buf, size_t used, const char *sig)
{
	const uint8_t *x = table_at(buf, used, ld64(buf + 24), "XSDT");
	for (uint32_t off = 36; off + 8 <= ld32(x + 4); off += 8) {
		uint64_t a = ld64(x + off);
		if (a - GPA + 4 <= used && memcmp(buf + (a - GPA), sig, 4) == 0)
			return table_at(buf, used, a, sig);
	}
	g_assert_not_reached();
	return NULL;
}

static void test_rsdp_xsdt(void)
{
	size_t used;
	uint8_t *buf = build(&plat4, &used);

	g_assert_cmpmem(buf, 8, "RSD PTR ", 8);
	g_assert_cmpuint(sum(buf, 20), ==, 0);
	g_assert_cmpuint(sum(buf, 36), ==, 0);
	g_assert_cmpuint(buf[15], ==, 2);
	g_assert_cmpuint(ld32(buf + 20), ==, 36);
	const uint8_t *x = table_at(buf, used, ld64(buf + 24), "XSDT");
	g_assert_cmpuint(ld32(x + 4), ==, 36 + 3 * 8);
	xsdt_find(buf, used, "FACP");
	xsdt_find(buf, used, "APIC");
	xsdt_find(buf, used, "MCFG");
	g_free(buf);
}

static void check_gas_io(const uint8_t *g, uint16_t port, uint8_t bits)
{
	g_assert_cmpuint(g[0], ==, 1);
	g_assert_cmpuint(g[1], ==, bits);
	g_assert_cmpuint(g[2], ==, 0);
	g_assert_cmpuint(ld64(g + 4), ==, port);
}

static void test_fadt(void)
{
	size_t used;
	uint8_t *buf = build(&plat4, &used);
	const uint8_t *f = xsdt_find(buf, used, "FACP");

	g_assert_cmpuint(ld32(f + 4), ==, 276);
	g_assert_cmpuint(f[8], >=, 5);
	/* FACS: 64-byte aligned, right signature. */
	uint32_t facs = ld32(f + 36);
	g_assert_cmpuint(facs % 64, ==, 0);
	g_assert_cmpmem(buf + (facs - GPA), 4, "FACS", 4);
	g_assert_cmpuint(ld32(buf + (facs - GPA) + 4), ==, 64);
	/* DSDT: both pointers agree. */
	g_assert_cmpuint(ld32(f + 40), ==, ld64(f + 140));
	table_at(buf, used, ld32(f + 40), "DSDT");

	g_assert_cmpuint(ld16(f + 46), ==, ACPI_SCI_IRQ);
	g_assert_cmpuint(ld32(f + 48), ==, 0);              /* SMI_CMD */
	g_assert_cmpuint(ld32(f + 56), ==, ACPI_PM1A_EVT_PORT);
	g_assert_cmpuint(ld32(f + 64), ==, ACPI_PM1A_CNT_PORT);
	g_assert_cmpuint(ld32(f + 76), ==, ACPI_PM_TMR_PORT);
	g_assert_cmpuint(f[88], ==, 4);
	g_assert_cmpuint(f[89], ==, 2);
	g_assert_cmpuint(f[91], ==, 4);
	uint16_t arch = ld16(f + 109);
	g_assert_true(arch & (1u << 1));                    /* 8042 */
	g_assert_false(arch & (1u << 3));                   /* MSI allowed */
	g_assert_false(arch & (1u << 5));                   /* CMOS RTC present */
	uint32_t flags = ld32(f + 112);
	g_assert_false(flags & (1u << 4));                  /* fixed power button */
	g_assert_true(flags & (1u << 5));                   /* no sleep button */
	g_assert_true(flags & (1u << 10));                  /* RESET_REG_SUP */
	g_assert_false(flags & (1u << 8));                  /* 24-bit timer */
	g_assert_false(flags & (1u << 20));                 /* not HW-reduced */
	check_gas_io(f + 116, ACPI_RESET_PORT, 8);
	g_assert_cmpuint(f[128], ==, ACPI_RESET_VALUE);
	check_gas_io(f + 148, ACPI_PM1A_EVT_PORT, 32);
	check_gas_io(f + 172, ACPI_PM1A_CNT_PORT, 16);
	check_gas_io(f + 208, ACPI_PM_TMR_PORT, 32);
	g_free(buf);
}

static void test_madt(void)
{
	static const unsigned counts[] = { 1, 4, 64, 254 };

	for (size_t c = 0; c < G_N_ELEMENTS(counts); c++) {
		struct acpi_platform p = plat4;
		p.n_cpus = counts[c];
		size_t used;
		uint8_t *buf = build(&p, &used);
		const uint8_t *m = xsdt_find(buf, used, "APIC");
		uint32_t len = ld32(m + 4);
		unsigned lapic = 0, ioapic = 0, iso = 0, nmi = 0;

		g_assert_cmpuint(ld32(m + 36), ==, p.lapic_addr);
		for (uint32_t off = 44; off < len; off += m[off + 1]) {
			const uint8_t *e = m + off;
			g_assert_cmpuint(e[1], >=, 2);
			g_assert_cmpuint(off + e[1], <=, len);
			switch (e[0]) {
			case 0:
				g_assert_cmpuint(e[3], ==, lapic);
				g_assert_cmpuint(ld32(e + 4) & 1, ==, 1);
				lapic++;
				break;
			case 1:
				g_assert_cmpuint(e[2], >=, p.n_cpus);
				g_assert_cmpuint(ld32(e + 4), ==, p.ioapic_addr);
				g_assert_cmpuint(ld32(e + 8), ==, 0);
				ioapic++;
				break;
			case 2:
				/* Only the SCI: IRQ 0 must stay on GSI 0. */
				g_assert_cmpuint(e[3], ==, ACPI_SCI_IRQ);
				g_assert_cmpuint(ld32(e + 4), ==, ACPI_SCI_IRQ);
				g_assert_cmpuint(ld16(e + 8), ==, 0x000d);
				iso++;
				break;
			case 4:
				g_assert_cmpuint(e[2], ==, 0xff);
				g_assert_cmpuint(e[5], ==, 1);
				nmi++;
				break;
			default:
				g_assert_not_reached();
			}
		}
		g_assert_cmpuint(lapic, ==, p.n_cpus);
		g_assert_cmpuint(ioapic, ==, 1);
		g_assert_cmpuint(iso, ==, 1);
		g_assert_cmpuint(nmi, ==, 1);
		g_free(buf);
	}
}

static void test_mcfg(void)
{
	struct acpi_platform p = plat4;
	p.ecam_bus_end = 63;
	size_t used;
	uint8_t *buf = build(&p, &used);
	const uint8_t *m = xsdt_find(buf, used, "MCFG");

	g_assert_cmpuint(ld32(m + 4), ==, 36 + 8 + 16);
	g_assert_cmpuint(ld64(m + 44), ==, p.ecam_base);
	g_assert_cmpuint(ld16(m + 52), ==, 0);
	g_assert_cmpuint(m[54], ==, 0);
	g_assert_cmpuint(m[55], ==, 63);
	g_free(buf);
}

static const uint8_t *dsdt_of(const uint8_t *buf, size_t used)
{
	const uint8_t *f = xsdt_find(buf, used, "FACP");
	return table_at(buf, used, ld32(f + 40), "DSDT");
}

static bool contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	return memmem(hay, n, needle, m) != NULL;
}

static void test_dsdt_content(void)
{
	/* Name (\_S5, Package (4) { 5, 0, 0, 0 }) */
	static const uint8_t s5[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x07,
				      0x04, 0x0a, ACPI_SLP_TYP_S5, 0, 0, 0 };
	static const uint8_t pnp0a08[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
	static const uint8_t pnp0a03[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	static const uint8_t pnp0c02[] = { 0x0c, 0x41, 0xd0, 0x0c, 0x02 };
	static const uint8_t cf8[] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };
	static const uint8_t com1[] = { 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
					0x22, 0x10, 0x00 };
	/* ECAM reserved as Memory32Fixed (0xB0000000, 256 MiB) */
	static const uint8_t ecam[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xb0,
					0x00, 0x00, 0x00, 0x10 };
	size_t used;
	uint8_t *buf = build(&plat4, &used);
	const uint8_t *d = dsdt_of(buf, used);
	size_t n = ld32(d + 4);

	g_assert_true(contains(d, n, s5, sizeof(s5)));
	g_assert_true(contains(d, n, pnp0a08, sizeof(pnp0a08)));
	g_assert_true(contains(d, n, pnp0a03, sizeof(pnp0a03)));
	g_assert_true(contains(d, n, pnp0c02, sizeof(pnp0c02)));
	g_assert_true(contains(d, n, cf8, sizeof(cf8)));
	g_assert_true(contains(d, n, com1, sizeof(com1)));
	g_assert_true(contains(d, n, ecam, sizeof(ecam)));
	g_assert_true(contains(d, n, "_OSC", 4));
	/* QWordMemory window present only when the 64-bit window exists. */
	g_assert_true(contains(d, n, "\x8a\x2b\x00\x00", 4));
	g_free(buf);

	struct acpi_platform p = plat4;
	p.mmio64_size = 0;
	buf = build(&p, &used);
	d = dsdt_of(buf, used);
	g_assert_false(contains(d, ld32(d + 4), "\x8a\x2b\x00\x00", 4));
	g_free(buf);

	/* ECAM above 4 GiB: reserved with a QWordMemory consumer. */
	static const uint8_t ecam_hi[] = { 0x8a, 0x2b, 0x00, 0x00, 0x0d, 0x01 };
	p.ecam_base = 0x100000000ull;
	buf = build(&p, &used);
	d = dsdt_of(buf, used);
	g_assert_true(contains(d, ld32(d + 4), ecam_hi, sizeof(ecam_hi)));
	g_free(buf);
}

static void test_errors(void)
{
	uint8_t small[256];
	g_assert_cmpuint(acpi_build(&plat4, small, sizeof(small), GPA), ==, 0);

	/* Every truncation fails cleanly and never writes past the end. */
	size_t used;
	uint8_t *full = build(&plat4, &used);
	uint8_t *buf = g_malloc(used + 64);
	/* Quiet the expected "do not fit" errors. */
	int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
	g_assert_cmpint(dup2(null, STDERR_FILENO), >=, 0);
	for (size_t len = 0; len < used; len += 3) {
		memset(buf, 0xa5, used + 64);
		g_assert_cmpuint(acpi_build(&plat4, buf, len, GPA), ==, 0);
		for (size_t i = len; i < used + 64; i++)
			g_assert_cmpuint(buf[i], ==, 0xa5);
	}
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(null);
	g_assert_cmpuint(acpi_build(&plat4, buf, used, GPA), ==, used);
	g_assert_cmpmem(buf, used, full, used);
	g_free(buf);
	g_free(full);

	struct acpi_platform p = plat4;
	p.n_cpus = 0;
	uint8_t *big = g_malloc(0x20000);
	g_assert_cmpuint(acpi_build(&p, big, 0x20000, GPA), ==, 0);
	p.n_cpus = 255;
	g_assert_cmpuint(acpi_build(&p, big, 0x20000, GPA), ==, 0);
	p = plat4;
	p.mmio64_base = 0xffffffff00000000ull;
	p.mmio64_size = 0x100000000ull;                 /* ends exactly at 2^64 */
	g_assert_cmpuint(acpi_build(&p, big, 0x20000, GPA), >, 0);
	p.mmio64_size++;
	g_assert_cmpuint(acpi_build(&p, big, 0x20000, GPA), ==, 0);
	p = plat4;
	p.mmio32_base = 0xf0000000ull;                  /* crosses 4 GiB */
	g_assert_cmpuint(acpi_build(&p, big, 0x20000, GPA), ==, 0);
	/* Above 4 GiB the FADT's 32-bit pointers cannot reach. */
	g_assert_cmpuint(acpi_build(&plat4, big, 0x20000, 0x100000000ull), ==, 0);
	g_free(big);
}

static void iasl_check(gchar *iasl, const struct acpi_platform *p);

/* Disassemble every table with ACPICA's iasl, when it is installed. */
static void test_iasl(void)
{
	gchar *iasl = g_find_program_in_path("iasl");
	if (!iasl) {
		g_test_skip("iasl not installed (apt-get install acpica-tools)");
		return;
	}
	/* The usual layout, and the odd one: one CPU, one bus, ECAM above
	 * 4 GiB, no 64-bit window. */
	struct acpi_platform odd = plat4;
	odd.n_cpus = 1;
	odd.ecam_base = 0x100000000ull;
	odd.ecam_bus_end = 0;
	odd.mmio64_size = 0;
	iasl_check(iasl, &plat4);
	iasl_check(iasl, &odd);
	g_free(iasl);
}

static void iasl_check(gchar *iasl, const struct acpi_platform *p)
{
	size_t used;
	uint8_t *buf = build(p, &used);
	const uint8_t *f = xsdt_find(buf, used, "FACP");
	/* Not the RSDP: this iasl rejects a lone RSDP file ("RSD " is no
	 * valid table signature); test_rsdp_xsdt checks it. */
	const uint8_t *tables[] = {
		table_at(buf, used, ld64(buf + 24), "XSDT"), f, dsdt_of(buf, used),
		xsdt_find(buf, used, "APIC"), xsdt_find(buf, used, "MCFG"),
		buf + (ld32(f + 36) - GPA),
	};
	const char *names[] = { "xsdt", "facp", "dsdt", "apic", "mcfg", "facs" };
	g_autoptr(GError) err = NULL;
	gchar *dir = g_dir_make_tmp("atoll-acpi-XXXXXX", &err);
	g_assert_no_error(err);

	for (size_t i = 0; i < G_N_ELEMENTS(tables); i++) {
		size_t len = ld32(tables[i] + 4);
		gchar *dat = g_strdup_printf("%s/%s.dat", dir, names[i]);
		gchar *dsl = g_strdup_printf("%s/%s.dsl", dir, names[i]);
		g_assert_true(g_file_set_contents(dat, (const char *)tables[i], len, NULL));
		gchar *argv[] = { iasl, "-d", dat, NULL };
		gchar *out = NULL, *errout = NULL;
		gint status;
		g_assert_true(g_spawn_sync(dir, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
					   &out, &errout, &status, NULL));
		gchar *all = g_strconcat(out, errout, NULL);
		if (!g_spawn_check_wait_status(status, NULL) ||
		    strstr(all, "Error") || strstr(all, "Invalid") ||
		    strstr(all, "Incorrect") || strstr(all, "Warning"))
			g_error("iasl -d %s.dat:\n%s", names[i], all);
		gchar *text = NULL;
		g_assert_true(g_file_get_contents(dsl, &text, NULL, NULL));
		/* The disassembler flags bad checksums and unknown bytes in
		 * its output rather than its exit status. */
		g_assert_null(strstr(text, "Incorrect checksum"));
		g_assert_null(strstr(text, "**** Unknown"));
		g_assert_null(strstr(text, "Invalid"));
		if (i == 2) {
			g_assert_nonnull(strstr(text, "Name (\\_S5, Package (0x04)"));
			g_assert_nonnull(strstr(text, "EisaId (\"PNP0A08\")"));
			g_assert_nonnull(strstr(text, "Method (_OSC, 4, NotSerialized)"));
		}
		if (g_test_verbose())
			g_printerr("%s\n", text);
		g_free(text);
		g_free(all);
		g_free(out);
		g_free(errout);
		g_unlink(dsl);
		g_unlink(dat);
		g_free(dsl);
		g_free(dat);
	}
	g_rmdir(dir);
	g_free(dir);
	g_free(buf);
}

static gchar *run_tool(gchar **argv, const char *dir)
{
	gchar *out = NULL, *errout = NULL;
	gint status;

	g_assert_true(g_spawn_sync(dir, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
				   &out, &errout, &status, NULL));
	gchar *all = g_strconcat(out, errout, NULL);
	if (!g_spawn_check_wait_status(status, NULL))
		g_error("%s failed:\n%s", argv[0], all);
	g_free(out);
	g_free(errout);
	return all;
}

/* Run the DSDT's AML in ACPICA's interpreter, when acpiexec is installed:
 * \_S5 and _CRS evaluate, and _OSC answers as designed. */
static void test_acpiexec(void)
{
	gchar *acpiexec = g_find_program_in_path("acpiexec");
	if (!acpiexec) {
		g_test_skip("acpiexec not installed (apt-get install acpica-tools)");
		return;
	}
	size_t used;
	uint8_t *buf = build(&plat4, &used);
	const uint8_t *d = dsdt_of(buf, used);
	g_autoptr(GError) err = NULL;
	gchar *dir = g_dir_make_tmp("atoll-acpi-XXXXXX", &err);
	g_assert_no_error(err);
	gchar *dat = g_strdup_printf("%s/dsdt.dat", dir);
	g_assert_true(g_file_set_contents(dat, (const char *)d, ld32(d + 4), NULL));

#define UUID "(5b 4d db 33 f7 1f 1c 40 96 57 74 41 c0 3d d7 66)"
	gchar *argv[] = { acpiexec, "-b",
		"evaluate \\_S5; evaluate \\_SB.MBRD._CRS; evaluate \\_SB.COM1._CRS;"
		" evaluate \\_SB.PCI0._OSC " UUID " 1 3 (01 00 00 00 1f 00 00 00 3d 00 00 00);"
		" evaluate \\_SB.PCI0._OSC " UUID " 2 3 (00 00 00 00 1f 00 00 00 1d 00 00 00);"
		" evaluate \\_SB.PCI0._OSC (00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff)"
		" 1 3 (00 00 00 00 1f 00 00 00 1d 00 00 00)",
		dat, NULL };
#undef UUID
	gchar *out = run_tool(argv, dir);
	if (g_test_verbose())
		g_printerr("%s\n", out);
	g_assert_null(strstr(out, "Error"));
	g_assert_null(strstr(out, "Exception"));
	g_assert_nonnull(strstr(out, "[Package] Contains 4 Elements:\n"
				     "    [Integer] = 0000000000000005\n"));
	/* Memory32Fixed(ReadWrite, 0xB0000000, 0x10000000) */
	g_assert_nonnull(strstr(out, "86 09 00 01 00 00 00 B0 00 00 00 10"));
	g_assert_nonnull(strstr(out, "47 01 F8 03 F8 03 01 08 22 10 00 79 00"));
	/* Granted as asked; bad revision (8); bad UUID (4). */
	g_assert_nonnull(strstr(out, "01 00 00 00 1F 00 00 00 3D 00 00 00"));
	g_assert_nonnull(strstr(out, "08 00 00 00 1F 00 00 00 1D 00 00 00"));
	g_assert_nonnull(strstr(out, "04 00 00 00 1F 00 00 00 1D 00 00 00"));
	g_free(out);
	g_unlink(dat);
	g_rmdir(dir);
	g_free(dat);
	g_free(dir);
	g_free(buf);
	g_free(acpiexec);
}

/* ---- PM register model ----------------------------------------------- */

#define OFF_STS 0
#define OFF_EN  2
#define OFF_CNT (ACPI_PM1A_CNT_PORT - ACPI_PM_BASE)
#define OFF_TMR (ACPI_PM_TMR_PORT - ACPI_PM_BASE)
#define OFF_RST (ACPI_RESET_PORT - ACPI_PM_BASE)

static unsigned wr(struct acpi_pm_regs *r, uint64_t off, uint64_t v, uint32_t len)
{
	uint8_t d[8];
	for (uint32_t i = 0; i < len; i++)
		d[i] = (uint8_t)(v >> (8 * i));
	return acpi_pm_regs_write(r, off, d, len);
}

static uint64_t rd(const struct acpi_pm_regs *r, uint64_t off, uint32_t len,
		   uint32_t timer)
{
	uint8_t d[8];
	uint64_t v = 0;
	acpi_pm_regs_read(r, timer, off, d, len);
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)d[i] << (8 * i);
	return v;
}

static void test_pm_power_button(void)
{
	struct acpi_pm_regs r;
	acpi_pm_regs_init(&r);

	g_assert_cmpuint(rd(&r, OFF_CNT, 2, 0) & ACPI_PM1_CNT_SCI_EN, ==, 1);
	acpi_pm_regs_power_button(&r);
	g_assert_cmpuint(rd(&r, OFF_STS, 2, 0), ==, ACPI_PM1_PWRBTN_STS);
	g_assert_false(acpi_pm_regs_sci(&r));           /* not enabled yet */
	g_assert_cmpuint(wr(&r, OFF_EN, ACPI_PM1_PWRBTN_EN, 2), ==, 0);
	g_assert_cmpuint(rd(&r, OFF_EN, 2, 0), ==, ACPI_PM1_PWRBTN_EN);
	g_assert_true(acpi_pm_regs_sci(&r));
	wr(&r, OFF_STS, 0, 2);                          /* writing 0 keeps it */
	g_assert_true(acpi_pm_regs_sci(&r));
	wr(&r, OFF_STS + 1, 0x01, 1);                   /* W1C via high byte */
	g_assert_cmpuint(rd(&r, OFF_STS, 2, 0), ==, 0);
	g_assert_false(acpi_pm_regs_sci(&r));

	/* A 32-bit access covers status and enable at once. */
	acpi_pm_regs_power_button(&r);
	g_assert_cmpuint(rd(&r, OFF_STS, 4, 0), ==, 0x01000100u);
	wr(&r, OFF_STS, 0x00000100u, 4);                /* clear sts, en=0 */
	g_assert_cmpuint(rd(&r, OFF_STS, 4, 0), ==, 0);

	/* Enable bits ACPICA reads back (GBL_EN) stick. */
	wr(&r, OFF_EN, 1u << 5, 2);
	g_assert_cmpuint(rd(&r, OFF_EN, 2, 0), ==, 1u << 5);
}

static void test_pm_sleep_reset(void)
{
	struct acpi_pm_regs r;
	acpi_pm_regs_init(&r);
	unsigned s5 = ACPI_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT;

	/* ACPICA writes SLP_TYP first, then SLP_TYP | SLP_EN. */
	g_assert_cmpuint(wr(&r, OFF_CNT, s5, 2), ==, 0);
	g_assert_cmpuint(rd(&r, OFF_CNT, 2, 0), ==, s5 | ACPI_PM1_CNT_SCI_EN);
	g_assert_cmpuint(wr(&r, OFF_CNT, s5 | ACPI_PM1_CNT_SLP_EN, 2), ==,
			 ACPI_PM_ACT_POWEROFF);
	/* SLP_EN is write-only. */
	g_assert_false(rd(&r, OFF_CNT, 2, 0) & ACPI_PM1_CNT_SLP_EN);
	/* A byte write of the high half alone also works. */
	acpi_pm_regs_init(&r);
	g_assert_cmpuint(wr(&r, OFF_CNT + 1, (s5 | ACPI_PM1_CNT_SLP_EN) >> 8, 1), ==,
			 ACPI_PM_ACT_POWEROFF);
	/* Other sleep types are not offered. */
	g_assert_cmpuint(wr(&r, OFF_CNT, 1u << 10 | ACPI_PM1_CNT_SLP_EN, 2), ==, 0);
	g_assert_cmpuint(wr(&r, OFF_CNT, 3u << 10 | ACPI_PM1_CNT_SLP_EN, 2), ==, 0);
	g_assert_cmpuint(wr(&r, OFF_CNT, s5, 2), ==, 0);

	g_assert_cmpuint(wr(&r, OFF_RST, ACPI_RESET_VALUE, 1), ==, ACPI_PM_ACT_RESET);
	g_assert_cmpuint(wr(&r, OFF_RST, 0x05, 1), ==, 0);
	g_assert_cmpuint(wr(&r, OFF_RST - 1, (uint64_t)ACPI_RESET_VALUE << 8, 2), ==,
			 ACPI_PM_ACT_RESET);
	g_assert_cmpuint(rd(&r, OFF_RST, 1, 0), ==, 0);
}

static void test_pm_timer_hostile(void)
{
	struct acpi_pm_regs r;
	acpi_pm_regs_init(&r);

	g_assert_cmpuint(acpi_pm_timer_ticks(0), ==, 0);
	g_assert_cmpuint(acpi_pm_timer_ticks(1000000000ull), ==, ACPI_PM_TIMER_HZ);
	g_assert_cmpuint(acpi_pm_timer_ticks(5000000000ull), ==,
			 (5ull * ACPI_PM_TIMER_HZ) & 0xffffff);
	g_assert_cmpuint(acpi_pm_timer_ticks(UINT64_MAX), <=, 0xffffff);
	g_assert_cmpuint(rd(&r, OFF_TMR, 4, 0x12345678u), ==, 0x00345678u);
	g_assert_cmpuint(rd(&r, OFF_TMR + 2, 2, 0x12345678u), ==, 0x0034u);
	/* Writes to the timer are ignored. */
	g_assert_cmpuint(wr(&r, OFF_TMR, 0xffffffff, 4), ==, 0);

	/* Past the block: reads 0xff, writes dropped, nothing crashes. */
	g_assert_cmpuint(rd(&r, ACPI_PM_LEN - 1, 4, 0), ==, 0xffffff00u);
	g_assert_cmpuint(rd(&r, UINT64_MAX - 1, 8, 0), ==, UINT64_MAX);
	g_assert_cmpuint(wr(&r, UINT64_MAX - 1, UINT64_MAX, 8), ==, 0);
	g_assert_cmpuint(wr(&r, 0, 0, 0), ==, 0);
	uint8_t big[64];
	memset(big, 0xff, sizeof(big));
	acpi_pm_regs_write(&r, 0, big, sizeof(big));   /* all ones, 64 bytes */
	acpi_pm_regs_read(&r, 0, 0, big, sizeof(big));
	g_assert_cmpuint(big[ACPI_PM_LEN], ==, 0xff);
}

/* ---- device through the I/O bus, with a test double for the VM ------- */

static int sci_level = -1, sci_calls, exit_reason_seen;

int irq_line(struct vm *vm, uint32_t gsi, int level)
{
	(void)vm;
	g_assert_cmpuint(gsi, ==, ACPI_SCI_IRQ);
	sci_level = level;
	sci_calls++;
	return 0;
}

void vm_request_exit(struct vm *vm, enum vm_exit_reason reason)
{
	(void)vm;
	exit_reason_seen = reason;
}

static void io(struct vm *vm, uint16_t port, uint64_t *v, uint32_t len, bool w)
{
	uint8_t d[8] = { 0 };
	if (w)
		bus_data_set(d, len, *v);
	g_assert_true(bus_access(&vm->io_bus, port, d, len, w));
	if (!w)
		*v = bus_data_get(d, len);
}

static void test_pm_device(void)
{
	struct vm *vm = g_new0(struct vm, 1);
	uint64_t v;

	bus_init(&vm->io_bus, "io");
	g_assert_cmpint(acpi_pm_create(vm), ==, 0);
	g_assert_nonnull(vm->acpi_pm);

	v = ACPI_PM1_PWRBTN_EN;
	io(vm, ACPI_PM1A_EVT_PORT + 2, &v, 2, true);
	g_assert_cmpint(sci_calls, ==, 0);
	acpi_pm_power_button(vm);
	g_assert_cmpint(sci_level, ==, 1);
	acpi_pm_power_button(vm);                       /* already high */
	g_assert_cmpint(sci_calls, ==, 1);
	io(vm, ACPI_PM1A_EVT_PORT, &v, 2, false);
	g_assert_cmpuint(v, ==, ACPI_PM1_PWRBTN_STS);
	io(vm, ACPI_PM1A_EVT_PORT, &v, 2, true);
	g_assert_cmpint(sci_level, ==, 0);

	uint64_t t1, t2;
	io(vm, ACPI_PM_TMR_PORT, &t1, 4, false);
	g_usleep(2000);
	io(vm, ACPI_PM_TMR_PORT, &t2, 4, false);
	g_assert_cmpuint(t1, <=, 0xffffff);
	/* >= 2 ms at 3.58 MHz, unless the 24-bit counter wrapped (4.7 s). */
	g_assert_cmpuint((t2 - t1) & 0xffffff, >=, 7000);

	v = ACPI_RESET_VALUE;
	io(vm, ACPI_RESET_PORT, &v, 1, true);
	g_assert_cmpint(exit_reason_seen, ==, VM_EXIT_REBOOT);
	v = (ACPI_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT) | ACPI_PM1_CNT_SLP_EN;
	io(vm, ACPI_PM1A_CNT_PORT, &v, 2, true);
	g_assert_cmpint(exit_reason_seen, ==, VM_EXIT_POWEROFF);
	/* OVMF's shutdown: sleep type 0 (see acpi_pm.c) */
	exit_reason_seen = VM_EXIT_REBOOT;
	v = ACPI_PM1_CNT_SLP_EN;
	io(vm, ACPI_PM1A_CNT_PORT, &v, 2, true);
	g_assert_cmpint(exit_reason_seen, ==, VM_EXIT_POWEROFF);
	/* another sleep type is ignored */
	exit_reason_seen = VM_EXIT_REBOOT;
	v = (3u << ACPI_PM1_CNT_SLP_TYP_SHIFT) | ACPI_PM1_CNT_SLP_EN;
	io(vm, ACPI_PM1A_CNT_PORT, &v, 2, true);
	g_assert_cmpint(exit_reason_seen, ==, VM_EXIT_REBOOT);

	/* Reset drops a pending, enabled event and lowers the SCI. */
	v = ACPI_PM1_PWRBTN_EN;
	io(vm, ACPI_PM1A_EVT_PORT + 2, &v, 2, true);
	acpi_pm_power_button(vm);
	g_assert_cmpint(sci_level, ==, 1);
	acpi_pm_reset(vm);
	g_assert_cmpint(sci_level, ==, 0);
	io(vm, ACPI_PM1A_EVT_PORT, &v, 4, false);
	g_assert_cmpuint(v, ==, 0);

	/* A second device cannot take the same ports. */
	void *first = vm->acpi_pm;
	g_assert_cmpint(acpi_pm_create(vm), <, 0);
	g_assert_true(vm->acpi_pm == first);

	acpi_pm_destroy(vm);
	g_assert_null(vm->acpi_pm);
	v = 0;
	g_assert_false(bus_access(&vm->io_bus, ACPI_PM_BASE, (uint8_t *)&v, 2, false));
	acpi_pm_power_button(vm);                       /* no device: harmless */
	bus_destroy(&vm->io_bus);
	g_free(vm);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/acpi/rsdp_xsdt", test_rsdp_xsdt);
	g_test_add_func("/acpi/fadt", test_fadt);
	g_test_add_func("/acpi/madt", test_madt);
	g_test_add_func("/acpi/mcfg", test_mcfg);
	g_test_add_func("/acpi/dsdt_content", test_dsdt_content);
	g_test_add_func("/acpi/errors", test_errors);
	g_test_add_func("/acpi/iasl", test_iasl);
	g_test_add_func("/acpi/acpiexec", test_acpiexec);
	g_test_add_func("/acpi_pm/power_button", test_pm_power_button);
	g_test_add_func("/acpi_pm/sleep_reset", test_pm_sleep_reset);
	g_test_add_func("/acpi_pm/timer_hostile", test_pm_timer_hostile);
	g_test_add_func("/acpi_pm/device", test_pm_device);
	return g_test_run();
}
