/* SMBIOS 2.8 structures: system (1), chassis (3), processor (4), physical
 * memory array (16), memory device (17), memory array mapped address
 * (19), boot information (32), end (127).  Windows shows these (system
 * model, installed RAM, sockets); OVMF adds its own type 0. */
#include "smbios.h"

#include <stdbool.h>
#include <string.h>

struct sb {
	uint8_t *p;
	size_t cap, len;
	unsigned count, max;
	uint16_t handle;
	bool overflow;
};

static uint8_t *sb_struct(struct sb *b, uint8_t type, uint8_t len)
{
	if (b->overflow || len > b->cap - b->len) {
		b->overflow = true;
		return NULL;
	}
	uint8_t *s = b->p + b->len;
	memset(s, 0, len);
	s[0] = type;
	s[1] = len;
	s[2] = (uint8_t)b->handle;
	s[3] = (uint8_t)(b->handle >> 8);
	b->handle++;
	b->len += len;
	return s;
}

/* The string set after a structure: each NUL-terminated, then one more
 * NUL (two if there are none). */
static void sb_strings(struct sb *b, size_t start, const char *const *strs, unsigned n)
{
	size_t need = 1;
	for (unsigned i = 0; i < n; i++)
		need += strlen(strs[i]) + 1;
	if (n == 0)
		need = 2;
	if (b->overflow || need > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	uint8_t *d = b->p + b->len;
	for (unsigned i = 0; i < n; i++) {
		size_t l = strlen(strs[i]) + 1;
		memcpy(d, strs[i], l);
		d += l;
	}
	*d++ = 0;
	if (n == 0)
		*d++ = 0;
	b->len += need;
	b->count++;
	if (b->len - start > b->max)
		b->max = (unsigned)(b->len - start);
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return (uint8_t)-s;
}

static void type1(struct sb *b, const struct smbios_info *in)
{
	size_t start = b->len;
	uint8_t *s = sb_struct(b, 1, 0x1b);
	if (!s)
		return;
	s[4] = 1; s[5] = 2; s[6] = 3; s[7] = 4;     /* manufacturer .. serial */
	memcpy(s + 8, in->uuid, 16);
	s[0x18] = 6;                                /* woken by the power switch */
	s[0x19] = 0;                                /* SKU: none */
	s[0x1a] = 5;                                /* family */
	const char *strs[] = { "Atoll", in->product && in->product[0] ? in->product : "Atoll VM",
			       "1", "Not Specified", "Atoll VM" };
	sb_strings(b, start, strs, 5);
}

static void type3(struct sb *b)
{
	size_t start = b->len;
	uint8_t *s = sb_struct(b, 3, 0x15);
	if (!s)
		return;
	s[4] = 1;                                   /* manufacturer */
	s[5] = 0x01;                                /* chassis: other */
	s[9] = 3; s[0xa] = 3; s[0xb] = 3;           /* states: safe */
	s[0xc] = 2;                                 /* security: unknown */
	const char *strs[] = { "Atoll" };
	sb_strings(b, start, strs, 1);
}

static void type4(struct sb *b, unsigned socket)
{
	char name[16];
	size_t start = b->len;
	uint8_t *s = sb_struct(b, 4, 0x2a);
	if (!s)
		return;
	s[4] = 1;                                   /* socket designation */
	s[5] = 3;                                   /* central processor */
	s[6] = 1;                                   /* family: other */
	s[7] = 2;                                   /* manufacturer */
	s[0x10] = 3;                                /* version */
	s[0x12] = 0x41;                             /* socket populated, enabled */
	put16(s + 0x14, 2000);                      /* max speed, MHz */
	put16(s + 0x16, 2000);                      /* current speed */
	s[0x19] = 1;                                /* upgrade: other */
	put16(s + 0x1a, 0xffff);                    /* no caches described */
	put16(s + 0x1c, 0xffff);
	put16(s + 0x1e, 0xffff);
	s[0x23] = 1; s[0x24] = 1; s[0x25] = 1;      /* cores, enabled, threads */
	put16(s + 0x26, 0x04);                      /* 64-bit capable */
	put16(s + 0x28, 1);                         /* family 2: other */
	/* socket names count from 0 like QEMU's "CPU 0" */
	name[0] = 0;
	strcpy(name, "CPU ");
	unsigned n = socket, i = 4;
	char digits[8];
	int d = 0;
	do { digits[d++] = (char)('0' + n % 10); n /= 10; } while (n && d < 7);
	while (d)
		name[i++] = digits[--d];
	name[i] = 0;
	const char *strs[] = { name, "Atoll", "Atoll virtual CPU" };
	sb_strings(b, start, strs, 3);
}

static void memory(struct sb *b, uint64_t bytes)
{
	uint16_t array = b->handle;
	size_t start = b->len;
	uint8_t *s = sb_struct(b, 16, 0x17);
	if (!s)
		return;
	s[4] = 3;                                   /* location: system board */
	s[5] = 3;                                   /* use: system memory */
	s[6] = 3;                                   /* error correction: none */
	uint64_t kib = bytes >> 10;
	put32(s + 7, kib >= 0x80000000ULL ? 0x80000000u : (uint32_t)kib);
	put16(s + 0xb, 0xfffe);                     /* no error information */
	put16(s + 0xd, 1);                          /* one device */
	put64(s + 0xf, kib >= 0x80000000ULL ? kib : 0);
	sb_strings(b, start, NULL, 0);

	start = b->len;
	s = sb_struct(b, 17, 0x28);
	if (!s)
		return;
	put16(s + 4, array);
	put16(s + 6, 0xfffe);
	put16(s + 8, 0xffff);                       /* widths unknown */
	put16(s + 0xa, 0xffff);
	uint64_t mib = bytes >> 20;
	put16(s + 0xc, mib < 0x7fff ? (uint16_t)mib : 0x7fff);
	if (mib >= 0x7fff)
		put32(s + 0x1c, (uint32_t)mib);
	s[0xe] = 0x09;                              /* form factor: DIMM */
	s[0x10] = 1;                                /* device locator */
	s[0x12] = 0x07;                             /* type: RAM */
	put16(s + 0x13, 0x0002);                    /* detail: unknown */
	s[0x17] = 2;                                /* manufacturer */
	const char *strs[] = { "DIMM 0", "Atoll" };
	sb_strings(b, start, strs, 2);

	start = b->len;
	s = sb_struct(b, 19, 0x1f);
	if (!s)
		return;
	put32(s + 4, 0xffffffffu);                  /* use the extended fields */
	put32(s + 8, 0xffffffffu);
	put16(s + 0xc, array);
	s[0xe] = 1;
	put64(s + 0xf, 0);
	put64(s + 0x17, bytes ? bytes - 1 : 0);
	sb_strings(b, start, NULL, 0);
}

size_t smbios_build(const struct smbios_info *info, uint8_t *tables, size_t cap,
		    uint8_t anchor[SMBIOS_ANCHOR_LEN])
{
	struct sb b = { .p = tables, .cap = cap, .handle = 0x100 };

	type1(&b, info);
	type3(&b);
	for (unsigned i = 0; i < info->n_cpus && i < 255; i++)
		type4(&b, i);
	memory(&b, info->memory_bytes);
	size_t start = b.len;
	if (sb_struct(&b, 32, 0x0b))
		sb_strings(&b, start, NULL, 0);
	start = b.len;
	if (sb_struct(&b, 127, 4))
		sb_strings(&b, start, NULL, 0);
	if (b.overflow || b.len > 0xffff)
		return 0;

	memset(anchor, 0, SMBIOS_ANCHOR_LEN);
	memcpy(anchor, "_SM_", 4);
	anchor[5] = SMBIOS_ANCHOR_LEN;
	anchor[6] = 2;
	anchor[7] = 8;
	put16(anchor + 8, (uint16_t)b.max);
	memcpy(anchor + 0x10, "_DMI_", 5);
	put16(anchor + 0x16, (uint16_t)b.len);
	put32(anchor + 0x18, 0);
	put16(anchor + 0x1c, (uint16_t)b.count);
	anchor[0x1e] = 0x28;
	anchor[0x15] = sum8(anchor + 0x10, 0x0f);
	anchor[4] = sum8(anchor, SMBIOS_ANCHOR_LEN);
	return b.len;
}
