/* i8042 keyboard controller: the controller commands firmware and Linux's
 * i8042 driver use to probe it, the reset line (command 0xFE, Linux's
 * reboot=k) and port 0x92's fast reset.  Commands complete instantly, so
 * the input buffer is never full (IBF always clear). */
#include "i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../bus.h"
#include "../display.h"
#include "../irq.h"
#include "../log.h"
#include "../vm.h"
#include "platform.h"

/* As PC firmware leaves it: both interrupts on, POST passed, scancode
 * translation on. */
#define CTR_DEFAULT (I8042_CTR_KBDINT | I8042_CTR_AUXINT | I8042_CTR_SYS | \
		     I8042_CTR_XLATE)
#define OUTPORT_DEFAULT 0x03   /* reset line high (inactive), A20 on */
#define NO_DEVICE 0xfe

#define CMD_READ_RAM   0x20   /* 0x20-0x3f */
#define CMD_WRITE_RAM  0x60   /* 0x60-0x7f */
#define CMD_PASSWD_TEST 0xa4
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST   0xa9
#define CMD_SELF_TEST  0xaa
#define CMD_KBD_TEST   0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_INPORT 0xc0
#define CMD_READ_OUTPORT 0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_WRITE_KBD_OUT 0xd2
#define CMD_WRITE_AUX_OUT 0xd3
#define CMD_WRITE_AUX  0xd4
#define CMD_PULSE      0xf0   /* 0xf0-0xff: low bits 0 = pulse that line */

void i8042_init(struct i8042 *k, void (*reset)(void *opaque), void *opaque)
{
	memset(k, 0, sizeof(*k));
	k->ram[0] = CTR_DEFAULT;
	k->outport = OUTPORT_DEFAULT;
	k->reset = reset;
	k->opaque = opaque;
}

void i8042_queue(struct i8042 *k, uint8_t data, uint8_t status)
{
	if (k->q_count == I8042_QUEUE)
		return;
	struct i8042_out *o = &k->q[(k->q_head + k->q_count) % I8042_QUEUE];
	o->data = data;
	o->status = status & (I8042_STR_AUXDATA | I8042_STR_TIMEOUT);
	k->q_count++;
}

static void reset_line(struct i8042 *k)
{
	if (k->reset)
		k->reset(k->opaque);
}

static void device_write(struct i8042 *k, enum i8042_port p, uint8_t byte)
{
	uint8_t aux = p == I8042_PORT_AUX ? I8042_STR_AUXDATA : 0;

	if (k->port[p].ops && k->port[p].ops->write)
		k->port[p].ops->write(k->port[p].opaque, byte);
	else
		i8042_queue(k, NO_DEVICE, aux | I8042_STR_TIMEOUT);
}

/* The data byte that completes a two-byte command. */
static void finish_command(struct i8042 *k, uint8_t cmd, uint8_t val)
{
	if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + 0x20) {
		k->ram[cmd - CMD_WRITE_RAM] = val;
		return;
	}
	switch (cmd) {
	case CMD_WRITE_OUTPORT:
		k->outport = val;
		if (!(val & 0x01))
			reset_line(k);
		break;
	case CMD_WRITE_KBD_OUT:
		i8042_queue(k, val, 0);
		break;
	case CMD_WRITE_AUX_OUT:
		i8042_queue(k, val, I8042_STR_AUXDATA);
		break;
	case CMD_WRITE_AUX:
		device_write(k, I8042_PORT_AUX, val);
		break;
	}
}

static void command(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0;
	if (cmd >= CMD_READ_RAM && cmd < CMD_READ_RAM + 0x20) {
		i8042_queue(k, k->ram[cmd - CMD_READ_RAM], 0);
		return;
	}
	if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + 0x20) {
		k->pending = cmd;
		return;
	}
	if (cmd >= CMD_PULSE) {
		if (!(cmd & 0x01))
			reset_line(k);
		return;
	}
	switch (cmd) {
	case CMD_PASSWD_TEST: i8042_queue(k, 0xf1, 0); break; /* none set */
	case CMD_AUX_DISABLE: k->ram[0] |= I8042_CTR_AUXDIS; break;
	case CMD_AUX_ENABLE: k->ram[0] &= ~I8042_CTR_AUXDIS; break;
	case CMD_AUX_TEST: i8042_queue(k, 0x00, 0); break;
	case CMD_SELF_TEST: i8042_queue(k, 0x55, 0); break;
	case CMD_KBD_TEST: i8042_queue(k, 0x00, 0); break;
	case CMD_KBD_DISABLE: k->ram[0] |= I8042_CTR_KBDDIS; break;
	case CMD_KBD_ENABLE: k->ram[0] &= ~I8042_CTR_KBDDIS; break;
	case CMD_READ_INPORT: i8042_queue(k, 0x80, 0); break; /* not inhibited */
	case CMD_READ_OUTPORT: i8042_queue(k, k->outport, 0); break;
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OUT:
	case CMD_WRITE_AUX_OUT:
	case CMD_WRITE_AUX:
		k->pending = cmd;
		break;
	default:
		break;   /* vendor commands: no answer, as on most chips */
	}
}

static uint8_t status(const struct i8042 *k)
{
	uint8_t s = I8042_STR_UNLOCK;

	if (k->ram[0] & I8042_CTR_SYS)
		s |= I8042_STR_SYS;
	if (k->last_was_cmd)
		s |= I8042_STR_CMDDAT;
	if (k->q_count)
		s |= I8042_STR_OBF | k->q[k->q_head].status;
	return s;
}

uint8_t i8042_read(struct i8042 *k, uint16_t port)
{
	uint8_t v;

	if (port == I8042_CMD_PORT)
		return status(k);
	if (!k->q_count)
		return k->q[k->q_head].data;   /* the buffer keeps its last byte */
	v = k->q[k->q_head].data;
	k->q_head = (k->q_head + 1) % I8042_QUEUE;
	k->q_count--;
	return v;
}

void i8042_write(struct i8042 *k, uint16_t port, uint8_t val)
{
	if (port == I8042_CMD_PORT) {
		k->last_was_cmd = true;
		command(k, val);
		return;
	}
	k->last_was_cmd = false;
	if (k->pending) {
		uint8_t cmd = k->pending;
		k->pending = 0;
		finish_command(k, cmd, val);
	} else {
		device_write(k, I8042_PORT_KBD, val);
	}
}

bool i8042_irq_kbd(const struct i8042 *k)
{
	return k->q_count && !(k->q[k->q_head].status & I8042_STR_AUXDATA) &&
	       (k->ram[0] & I8042_CTR_KBDINT);
}

bool i8042_irq_aux(const struct i8042 *k)
{
	return k->q_count && (k->q[k->q_head].status & I8042_STR_AUXDATA) &&
	       (k->ram[0] & I8042_CTR_AUXINT);
}

/* ---- PS/2 keyboard ---------------------------------------------------------- */

#define KBD_ACK      0xfa
#define KBD_RESEND   0xfe
#define KBD_BAT_OK   0xaa
#define KBD_ECHO     0xee
#define KBD_BREAK    0xf0   /* set 2: the next code is a release */
#define KBD_EXT      0xe0   /* extended key prefix */

#define KBD_CMD_SETLEDS  0xed
#define KBD_CMD_ECHO     0xee
#define KBD_CMD_SCANSET  0xf0
#define KBD_CMD_GETID    0xf2
#define KBD_CMD_SETREP   0xf3
#define KBD_CMD_ENABLE   0xf4
#define KBD_CMD_DISABLE  0xf5
#define KBD_CMD_DEFAULTS 0xf6
#define KBD_CMD_RESEND   0xfe
#define KBD_CMD_RESET    0xff

#define KEY_PAUSE 119
#define EXT 0x100           /* the set 2 code has an E0 prefix */

/* Linux key code -> set 2 make code (| EXT) and set 1 make code (after the
 * same prefix).  The pairs also define the controller's set 2 -> set 1
 * translation for every byte a key uses. */
static const struct { uint16_t key, set2; uint8_t set1; } kbd_keys[] = {
	{ 1, 0x76, 0x01 },   /* ESC */
	{ 2, 0x16, 0x02 }, { 3, 0x1e, 0x03 }, { 4, 0x26, 0x04 }, { 5, 0x25, 0x05 },
	{ 6, 0x2e, 0x06 }, { 7, 0x36, 0x07 }, { 8, 0x3d, 0x08 }, { 9, 0x3e, 0x09 },
	{ 10, 0x46, 0x0a }, { 11, 0x45, 0x0b },   /* 1 .. 0 */
	{ 12, 0x4e, 0x0c }, { 13, 0x55, 0x0d }, { 14, 0x66, 0x0e }, { 15, 0x0d, 0x0f },
	{ 16, 0x15, 0x10 }, { 17, 0x1d, 0x11 }, { 18, 0x24, 0x12 }, { 19, 0x2d, 0x13 },
	{ 20, 0x2c, 0x14 }, { 21, 0x35, 0x15 }, { 22, 0x3c, 0x16 }, { 23, 0x43, 0x17 },
	{ 24, 0x44, 0x18 }, { 25, 0x4d, 0x19 }, { 26, 0x54, 0x1a }, { 27, 0x5b, 0x1b },
	{ 28, 0x5a, 0x1c }, { 29, 0x14, 0x1d },   /* ENTER, LEFTCTRL */
	{ 30, 0x1c, 0x1e }, { 31, 0x1b, 0x1f }, { 32, 0x23, 0x20 }, { 33, 0x2b, 0x21 },
	{ 34, 0x34, 0x22 }, { 35, 0x33, 0x23 }, { 36, 0x3b, 0x24 }, { 37, 0x42, 0x25 },
	{ 38, 0x4b, 0x26 }, { 39, 0x4c, 0x27 }, { 40, 0x52, 0x28 }, { 41, 0x0e, 0x29 },
	{ 42, 0x12, 0x2a }, { 43, 0x5d, 0x2b },   /* LEFTSHIFT, BACKSLASH */
	{ 44, 0x1a, 0x2c }, { 45, 0x22, 0x2d }, { 46, 0x21, 0x2e }, { 47, 0x2a, 0x2f },
	{ 48, 0x32, 0x30 }, { 49, 0x31, 0x31 }, { 50, 0x3a, 0x32 }, { 51, 0x41, 0x33 },
	{ 52, 0x49, 0x34 }, { 53, 0x4a, 0x35 }, { 54, 0x59, 0x36 }, { 55, 0x7c, 0x37 },
	{ 56, 0x11, 0x38 }, { 57, 0x29, 0x39 }, { 58, 0x58, 0x3a },   /* LALT SPACE CAPS */
	{ 59, 0x05, 0x3b }, { 60, 0x06, 0x3c }, { 61, 0x04, 0x3d }, { 62, 0x0c, 0x3e },
	{ 63, 0x03, 0x3f }, { 64, 0x0b, 0x40 }, { 65, 0x83, 0x41 }, { 66, 0x0a, 0x42 },
	{ 67, 0x01, 0x43 }, { 68, 0x09, 0x44 },   /* F1 .. F10 */
	{ 69, 0x77, 0x45 }, { 70, 0x7e, 0x46 },   /* NUMLOCK, SCROLLLOCK */
	{ 71, 0x6c, 0x47 }, { 72, 0x75, 0x48 }, { 73, 0x7d, 0x49 }, { 74, 0x7b, 0x4a },
	{ 75, 0x6b, 0x4b }, { 76, 0x73, 0x4c }, { 77, 0x74, 0x4d }, { 78, 0x79, 0x4e },
	{ 79, 0x69, 0x4f }, { 80, 0x72, 0x50 }, { 81, 0x7a, 0x51 }, { 82, 0x70, 0x52 },
	{ 83, 0x71, 0x53 },                       /* keypad */
	{ 86, 0x61, 0x56 }, { 87, 0x78, 0x57 }, { 88, 0x07, 0x58 },   /* 102ND F11 F12 */
	{ 96, EXT | 0x5a, 0x1c },   /* KPENTER */
	{ 97, EXT | 0x14, 0x1d },   /* RIGHTCTRL */
	{ 98, EXT | 0x4a, 0x35 },   /* KPSLASH */
	{ 99, EXT | 0x7c, 0x37 },   /* SYSRQ (print screen) */
	{ 100, EXT | 0x11, 0x38 },  /* RIGHTALT */
	{ 102, EXT | 0x6c, 0x47 },  /* HOME */
	{ 103, EXT | 0x75, 0x48 },  /* UP */
	{ 104, EXT | 0x7d, 0x49 },  /* PAGEUP */
	{ 105, EXT | 0x6b, 0x4b },  /* LEFT */
	{ 106, EXT | 0x74, 0x4d },  /* RIGHT */
	{ 107, EXT | 0x69, 0x4f },  /* END */
	{ 108, EXT | 0x72, 0x50 },  /* DOWN */
	{ 109, EXT | 0x7a, 0x51 },  /* PAGEDOWN */
	{ 110, EXT | 0x70, 0x52 },  /* INSERT */
	{ 111, EXT | 0x71, 0x53 },  /* DELETE */
	{ 113, EXT | 0x23, 0x20 },  /* MUTE */
	{ 114, EXT | 0x21, 0x2e },  /* VOLUMEDOWN */
	{ 115, EXT | 0x32, 0x30 },  /* VOLUMEUP */
	{ 116, EXT | 0x37, 0x5e },  /* POWER */
	{ 125, EXT | 0x1f, 0x5b },  /* LEFTMETA */
	{ 126, EXT | 0x27, 0x5c },  /* RIGHTMETA */
	{ 127, EXT | 0x2f, 0x5d },  /* COMPOSE (menu) */
	{ 142, EXT | 0x3f, 0x5f },  /* SLEEP */
	{ 143, EXT | 0x5e, 0x63 },  /* WAKEUP */
	{ 163, EXT | 0x4d, 0x19 },  /* NEXTSONG */
	{ 164, EXT | 0x34, 0x22 },  /* PLAYPAUSE */
	{ 165, EXT | 0x15, 0x10 },  /* PREVIOUSSONG */
	{ 166, EXT | 0x3b, 0x24 },  /* STOPCD */
};

/* set 2 -> set 1, built from kbd_keys; other bytes (prefixes, replies)
 * pass unchanged, except that 0x83 becomes 0x41 as on real controllers
 * (it is F7's code, and makes the keyboard ID read 0xAB 0x41). */
static uint8_t xlat_table[256];
static pthread_once_t xlat_once = PTHREAD_ONCE_INIT;

static void xlat_build(void)
{
	for (unsigned i = 0; i < 256; i++)
		xlat_table[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(kbd_keys) / sizeof(kbd_keys[0]); i++)
		xlat_table[kbd_keys[i].set2 & 0xff] = kbd_keys[i].set1;
}

/* Put bytes from the keyboard into the output buffer, translated if the
 * command byte says so.  All or nothing: a half scancode would confuse
 * the driver more than a lost key. */
static bool kbd_send(struct i8042 *k, const uint8_t *b, unsigned n)
{
	uint8_t out[16];
	unsigned m = 0;
	bool brk = false;

	pthread_once(&xlat_once, xlat_build);
	for (unsigned i = 0; i < n && m < sizeof(out); i++) {
		if (!(k->ram[0] & I8042_CTR_XLATE)) {
			out[m++] = b[i];
		} else if (b[i] == KBD_BREAK) {
			brk = true;
		} else {
			out[m++] = (uint8_t)(xlat_table[b[i]] | (brk ? 0x80 : 0));
			brk = false;
		}
	}
	if (I8042_QUEUE - k->q_count < m)
		return false;
	for (unsigned i = 0; i < m; i++)
		i8042_queue(k, out[i], 0);
	if (m)
		k->kbd.last = out[m - 1];
	return true;
}

static void kbd_reply(struct i8042 *k, uint8_t a, int b, int c)
{
	uint8_t r[3] = { a, (uint8_t)b, (uint8_t)c };

	kbd_send(k, r, c >= 0 ? 3 : b >= 0 ? 2 : 1);
}

static void kbd_defaults(struct i8042_kbd *kb)
{
	kb->scanning = true;
	kb->leds = 0;
	kb->typematic = 0x2b;   /* 10.9 cps, 500 ms: the power-on rate */
	kb->arg_for = 0;
}

static void kbd_arg(struct i8042 *k, uint8_t cmd, uint8_t val)
{
	if (cmd == KBD_CMD_SETLEDS)
		k->kbd.leds = val & 7;
	else if (cmd == KBD_CMD_SETREP)
		k->kbd.typematic = val & 0x7f;
	if (cmd == KBD_CMD_SCANSET && val == 0)
		kbd_reply(k, KBD_ACK, 2, -1);   /* only set 2 is spoken */
	else
		kbd_reply(k, KBD_ACK, -1, -1);
}

/* A byte the driver sent to the keyboard (controller lock held). */
static void kbd_write(void *opaque, uint8_t byte)
{
	struct i8042 *k = opaque;
	struct i8042_kbd *kb = &k->kbd;

	if (kb->arg_for) {
		uint8_t cmd = kb->arg_for;
		kb->arg_for = 0;
		kbd_arg(k, cmd, byte);
		return;
	}
	switch (byte) {
	case KBD_CMD_SETLEDS:
	case KBD_CMD_SCANSET:
	case KBD_CMD_SETREP:
		kb->arg_for = byte;
		kbd_reply(k, KBD_ACK, -1, -1);
		break;
	case KBD_CMD_ECHO:
		kbd_reply(k, KBD_ECHO, -1, -1);
		break;
	case KBD_CMD_GETID:
		kbd_reply(k, KBD_ACK, 0xab, 0x83);
		break;
	case KBD_CMD_ENABLE:
		kb->scanning = true;
		kbd_reply(k, KBD_ACK, -1, -1);
		break;
	case KBD_CMD_DISABLE:
		kbd_defaults(kb);
		kb->scanning = false;
		kbd_reply(k, KBD_ACK, -1, -1);
		break;
	case KBD_CMD_RESEND:
		i8042_queue(k, kb->last, 0);   /* already translated */
		break;
	case KBD_CMD_RESET:
		kbd_defaults(kb);
		kbd_reply(k, KBD_ACK, KBD_BAT_OK, -1);
		break;
	default:
		/* 0xF6 defaults, the set 3 key-type commands, and anything
		 * else: acknowledged like other emulated keyboards do. */
		if (byte == KBD_CMD_DEFAULTS)
			kbd_defaults(kb);
		kbd_reply(k, KBD_ACK, -1, -1);
		break;
	}
}

static const struct i8042_port_ops kbd_port_ops = { .write = kbd_write };

void i8042_kbd_attach(struct i8042 *k)
{
	kbd_defaults(&k->kbd);
	k->kbd.attached = true;
	k->port[I8042_PORT_KBD].ops = &kbd_port_ops;
	k->port[I8042_PORT_KBD].opaque = k;
}

bool i8042_kbd_active(const struct i8042 *k)
{
	return k->kbd.attached && k->kbd.scanning && !(k->ram[0] & I8042_CTR_KBDDIS);
}

bool i8042_kbd_key(struct i8042 *k, uint16_t code, bool down)
{
	static const uint8_t pause[8] = { 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77 };
	uint8_t seq[3];
	unsigned n = 0;

	if (!i8042_kbd_active(k))
		return false;
	if (code == KEY_PAUSE)   /* make only: the sequence includes the break */
		return down ? kbd_send(k, pause, sizeof(pause)) : true;
	for (size_t i = 0; i < sizeof(kbd_keys) / sizeof(kbd_keys[0]); i++) {
		if (kbd_keys[i].key != code)
			continue;
		if (kbd_keys[i].set2 & EXT)
			seq[n++] = KBD_EXT;
		if (!down)
			seq[n++] = KBD_BREAK;
		seq[n++] = (uint8_t)kbd_keys[i].set2;
		return kbd_send(k, seq, n);
	}
	return false;
}

/* ---- the device in a VM ---------------------------------------------------- */

struct i8042_dev {
	struct vm *vm;
	pthread_mutex_t lock;
	struct i8042 k;
	bool irq[2];          /* current levels of IRQ 1 and IRQ 12 */
	uint8_t port92;
};

static void i8042_reset_vm(void *opaque)
{
	struct i8042_dev *d = opaque;

	log_info("guest reset through the keyboard controller");
	vm_request_reset(d->vm);
}

static void set_line(struct i8042_dev *d, int idx, bool level)
{
	static const uint32_t gsi[2] = { I8042_KBD_IRQ, I8042_AUX_IRQ };

	if (d->irq[idx] != level) {
		d->irq[idx] = level;
		irq_line(d->vm, gsi[idx], level);
	}
}

/* The lines are edge triggered: when a read hands out one byte and the
 * next one is already waiting, drop the line first so that it rises again. */
static void update_irqs(struct i8042_dev *d, bool consumed)
{
	if (consumed) {
		set_line(d, 0, false);
		set_line(d, 1, false);
	}
	set_line(d, 0, i8042_irq_kbd(&d->k));
	set_line(d, 1, i8042_irq_aux(&d->k));
}

/* Ports 0x61-0x63 in between belong to others (PIT/speaker), so 0x60 and
 * 0x64 are two one-byte regions. */
static void i8042_io(struct i8042_dev *d, uint16_t port, uint64_t offset,
		     uint8_t *data, uint32_t len, bool is_write)
{
	bool consumed = false;

	if (len != 1 || offset != 0) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (is_write) {
		i8042_write(&d->k, port, data[0]);
	} else {
		consumed = port == I8042_DATA_PORT && d->k.q_count;
		data[0] = i8042_read(&d->k, port);
	}
	update_irqs(d, consumed);
	pthread_mutex_unlock(&d->lock);
}

static void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data,
			  uint32_t len, bool is_write)
{
	i8042_io(opaque, I8042_DATA_PORT, offset, data, len, is_write);
}

static void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data,
			 uint32_t len, bool is_write)
{
	i8042_io(opaque, I8042_CMD_PORT, offset, data, len, is_write);
}

/* System control port A: bit 0 written as 1 resets the machine, bit 1 is the
 * A20 gate (always on here, kept only so it reads back). */
static void port92_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		      bool is_write)
{
	struct i8042_dev *d = opaque;

	if (len != 1 || offset != 0) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (is_write) {
		d->port92 = data[0] & 0x02;
		if (data[0] & 0x01)
			i8042_reset_vm(d);
	} else {
		data[0] = d->port92;
	}
	pthread_mutex_unlock(&d->lock);
}

static void kbd_sink_key(void *opaque, uint16_t code, bool down)
{
	struct i8042_dev *d = opaque;

	pthread_mutex_lock(&d->lock);
	i8042_kbd_key(&d->k, code, down);
	update_irqs(d, false);
	pthread_mutex_unlock(&d->lock);
}

static bool kbd_sink_active(void *opaque)
{
	struct i8042_dev *d = opaque;

	pthread_mutex_lock(&d->lock);
	bool r = i8042_kbd_active(&d->k);
	pthread_mutex_unlock(&d->lock);
	return r;
}

int i8042_create(struct vm *vm)
{
	struct i8042_dev *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->vm = vm;
	d->port92 = 0x02;
	pthread_mutex_init(&d->lock, NULL);
	i8042_init(&d->k, i8042_reset_vm, d);

	r = bus_register(&vm->io_bus, I8042_DATA_PORT, 1, i8042_data_io, d,
			 "i8042-data");
	if (r < 0)
		goto fail;
	r = bus_register(&vm->io_bus, I8042_CMD_PORT, 1, i8042_cmd_io, d,
			 "i8042-cmd");
	if (r < 0) {
		bus_unregister(&vm->io_bus, I8042_DATA_PORT);
		goto fail;
	}
	r = bus_register(&vm->io_bus, PORT92, 1, port92_io, d, "port92");
	if (r < 0) {
		bus_unregister(&vm->io_bus, I8042_DATA_PORT);
		bus_unregister(&vm->io_bus, I8042_CMD_PORT);
		goto fail;
	}
	i8042_kbd_attach(&d->k);
	display_add_input_sink(&vm->display, &(struct input_sink){
		.key = kbd_sink_key, .active = kbd_sink_active, .opaque = d });
	return 0;
fail:
	log_error("i8042: cannot claim I/O ports 0x60, 0x64 and 0x92: %s",
		  strerror(-r));
	pthread_mutex_destroy(&d->lock);
	free(d);
	return r;
}

void i8042_destroy(struct vm *vm)
{
	struct i8042_dev *d = NULL;

	for (size_t i = 0; i < vm->io_bus.n; i++)
		if (vm->io_bus.regions[i].base == I8042_DATA_PORT &&
		    vm->io_bus.regions[i].fn == i8042_data_io)
			d = vm->io_bus.regions[i].opaque;
	if (!d)
		return;
	bus_unregister(&vm->io_bus, I8042_DATA_PORT);
	bus_unregister(&vm->io_bus, I8042_CMD_PORT);
	bus_unregister(&vm->io_bus, PORT92);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
