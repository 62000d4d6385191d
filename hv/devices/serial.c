/* 16550A UART, as Linux's 8250 driver, firmware and boot loaders expect it.
 *
 * Transmission is instantaneous: a byte written to THR goes straight to the
 * chardev (or, in loopback mode, to the receive buffer), so THRE and TEMT
 * are always set and the THR-empty interrupt is latched again right after
 * each write.  The receiver timeout interrupt (IIR 0xC) is reported at once
 * whenever the FIFO holds fewer bytes than the trigger level instead of after
 * four character times: drivers treat both alike and it needs no timer. */
#include "serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../backends/chardev.h"
#include "../bus.h"
#include "../irq.h"
#include "../log.h"
#include "../vm.h"
#include "platform.h"

#define IER_ERBFI 0x01   /* received data available */
#define IER_ETBEI 0x02   /* transmitter holding register empty */
#define IER_ELSI  0x04   /* receiver line status */
#define IER_EDSSI 0x08   /* modem status */
#define IER_MASK  0x0f   /* bits 4-7 read as 0 on a 16550A (Linux checks) */

#define FCR_ENABLE    0x01
#define FCR_CLEAR_RX  0x02
#define FCR_CLEAR_TX  0x04
#define FCR_KEEP      0xc9   /* enable, DMA mode, trigger level */

#define LCR_DLAB 0x80
#define MCR_MASK 0x1f
#define LSR_ERRORS (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)
#define MSR_DELTAS 0x0f

/* ---- register model --------------------------------------------------------- */

static void rx_clear(struct uart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
}

static bool rx_push(struct uart *u, uint8_t b)
{
	if (u->rx_count == UART_RX_SIZE) {
		u->lsr |= UART_LSR_OE;
		return false;
	}
	u->rx[(u->rx_head + u->rx_count) % UART_RX_SIZE] = b;
	u->rx_count++;
	return true;
}

static uint8_t rx_pop(struct uart *u)
{
	uint8_t b;

	if (u->rx_count == 0)
		return 0;
	b = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_RX_SIZE;
	u->rx_count--;
	return b;
}

static unsigned rx_trigger(const struct uart *u)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };

	if (!(u->fcr & FCR_ENABLE))
		return 1;
	return levels[u->fcr >> 6];
}

/* Modem status inputs: a modem that is always there (CTS, DSR, DCD), or in
 * loopback the MCR outputs wired back: RTS->CTS, DTR->DSR, OUT1->RI,
 * OUT2->DCD.  Linux's probe checks exactly this mapping. */
static uint8_t msr_inputs(const struct uart *u)
{
	uint8_t m = u->mcr, v = 0;

	if (!(m & UART_MCR_LOOP))
		return UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
	if (m & UART_MCR_RTS)
		v |= UART_MSR_CTS;
	if (m & UART_MCR_DTR)
		v |= UART_MSR_DSR;
	if (m & UART_MCR_OUT1)
		v |= UART_MSR_RI;
	if (m & UART_MCR_OUT2)
		v |= UART_MSR_DCD;
	return v;
}

static void msr_update(struct uart *u)
{
	uint8_t old = u->msr & 0xf0, now = msr_inputs(u);
	uint8_t changed = old ^ now, delta = u->msr & MSR_DELTAS;

	if (changed & UART_MSR_CTS)
		delta |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		delta |= UART_MSR_DDSR;
	if (changed & UART_MSR_DCD)
		delta |= UART_MSR_DDCD;
	if ((old & UART_MSR_RI) && !(now & UART_MSR_RI))
		delta |= UART_MSR_TERI;   /* trailing edge only */
	u->msr = now | delta;
}

void uart_reset(struct uart *u)
{
	u->ier = 0;
	u->lcr = 0;
	u->mcr = 0;
	u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
	u->msr = msr_inputs(u);
	u->scr = 0;
	u->dll = 12;
	u->dlm = 0;
	u->fcr = 0;
	u->thr_ipending = false;
	rx_clear(u);
}

void uart_init(struct uart *u, uart_tx_fn tx, void *opaque)
{
	memset(u, 0, sizeof(*u));
	u->tx = tx;
	u->tx_opaque = opaque;
	uart_reset(u);
}

/* Priority: line status > received data > THR empty > modem status. */
uint8_t uart_iir(const struct uart *u)
{
	uint8_t id = UART_IIR_NONE;

	if ((u->ier & IER_ELSI) && (u->lsr & LSR_ERRORS))
		id = UART_IIR_RLSI;
	else if ((u->ier & IER_ERBFI) && u->rx_count)
		id = u->rx_count >= rx_trigger(u) || !(u->fcr & FCR_ENABLE) ?
			     UART_IIR_RDI : UART_IIR_CTI;
	else if ((u->ier & IER_ETBEI) && u->thr_ipending)
		id = UART_IIR_THRI;
	else if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTAS))
		id = UART_IIR_MSI;
	if (u->fcr & FCR_ENABLE)
		id |= UART_IIR_FIFO;
	return id;
}

/* On a PC the UART's INTR pin reaches the PIC only through a buffer enabled
 * by OUT2, and loopback mode forces the OUT2 pin inactive. */
bool uart_irq_level(const struct uart *u)
{
	if ((u->mcr & (UART_MCR_OUT2 | UART_MCR_LOOP)) != UART_MCR_OUT2)
		return false;
	return !(uart_iir(u) & UART_IIR_NONE);
}

size_t uart_rx_space(const struct uart *u)
{
	return UART_RX_SIZE - u->rx_count;
}

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t i;

	/* Loopback disconnects the serial input: the bytes are gone, as on
	 * the real chip. */
	if (u->mcr & UART_MCR_LOOP)
		return len;
	for (i = 0; i < len; i++)
		if (!rx_push(u, buf[i]))
			break;
	return i;
}

static void write_fcr(struct uart *u, uint8_t val)
{
	/* Toggling the enable bit empties both FIFOs. */
	if ((val ^ u->fcr) & FCR_ENABLE)
		rx_clear(u);
	if (!(val & FCR_ENABLE)) {
		u->fcr = 0;
		return;
	}
	if (val & FCR_CLEAR_RX) {
		rx_clear(u);
		u->lsr &= ~LSR_ERRORS;
	}
	/* FCR_CLEAR_TX: nothing is ever queued for transmission. */
	u->fcr = val & FCR_KEEP;
}

static void write_thr(struct uart *u, uint8_t val)
{
	if (u->mcr & UART_MCR_LOOP)
		rx_push(u, val);
	else if (u->tx)
		u->tx(u->tx_opaque, val);
	/* Sent at once: the holding register is empty again. */
	u->thr_ipending = true;
}

void uart_write(struct uart *u, unsigned offset, uint8_t val)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (offset % UART_NREGS) {
	case UART_THR:
		if (dlab)
			u->dll = val;
		else
			write_thr(u, val);
		break;
	case UART_IER:
		if (dlab) {
			u->dlm = val;
		} else {
			/* Enabling ETBEI while THR is empty raises the THRE
			 * interrupt; Linux's THRE test depends on it. */
			if (!(u->ier & IER_ETBEI) && (val & IER_ETBEI))
				u->thr_ipending = true;
			u->ier = val & IER_MASK;
		}
		break;
	case UART_FCR:
		write_fcr(u, val);
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		u->mcr = val & MCR_MASK;
		msr_update(u);
		break;
	case UART_SCR:
		u->scr = val;
		break;
	default:
		break;   /* LSR and MSR are read-only */
	}
}

uint8_t uart_read(struct uart *u, unsigned offset)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v;

	switch (offset % UART_NREGS) {
	case UART_RBR:
		return dlab ? u->dll : rx_pop(u);
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR:
		v = uart_iir(u);
		/* Reading IIR acknowledges a THRE interrupt it reports. */
		if ((v & 0x0f) == UART_IIR_THRI)
			u->thr_ipending = false;
		return v;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		v = u->lsr | UART_LSR_THRE | UART_LSR_TEMT;
		if (u->rx_count)
			v |= UART_LSR_DR;
		u->lsr &= ~LSR_ERRORS;
		return v;
	case UART_MSR:
		v = u->msr;
		u->msr &= ~MSR_DELTAS;
		return v;
	default:
		return u->scr;
	}
}

void uart_access(struct uart *u, uint64_t offset, uint8_t *data, uint32_t len,
		 bool is_write)
{
	for (uint32_t i = 0; i < len; i++) {
		bool inside = offset < UART_NREGS && i < UART_NREGS - offset;
		if (is_write) {
			if (inside)
				uart_write(u, (unsigned)(offset + i), data[i]);
		} else {
			data[i] = inside ? uart_read(u, (unsigned)(offset + i)) : 0xff;
		}
	}
}

/* ---- the device in a VM ---------------------------------------------------- */

/* The chardev hands over at most this many bytes per input callback, so
 * input pauses while less room than that is left. */
#define RX_HEADROOM 256
#define RX_RESUME   (UART_RX_SIZE / 2)

struct serial {
	struct vm *vm;
	uint32_t gsi;
	uint16_t port;
	pthread_mutex_t lock;   /* vCPU port accesses vs. input on the loop */
	struct uart uart;
	struct chardev *chr;
	bool irq_level;
	bool irq_failed;
	bool input_paused;
	uint64_t rx_dropped;
};

static void serial_tx(void *opaque, uint8_t byte)
{
	struct serial *s = opaque;
	chardev_write(s->chr, &byte, 1);
}

/* With the lock held: a level change goes to the irqchip (the line is edge
 * triggered in the IOAPIC, so it must drop whenever nothing is pending). */
static void serial_update(struct serial *s)
{
	bool level = uart_irq_level(&s->uart);

	if (level != s->irq_level) {
		s->irq_level = level;
		if (irq_line(s->vm, s->gsi, level) < 0 && !s->irq_failed) {
			log_warn("serial: cannot set IRQ %u; the guest console may hang",
				 s->gsi);
			s->irq_failed = true;
		}
	}
	if (s->input_paused && uart_rx_space(&s->uart) >= RX_RESUME) {
		s->input_paused = false;
		chardev_accept_input(s->chr, true);
	}
}

static void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		      bool is_write)
{
	struct serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	uart_access(&s->uart, offset, data, len, is_write);
	serial_update(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct serial *s = opaque;
	size_t taken;

	pthread_mutex_lock(&s->lock);
	taken = uart_receive(&s->uart, buf, len);
	if (taken < len) {
		if (!s->rx_dropped)
			log_warn("serial: receive buffer overflow, input lost");
		s->rx_dropped += len - taken;
	}
	if (!s->input_paused && uart_rx_space(&s->uart) < RX_HEADROOM) {
		s->input_paused = true;
		chardev_accept_input(s->chr, false);
	}
	serial_update(s);
	pthread_mutex_unlock(&s->lock);
}

int serial_create(struct vm *vm, const struct chardev_config *cfg,
		  uint16_t port, uint32_t irq)
{
	struct serial *s = calloc(1, sizeof(*s));
	char err[256];
	int r;

	if (!s)
		return -ENOMEM;
	s->vm = vm;
	s->gsi = irq;
	s->port = port;
	pthread_mutex_init(&s->lock, NULL);
	uart_init(&s->uart, serial_tx, s);

	s->chr = chardev_open(&vm->loop, cfg, "serial", err, sizeof(err));
	if (!s->chr) {
		log_error("%s", err);
		r = -EIO;
		goto fail;
	}
	chardev_set_input(s->chr, serial_input, s);

	r = bus_register(&vm->io_bus, port, UART_NREGS, serial_io, s, "serial");
	if (r < 0) {
		log_error("serial: cannot claim I/O ports 0x%x-0x%x: %s", port,
			  port + UART_NREGS - 1, strerror(-r));
		chardev_close(s->chr);
		goto fail;
	}
	if (port == COM1_PORT)
		vm->serial_path = chardev_path(s->chr);
	return 0;
fail:
	pthread_mutex_destroy(&s->lock);
	free(s);
	return r;
}
