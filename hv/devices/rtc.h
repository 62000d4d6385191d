/* MC146818 CMOS real-time clock and its 128-byte RAM (ports 0x70/0x71).
 * The model is independent of the VM so it can be unit tested; rtc_create()
 * (platform.h) registers it on the port bus. */
#ifndef ATOLL_RTC_H
#define ATOLL_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define RTC_PORT      0x70
#define RTC_NPORTS    2
#define RTC_CMOS_SIZE 128

/* Register indexes. */
enum {
	RTC_SECONDS = 0x00, RTC_MINUTES = 0x02, RTC_HOURS = 0x04,
	RTC_WEEKDAY = 0x06, RTC_DAY = 0x07, RTC_MONTH = 0x08, RTC_YEAR = 0x09,
	RTC_REG_A = 0x0a, RTC_REG_B = 0x0b, RTC_REG_C = 0x0c, RTC_REG_D = 0x0d,
	RTC_CENTURY = 0x32,   /* the IBM PC convention; FADT CENTURY points here */
};

#define RTC_A_UIP    0x80
#define RTC_B_SET    0x80
#define RTC_B_DM_BIN 0x04
#define RTC_B_24H    0x02
#define RTC_D_VRT    0x80

/* Reads the host clock; tests substitute their own. */
typedef void (*rtc_clock_fn)(struct timespec *now);

struct rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t cmos[RTC_CMOS_SIZE];
	int64_t offset;        /* guest time minus host time, seconds */
	rtc_clock_fn clock;    /* CLOCK_REALTIME when NULL */
};

void rtc_init(struct rtc *r, rtc_clock_fn clock);
void rtc_destroy(struct rtc *r);
/* Port access: port 0 is the index register, 1 the data register. */
uint8_t rtc_read(struct rtc *r, unsigned port);
void rtc_write(struct rtc *r, unsigned port, uint8_t val);
/* Fill the CMOS memory-size bytes firmware reads (0x15-0x18, 0x30/0x31,
 * 0x34/0x35, 0x5B-0x5D): `low` bytes of RAM at 0, `high` above 4 GiB. */
void rtc_set_memory_size(struct rtc *r, uint64_t low, uint64_t high);
/* 0x5F: number of CPUs minus one (SeaBIOS reads it). */
void rtc_set_cpus(struct rtc *r, unsigned n);

#endif
