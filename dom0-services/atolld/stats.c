/* One sample per second per running domain, the last hour kept in a ring.
 * The VMM's "stats" reply is the source; /proc fills in CPU time and RSS
 * when the VMM cannot answer (still starting, reconnecting, busy). */
#include "vmm_client.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
	Domain *dom;
	StatsSample ring[STATS_RING_SAMPLES];
	unsigned head;    /* next slot to write */
	unsigned count;
	guint timer;
	bool inflight;    /* a "stats" request is waiting for its reply */
	StatsSample last; /* carries I/O counters across /proc-only samples */
	int64_t pending_t;
} Stats;

static Stats *stats_of(Domain *dom, bool create)
{
	if (!dom->stats && create) {
		Stats *s = g_new0(Stats, 1);
		s->dom = dom;
		dom->stats = s;
	}
	return dom->stats;
}

void stats_push(Domain *dom, const StatsSample *sample)
{
	Stats *s = stats_of(dom, true);
	s->ring[s->head] = *sample;
	s->head = (s->head + 1) % STATS_RING_SAMPLES;
	if (s->count < STATS_RING_SAMPLES)
		s->count++;
	s->last = *sample;
}

GArray *stats_history(Domain *dom, int64_t since)
{
	GArray *out = g_array_new(FALSE, FALSE, sizeof(StatsSample));
	Stats *s = dom ? stats_of(dom, false) : NULL;
	if (!s)
		return out;
	unsigned first = (s->head + STATS_RING_SAMPLES - s->count) % STATS_RING_SAMPLES;
	for (unsigned i = 0; i < s->count; i++) {
		const StatsSample *x = &s->ring[(first + i) % STATS_RING_SAMPLES];
		if (x->t > since)
			g_array_append_val(out, *x);
	}
	return out;
}

/* CPU time and RSS of the VMM process from /proc. */
static void sample_proc(int pid, StatsSample *x)
{
	char path[64];
	g_autofree char *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (g_file_get_contents(path, &text, NULL, NULL)) {
		/* fields after the ")" that ends the command name */
		const char *p = strrchr(text, ')');
		unsigned long utime = 0, stime = 0;
		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				&utime, &stime) == 2)
			x->cpu_time_s = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
	}
	g_clear_pointer(&text, g_free);
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (g_file_get_contents(path, &text, NULL, NULL)) {
		const char *rss = strstr(text, "\nVmRSS:");
		unsigned long kib;
		if (rss && sscanf(rss + 7, "%lu", &kib) == 1)
			x->memory_rss_bytes = (uint64_t)kib * 1024;
	}
}

static uint64_t sum_member(JsonObject *reply, const char *array, const char *member)
{
	uint64_t total = 0;
	if (!json_object_has_member(reply, array))
		return 0;
	JsonArray *a = json_object_get_array_member(reply, array);
	for (guint i = 0; a && i < json_array_get_length(a); i++) {
		JsonNode *n = json_array_get_element(a, i);
		if (!JSON_NODE_HOLDS_OBJECT(n))
			continue;
		int64_t v = json_object_get_int_member_with_default(json_node_get_object(n), member, 0);
		if (v > 0)
			total += (uint64_t)v;
	}
	return total;
}

static void stats_reply(JsonObject *reply, const GError *error, gpointer data)
{
	Domain *dom = data;
	Stats *s = stats_of(dom, false);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || !s)
		return;
	s->inflight = false;
	StatsSample x = s->last;
	x.t = s->pending_t;
	if (dom->pid)
		sample_proc(dom->pid, &x);
	if (reply) {
		x.cpu_time_s = json_object_get_double_member_with_default(reply, "cpu_time_s", x.cpu_time_s);
		int64_t rss = json_object_get_int_member_with_default(reply, "memory_rss_bytes", 0);
		if (rss > 0)
			x.memory_rss_bytes = (uint64_t)rss;
		x.disk_rd_bytes = sum_member(reply, "disks", "rd_bytes");
		x.disk_wr_bytes = sum_member(reply, "disks", "wr_bytes");
		x.disk_rd_ops = sum_member(reply, "disks", "rd_ops");
		x.disk_wr_ops = sum_member(reply, "disks", "wr_ops");
		x.net_rx_bytes = sum_member(reply, "nics", "rx_bytes");
		x.net_tx_bytes = sum_member(reply, "nics", "tx_bytes");
	}
	stats_push(dom, &x);
}

static gboolean tick(gpointer data)
{
	Domain *dom = data;
	Stats *s = stats_of(dom, true);
	int64_t now = g_get_real_time() / G_USEC_PER_SEC;
	VmmClient *ctl = supervisor_control(dom);
	if (s->inflight)
		return G_SOURCE_CONTINUE;   /* the VMM is slow: skip, don't pile up */
	if (vmm_client_connected(ctl)) {
		s->inflight = true;
		s->pending_t = now;
		vmm_client_request(ctl, "stats", NULL, stats_reply, dom);
		return G_SOURCE_CONTINUE;
	}
	StatsSample x = s->last;
	x.t = now;
	if (dom->pid)
		sample_proc(dom->pid, &x);
	stats_push(dom, &x);
	return G_SOURCE_CONTINUE;
}

void stats_attach(Domain *dom)
{
	Stats *s = stats_of(dom, true);
	g_clear_handle_id(&s->timer, g_source_remove);
	s->head = s->count = 0;
	s->inflight = false;
	memset(&s->last, 0, sizeof(s->last));
	s->timer = g_timeout_add(1000, tick, dom);
}

void stats_detach(Domain *dom)
{
	Stats *s = stats_of(dom, false);
	if (!s)
		return;
	g_clear_handle_id(&s->timer, g_source_remove);
	s->inflight = false;
}

void stats_forget(Domain *dom)
{
	stats_detach(dom);
	g_clear_pointer(&dom->stats, g_free);
}
