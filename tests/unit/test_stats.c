/* stats.c: the ring of samples (wraparound, since filtering) and the
 * /proc fallback sampling of a live process. */
#include "vmm_client.h"

#include <unistd.h>

static Domain *new_domain(void)
{
	Domain *dom = g_new0(Domain, 1);
	dom->name = g_strdup("s1");
	return dom;
}

static void free_domain(Domain *dom)
{
	stats_forget(dom);
	g_assert_null(dom->stats);
	g_free(dom->name);
	g_free(dom);
}

static void push_range(Domain *dom, int64_t from, int64_t to)
{
	for (int64_t t = from; t <= to; t++) {
		StatsSample s = { .t = t, .cpu_time_s = (double)t / 10,
				  .memory_rss_bytes = (uint64_t)t * 4096,
				  .net_rx_bytes = (uint64_t)t };
		stats_push(dom, &s);
	}
}

static void test_empty(void)
{
	Domain *dom = new_domain();
	g_autoptr(GArray) none = stats_history(dom, 0);
	g_assert_cmpuint(none->len, ==, 0);
	g_autoptr(GArray) null_dom = stats_history(NULL, 0);
	g_assert_cmpuint(null_dom->len, ==, 0);
	free_domain(dom);
}

static void test_since(void)
{
	Domain *dom = new_domain();
	push_range(dom, 1000, 1009);
	g_autoptr(GArray) all = stats_history(dom, 0);
	g_assert_cmpuint(all->len, ==, 10);
	g_assert_cmpint(g_array_index(all, StatsSample, 0).t, ==, 1000);
	g_assert_cmpint(g_array_index(all, StatsSample, 9).t, ==, 1009);
	/* strictly after `since`, so polling with the last t never repeats */
	g_autoptr(GArray) tail = stats_history(dom, 1007);
	g_assert_cmpuint(tail->len, ==, 2);
	g_assert_cmpint(g_array_index(tail, StatsSample, 0).t, ==, 1008);
	g_assert_cmpuint(g_array_index(tail, StatsSample, 1).memory_rss_bytes, ==, 1009 * 4096);
	g_autoptr(GArray) future = stats_history(dom, 2000);
	g_assert_cmpuint(future->len, ==, 0);
	free_domain(dom);
}

static void test_wraparound(void)
{
	Domain *dom = new_domain();
	/* two and a half hours: only the last STATS_RING_SAMPLES stay */
	int64_t first = 50000, last = first + 2 * STATS_RING_SAMPLES + STATS_RING_SAMPLES / 2 - 1;
	push_range(dom, first, last);
	g_autoptr(GArray) all = stats_history(dom, 0);
	g_assert_cmpuint(all->len, ==, STATS_RING_SAMPLES);
	for (guint i = 0; i < all->len; i++) {
		const StatsSample *s = &g_array_index(all, StatsSample, i);
		g_assert_cmpint(s->t, ==, last - STATS_RING_SAMPLES + 1 + i);
		g_assert_cmpuint(s->net_rx_bytes, ==, (uint64_t)s->t);
	}
	g_autoptr(GArray) since = stats_history(dom, last - 5);
	g_assert_cmpuint(since->len, ==, 5);
	g_assert_cmpint(g_array_index(since, StatsSample, 4).t, ==, last);
	free_domain(dom);
}

static gboolean quit_cb(gpointer loop)
{
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

/* No VMM control socket: CPU time and RSS come from /proc of the pid. */
static void test_sampling_proc(void)
{
	Domain *dom = new_domain();
	dom->pid = getpid();
	/* some CPU time to measure */
	volatile double x = 0;
	for (long i = 0; i < 30000000; i++)
		x += (double)i;
	g_assert_cmpfloat(x, >, 0.0);
	stats_attach(dom);
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	int64_t deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	for (;;) {
		g_autoptr(GArray) got = stats_history(dom, 0);
		if (got->len >= 2 || g_get_monotonic_time() > deadline)
			break;
		g_main_context_iteration(NULL, TRUE);
	}
	stats_detach(dom);
	g_autoptr(GArray) s = stats_history(dom, 0);
	g_assert_cmpuint(s->len, >=, 2);
	const StatsSample *last = &g_array_index(s, StatsSample, s->len - 1);
	g_assert_cmpfloat(last->cpu_time_s, >, 0.0);
	g_assert_cmpuint(last->memory_rss_bytes, >, 1024 * 1024);
	int64_t now = g_get_real_time() / G_USEC_PER_SEC;
	g_assert_cmpint(last->t, <=, now);
	g_assert_cmpint(last->t, >=, now - 3);
	/* detached: no more samples, history kept */
	guint n = s->len;
	g_timeout_add(1500, quit_cb, loop);
	g_main_loop_run(loop);
	g_autoptr(GArray) again = stats_history(dom, 0);
	g_assert_cmpuint(again->len, ==, n);
	/* a new run starts a new history */
	stats_attach(dom);
	g_autoptr(GArray) fresh = stats_history(dom, 0);
	g_assert_cmpuint(fresh->len, ==, 0);
	free_domain(dom);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/stats/empty", test_empty);
	g_test_add_func("/stats/since", test_since);
	g_test_add_func("/stats/wraparound", test_wraparound);
	g_test_add_func("/stats/sampling-proc", test_sampling_proc);
	return g_test_run();
}
