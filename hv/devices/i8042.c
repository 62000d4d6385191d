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
	return 0;
fail:
	log_error("i8042: cannot claim I/O ports 0x60, 0x64 and 0x92: %s",
		  strerror(-r));
	pthread_mutex_destroy(&d->lock);
	free(d);
	return r;
}
