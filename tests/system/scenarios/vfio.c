/* vfio-guest: the domU side of the vfio hwsim scenario, built statically
 * on the host (vfio.py) and run inside the domU.
 *
 *   vfio-guest edu BDF   drive QEMU's edu device: identity, liveness,
 *                        factorial, then DMA RAM -> edu -> RAM of a
 *                        pattern, each transfer ending in an interrupt
 *                        received through uio_pci_generic (INTx)
 *   vfio-guest fb        draw a test pattern on /dev/fb0: left half red,
 *                        right half green, bottom quarter blue
 *
 * Results are "ATOLL-EDU key=value" / "ATOLL-FB ..." lines on stdout. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define EDU_ID        0x00
#define EDU_LIVE      0x04
#define EDU_FACT      0x08
#define EDU_STATUS    0x20
#define EDU_IRQ_STAT  0x24
#define EDU_IRQ_ACK   0x64
#define EDU_DMA_SRC   0x80
#define EDU_DMA_DST   0x88
#define EDU_DMA_CNT   0x90
#define EDU_DMA_CMD   0x98
#define EDU_BUF       0x40000
#define DMA_START     1
#define DMA_TO_RAM    2
#define DMA_IRQ       4
#define DMA_IRQ_BIT   0x100
#define XFER          1024   /* edu aborts on 4096-byte transfers */

static volatile uint32_t *edu;

static uint32_t rd(unsigned off) { return edu[off / 4]; }
static void wr(unsigned off, uint32_t v) { edu[off / 4] = v; }

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Physical address of a locked page, from /proc/self/pagemap. */
static uint64_t phys_of(void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 || pread(fd, &e, 8, (off_t)((uintptr_t)p / 4096 * 8)) != 8)
		e = 0;
	if (fd >= 0)
		close(fd);
	if (!(e >> 63))
		return 0;
	return (e & ((1ULL << 55) - 1)) * 4096;
}

static int uio_open(const char *bdf)
{
	char path[256];
	/* uio_pci_generic takes the device once it knows its id. */
	write_file("/sys/bus/pci/drivers/uio_pci_generic/new_id", "1234 11e8");
	for (int i = 0; i < 50; i++) {
		for (int n = 0; n < 8; n++) {
			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/uio/uio%d", bdf, n);
			if (access(path, F_OK) == 0) {
				snprintf(path, sizeof(path), "/dev/uio%d", n);
				for (int j = 0; j < 50; j++) {
					int fd = open(path, O_RDWR);
					if (fd >= 0)
						return fd;
					usleep(100000);
				}
				return -1;
			}
		}
		usleep(100000);
	}
	return -1;
}

/* Unmask, wait for one interrupt, acknowledge it at the device. */
static int wait_irq(int uio, int timeout_ms, uint32_t *status)
{
	struct pollfd p = { .fd = uio, .events = POLLIN };
	uint32_t count;
	if (poll(&p, 1, timeout_ms) != 1 || read(uio, &count, 4) != 4)
		return 0;
	*status = rd(EDU_IRQ_STAT);
	wr(EDU_IRQ_ACK, *status);
	return 1;
}

static const char *cfg_path;

/* uio_pci_generic masks the line with the command register's INTx Disable
 * bit in its handler; userspace unmasks it by clearing the bit. */
static int enable_irq(int uio)
{
	(void)uio;
	uint8_t hi = 0;
	int fd = open(cfg_path, O_RDWR);
	int ret = -1;
	if (fd >= 0 && pread(fd, &hi, 1, 5) == 1) {
		hi &= (uint8_t)~0x04;
		ret = pwrite(fd, &hi, 1, 5) == 1 ? 0 : -1;
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

static void print_cmd_status(const char *when)
{
	uint32_t v = 0;
	int fd = open(cfg_path, O_RDONLY);
	if (fd >= 0 && pread(fd, &v, 4, 4) == 4)
		printf("ATOLL-EDU diag %s command=0x%04x status=0x%04x\n", when, v & 0xffff,
		       v >> 16);
	if (fd >= 0)
		close(fd);
}

static int dma(int uio, uint32_t src, uint32_t dst, uint32_t cmd, uint32_t *irq_status)
{
	enable_irq(uio);
	wr(EDU_DMA_SRC, src);
	wr(EDU_DMA_DST, dst);
	wr(EDU_DMA_CNT, XFER);
	wr(EDU_DMA_CMD, cmd | DMA_START | DMA_IRQ);
	int got = wait_irq(uio, 20000, irq_status);
	for (int i = 0; i < 200 && (rd(EDU_DMA_CMD) & DMA_START); i++)
		usleep(10000);
	if (!got) {
		print_cmd_status("timeout");
		/* Where did it stop: the device, its INTx bits, the guest's
		 * interrupt count. */
		char line[256];
		printf("ATOLL-EDU diag irq-status=0x%x dma-cmd=0x%x\n", rd(EDU_IRQ_STAT),
		       rd(EDU_DMA_CMD));
		FILE *pi = fopen("/proc/interrupts", "r");
		while (pi && fgets(line, sizeof(line), pi))
			if (strstr(line, "uio"))
				printf("ATOLL-EDU diag %s", line);
		if (pi)
			fclose(pi);
	}
	return got;
}

static int edu_test(const char *bdf)
{
	char path[256];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", bdf);
	int fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0) {
		printf("ATOLL-EDU error=open-%s:%s\n", path, strerror(errno));
		return 1;
	}
	void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		printf("ATOLL-EDU error=mmap:%s\n", strerror(errno));
		return 1;
	}
	edu = m;
	printf("ATOLL-EDU ident=0x%08x\n", rd(EDU_ID));
	wr(EDU_LIVE, 0x12345678);
	printf("ATOLL-EDU live=%s\n", rd(EDU_LIVE) == ~0x12345678u ? "ok" : "bad");
	wr(EDU_FACT, 5);
	for (int i = 0; i < 100 && (rd(EDU_STATUS) & 1); i++)
		usleep(10000);
	printf("ATOLL-EDU factorial5=%u\n", rd(EDU_FACT));

	/* Bus mastering, which uio_pci_generic leaves off. */
	static char cfgp[256];
	snprintf(cfgp, sizeof(cfgp), "/sys/bus/pci/devices/%s/config", bdf);
	cfg_path = cfgp;
	int cfg = open(cfgp, O_RDWR);
	uint16_t cmd = 0;
	if (cfg < 0 || pread(cfg, &cmd, 2, 4) != 2) {
		printf("ATOLL-EDU error=config\n");
		return 1;
	}
	cmd |= 0x6;
	if (pwrite(cfg, &cmd, 2, 4) != 2)
		printf("ATOLL-EDU error=config-write\n");
	close(cfg);

	int uio = uio_open(bdf);
	printf("ATOLL-EDU uio=%s\n", uio >= 0 ? "ok" : "none");
	if (uio < 0)
		return 1;
	uint8_t *buf = aligned_alloc(4096, 4096);
	if (!buf || mlock(buf, 4096)) {
		printf("ATOLL-EDU error=mlock\n");
		return 1;
	}
	memset(buf, 0, 4096);
	uint64_t pa = phys_of(buf);
	printf("ATOLL-EDU buf-phys=0x%llx\n", (unsigned long long)pa);
	if (!pa || pa >= (256u << 20))
		return 1;
	for (int i = 0; i < XFER; i++)
		buf[i] = (uint8_t)(i * 7 + 3);

	uint32_t st = 0;
	int irq1 = dma(uio, (uint32_t)pa, EDU_BUF, 0, &st);
	printf("ATOLL-EDU to-dev-irq=%d to-dev-status=0x%x\n", irq1, st);
	print_cmd_status("after-first");
	memset(buf, 0, XFER);
	st = 0;
	int irq2 = dma(uio, EDU_BUF, (uint32_t)pa, DMA_TO_RAM, &st);
	printf("ATOLL-EDU from-dev-irq=%d from-dev-status=0x%x\n", irq2, st);
	int bad = 0;
	for (int i = 0; i < XFER; i++)
		bad += buf[i] != (uint8_t)(i * 7 + 3);
	printf("ATOLL-EDU roundtrip=%s mismatches=%d\n", bad ? "bad" : "ok", bad);
	return 0;
}

/* MSI without a driver: program edu's MSI capability from userspace with
 * a vector no guest driver owns, and make edu raise an interrupt.  The
 * guest kernel logs "No irq handler for vector" with that vector when the
 * message arrives (the step script looks for it in dmesg). */
static int edu_msi(const char *bdf, unsigned vector)
{
	char path[256];
	uint8_t c[256];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	int cfg = open(path, O_RDWR);
	if (cfg < 0 || pread(cfg, c, sizeof(c), 0) != sizeof(c)) {
		printf("ATOLL-EDU-MSI error=config\n");
		return 1;
	}
	unsigned cap = 0;
	for (unsigned p = c[0x34] & 0xfc, n = 0; p >= 0x40 && n < 48; p = c[p + 1] & 0xfc, n++)
		if (c[p] == 0x05) {
			cap = p;
			break;
		}
	printf("ATOLL-EDU-MSI cap=0x%x\n", cap);
	if (!cap)
		return 1;
	uint16_t cmd = (uint16_t)(c[4] | c[5] << 8 | 0x6);  /* memory, bus master */
	pwrite(cfg, &cmd, 2, 4);
	uint16_t ctrl = (uint16_t)(c[cap + 2] | c[cap + 3] << 8);
	uint32_t addr = 0xfee00000;      /* CPU 0, fixed delivery */
	uint32_t zero = 0;
	uint16_t data = (uint16_t)vector;
	unsigned data_off = (ctrl & 0x80) ? 12 : 8;
	pwrite(cfg, &addr, 4, cap + 4);
	if (ctrl & 0x80)
		pwrite(cfg, &zero, 4, cap + 8);
	pwrite(cfg, &data, 2, cap + data_off);
	ctrl = (uint16_t)((ctrl & ~0x70) | 1);
	pwrite(cfg, &ctrl, 2, cap + 2);

	int fd;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", bdf);
	fd = open(path, O_RDWR | O_SYNC);
	void *m = fd >= 0 ? mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
			  : MAP_FAILED;
	if (m == MAP_FAILED) {
		printf("ATOLL-EDU-MSI error=mmap\n");
		return 1;
	}
	edu = m;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	printf("ATOLL-EDU-MSI raise-at=%ld.%06ld\n", (long)t0.tv_sec, t0.tv_nsec / 1000);
	wr(0x60, 0x1);                   /* raise */
	usleep(500000);
	printf("ATOLL-EDU-MSI raised irq-status=0x%x vector=%u\n", rd(EDU_IRQ_STAT), vector);
	sleep(4);   /* dom0 looks at its interrupt counts meanwhile */
	wr(EDU_IRQ_ACK, 0x1);
	ctrl &= (uint16_t)~1;
	pwrite(cfg, &ctrl, 2, cap + 2);
	close(cfg);
	return 0;
}

static int fb_test(void)
{
	struct fb_var_screeninfo v;
	struct fb_fix_screeninfo f;
	int fd = -1;
	for (int i = 0; i < 100 && (fd = open("/dev/fb0", O_RDWR)) < 0; i++)
		usleep(100000);
	if (fd < 0 || ioctl(fd, FBIOGET_VSCREENINFO, &v) || ioctl(fd, FBIOGET_FSCREENINFO, &f)) {
		printf("ATOLL-FB error=%s\n", strerror(errno));
		return 1;
	}
	printf("ATOLL-FB id=%s xres=%u yres=%u bpp=%u stride=%u\n", f.id, v.xres, v.yres,
	       v.bits_per_pixel, f.line_length);
	if (v.bits_per_pixel != 32)
		return 1;
	uint8_t *p = mmap(NULL, f.smem_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		printf("ATOLL-FB error=mmap:%s\n", strerror(errno));
		return 1;
	}
	for (uint32_t y = 0; y < v.yres; y++) {
		uint32_t *row = (uint32_t *)(p + (size_t)y * f.line_length);
		for (uint32_t x = 0; x < v.xres; x++)
			row[x] = y >= v.yres * 3 / 4 ? 0x000000ff :
				 x < v.xres / 2 ? 0x00ff0000 : 0x0000ff00;
	}
	msync(p, f.smem_len, MS_SYNC);
	printf("ATOLL-FB drawn\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 3 && !strcmp(argv[1], "edu"))
		return edu_test(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "edu-msi"))
		return edu_msi(argv[2], (unsigned)strtoul(argv[3], NULL, 0));
	if (argc == 2 && !strcmp(argv[1], "fb"))
		return fb_test();
	fprintf(stderr, "usage: vfio-guest edu BDF | edu-msi BDF VECTOR | fb\n");
	return 2;
}
