/* i8042 PS/2 controller (ports 0x60/0x64) and port 0x92.  The controller
 * model is independent of the VM so it can be unit tested; i8042_create()
 * (platform.h) wires it to the port bus, IRQ 1/12 and the reset request.
 *
 * Devices behind the two PS/2 ports plug in through i8042_port_ops.  A
 * port without one answers bytes sent to it with "no device" (0xFE with the
 * timeout status bit), which drivers take as an absent device.  The VM's
 * controller has a PS/2 keyboard (i8042_kbd_attach) on the first port, fed
 * by the display hub as its last input sink; the aux port stays empty. */
#ifndef ATOLL_I8042_H
#define ATOLL_I8042_H

#include <stdbool.h>
#include <stdint.h>

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT  0x64
#define PORT92          0x92
#define I8042_KBD_IRQ   1
#define I8042_AUX_IRQ   12

/* Status register (read port 0x64). */
#define I8042_STR_OBF     0x01
#define I8042_STR_IBF     0x02
#define I8042_STR_SYS     0x04
#define I8042_STR_CMDDAT  0x08   /* last write went to 0x64 */
#define I8042_STR_UNLOCK  0x10   /* keyboard not inhibited */
#define I8042_STR_AUXDATA 0x20
#define I8042_STR_TIMEOUT 0x40

/* Controller configuration byte ("command byte"). */
#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_SYS    0x04
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE  0x40

#define I8042_QUEUE 16   /* the controller's output buffer plus device FIFO */

enum i8042_port { I8042_PORT_KBD, I8042_PORT_AUX };

/* A PS/2 device.  write() runs with the controller lock held and answers
 * through i8042_queue(). */
struct i8042_port_ops {
	void (*write)(void *opaque, uint8_t byte);
};

struct i8042_out {
	uint8_t data;
	uint8_t status;   /* I8042_STR_AUXDATA / I8042_STR_TIMEOUT */
};

/* The PS/2 keyboard: scancode set 2, which the controller translates to
 * set 1 when the command byte's XLATE bit is set (the PC default, what
 * Linux's atkbd expects). */
struct i8042_kbd {
	bool attached;
	bool scanning;          /* enabled (0xF4), disabled (0xF5) */
	uint8_t arg_for;        /* command awaiting its argument byte, or 0 */
	uint8_t leds;           /* bit 0 scroll, 1 num, 2 caps lock */
	uint8_t typematic;
	uint8_t last;           /* last byte sent, for 0xFE resend */
};

struct i8042 {
	uint8_t ram[32];        /* controller RAM; ram[0] is the command byte */
	uint8_t outport;        /* bit 0: reset line (active low), bit 1: A20 */
	uint8_t pending;        /* command awaiting its data byte at 0x60 */
	bool last_was_cmd;
	struct i8042_out q[I8042_QUEUE];
	unsigned q_head, q_count;
	struct {
		const struct i8042_port_ops *ops;
		void *opaque;
	} port[2];
	void (*reset)(void *opaque);   /* the guest pulsed the reset line */
	void *opaque;
	struct i8042_kbd kbd;
};

void i8042_init(struct i8042 *k, void (*reset)(void *opaque), void *opaque);
/* port: I8042_DATA_PORT or I8042_CMD_PORT. */
uint8_t i8042_read(struct i8042 *k, uint16_t port);
void i8042_write(struct i8042 *k, uint16_t port, uint8_t val);
/* Append a byte to the output buffer (dropped when full). */
void i8042_queue(struct i8042 *k, uint8_t data, uint8_t status);
/* Interrupt requests: IRQ 1 for keyboard data, IRQ 12 for aux data, each
 * enabled by its command byte bit. */
bool i8042_irq_kbd(const struct i8042 *k);
bool i8042_irq_aux(const struct i8042 *k);

/* Plug the PS/2 keyboard into the first port. */
void i8042_kbd_attach(struct i8042 *k);
/* A key (Linux KEY_* code) was pressed or released: queue its scancodes.
 * False when the key has no PS/2 scancode, the keyboard is disabled, or
 * the output buffer has no room for the whole sequence. */
bool i8042_kbd_key(struct i8042 *k, uint16_t code, bool down);
/* Whether a driver has the keyboard enabled. */
bool i8042_kbd_active(const struct i8042 *k);

struct vm;
/* Free what i8042_create() made; the VM must be stopped.  (vm_destroy
 * does not call it yet: the process exits.  Tests do.) */
void i8042_destroy(struct vm *vm);

#endif
