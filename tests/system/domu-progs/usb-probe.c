/* usb-probe TAG VID:PID EP READ — for the hwsim `usb` scenario.  Sends,
 * through the kernel's usbfs, the requests an ordinary driver rarely does,
 * so each path of atoll-vmm's libusb backend is crossed: a short control
 * read, a request the device stalls (and ep0 working afterwards),
 * SET_INTERFACE, CLEAR_FEATURE(ENDPOINT_HALT) on IN endpoint EP, with READ
 * 1 a read of EP that times out (the kernel cancels it),
 * SET_CONFIGURATION of the active configuration; then interface 0 goes back
 * to the kernel's own driver.  Run once in dom0 on the device itself (the
 * reference) and once in the domU through passthrough: the answers must be
 * the same.  One "ATOLL-USBP-TAG name=value" line per step; the value is
 * the ioctl's result or the errno name. */
#include <errno.h>
#include <fcntl.h>
#include <linux/usbdevice_fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fd = -1;
static const char *tag;

static void report(const char *name, int r)
{
	if (r >= 0)
		printf("ATOLL-USBP-%s %s=%d\n", tag, name, r);
	else
		printf("ATOLL-USBP-%s %s=%s\n", tag, name, errno == EPIPE ? "EPIPE" :
		       errno == ETIMEDOUT ? "ETIMEDOUT" : strerror(errno));
	fflush(stdout);
}

static int ctrl(uint8_t type, uint8_t req, uint16_t value, uint16_t index,
		uint16_t len, void *data)
{
	struct usbdevfs_ctrltransfer c = {
		.bRequestType = type, .bRequest = req, .wValue = value,
		.wIndex = index, .wLength = len, .timeout = 5000, .data = data,
	};
	return ioctl(fd, USBDEVFS_CONTROL, &c);
}

static int read_sys(const char *dir, const char *file, char *buf, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "/sys/bus/usb/devices/%s/%s", dir, file);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int ok = fgets(buf, (int)n, f) != NULL;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return ok ? 0 : -1;
}

/* /dev/bus/usb/BBB/DDD of the first device with this VID:PID. */
static int find(const char *id, char *node, size_t n)
{
	char want_v[8], want_p[8], v[16], p[16], bus[16], dev[16];
	if (sscanf(id, "%4[0-9a-f]:%4[0-9a-f]", want_v, want_p) != 2)
		return -1;
	for (int b = 1; b < 8; b++) {
		for (int port = 1; port < 16; port++) {
			char dir[32];
			snprintf(dir, sizeof(dir), "%d-%d", b, port);
			if (read_sys(dir, "idVendor", v, sizeof(v)) || read_sys(dir, "idProduct", p, sizeof(p)) ||
			    strcmp(v, want_v) || strcmp(p, want_p) ||
			    read_sys(dir, "busnum", bus, sizeof(bus)) || read_sys(dir, "devnum", dev, sizeof(dev)))
				continue;
			snprintf(node, n, "/dev/bus/usb/%03d/%03d", atoi(bus), atoi(dev));
			return 0;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	char node[64];
	uint8_t buf[256];
	if (argc != 5) {
		fprintf(stderr, "usage: usb-probe TAG VID:PID EP READ\n");
		return 2;
	}
	tag = argv[1];
	unsigned int ep = (unsigned int)strtoul(argv[3], NULL, 0) | 0x80;
	if (find(argv[2], node, sizeof(node)) < 0) {
		printf("ATOLL-USBP-%s found=no\n", tag);
		return 1;
	}
	fd = open(node, O_RDWR);
	if (fd < 0) {
		printf("ATOLL-USBP-%s open=%s\n", tag, strerror(errno));
		return 1;
	}
	/* The device descriptor is 18 bytes: asking for 255 is a short read. */
	int r = ctrl(0x80, 6, 0x0100, 0, 255, buf);
	report("short", r);
	if (r >= 12)
		printf("ATOLL-USBP-%s vid=%02x%02x\n", tag, buf[9], buf[8]);
	/* A vendor request no QEMU device knows: STALL, then ep0 still works. */
	report("stall", ctrl(0xc0, 0x55, 0, 0, 8, buf));
	report("after-stall", ctrl(0x80, 0, 0, 0, 2, buf));

	/* Take interface 0 from the domU's driver to send requests for it. */
	struct usbdevfs_ioctl disc = { .ifno = 0, .ioctl_code = USBDEVFS_DISCONNECT };
	report("disconnect", ioctl(fd, USBDEVFS_IOCTL, &disc));
	unsigned int ifno = 0;
	report("claim", ioctl(fd, USBDEVFS_CLAIMINTERFACE, &ifno));
	struct usbdevfs_setinterface si = { .interface = 0, .altsetting = 0 };
	report("setinterface", ioctl(fd, USBDEVFS_SETINTERFACE, &si));
	report("clearhalt", ioctl(fd, USBDEVFS_CLEAR_HALT, &ep));
	if (atoi(argv[4])) {
		/* Nothing to read (no key pressed): the read times out and the
		 * kernel cancels it (in the domU: Stop Endpoint -> the
		 * backend's cancel). */
		struct usbdevfs_bulktransfer bt = { .ep = ep, .len = 8, .timeout = 500,
						    .data = buf };
		report("read", ioctl(fd, USBDEVFS_BULK, &bt));
	}
	report("release", ioctl(fd, USBDEVFS_RELEASEINTERFACE, &ifno));
	int config = 1;
	report("setconfig", ioctl(fd, USBDEVFS_SETCONFIGURATION, &config));
	struct usbdevfs_ioctl conn = { .ifno = 0, .ioctl_code = USBDEVFS_CONNECT };
	report("connect", ioctl(fd, USBDEVFS_IOCTL, &conn));
	report("final", ctrl(0x80, 6, 0x0100, 0, 18, buf));
	close(fd);
	printf("ATOLL-USBP-%s done\n", tag);
	return 0;
}
