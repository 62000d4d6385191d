/* Host USB listing through libusb (host_usb.h).  libusb gives the
 * topology (bus, port path, speed, descriptors); the strings come from
 * sysfs, which the kernel filled in when it enumerated the device, so
 * listing never opens (or wakes) a device. */
#include "host_usb.h"

#include <libusb.h>
#include <string.h>

G_DEFINE_QUARK(host-usb-error-quark, host_usb_error)

#define MAX_PORTS 7   /* USB 3 allows a hub depth of 7 */

static bool parse_hex4(const char *s, size_t len, unsigned *out)
{
	unsigned v = 0;

	if (len != 4)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!g_ascii_isxdigit(s[i]))
			return false;
		v = v * 16 + (unsigned)g_ascii_xdigit_value(s[i]);
	}
	*out = v;
	return true;
}

/* "1-4.2": bus, '-', then up to 7 port numbers separated by '.'. */
static bool valid_path(const char *s)
{
	const char *p = s;
	unsigned ports = 0;

	if (!g_ascii_isdigit(*p))
		return false;
	while (g_ascii_isdigit(*p))
		p++;
	if (*p++ != '-')
		return false;
	for (;;) {
		if (!g_ascii_isdigit(*p) || *p == '0' || ++ports > MAX_PORTS)
			return false;
		while (g_ascii_isdigit(*p))
			p++;
		if (*p == '\0')
			return p - s < 32;
		if (*p++ != '.')
			return false;
	}
}

bool host_usb_parse_spec(const char *s, UsbSpec *out)
{
	const char *colon = s ? strchr(s, ':') : NULL;

	memset(out, 0, sizeof(*out));
	if (!s)
		return false;
	if (colon) {
		out->kind = USB_SPEC_ID;
		return parse_hex4(s, (size_t)(colon - s), &out->vendor) &&
		       parse_hex4(colon + 1, strlen(colon + 1), &out->product);
	}
	if (!valid_path(s))
		return false;
	out->kind = USB_SPEC_PATH;
	g_strlcpy(out->path, s, sizeof(out->path));
	return true;
}

char *host_usb_spec_string(const UsbSpec *spec)
{
	if (spec->kind == USB_SPEC_ID)
		return g_strdup_printf("%04x:%04x", spec->vendor, spec->product);
	return g_strdup(spec->path);
}

static const char *speed_name(int speed)
{
	switch (speed) {
	case LIBUSB_SPEED_LOW: return "low";
	case LIBUSB_SPEED_FULL: return "full";
	case LIBUSB_SPEED_HIGH: return "high";
	case LIBUSB_SPEED_SUPER: return "super";
	case LIBUSB_SPEED_SUPER_PLUS: return "super+";
	default: return NULL;
	}
}

static char *sysfs_string(const char *root, const char *path, const char *file)
{
	g_autofree char *p = g_build_filename(root, "bus/usb/devices", path, file,
					      NULL);
	char *text = NULL;

	if (!path || !g_file_get_contents(p, &text, NULL, NULL))
		return NULL;
	g_strstrip(text);
	/* Descriptor strings are the device's: keep printable ASCII only. */
	for (char *c = text; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	return text;
}

static void add_str(JsonBuilder *b, const char *key, const char *v)
{
	json_builder_set_member_name(b, key);
	if (v)
		json_builder_add_string_value(b, v);
	else
		json_builder_add_null_value(b);
}

/* The kernel's name for the device: "1-4.2", NULL for a root hub. */
static char *port_path(libusb_device *dev)
{
	uint8_t ports[MAX_PORTS];
	int n = libusb_get_port_numbers(dev, ports, MAX_PORTS);
	GString *s;

	if (n <= 0)
		return NULL;
	s = g_string_new(NULL);
	g_string_printf(s, "%u-%u", libusb_get_bus_number(dev), ports[0]);
	for (int i = 1; i < n; i++)
		g_string_append_printf(s, ".%u", ports[i]);
	return g_string_free(s, FALSE);
}

typedef struct {
	char *path;
	JsonNode *node;
} Entry;

static void add_device(const char *root, libusb_device *dev, GPtrArray *out)
{
	struct libusb_device_descriptor d;
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *path = port_path(dev);
	g_autofree char *id = NULL, *vid = NULL, *pid = NULL, *cls = NULL;
	g_autofree char *mfr = NULL, *prod = NULL, *serial = NULL;
	Entry *e;

	if (libusb_get_device_descriptor(dev, &d) != 0)
		return;
	id = g_strdup_printf("%04x:%04x", d.idVendor, d.idProduct);
	vid = g_strdup_printf("0x%04x", d.idVendor);
	pid = g_strdup_printf("0x%04x", d.idProduct);
	cls = g_strdup_printf("0x%02x", d.bDeviceClass);
	if (path) {
		mfr = sysfs_string(root, path, "manufacturer");
		prod = sysfs_string(root, path, "product");
		serial = sysfs_string(root, path, "serial");
	}
	json_builder_begin_object(b);
	add_str(b, "id", id);
	add_str(b, "vendor_id", vid);
	add_str(b, "product_id", pid);
	json_builder_set_member_name(b, "bus");
	json_builder_add_int_value(b, libusb_get_bus_number(dev));
	json_builder_set_member_name(b, "address");
	json_builder_add_int_value(b, libusb_get_device_address(dev));
	add_str(b, "path", path);
	add_str(b, "speed", speed_name(libusb_get_device_speed(dev)));
	add_str(b, "class", cls);
	add_str(b, "manufacturer", mfr);
	add_str(b, "product", prod);
	add_str(b, "serial", serial);
	json_builder_set_member_name(b, "hub");
	json_builder_add_boolean_value(b, d.bDeviceClass == LIBUSB_CLASS_HUB);
	json_builder_end_object(b);
	e = g_new0(Entry, 1);
	e->path = path ? g_steal_pointer(&path) :
		g_strdup_printf("%u-0", libusb_get_bus_number(dev));
	e->node = json_builder_get_root(b);
	g_ptr_array_add(out, e);
}

/* Paths sort by bus, then port numbers ("1-10" after "1-9"). */
static int cmp_entry(gconstpointer a, gconstpointer b)
{
	const char *x = (*(Entry *const *)a)->path, *y = (*(Entry *const *)b)->path;

	while (*x && *y) {
		if (g_ascii_isdigit(*x) && g_ascii_isdigit(*y)) {
			guint64 u = g_ascii_strtoull(x, (char **)&x, 10);
			guint64 v = g_ascii_strtoull(y, (char **)&y, 10);
			if (u != v)
				return u < v ? -1 : 1;
		} else if (*x != *y) {
			return *x < *y ? -1 : 1;
		} else {
			x++;
			y++;
		}
	}
	return *x ? 1 : *y ? -1 : 0;
}

JsonNode *host_usb_list(const char *sysfs_root, GError **error)
{
	libusb_context *ctx = NULL;
	libusb_device **devs = NULL;
	g_autoptr(GPtrArray) entries = g_ptr_array_new();
	JsonArray *arr;
	JsonNode *root;
	ssize_t n;
	int rc;

	rc = libusb_init(&ctx);
	if (rc != 0) {
		g_set_error(error, HOST_USB_ERROR, HOST_USB_ERROR_HOST,
			    "cannot start libusb: %s — does this host have USB "
			    "support (is /sys/bus/usb there)?", libusb_strerror(rc));
		return NULL;
	}
	n = libusb_get_device_list(ctx, &devs);
	if (n < 0) {
		g_set_error(error, HOST_USB_ERROR, HOST_USB_ERROR_HOST,
			    "cannot list USB devices: %s", libusb_strerror((int)n));
		libusb_exit(ctx);
		return NULL;
	}
	for (ssize_t i = 0; i < n; i++)
		add_device(sysfs_root ? sysfs_root : "/sys", devs[i], entries);
	libusb_free_device_list(devs, 1);
	libusb_exit(ctx);
	g_ptr_array_sort(entries, cmp_entry);
	arr = json_array_new();
	for (guint i = 0; i < entries->len; i++) {
		Entry *e = entries->pdata[i];
		json_array_add_element(arr, e->node);
		g_free(e->path);
		g_free(e);
	}
	root = json_node_new(JSON_NODE_ARRAY);
	json_node_take_array(root, arr);
	return root;
}

char *host_usb_resolve(JsonNode *list, const UsbSpec *spec, GError **error)
{
	JsonArray *a = JSON_NODE_HOLDS_ARRAY(list) ? json_node_get_array(list) : NULL;
	g_autofree char *want = host_usb_spec_string(spec);
	g_autoptr(GPtrArray) hits = g_ptr_array_new();

	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonObject *o = json_array_get_object_element(a, i);
		const char *path = json_object_get_string_member_with_default(o, "path", NULL);
		const char *id = json_object_get_string_member_with_default(o, "id", "");
		if (!path)
			continue;   /* root hubs cannot be passed through */
		if (spec->kind == USB_SPEC_PATH ? !strcmp(path, want) : !strcmp(id, want))
			g_ptr_array_add(hits, (gpointer)path);
	}
	if (hits->len == 1)
		return g_strdup(hits->pdata[0]);
	if (hits->len == 0) {
		g_set_error(error, HOST_USB_ERROR, HOST_USB_ERROR_NOT_FOUND,
			    "no USB device %s is plugged in (atoll usb-list shows "
			    "them)", want);
		return NULL;
	}
	g_ptr_array_add(hits, NULL);
	g_autofree char *paths = g_strjoinv(", ", (char **)hits->pdata);
	g_set_error(error, HOST_USB_ERROR, HOST_USB_ERROR_AMBIGUOUS,
		    "%u USB devices are %s (at %s): name one by its bus-port "
		    "path instead", hits->len - 1, want, paths);
	return NULL;
}
