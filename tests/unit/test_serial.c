/* 16550A register model: the sequences Linux's 8250 driver performs. */
#include <glib.h>
#include <string.h>

#include "devices/serial.h"

struct fixture {
	struct uart u;
	uint8_t sent[UART_RX_SIZE + 64];
	size_t n_sent;
};

static void tx(void *opaque, uint8_t byte)
{
	struct fixture *f = opaque;
	if (f->n_sent < sizeof(f->sent))
		f->sent[f->n_sent++] = byte;
}

static void setup(struct fixture *f, gconstpointer data)
{
	(void)data;
	memset(f, 0, sizeof(*f));
	uart_init(&f->u, tx, f);
}

static void teardown(struct fixture *f, gconstpointer data)
{
	(void)f;
	(void)data;
}

#define RD(off) uart_read(&f->u, (off))
#define WR(off, v) uart_write(&f->u, (off), (v))

static void test_reset_state(struct fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_cmphex(RD(UART_LSR), ==, UART_LSR_THRE | UART_LSR_TEMT);
	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_NONE);
	g_assert_cmphex(RD(UART_IER), ==, 0);
	g_assert_cmphex(RD(UART_MSR), ==, UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
	g_assert_false(uart_irq_level(&f->u));
}

/* serial8250 autoconfig(): IER scratch test, loopback test, FIFO and
 * "is it something fancier" checks.  The answers must make it a 16550A. */
static void test_linux_probe(struct fixture *f, gconstpointer data)
{
	(void)data;
	WR(UART_IER, 0);
	g_assert_cmphex(RD(UART_IER) & 0x0f, ==, 0);
	WR(UART_IER, 0x0f);
	g_assert_cmphex(RD(UART_IER) & 0x0f, ==, 0x0f);
	WR(UART_IER, 0);

	uint8_t save_mcr = RD(UART_MCR);
	WR(UART_MCR, UART_MCR_LOOP | 0x0a);
	g_assert_cmphex(RD(UART_MSR) & 0xf0, ==, 0x90);
	WR(UART_MCR, save_mcr);

	/* EFR probe at LCR=0xBF must not read 0 (no ST16C650). */
	WR(UART_LCR, 0xbf);
	WR(UART_FCR, 0);
	WR(UART_LCR, 0);
	WR(UART_FCR, 0x01);
	g_assert_cmphex(RD(UART_IIR) >> 6, ==, 3);
	WR(UART_LCR, 0x80);
	g_assert_cmphex(RD(UART_IIR), !=, 0);
	WR(UART_LCR, 0xbf);
	g_assert_cmphex(RD(UART_IIR), !=, 0);

	/* Not a 16750: IIR bit 5 never follows FCR bit 5. */
	WR(UART_LCR, 0);
	WR(UART_FCR, 0x21);
	g_assert_cmphex(RD(UART_IIR) >> 5, ==, 6);
	WR(UART_LCR, 0x80);
	WR(UART_FCR, 0x21);
	g_assert_cmphex(RD(UART_IIR) >> 5, ==, 6);
	WR(UART_LCR, 0);

	/* Not an XScale: IER bit 6 does not stick. */
	WR(UART_IER, 0x40);
	g_assert_cmphex(RD(UART_IER) & 0x40, ==, 0);

	/* No EXCR1 (NS SuperIO): IIR bit 4 never mirrors MCR.LOOP. */
	WR(UART_MCR, UART_MCR_LOOP);
	WR(UART_LCR, 0xe0);
	g_assert_cmphex(RD(UART_IIR) & UART_MCR_LOOP, ==, 0);
	WR(UART_LCR, 0);
	WR(UART_MCR, 0);
	g_assert_cmphex(RD(UART_LSR), !=, 0xff);
}

static void test_loopback_data(struct fixture *f, gconstpointer data)
{
	(void)data;
	WR(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
	WR(UART_IER, 0x01);
	WR(UART_THR, 'Z');
	g_assert_cmpuint(f->n_sent, ==, 0);
	g_assert_cmphex(RD(UART_LSR) & UART_LSR_DR, ==, UART_LSR_DR);
	/* Pending internally, but loopback keeps the IRQ pin quiet. */
	g_assert_cmphex(uart_iir(&f->u) & 0x0f, ==, UART_IIR_RDI);
	g_assert_false(uart_irq_level(&f->u));
	g_assert_cmphex(RD(UART_RBR), ==, 'Z');
	g_assert_cmphex(RD(UART_LSR) & UART_LSR_DR, ==, 0);

	/* External input is disconnected in loopback. */
	const uint8_t in[] = "xy";
	g_assert_cmpuint(uart_receive(&f->u, in, 2), ==, 2);
	g_assert_cmphex(RD(UART_LSR) & UART_LSR_DR, ==, 0);

	WR(UART_MCR, UART_MCR_OUT2);
	WR(UART_THR, 'A');
	g_assert_cmpuint(f->n_sent, ==, 1);
	g_assert_cmphex(f->sent[0], ==, 'A');
}

/* serial8250_do_startup's THRE test, then interrupt-driven transmit. */
static void test_thre_interrupt(struct fixture *f, gconstpointer data)
{
	(void)data;
	WR(UART_MCR, UART_MCR_OUT2);
	WR(UART_IER, 0x02);
	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_THRI);
	WR(UART_IER, 0);
	WR(UART_IER, 0x02);
	g_assert_true(uart_irq_level(&f->u));
	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_THRI);
	/* Reading IIR acknowledged it. */
	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_NONE);
	g_assert_false(uart_irq_level(&f->u));
	/* Rewriting IER with ETBEI already set is not an edge. */
	WR(UART_IER, 0x02);
	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_NONE);

	WR(UART_THR, 'h');
	WR(UART_THR, 'i');
	g_assert_cmpuint(f->n_sent, ==, 2);
	g_assert_cmpmem(f->sent, 2, "hi", 2);
	g_assert_true(uart_irq_level(&f->u));
	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_THRI);
	g_assert_false(uart_irq_level(&f->u));

	/* OUT2 gates the line. */
	WR(UART_THR, '!');
	g_assert_true(uart_irq_level(&f->u));
	WR(UART_MCR, 0);
	g_assert_false(uart_irq_level(&f->u));
	g_assert_cmphex(uart_iir(&f->u), ==, UART_IIR_THRI);
}

static void test_rx_interrupt(struct fixture *f, gconstpointer data)
{
	(void)data;
	WR(UART_MCR, UART_MCR_OUT2);
	const uint8_t in[] = "ab";
	g_assert_cmpuint(uart_receive(&f->u, in, 2), ==, 2);
	g_assert_cmphex(RD(UART_LSR) & UART_LSR_DR, ==, UART_LSR_DR);
	g_assert_false(uart_irq_level(&f->u));   /* ERBFI off */
	WR(UART_IER, 0x01);
	g_assert_true(uart_irq_level(&f->u));
	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_RDI);
	g_assert_cmphex(RD(UART_RBR), ==, 'a');
	g_assert_true(uart_irq_level(&f->u));
	g_assert_cmphex(RD(UART_RBR), ==, 'b');
	g_assert_cmphex(RD(UART_LSR) & UART_LSR_DR, ==, 0);
	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_NONE);
	g_assert_false(uart_irq_level(&f->u));
	g_assert_cmpuint(uart_rx_space(&f->u), ==, UART_RX_SIZE);
}

static void test_fifo_trigger(struct fixture *f, gconstpointer data)
{
	static const struct { uint8_t fcr; unsigned level; } t[] = {
		{ 0x01, 1 }, { 0x41, 4 }, { 0x81, 8 }, { 0xc1, 14 },
	};
	uint8_t buf[16];

	(void)data;
	memset(buf, 'x', sizeof(buf));
	WR(UART_IER, 0x01);
	for (size_t i = 0; i < G_N_ELEMENTS(t); i++) {
		WR(UART_FCR, t[i].fcr | 0x02);   /* enable + clear RX */
		g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_FIFO | UART_IIR_NONE);
		if (t[i].level > 1) {
			uart_receive(&f->u, buf, t[i].level - 1);
			g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_FIFO | UART_IIR_CTI);
		}
		uart_receive(&f->u, buf, 1);
		g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_FIFO | UART_IIR_RDI);
		RD(UART_RBR);
		if (t[i].level > 1)
			g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_FIFO | UART_IIR_CTI);
	}
	/* Clear-RX empties the FIFO. */
	WR(UART_FCR, 0xc3);
	g_assert_cmphex(RD(UART_LSR) & UART_LSR_DR, ==, 0);
	/* Disabling the FIFOs clears them too and drops the IIR FIFO bits. */
	uart_receive(&f->u, buf, 3);
	WR(UART_FCR, 0);
	g_assert_cmphex(RD(UART_LSR) & UART_LSR_DR, ==, 0);
	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_NONE);
}

static void test_dlab(struct fixture *f, gconstpointer data)
{
	(void)data;
	WR(UART_IER, 0x05);
	WR(UART_LCR, 0x83);
	g_assert_cmphex(RD(UART_DLL), ==, 12);   /* 9600 baud reset value */
	WR(UART_DLL, 0x01);
	WR(UART_DLM, 0x02);
	g_assert_cmphex(RD(UART_DLL), ==, 0x01);
	g_assert_cmphex(RD(UART_DLM), ==, 0x02);
	g_assert_cmpuint(f->n_sent, ==, 0);       /* DLL write is not THR */
	WR(UART_LCR, 0x03);
	g_assert_cmphex(RD(UART_LCR), ==, 0x03);
	g_assert_cmphex(RD(UART_IER), ==, 0x05);  /* DLM write is not IER */
	WR(UART_THR, 'q');
	g_assert_cmpuint(f->n_sent, ==, 1);
	WR(UART_LCR, 0x80);
	g_assert_cmphex(RD(UART_DLL), ==, 0x01);
	g_assert_cmphex(RD(UART_DLM), ==, 0x02);
}

/* All four sources at once, acknowledged one by one in priority order. */
static void test_iir_priority(struct fixture *f, gconstpointer data)
{
	(void)data;
	WR(UART_FCR, 0x01);
	/* Loopback: fill the receiver past its size (overrun), and flip RTS
	 * for a modem status change. */
	WR(UART_MCR, UART_MCR_LOOP);
	for (size_t i = 0; i < UART_RX_SIZE + 1; i++)
		WR(UART_THR, (uint8_t)i);
	WR(UART_MCR, UART_MCR_LOOP | UART_MCR_RTS);
	WR(UART_IER, 0x0f);

	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_FIFO | UART_IIR_RLSI);
	uint8_t lsr = RD(UART_LSR);
	g_assert_cmphex(lsr & (UART_LSR_OE | UART_LSR_DR), ==, UART_LSR_OE | UART_LSR_DR);
	g_assert_cmphex(RD(UART_LSR) & UART_LSR_OE, ==, 0);   /* read clears */

	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_FIFO | UART_IIR_RDI);
	for (size_t i = 0; i < UART_RX_SIZE; i++)
		g_assert_cmphex(RD(UART_RBR), ==, (uint8_t)i);
	g_assert_cmphex(RD(UART_LSR) & UART_LSR_DR, ==, 0);

	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_FIFO | UART_IIR_THRI);
	uint8_t msr_iir = RD(UART_IIR);
	g_assert_cmphex(msr_iir, ==, UART_IIR_FIFO | UART_IIR_MSI);
	uint8_t msr = RD(UART_MSR);
	g_assert_cmphex(msr & UART_MSR_DCTS, ==, UART_MSR_DCTS);
	g_assert_cmphex(msr & UART_MSR_CTS, ==, UART_MSR_CTS);
	g_assert_cmphex(RD(UART_IIR), ==, UART_IIR_FIFO | UART_IIR_NONE);
}

static void test_msr_deltas(struct fixture *f, gconstpointer data)
{
	(void)data;
	WR(UART_MCR, UART_MCR_LOOP);
	RD(UART_MSR);   /* entering loopback changed every input */
	g_assert_cmphex(RD(UART_MSR), ==, 0);
	WR(UART_MCR, UART_MCR_LOOP | UART_MCR_DTR);
	g_assert_cmphex(RD(UART_MSR), ==, UART_MSR_DSR | UART_MSR_DDSR);
	WR(UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT1);
	g_assert_cmphex(RD(UART_MSR), ==, UART_MSR_DSR | UART_MSR_RI);  /* RI rising: no TERI */
	WR(UART_MCR, UART_MCR_LOOP | UART_MCR_DTR);
	g_assert_cmphex(RD(UART_MSR), ==, UART_MSR_DSR | UART_MSR_TERI);
	WR(UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT2);
	g_assert_cmphex(RD(UART_MSR), ==, UART_MSR_DSR | UART_MSR_DCD | UART_MSR_DDCD);
	WR(UART_MCR, 0);
	g_assert_cmphex(RD(UART_MSR) & 0xf0, ==, UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
	/* MSR and LSR ignore writes. */
	WR(UART_MSR, 0x0f);
	WR(UART_LSR, 0x1f);
	g_assert_cmphex(RD(UART_MSR), ==, UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
	g_assert_cmphex(RD(UART_LSR), ==, UART_LSR_THRE | UART_LSR_TEMT);
	WR(UART_SCR, 0xa5);
	g_assert_cmphex(RD(UART_SCR), ==, 0xa5);
}

static void test_receive_full(struct fixture *f, gconstpointer data)
{
	static uint8_t big[UART_RX_SIZE + 10];

	(void)data;
	memset(big, 'k', sizeof(big));
	g_assert_cmpuint(uart_receive(&f->u, big, sizeof(big)), ==, UART_RX_SIZE);
	g_assert_cmpuint(uart_rx_space(&f->u), ==, 0);
	g_assert_cmphex(RD(UART_LSR) & UART_LSR_OE, ==, UART_LSR_OE);
	RD(UART_RBR);
	g_assert_cmpuint(uart_rx_space(&f->u), ==, 1);
	g_assert_cmpuint(uart_receive(&f->u, big, 1), ==, 1);
}

static void test_hostile_access(struct fixture *f, gconstpointer data)
{
	uint8_t d[8];

	(void)data;
	WR(UART_SCR, 0x5a);
	/* A dword read at offset 5 covers LSR, MSR, SCR and one byte past. */
	memset(d, 0, sizeof(d));
	uart_access(&f->u, 5, d, 4, false);
	g_assert_cmphex(d[0], ==, UART_LSR_THRE | UART_LSR_TEMT);
	g_assert_cmphex(d[2], ==, 0x5a);
	g_assert_cmphex(d[3], ==, 0xff);
	/* Far outside: nothing but 0xff, and huge offsets do not wrap. */
	memset(d, 0, sizeof(d));
	uart_access(&f->u, 100, d, 8, false);
	for (int i = 0; i < 8; i++)
		g_assert_cmphex(d[i], ==, 0xff);
	memset(d, 0x41, sizeof(d));
	uart_access(&f->u, UINT64_MAX - 1, d, 8, true);
	uart_access(&f->u, UINT64_MAX, d, 8, false);
	g_assert_cmphex(d[0], ==, 0xff);
	g_assert_cmpuint(f->n_sent, ==, 0);
	/* A word write at 0 is THR then IER, as two ISA byte cycles. */
	d[0] = 'w';
	d[1] = 0x02;
	uart_access(&f->u, 0, d, 2, true);
	g_assert_cmpuint(f->n_sent, ==, 1);
	g_assert_cmphex(RD(UART_IER), ==, 0x02);
	uart_access(&f->u, 0, d, 0, true);
	/* Any byte value in any register keeps the model sane. */
	for (unsigned off = 0; off < 8; off++)
		for (unsigned v = 0; v < 256; v++)
			WR(off, (uint8_t)v);
	WR(UART_LCR, 0);
	WR(UART_MCR, 0);
	for (unsigned i = 0; i < 2 * UART_RX_SIZE; i++)
		RD(UART_RBR);
	g_assert_cmphex(RD(UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT), ==,
			UART_LSR_THRE | UART_LSR_TEMT);
	g_assert_cmpuint(uart_rx_space(&f->u), ==, UART_RX_SIZE);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
	g_test_add("/serial/" name, struct fixture, NULL, setup, fn, teardown)
	ADD("reset-state", test_reset_state);
	ADD("linux-probe", test_linux_probe);
	ADD("loopback-data", test_loopback_data);
	ADD("thre-interrupt", test_thre_interrupt);
	ADD("rx-interrupt", test_rx_interrupt);
	ADD("fifo-trigger", test_fifo_trigger);
	ADD("dlab", test_dlab);
	ADD("iir-priority", test_iir_priority);
	ADD("msr-deltas", test_msr_deltas);
	ADD("receive-full", test_receive_full);
	ADD("hostile-access", test_hostile_access);
	return g_test_run();
}
