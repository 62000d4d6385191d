/* SPICE console benchmark: latency from a framebuffer write
 * (display_damage) to the client's invalidate callback, and the bytes on
 * the wire for a full-screen change.
 *
 *   spice-bench [--tcp] [WIDTH HEIGHT [ROUNDS]]   (default 1920 1080 50)
 *
 * Runs the VMM's SPICE server on a test VM in this process and the
 * headless client (spice-test-client) over a unix socket, or loopback TCP
 * (where libspice compresses images). */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "harness.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool parse_ok(char *line, uint64_t *t_ns, uint64_t *bytes)
{
	unsigned long long t = 0, b = 0;
	bool ok = line && sscanf(line, "ok t_ns=%llu bytes=%llu", &t, &b) == 2;
	if (!ok)
		fprintf(stderr, "spice-bench: client answered %s\n", line ? line : "nothing");
	g_free(line);
	*t_ns = t;
	*bytes = b;
	return ok;
}

/* Colour pixel (x, y) of a full-screen pattern: `noise` gives pixels that
 * do not compress, else a flat colour. */
static void paint(struct harness *h, uint32_t seed, bool noise)
{
	uint32_t v = seed * 2654435761u;
	for (size_t i = 0; i < (size_t)h->width * h->height; i++) {
		if (noise) {
			v ^= v << 13, v ^= v >> 17, v ^= v << 5;
		}
		uint32_t px = noise ? (v & 0xffffff) : seed;
		memcpy(h->fb + i * 4, &px, 4);
	}
}

static bool full_screen(struct harness *h, uint32_t seed, bool noise, uint64_t *lat_ns,
			uint64_t *bytes)
{
	uint64_t t0, t1, b0, b1;
	uint32_t probe;

	char *line = harness_cmd(h, "stats");
	if (!line || sscanf(line, "ok bytes=%" SCNu64, &b0) != 1)
		return false;
	g_free(line);
	paint(h, seed, noise);
	memcpy(&probe, h->fb + ((size_t)(h->height - 1) * h->width + h->width - 1) * 4, 4);
	t0 = harness_now_ns();
	display_damage(&h->vm.display, 0, 0, h->width, h->height);
	if (!parse_ok(harness_cmd(h, "expect-pixel %u %u %06x", h->width - 1, h->height - 1,
				  probe & 0xffffff), &t1, &b1))
		return false;
	*lat_ns = t1 > t0 ? t1 - t0 : 0;
	*bytes = b1 - b0;
	return true;
}

static unsigned free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port = 0;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !getsockname(fd, (struct sockaddr *)&sa, &len))
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

int main(int argc, char **argv)
{
	bool tcp = argc > 1 && !strcmp(argv[1], "--tcp");
	if (tcp) {
		argc--;
		argv++;
	}
	uint32_t w = argc > 2 ? (uint32_t)atoi(argv[1]) : 1920;
	uint32_t hgt = argc > 2 ? (uint32_t)atoi(argv[2]) : 1080;
	unsigned rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 50;
	struct harness h;
	char err[256] = "";
	g_autofree char *dir = g_dir_make_tmp("atoll-spice-bench-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "bench.sock", NULL);

	if (!w || !hgt || !rounds || w > 8192 || hgt > 8192) {
		fprintf(stderr, "usage: spice-bench [WIDTH HEIGHT [ROUNDS]]\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	harness_init(&h);
	harness_set_mode(&h, w, hgt, 0x202020);
	struct spice_config cfg = { .kind = SPICE_UNIX, .path = path, .fd = -1 };
	char portstr[16];
	if (tcp) {
		cfg = (struct spice_config){ .kind = SPICE_TCP, .host = (char *)"127.0.0.1",
					     .port = free_port(), .fd = -1,
					     .password = (char *)"bench" };
		snprintf(portstr, sizeof(portstr), "%u", cfg.port);
	}
	if (atoll_spice_start(&h.vm, &cfg, err, sizeof(err))) {
		fprintf(stderr, "spice-bench: %s\n", err);
		return 1;
	}
	const char *uargs[] = { "--unix", path, "--timeout-ms", "10000", NULL };
	const char *targs[] = { "--port", portstr, "--password", "bench", "--timeout-ms", "10000", NULL };
	const char *const *args = tcp ? targs : uargs;
	char *line = NULL;
	if (!harness_client_start(&h, args) ||
	    !(line = harness_cmd(&h, "wait-primary %u %u", w, hgt)) || strncmp(line, "ok", 2)) {
		fprintf(stderr, "spice-bench: client did not get the screen: %s\n",
			line ? line : "no answer (is spice-test-client built?)");
		return 1;
	}
	g_free(line);

	/* Small updates: a 64x64 box, a new colour each round. */
	uint64_t *lat = g_new0(uint64_t, rounds);
	for (unsigned i = 0; i < rounds; i++) {
		uint32_t colour = 0x100000u + i * 0x010307u, x = (i * 97) % (w - 64), y = (i * 61) % (hgt - 64);
		uint64_t t1, bytes;
		harness_fill(&h, x, y, 64, 64, colour);
		uint64_t t0 = harness_now_ns();
		display_damage(&h.vm.display, x, y, 64, 64);
		if (!parse_ok(harness_cmd(&h, "expect-pixel %u %u %06x", x + 32, y + 32,
					  colour & 0xffffff), &t1, &bytes))
			return 1;
		lat[i] = t1 > t0 ? t1 - t0 : 0;
	}
	qsort(lat, rounds, sizeof(lat[0]), cmp_u64);
	printf("spice-bench: %ux%u, %s, default image compression\n", w, hgt,
	       tcp ? "loopback TCP" : "unix socket");
	printf("  64x64 update, damage -> client invalidate: median %.2f ms, p90 %.2f ms, max %.2f ms (%u rounds)\n",
	       (double)lat[rounds / 2] / 1e6, (double)lat[rounds * 9 / 10] / 1e6,
	       (double)lat[rounds - 1] / 1e6, rounds);

	for (int noise = 0; noise <= 1; noise++) {
		uint64_t l, bytes;
		if (!full_screen(&h, noise ? 7 : 0x3366cc, noise, &l, &bytes))
			return 1;
		printf("  full-screen %s: %.2f ms, %" PRIu64 " bytes on the wire (raw %zu)\n",
		       noise ? "noise (incompressible)" : "flat colour", (double)l / 1e6, bytes,
		       (size_t)w * hgt * 4);
	}
	struct atoll_spice_stats st;
	atoll_spice_get_stats(&h.vm, &st);
	printf("  server: %" PRIu64 " drawables, %" PRIu64 " merges, %" PRIu64 " bytes copied\n",
	       st.updates_queued, st.updates_merged, st.bytes_copied);
	g_free(lat);
	harness_destroy(&h);
	g_rmdir(dir);
	return 0;
}
