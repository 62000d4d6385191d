/* CMOS RTC.  The time registers are computed from the host clock (UTC) at
 * each read, plus an offset the guest sets by writing the clock (hwclock
 * --systohc, NTP's 11-minute mode): that write happens with register B's
 * SET bit held, which freezes the registers until it is cleared.
 *
 * No interrupts: periodic, alarm and update-ended interrupts are not
 * generated and register C always reads 0.  Linux only reads the time at
 * boot; user space (hwclock) falls back to polling UIP when no update
 * interrupt arrives. */
#include "rtc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../bus.h"
#include "../log.h"
#include "../vm.h"
#include "platform.h"

#define REG_A_DEFAULT 0x26   /* 32.768 kHz time base, 1024 Hz rate */
#define UIP_NS        244000 /* UIP rises this long before each update */

static void now(const struct rtc *r, struct timespec *ts)
{
	if (r->clock)
		r->clock(ts);
	else
		clock_gettime(CLOCK_REALTIME, ts);
}

static bool is_time_reg(unsigned idx)
{
	return idx == RTC_SECONDS || idx == RTC_MINUTES || idx == RTC_HOURS ||
	       idx == RTC_WEEKDAY || idx == RTC_DAY || idx == RTC_MONTH ||
	       idx == RTC_YEAR || idx == RTC_CENTURY;
}

static uint8_t encode(const struct rtc *r, unsigned v)
{
	if (r->cmos[RTC_REG_B] & RTC_B_DM_BIN)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

/* Guest-written values may be any byte; out-of-range results are simply
 * normalised by timegm(). */
static unsigned decode(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_REG_B] & RTC_B_DM_BIN)
		return v;
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t encode_hour(const struct rtc *r, int hour)
{
	if (r->cmos[RTC_REG_B] & RTC_B_24H)
		return encode(r, (unsigned)hour);
	unsigned h12 = hour % 12 ? (unsigned)hour % 12 : 12;
	return encode(r, h12) | (hour >= 12 ? 0x80 : 0);
}

static int decode_hour(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_REG_B] & RTC_B_24H)
		return (int)decode(r, v);
	int h = (int)decode(r, v & 0x7f) % 12;
	return (v & 0x80) ? h + 12 : h;
}

/* Write the current guest time into the CMOS time bytes. */
static void latch_time(struct rtc *r)
{
	struct timespec ts;
	struct tm tm;
	time_t t;

	now(r, &ts);
	t = (time_t)(ts.tv_sec + r->offset);
	if (!gmtime_r(&t, &tm))
		return;
	r->cmos[RTC_SECONDS] = encode(r, (unsigned)tm.tm_sec);
	r->cmos[RTC_MINUTES] = encode(r, (unsigned)tm.tm_min);
	r->cmos[RTC_HOURS] = encode_hour(r, tm.tm_hour);
	r->cmos[RTC_WEEKDAY] = encode(r, (unsigned)tm.tm_wday + 1);
	r->cmos[RTC_DAY] = encode(r, (unsigned)tm.tm_mday);
	r->cmos[RTC_MONTH] = encode(r, (unsigned)tm.tm_mon + 1);
	r->cmos[RTC_YEAR] = encode(r, (unsigned)(tm.tm_year + 1900) % 100);
	r->cmos[RTC_CENTURY] = encode(r, (unsigned)(tm.tm_year + 1900) / 100);
}

/* The guest set the clock: remember how far it is from the host's. */
static void adopt_time(struct rtc *r)
{
	struct timespec ts;
	struct tm tm = { 0 };
	time_t t;

	tm.tm_sec = (int)decode(r, r->cmos[RTC_SECONDS]);
	tm.tm_min = (int)decode(r, r->cmos[RTC_MINUTES]);
	tm.tm_hour = decode_hour(r, r->cmos[RTC_HOURS]);
	tm.tm_mday = (int)decode(r, r->cmos[RTC_DAY]);
	tm.tm_mon = (int)decode(r, r->cmos[RTC_MONTH]) - 1;
	tm.tm_year = (int)(decode(r, r->cmos[RTC_CENTURY]) * 100 +
			   decode(r, r->cmos[RTC_YEAR])) - 1900;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return;
	now(r, &ts);
	r->offset = (int64_t)t - (int64_t)ts.tv_sec;
}

static uint8_t read_reg_a(const struct rtc *r)
{
	struct timespec ts;
	uint8_t v = r->cmos[RTC_REG_A] & 0x7f;

	/* No updates happen while SET is held. */
	if (r->cmos[RTC_REG_B] & RTC_B_SET)
		return v;
	now(r, &ts);
	if (ts.tv_nsec >= 1000000000L - UIP_NS)
		v |= RTC_A_UIP;
	return v;
}

static uint8_t cmos_read(struct rtc *r, unsigned idx)
{
	switch (idx) {
	case RTC_REG_A:
		return read_reg_a(r);
	case RTC_REG_C:
		return 0;   /* no interrupt flags are ever raised */
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		if (is_time_reg(idx) && !(r->cmos[RTC_REG_B] & RTC_B_SET))
			latch_time(r);
		return r->cmos[idx];
	}
}

static void write_reg_b(struct rtc *r, uint8_t val)
{
	uint8_t old = r->cmos[RTC_REG_B];

	if (!(old & RTC_B_SET) && (val & RTC_B_SET)) {
		latch_time(r);   /* freeze in the format in force until now */
		r->cmos[RTC_REG_B] = val;
	} else if ((old & RTC_B_SET) && !(val & RTC_B_SET)) {
		r->cmos[RTC_REG_B] = val;
		adopt_time(r);   /* bytes were written in the new format */
	} else {
		r->cmos[RTC_REG_B] = val;
	}
}

static void cmos_write(struct rtc *r, unsigned idx, uint8_t val)
{
	switch (idx) {
	case RTC_REG_A:
		r->cmos[RTC_REG_A] = val & 0x7f;   /* UIP is read-only */
		break;
	case RTC_REG_B:
		write_reg_b(r, val);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break;   /* read-only */
	default:
		if (is_time_reg(idx) && !(r->cmos[RTC_REG_B] & RTC_B_SET)) {
			/* A running clock takes the new field at once. */
			latch_time(r);
			r->cmos[idx] = val;
			adopt_time(r);
		} else {
			r->cmos[idx] = val;
		}
	}
}

uint8_t rtc_read(struct rtc *r, unsigned port)
{
	uint8_t v;

	if (port != 1)
		return 0xff;   /* the index register is write-only */
	pthread_mutex_lock(&r->lock);
	v = cmos_read(r, r->index);
	pthread_mutex_unlock(&r->lock);
	return v;
}

void rtc_write(struct rtc *r, unsigned port, uint8_t val)
{
	pthread_mutex_lock(&r->lock);
	if (port == 0)
		r->index = val & 0x7f;   /* bit 7 is the NMI mask: ignored */
	else if (port == 1)
		cmos_write(r, r->index, val);
	pthread_mutex_unlock(&r->lock);
}

static void put16(struct rtc *r, unsigned idx, uint64_t v)
{
	if (v > 0xffff)
		v = 0xffff;
	r->cmos[idx] = (uint8_t)v;
	r->cmos[idx + 1] = (uint8_t)(v >> 8);
}

void rtc_set_memory_size(struct rtc *r, uint64_t low, uint64_t high)
{
	const uint64_t mib = 1ULL << 20;
	uint64_t above_1m = low > mib ? (low - mib) >> 10 : 0;          /* KiB */
	uint64_t above_16m = low > 16 * mib ? (low - 16 * mib) >> 16 : 0; /* 64 KiB */
	uint64_t above_4g = high >> 16;                                   /* 64 KiB */

	pthread_mutex_lock(&r->lock);
	put16(r, 0x15, 640);          /* base memory, KiB */
	put16(r, 0x17, above_1m);
	put16(r, 0x30, above_1m);
	put16(r, 0x34, above_16m);
	if (above_4g > 0xffffff)
		above_4g = 0xffffff;
	r->cmos[0x5b] = (uint8_t)above_4g;
	r->cmos[0x5c] = (uint8_t)(above_4g >> 8);
	r->cmos[0x5d] = (uint8_t)(above_4g >> 16);
	pthread_mutex_unlock(&r->lock);
}

void rtc_set_cpus(struct rtc *r, unsigned n)
{
	pthread_mutex_lock(&r->lock);
	r->cmos[0x5f] = (uint8_t)(n ? n - 1 : 0);
	pthread_mutex_unlock(&r->lock);
}

void rtc_init(struct rtc *r, rtc_clock_fn clock)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->clock = clock;
	r->cmos[RTC_REG_A] = REG_A_DEFAULT;
	r->cmos[RTC_REG_B] = RTC_B_24H;   /* BCD, 24-hour, as PC firmware sets */
}

void rtc_destroy(struct rtc *r)
{
	pthread_mutex_destroy(&r->lock);
}

/* Byte-wide ports; a wider access touches the following ports in turn. */
static void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct rtc *r = opaque;

	for (uint32_t i = 0; i < len; i++) {
		bool inside = offset < RTC_NPORTS && i < RTC_NPORTS - offset;
		unsigned port = (unsigned)(offset + i);
		if (is_write) {
			if (inside)
				rtc_write(r, port, data[i]);
		} else {
			data[i] = inside ? rtc_read(r, port) : 0xff;
		}
	}
}

int rtc_create(struct vm *vm)
{
	struct rtc *r = malloc(sizeof(*r));
	uint64_t low = vm->mem.low_size, high = vm->mem.high_size;
	int ret;

	if (!r)
		return -ENOMEM;
	rtc_init(r, NULL);
	if (!vm->mem.size && vm->cfg) {
		/* Memory not laid out yet: derive the split the same way. */
		uint64_t total = vm->cfg->memory_mib << 20;
		low = total < GUEST_LOW_RAM_MAX ? total : GUEST_LOW_RAM_MAX;
		high = total - low;
	}
	rtc_set_memory_size(r, low, high);
	rtc_set_cpus(r, vm->cfg ? vm->cfg->vcpus : 1);

	ret = bus_register(&vm->io_bus, RTC_PORT, RTC_NPORTS, rtc_io, r, "rtc");
	if (ret < 0) {
		log_error("rtc: cannot claim I/O ports 0x70-0x71: %s", strerror(-ret));
		rtc_destroy(r);
		free(r);
		return ret;
	}
	return 0;
}
