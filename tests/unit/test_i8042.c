/* i8042 controller: Linux's probe sequence, reset line, interrupts. */
#include <glib.h>
#include <string.h>

#include "devices/i8042.h"

static int resets;

static void on_reset(void *opaque)
{
	(void)opaque;
	resets++;
}

static void cmd(struct i8042 *k, uint8_t c)
{
	/* Drivers wait for IBF clear before every write. */
	g_assert_cmphex(i8042_read(k, I8042_CMD_PORT) & I8042_STR_IBF, ==, 0);
	i8042_write(k, I8042_CMD_PORT, c);
}

static void data_out(struct i8042 *k, uint8_t v)
{
	g_assert_cmphex(i8042_read(k, I8042_CMD_PORT) & I8042_STR_IBF, ==, 0);
	i8042_write(k, I8042_DATA_PORT, v);
}

static uint8_t data_in(struct i8042 *k)
{
	g_assert_cmphex(i8042_read(k, I8042_CMD_PORT) & I8042_STR_OBF, ==, I8042_STR_OBF);
	return i8042_read(k, I8042_DATA_PORT);
}

static bool obf(struct i8042 *k)
{
	return i8042_read(k, I8042_CMD_PORT) & I8042_STR_OBF;
}

static void test_linux_probe(void)
{
	struct i8042 k;
	i8042_init(&k, on_reset, NULL);

	g_assert_false(obf(&k));                 /* i8042_flush finds it empty */
	cmd(&k, 0xaa);
	g_assert_cmphex(data_in(&k), ==, 0x55);  /* self test */
	g_assert_false(obf(&k));

	/* Read the command byte until stable, then disable the keyboard. */
	cmd(&k, 0x20);
	uint8_t ctr = data_in(&k);
	g_assert_cmphex(ctr & I8042_CTR_SYS, ==, I8042_CTR_SYS);
	cmd(&k, 0x20);
	g_assert_cmphex(data_in(&k), ==, ctr);
	ctr = (uint8_t)((ctr | I8042_CTR_KBDDIS) & ~I8042_CTR_KBDINT);
	cmd(&k, 0x60);
	g_assert_cmphex(i8042_read(&k, I8042_CMD_PORT) & I8042_STR_CMDDAT, ==,
			I8042_STR_CMDDAT);
	data_out(&k, ctr);
	g_assert_cmphex(i8042_read(&k, I8042_CMD_PORT) & I8042_STR_CMDDAT, ==, 0);
	cmd(&k, 0x20);
	g_assert_cmphex(data_in(&k), ==, ctr);

	/* AUX loopback echoes with AUXDATA set. */
	cmd(&k, 0xd3);
	data_out(&k, 0x5a);
	g_assert_cmphex(i8042_read(&k, I8042_CMD_PORT) & I8042_STR_AUXDATA, ==,
			I8042_STR_AUXDATA);
	g_assert_cmphex(data_in(&k), ==, 0x5a);
	cmd(&k, 0xa9);
	g_assert_cmphex(data_in(&k), ==, 0x00);

	/* Port enable/disable bits read back through the command byte. */
	cmd(&k, 0xa7);
	cmd(&k, 0x20);
	g_assert_cmphex(data_in(&k) & I8042_CTR_AUXDIS, ==, I8042_CTR_AUXDIS);
	cmd(&k, 0xa8);
	cmd(&k, 0x20);
	g_assert_cmphex(data_in(&k) & I8042_CTR_AUXDIS, ==, 0);
	cmd(&k, 0xae);
	cmd(&k, 0x20);
	g_assert_cmphex(data_in(&k) & I8042_CTR_KBDDIS, ==, 0);
	cmd(&k, 0xad);
	cmd(&k, 0x20);
	g_assert_cmphex(data_in(&k) & I8042_CTR_KBDDIS, ==, I8042_CTR_KBDDIS);

	cmd(&k, 0xab);
	g_assert_cmphex(data_in(&k), ==, 0x00);  /* keyboard interface test */
	g_assert_cmpint(resets, ==, 0);
}

static void test_no_devices(void)
{
	struct i8042 k;
	i8042_init(&k, on_reset, NULL);

	/* Keyboard command with no keyboard: 0xFE and the timeout bit. */
	data_out(&k, 0xff);
	uint8_t st = i8042_read(&k, I8042_CMD_PORT);
	g_assert_cmphex(st & (I8042_STR_TIMEOUT | I8042_STR_AUXDATA), ==, I8042_STR_TIMEOUT);
	g_assert_cmphex(data_in(&k), ==, 0xfe);
	/* Same through 0xD4 for the aux port, tagged as aux data. */
	cmd(&k, 0xd4);
	data_out(&k, 0xf2);
	st = i8042_read(&k, I8042_CMD_PORT);
	g_assert_cmphex(st & (I8042_STR_TIMEOUT | I8042_STR_AUXDATA), ==,
			I8042_STR_TIMEOUT | I8042_STR_AUXDATA);
	g_assert_cmphex(data_in(&k), ==, 0xfe);
	g_assert_cmphex(i8042_read(&k, I8042_CMD_PORT) & (I8042_STR_OBF | I8042_STR_TIMEOUT),
			==, 0);
}

static void test_reset(void)
{
	struct i8042 k;
	i8042_init(&k, on_reset, NULL);
	resets = 0;
	cmd(&k, 0xfe);                 /* Linux reboot=k */
	g_assert_cmpint(resets, ==, 1);
	cmd(&k, 0xff);                 /* pulses nothing */
	g_assert_cmpint(resets, ==, 1);
	cmd(&k, 0xd1);                 /* output port, reset bit low */
	data_out(&k, 0x02);
	g_assert_cmpint(resets, ==, 2);
	cmd(&k, 0xd1);
	data_out(&k, 0x03);
	g_assert_cmpint(resets, ==, 2);
	cmd(&k, 0xd0);
	g_assert_cmphex(data_in(&k), ==, 0x03);
}

static void test_irqs(void)
{
	struct i8042 k;
	i8042_init(&k, on_reset, NULL);

	cmd(&k, 0x60);
	data_out(&k, I8042_CTR_KBDINT | I8042_CTR_SYS);
	g_assert_false(i8042_irq_kbd(&k));
	cmd(&k, 0xd2);                 /* byte as if from the keyboard */
	data_out(&k, 0x1c);
	g_assert_true(i8042_irq_kbd(&k));
	g_assert_false(i8042_irq_aux(&k));
	g_assert_cmphex(data_in(&k), ==, 0x1c);
	g_assert_false(i8042_irq_kbd(&k));

	cmd(&k, 0xd3);                 /* aux byte, AUXINT off */
	data_out(&k, 0x08);
	g_assert_false(i8042_irq_aux(&k));
	cmd(&k, 0x60);                 /* queued byte stays; enable AUXINT */
	data_out(&k, I8042_CTR_AUXINT | I8042_CTR_KBDINT);
	g_assert_true(i8042_irq_aux(&k));
	g_assert_false(i8042_irq_kbd(&k));
	g_assert_cmphex(data_in(&k), ==, 0x08);
	g_assert_false(i8042_irq_aux(&k));

	/* The queue is bounded and reading an empty buffer is harmless. */
	for (int i = 0; i < 100; i++) {
		cmd(&k, 0xd2);
		data_out(&k, (uint8_t)i);
	}
	for (int i = 0; i < I8042_QUEUE; i++)
		g_assert_cmphex(data_in(&k), ==, i);
	g_assert_false(obf(&k));
	(void)i8042_read(&k, I8042_DATA_PORT);
	g_assert_false(obf(&k));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/i8042/linux-probe", test_linux_probe);
	g_test_add_func("/i8042/no-devices", test_no_devices);
	g_test_add_func("/i8042/reset", test_reset);
	g_test_add_func("/i8042/irqs", test_irqs);
	return g_test_run();
}
