/* 16550A UART register model, independent of the VM so it can be unit
 * tested.  serial_create() (platform.h) wraps it with locking, the port I/O
 * region, the interrupt line and a chardev. */
#ifndef ATOLL_SERIAL_H
#define ATOLL_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Host-side receive buffer.  Larger than the chip's 16-byte FIFO so that a
 * paste does not overrun while the guest is slow to drain it; the guest only
 * sees it through LSR.DR and the trigger level. */
#define UART_RX_SIZE 4096

/* Register offsets (DLAB=0 names). */
enum {
	UART_RBR = 0, UART_THR = 0, UART_DLL = 0,
	UART_IER = 1, UART_DLM = 1,
	UART_IIR = 2, UART_FCR = 2,
	UART_LCR = 3, UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
	UART_NREGS = 8,
};

/* Interrupt identification values (IIR bits 3:0). */
enum {
	UART_IIR_NONE = 0x01,
	UART_IIR_MSI = 0x00,
	UART_IIR_THRI = 0x02,
	UART_IIR_RDI = 0x04,
	UART_IIR_RLSI = 0x06,
	UART_IIR_CTI = 0x0c,
	UART_IIR_FIFO = 0xc0,   /* both bits set while FIFOs are enabled */
};

enum {
	UART_LSR_DR = 0x01, UART_LSR_OE = 0x02, UART_LSR_PE = 0x04,
	UART_LSR_FE = 0x08, UART_LSR_BI = 0x10, UART_LSR_THRE = 0x20,
	UART_LSR_TEMT = 0x40, UART_LSR_FIFOE = 0x80,
};

enum {
	UART_MCR_DTR = 0x01, UART_MCR_RTS = 0x02, UART_MCR_OUT1 = 0x04,
	UART_MCR_OUT2 = 0x08, UART_MCR_LOOP = 0x10,
};

enum {
	UART_MSR_DCTS = 0x01, UART_MSR_DDSR = 0x02, UART_MSR_TERI = 0x04,
	UART_MSR_DDCD = 0x08, UART_MSR_CTS = 0x10, UART_MSR_DSR = 0x20,
	UART_MSR_RI = 0x40, UART_MSR_DCD = 0x80,
};

/* A transmitted byte (not called in loopback mode). */
typedef void (*uart_tx_fn)(void *opaque, uint8_t byte);

struct uart {
	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	bool thr_ipending;   /* THRE interrupt latched until IIR read/THR write */
	uint8_t rx[UART_RX_SIZE];
	size_t rx_head, rx_count;
	uart_tx_fn tx;
	void *tx_opaque;
};

void uart_init(struct uart *u, uart_tx_fn tx, void *opaque);
/* Power-on/reset state: divisor 12 (9600 baud), 8N1 cleared, FIFOs off. */
void uart_reset(struct uart *u);
/* One byte register access; offset is taken modulo 8. */
uint8_t uart_read(struct uart *u, unsigned offset);
void uart_write(struct uart *u, unsigned offset, uint8_t val);
/* A bus access (hv/bus.h shape): wider accesses are split into byte
 * accesses as on the ISA bus; bytes past the eight registers read as 0xff
 * and ignore writes. */
void uart_access(struct uart *u, uint64_t offset, uint8_t *data, uint32_t len,
		 bool is_write);
/* IIR value without side effects. */
uint8_t uart_iir(const struct uart *u);
/* The chip's interrupt output as the PC sees it: pending and gated by OUT2
 * (which loopback mode forces inactive). */
bool uart_irq_level(const struct uart *u);
/* Bytes from the outside world.  Returns how many were taken; the rest did
 * not fit (the caller should have stopped input earlier). */
size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len);
size_t uart_rx_space(const struct uart *u);

#endif
