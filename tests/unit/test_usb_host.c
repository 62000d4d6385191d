/* The libusb backend's logic that needs no USB hardware: host device specs,
 * which control requests become libusb calls (and in what order), and
 * transfer status mapping.  The transfers themselves run against real
 * devices in the hwsim `usb` scenario. */
#include <glib.h>
#include <libusb.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "control.h"
#include "usb_host.h"
#include "vm.h"

static void spec_ok(const char *text, const char *canon)
{
	struct usb_host_spec s;
	char err[256] = "", buf[64];
	g_assert_cmpint(usb_host_parse_spec(text, &s, err, sizeof(err)), ==, 0);
	usb_host_spec_format(&s, buf, sizeof(buf));
	g_assert_cmpstr(buf, ==, canon);
}

static void spec_bad(const char *text)
{
	struct usb_host_spec s;
	char err[256] = "";
	g_assert_cmpint(usb_host_parse_spec(text, &s, err, sizeof(err)), ==, -1);
	/* The message names the input and says what is accepted. */
	g_assert_nonnull(strstr(err, text));
	g_assert_nonnull(strstr(err, "VENDOR:PRODUCT"));
}

static void test_spec(void)
{
	struct usb_host_spec s;
	char err[256];
	g_assert_cmpint(usb_host_parse_spec("46f4:0001", &s, err, sizeof(err)), ==, 0);
	g_assert_true(s.by_id);
	g_assert_cmphex(s.vid, ==, 0x46f4);
	g_assert_cmphex(s.pid, ==, 0x0001);
	g_assert_cmpint(usb_host_parse_spec("1-2.3", &s, err, sizeof(err)), ==, 0);
	g_assert_false(s.by_id);
	g_assert_cmpuint(s.bus, ==, 1);
	g_assert_cmpint(s.n_ports, ==, 2);
	g_assert_cmpuint(s.ports[0], ==, 2);
	g_assert_cmpuint(s.ports[1], ==, 3);

	spec_ok("46F4:1", "46f4:0001");
	spec_ok("0627:0001", "0627:0001");
	spec_ok("1-1", "1-1");
	spec_ok("3-1.2.3.4.5.6.7", "3-1.2.3.4.5.6.7");
	spec_ok("255-255", "255-255");

	const char *bad[] = {
		"", ":", "46f4:", ":0001", "46f4:00001", "12345:1", "46f4:0001x",
		"g6f4:0001", "-1:2", "46f4:-1", "46f4: 1", "1", "1-", "-1", "0-1",
		"1-0", "256-1", "1-256", "1-2.", "1-.2", "1-2..3", "1-2.3.4.5.6.7.8.9",
		"1-2-3", "1-+2", "1- 2", "a-1", "1-a", "bus1-2",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
		spec_bad(bad[i]);
}

static void classify(uint8_t type, uint8_t req, uint16_t value, uint16_t index,
		     struct usb_host_ctl *c)
{
	uint8_t setup[8] = { type, req, value & 0xff, value >> 8, index & 0xff, index >> 8, 0, 0 };
	usb_host_classify_control(setup, c);
}

static void test_classify(void)
{
	struct usb_host_ctl c;
	classify(0x00, USB_REQ_SET_CONFIGURATION, 1, 0, &c);
	g_assert_cmpint(c.kind, ==, USB_HOST_CTL_SET_CONFIG);
	g_assert_cmpint(c.value, ==, 1);
	classify(0x00, USB_REQ_SET_CONFIGURATION, 0, 0, &c);
	g_assert_cmpint(c.kind, ==, USB_HOST_CTL_SET_CONFIG);
	g_assert_cmpint(c.value, ==, 0);

	classify(0x01, USB_REQ_SET_INTERFACE, 2, 3, &c);
	g_assert_cmpint(c.kind, ==, USB_HOST_CTL_SET_INTERFACE);
	g_assert_cmpint(c.iface, ==, 3);
	g_assert_cmpint(c.value, ==, 2);

	classify(0x02, USB_REQ_CLEAR_FEATURE, 0, 0x81, &c);
	g_assert_cmpint(c.kind, ==, USB_HOST_CTL_CLEAR_HALT);
	g_assert_cmphex(c.ep, ==, 0x81);
	classify(0x02, USB_REQ_CLEAR_FEATURE, 0, 0x02, &c);
	g_assert_cmpint(c.kind, ==, USB_HOST_CTL_CLEAR_HALT);
	g_assert_cmphex(c.ep, ==, 0x02);

	classify(0x00, USB_REQ_SET_ADDRESS, 5, 0, &c);
	g_assert_cmpint(c.kind, ==, USB_HOST_CTL_IGNORE);

	/* Everything else goes to the device as a control transfer. */
	struct { uint8_t type, req; uint16_t value, index; } pass[] = {
		{ 0x80, USB_REQ_GET_DESCRIPTOR, 0x0100, 0 },
		{ 0x80, USB_REQ_GET_STATUS, 0, 0 },
		{ 0x00, USB_REQ_CLEAR_FEATURE, 1, 0 },      /* device remote wakeup */
		{ 0x02, USB_REQ_CLEAR_FEATURE, 1, 0x81 },   /* not ENDPOINT_HALT */
		{ 0x02, USB_REQ_SET_FEATURE, 0, 0x81 },     /* SET, not CLEAR, halt */
		{ 0x21, 0x0a, 0, 0 },                       /* HID SET_IDLE (class) */
		{ 0x21, 0xff, 0, 0 },                       /* mass storage reset */
		{ 0x41, USB_REQ_SET_INTERFACE, 0, 0 },      /* vendor, same number */
		{ 0x20, USB_REQ_SET_CONFIGURATION, 1, 0 },  /* class, same number */
		{ 0x80, USB_REQ_SET_CONFIGURATION, 1, 0 },  /* IN direction */
		{ 0x03, USB_REQ_SET_INTERFACE, 0, 0 },      /* recipient "other" */
		{ 0x00, USB_REQ_SET_INTERFACE, 0, 0 },      /* recipient device */
	};
	for (size_t i = 0; i < G_N_ELEMENTS(pass); i++) {
		classify(pass[i].type, pass[i].req, pass[i].value, pass[i].index, &c);
		g_assert_cmpint(c.kind, ==, USB_HOST_CTL_TRANSFER);
	}
}

/* Records the libusb calls a request turns into. */
struct rec {
	GString *log;
	int active;
	int fail_at;    /* which call (1-based) fails, 0 = none */
	int fail_code;
	int calls;
};

static int step(struct rec *r, const char *what)
{
	g_string_append_printf(r->log, "%s%s", r->log->len ? " " : "", what);
	return ++r->calls == r->fail_at ? r->fail_code : 0;
}

static int r_active(void *ctx, int *config)
{
	struct rec *r = ctx;
	*config = r->active;
	return 0;
}

static int r_release(void *ctx) { return step(ctx, "release"); }
static int r_claim(void *ctx) { return step(ctx, "claim"); }

static int r_setconf(void *ctx, int config)
{
	char b[32];
	snprintf(b, sizeof(b), "config(%d)", config);
	int ret = step(ctx, b);
	if (!ret)
		((struct rec *)ctx)->active = config;
	return ret;
}

static int r_alt(void *ctx, int iface, int alt)
{
	char b[32];
	snprintf(b, sizeof(b), "alt(%d,%d)", iface, alt);
	return step(ctx, b);
}

static int r_halt(void *ctx, uint8_t ep)
{
	char b[32];
	snprintf(b, sizeof(b), "halt(%02x)", ep);
	return step(ctx, b);
}

static const struct usb_host_ctl_io rec_io = {
	r_active, r_release, r_setconf, r_claim, r_alt, r_halt,
};

static enum usb_status run(uint8_t type, uint8_t req, uint16_t value, uint16_t index,
			   int active, int fail_at, int fail_code, const char *want)
{
	struct usb_host_ctl c;
	struct rec r = { g_string_new(""), active, fail_at, fail_code, 0 };
	classify(type, req, value, index, &c);
	enum usb_status st = usb_host_do_control(&c, &rec_io, &r);
	g_assert_cmpstr(r.log->str, ==, want);
	g_string_free(r.log, TRUE);
	return st;
}

static void test_do_control(void)
{
	/* A new configuration: interfaces released first (usbfs refuses the
	 * change while any is claimed), then the new ones claimed. */
	g_assert_cmpint(run(0x00, USB_REQ_SET_CONFIGURATION, 2, 0, 1, 0, 0,
			    "release config(2) claim"), ==, USB_STATUS_OK);
	/* The active one: no real SET_CONFIGURATION (it would reset the
	 * device's state), but its interfaces are claimed. */
	g_assert_cmpint(run(0x00, USB_REQ_SET_CONFIGURATION, 1, 0, 1, 0, 0,
			    "claim"), ==, USB_STATUS_OK);
	/* Unconfigure: nothing to claim afterwards. */
	g_assert_cmpint(run(0x00, USB_REQ_SET_CONFIGURATION, 0, 0, 1, 0, 0,
			    "release config(0)"), ==, USB_STATUS_OK);
	/* From unconfigured to 1. */
	g_assert_cmpint(run(0x00, USB_REQ_SET_CONFIGURATION, 1, 0, 0, 0, 0,
			    "release config(1) claim"), ==, USB_STATUS_OK);
	/* Failures: the device refusing -> STALL, gone -> NODEV, and nothing
	 * after the failed step. */
	g_assert_cmpint(run(0x00, USB_REQ_SET_CONFIGURATION, 2, 0, 1, 2, LIBUSB_ERROR_PIPE,
			    "release config(2)"), ==, USB_STATUS_STALL);
	g_assert_cmpint(run(0x00, USB_REQ_SET_CONFIGURATION, 2, 0, 1, 3, LIBUSB_ERROR_BUSY,
			    "release config(2) claim"), ==, USB_STATUS_STALL);
	g_assert_cmpint(run(0x00, USB_REQ_SET_CONFIGURATION, 2, 0, 1, 2, LIBUSB_ERROR_NO_DEVICE,
			    "release config(2)"), ==, USB_STATUS_NODEV);

	g_assert_cmpint(run(0x01, USB_REQ_SET_INTERFACE, 1, 2, 1, 0, 0,
			    "alt(2,1)"), ==, USB_STATUS_OK);
	g_assert_cmpint(run(0x01, USB_REQ_SET_INTERFACE, 1, 2, 1, 1, LIBUSB_ERROR_NOT_FOUND,
			    "alt(2,1)"), ==, USB_STATUS_STALL);

	g_assert_cmpint(run(0x02, USB_REQ_CLEAR_FEATURE, 0, 0x81, 1, 0, 0,
			    "halt(81)"), ==, USB_STATUS_OK);
	g_assert_cmpint(run(0x02, USB_REQ_CLEAR_FEATURE, 0, 0x02, 1, 1, LIBUSB_ERROR_NO_DEVICE,
			    "halt(02)"), ==, USB_STATUS_NODEV);

	/* SET_ADDRESS never reaches the device. */
	g_assert_cmpint(run(0x00, USB_REQ_SET_ADDRESS, 7, 0, 1, 0, 0, ""), ==, USB_STATUS_OK);
}

static void test_status(void)
{
	g_assert_cmpint(usb_host_map_status(LIBUSB_TRANSFER_COMPLETED), ==, USB_STATUS_OK);
	g_assert_cmpint(usb_host_map_status(LIBUSB_TRANSFER_STALL), ==, USB_STATUS_STALL);
	g_assert_cmpint(usb_host_map_status(LIBUSB_TRANSFER_NO_DEVICE), ==, USB_STATUS_NODEV);
	g_assert_cmpint(usb_host_map_status(LIBUSB_TRANSFER_OVERFLOW), ==, USB_STATUS_BABBLE);
	g_assert_cmpint(usb_host_map_status(LIBUSB_TRANSFER_CANCELLED), ==, USB_STATUS_CANCELLED);
	g_assert_cmpint(usb_host_map_status(LIBUSB_TRANSFER_ERROR), ==, USB_STATUS_IOERROR);
	g_assert_cmpint(usb_host_map_status(LIBUSB_TRANSFER_TIMED_OUT), ==, USB_STATUS_IOERROR);
	g_assert_cmpint(usb_host_map_status(99), ==, USB_STATUS_IOERROR);
}

/* Attaching what is not there fails with a message, without a controller
 * ever being touched (x is NULL). */
static void test_attach_errors(void)
{
	char id[16], err[512];
	int port = -1;
	g_assert_cmpint(usb_host_attach("nonsense", id, sizeof(id), &port,
					err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "VENDOR:PRODUCT"));
	/* No controller. */
	g_assert_cmpint(usb_host_attach("46f4:0001", id, sizeof(id), &port,
					err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "--xhci"));
	/* A controller that is never reached: the device does not exist. */
	usb_host_set_controller((struct xhci *)&port, NULL);
	err[0] = 0;
	int r = usb_host_attach("ffff:fffe", id, sizeof(id), &port, err, sizeof(err));
	usb_host_set_controller(NULL, NULL);
	g_assert_cmpint(r, ==, -1);
	/* Either libusb cannot start here (no usbfs in a container) or the
	 * device is not found; both say so. */
	g_assert_true(strstr(err, "no such device") || strstr(err, "libusb"));
	g_assert_cmpint(usb_host_detach("usb0", err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "usb-list"));
}

/* --usb and "usb" in the domain description. */
static void test_config(void)
{
	struct vm_config cfg;
	char err[512];
	char *argv[] = { "atoll-vmm", "--usb", "host=46f4:0001", "--usb", "host=1-2.3", NULL };
	vm_config_init(&cfg);
	g_assert_cmpint(vm_config_parse_args(&cfg, 5, argv, err, sizeof(err)), ==, 0);
	g_assert_cmpuint(cfg.n_usb_hosts, ==, 2);
	g_assert_cmpstr(cfg.usb_hosts[0], ==, "46f4:0001");
	g_assert_cmpstr(cfg.usb_hosts[1], ==, "1-2.3");
	g_assert_true(cfg.xhci); /* implied */
	vm_config_free(&cfg);

	char *bad1[] = { "atoll-vmm", "--usb", "46f4:0001", NULL };
	char *bad2[] = { "atoll-vmm", "--usb", "host=46f4", NULL };
	vm_config_init(&cfg);
	g_assert_cmpint(vm_config_parse_args(&cfg, 3, bad1, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "host="));
	vm_config_free(&cfg);
	vm_config_init(&cfg);
	g_assert_cmpint(vm_config_parse_args(&cfg, 3, bad2, err, sizeof(err)), ==, -1);
	g_assert_nonnull(strstr(err, "VENDOR:PRODUCT"));
	vm_config_free(&cfg);

	char *xhci[] = { "atoll-vmm", "--xhci", NULL };
	vm_config_init(&cfg);
	g_assert_cmpint(vm_config_parse_args(&cfg, 2, xhci, err, sizeof(err)), ==, 0);
	g_assert_true(cfg.xhci);
	g_assert_cmpuint(cfg.n_usb_hosts, ==, 0);
	vm_config_free(&cfg);

	const char *json = "{\"usb\": [{\"host\": \"0627:0001\"}, {\"host\": \"2-1\"}]}";
	vm_config_init(&cfg);
	g_assert_cmpint(vm_config_load_json(&cfg, json, strlen(json), err, sizeof(err)), ==, 0);
	g_assert_cmpuint(cfg.n_usb_hosts, ==, 2);
	g_assert_cmpstr(cfg.usb_hosts[1], ==, "2-1");
	g_assert_true(cfg.xhci);
	/* Flags replace the file's list. */
	char *one[] = { "atoll-vmm", "--usb", "host=3-4", NULL };
	g_assert_cmpint(vm_config_parse_args(&cfg, 3, one, err, sizeof(err)), ==, 0);
	g_assert_cmpuint(cfg.n_usb_hosts, ==, 1);
	g_assert_cmpstr(cfg.usb_hosts[0], ==, "3-4");
	vm_config_free(&cfg);

	const char *bad_json[] = {
		"{\"usb\": [{\"host\": \"x\"}]}", "{\"usb\": [{}]}", "{\"usb\": [\"46f4:0001\"]}",
		"{\"usb\": {\"host\": \"46f4:0001\"}}", "{\"usb\": [{\"host\": \"1-1\", \"bus\": 1}]}",
		"{\"xhci\": 1}",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad_json); i++) {
		vm_config_init(&cfg);
		err[0] = 0;
		g_assert_cmpint(vm_config_load_json(&cfg, bad_json[i], strlen(bad_json[i]), err,
						    sizeof(err)), ==, -1);
		g_assert_true(strstr(err, "usb") || strstr(err, "xhci"));
		vm_config_free(&cfg);
	}
}

static void check_reply(const char *req, const char *want)
{
	struct vm vm;
	memset(&vm, 0, sizeof(vm));
	char *reply = control_handle(&vm, req, strlen(req));
	if (!strstr(reply, want))
		g_error("%s -> %s, expected it to contain %s", req, reply, want);
	g_free(reply);
}

/* The control socket's usb-* commands without a controller or device. */
static void test_control(void)
{
	check_reply("{\"cmd\":\"usb-list\"}", "{\"ok\":true,\"devices\":[]}");
	check_reply("{\"cmd\":\"usb-attach\"}", "give the host device");
	check_reply("{\"cmd\":\"usb-attach\",\"host\":\"46f4:0001\"}", "--xhci");
	check_reply("{\"cmd\":\"usb-attach\",\"host\":\"bogus\"}", "VENDOR:PRODUCT");
	check_reply("{\"cmd\":\"usb-detach\"}", "(from usb-list)");
	check_reply("{\"cmd\":\"usb-detach\",\"id\":\"usb7\"}", "no USB device 'usb7'");
	check_reply("{\"cmd\":\"usb-frobnicate\"}", "usb-list");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/usb_host/spec", test_spec);
	g_test_add_func("/usb_host/classify", test_classify);
	g_test_add_func("/usb_host/do_control", test_do_control);
	g_test_add_func("/usb_host/status", test_status);
	g_test_add_func("/usb_host/attach_errors", test_attach_errors);
	g_test_add_func("/usb_host/config", test_config);
	g_test_add_func("/usb_host/control", test_control);
	return g_test_run();
}
