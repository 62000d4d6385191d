/* CMOS RTC: time from a fake host clock, formats, setting the clock, RAM. */
#include <glib.h>
#include <string.h>

#include "devices/rtc.h"

static struct timespec fake_now;

static void fake_clock(struct timespec *ts)
{
	*ts = fake_now;
}

/* 2024-02-29 13:05:09 UTC, a Thursday. */
#define T0 1709211909

static uint8_t cmos(struct rtc *r, uint8_t idx)
{
	rtc_write(r, 0, idx);
	return rtc_read(r, 1);
}

static void cmos_set(struct rtc *r, uint8_t idx, uint8_t v)
{
	rtc_write(r, 0, idx);
	rtc_write(r, 1, v);
}

static void setup(struct rtc *r)
{
	fake_now.tv_sec = T0;
	fake_now.tv_nsec = 0;
	rtc_init(r, fake_clock);
}

static void test_bcd_24h(void)
{
	struct rtc r;
	setup(&r);
	g_assert_cmphex(cmos(&r, RTC_REG_B), ==, RTC_B_24H);
	g_assert_cmphex(cmos(&r, RTC_SECONDS), ==, 0x09);
	g_assert_cmphex(cmos(&r, RTC_MINUTES), ==, 0x05);
	g_assert_cmphex(cmos(&r, RTC_HOURS), ==, 0x13);
	g_assert_cmphex(cmos(&r, RTC_WEEKDAY), ==, 5);   /* Sunday = 1 */
	g_assert_cmphex(cmos(&r, RTC_DAY), ==, 0x29);
	g_assert_cmphex(cmos(&r, RTC_MONTH), ==, 0x02);
	g_assert_cmphex(cmos(&r, RTC_YEAR), ==, 0x24);
	g_assert_cmphex(cmos(&r, RTC_CENTURY), ==, 0x20);
	g_assert_cmphex(cmos(&r, RTC_REG_D), ==, RTC_D_VRT);
	g_assert_cmphex(cmos(&r, RTC_REG_C), ==, 0);
	/* The clock runs. */
	fake_now.tv_sec += 61;
	g_assert_cmphex(cmos(&r, RTC_SECONDS), ==, 0x10);
	g_assert_cmphex(cmos(&r, RTC_MINUTES), ==, 0x06);
	/* Bit 7 of the index (NMI mask) is ignored. */
	g_assert_cmphex(cmos(&r, 0x80 | RTC_MINUTES), ==, 0x06);
	rtc_destroy(&r);
}

static void test_binary_12h(void)
{
	struct rtc r;
	setup(&r);
	cmos_set(&r, RTC_REG_B, RTC_B_DM_BIN);   /* binary, 12-hour */
	g_assert_cmphex(cmos(&r, RTC_SECONDS), ==, 9);
	g_assert_cmphex(cmos(&r, RTC_HOURS), ==, 0x80 | 1);   /* 1 PM */
	g_assert_cmphex(cmos(&r, RTC_DAY), ==, 29);
	g_assert_cmphex(cmos(&r, RTC_YEAR), ==, 24);
	fake_now.tv_sec -= 13 * 3600;    /* 00:05 -> 12 AM */
	g_assert_cmphex(cmos(&r, RTC_HOURS), ==, 12);
	cmos_set(&r, RTC_REG_B, RTC_B_DM_BIN | RTC_B_24H);
	g_assert_cmphex(cmos(&r, RTC_HOURS), ==, 0);
	rtc_destroy(&r);
}

/* hwclock --systohc: SET, write the fields, clear SET. */
static void test_guest_sets_clock(void)
{
	struct rtc r;
	setup(&r);
	cmos_set(&r, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	uint8_t frozen = cmos(&r, RTC_SECONDS);
	fake_now.tv_sec += 5;
	g_assert_cmphex(cmos(&r, RTC_SECONDS), ==, frozen);   /* no updates */
	g_assert_cmphex(cmos(&r, RTC_REG_A) & RTC_A_UIP, ==, 0);
	/* 1999-12-31 23:59:58 */
	cmos_set(&r, RTC_SECONDS, 0x58);
	cmos_set(&r, RTC_MINUTES, 0x59);
	cmos_set(&r, RTC_HOURS, 0x23);
	cmos_set(&r, RTC_DAY, 0x31);
	cmos_set(&r, RTC_MONTH, 0x12);
	cmos_set(&r, RTC_YEAR, 0x99);
	cmos_set(&r, RTC_CENTURY, 0x19);
	cmos_set(&r, RTC_REG_B, RTC_B_24H);
	g_assert_cmphex(cmos(&r, RTC_SECONDS), ==, 0x58);
	fake_now.tv_sec += 3;
	g_assert_cmphex(cmos(&r, RTC_SECONDS), ==, 0x01);
	g_assert_cmphex(cmos(&r, RTC_YEAR), ==, 0x00);
	g_assert_cmphex(cmos(&r, RTC_CENTURY), ==, 0x20);
	g_assert_cmphex(cmos(&r, RTC_MONTH), ==, 0x01);
	g_assert_cmphex(cmos(&r, RTC_WEEKDAY), ==, 7);   /* 2000-01-01: Saturday */

	/* A single field written while running shifts the clock too. */
	cmos_set(&r, RTC_MINUTES, 0x30);
	g_assert_cmphex(cmos(&r, RTC_MINUTES), ==, 0x30);
	g_assert_cmphex(cmos(&r, RTC_HOURS), ==, 0x00);

	/* Garbage from the guest does not break anything. */
	cmos_set(&r, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	for (unsigned i = 0; i < 10; i++)
		cmos_set(&r, (uint8_t)i, 0xff);
	cmos_set(&r, RTC_REG_B, RTC_B_24H);
	(void)cmos(&r, RTC_SECONDS);
	rtc_destroy(&r);
}

static void test_uip(void)
{
	struct rtc r;
	setup(&r);
	g_assert_cmphex(cmos(&r, RTC_REG_A), ==, 0x26);
	fake_now.tv_nsec = 999900000;   /* 100 us before the update */
	g_assert_cmphex(cmos(&r, RTC_REG_A), ==, RTC_A_UIP | 0x26);
	fake_now.tv_nsec = 500000000;
	g_assert_cmphex(cmos(&r, RTC_REG_A), ==, 0x26);
	cmos_set(&r, RTC_REG_A, 0xff);  /* UIP is read-only */
	g_assert_cmphex(cmos(&r, RTC_REG_A), ==, 0x7f);
	/* C and D are read-only. */
	cmos_set(&r, RTC_REG_C, 0xff);
	cmos_set(&r, RTC_REG_D, 0x00);
	g_assert_cmphex(cmos(&r, RTC_REG_C), ==, 0);
	g_assert_cmphex(cmos(&r, RTC_REG_D), ==, RTC_D_VRT);
	rtc_destroy(&r);
}

static void test_ram_and_memory_size(void)
{
	struct rtc r;
	setup(&r);
	for (unsigned i = 0x0e; i < 0x80; i++)
		if (i != RTC_CENTURY)
			cmos_set(&r, (uint8_t)i, (uint8_t)(i ^ 0x5a));
	for (unsigned i = 0x0e; i < 0x80; i++)
		if (i != RTC_CENTURY)
			g_assert_cmphex(cmos(&r, (uint8_t)i), ==, (uint8_t)(i ^ 0x5a));
	g_assert_cmphex(rtc_read(&r, 0), ==, 0xff);   /* index port write-only */

	/* 3 GiB below 4G, 5 GiB above. */
	rtc_set_memory_size(&r, 3ULL << 30, 5ULL << 30);
	g_assert_cmphex(cmos(&r, 0x15) | cmos(&r, 0x16) << 8, ==, 640);
	g_assert_cmphex(cmos(&r, 0x17) | cmos(&r, 0x18) << 8, ==, 0xffff);
	g_assert_cmphex(cmos(&r, 0x30) | cmos(&r, 0x31) << 8, ==, 0xffff);
	g_assert_cmphex(cmos(&r, 0x34) | cmos(&r, 0x35) << 8, ==,
			((3ULL << 30) - (16 << 20)) >> 16);
	g_assert_cmphex(cmos(&r, 0x5b) | cmos(&r, 0x5c) << 8 | cmos(&r, 0x5d) << 16,
			==, (5ULL << 30) >> 16);
	/* 32 MiB guest. */
	rtc_set_memory_size(&r, 32 << 20, 0);
	g_assert_cmphex(cmos(&r, 0x17) | cmos(&r, 0x18) << 8, ==, 31 * 1024);
	g_assert_cmphex(cmos(&r, 0x34) | cmos(&r, 0x35) << 8, ==, 256);
	g_assert_cmphex(cmos(&r, 0x5b), ==, 0);
	rtc_set_cpus(&r, 4);
	g_assert_cmphex(cmos(&r, 0x5f), ==, 3);
	rtc_destroy(&r);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/rtc/bcd-24h", test_bcd_24h);
	g_test_add_func("/rtc/binary-12h", test_binary_12h);
	g_test_add_func("/rtc/guest-sets-clock", test_guest_sets_clock);
	g_test_add_func("/rtc/uip", test_uip);
	g_test_add_func("/rtc/ram-and-memory-size", test_ram_and_memory_size);
	return g_test_run();
}
