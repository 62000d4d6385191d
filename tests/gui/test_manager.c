/* test_manager.c - atoll-manager against a real atolld under Xvfb.
 *
 * atolld (built from the tree) runs on temporary --state-dir/--run-dir with
 * /bin/true as its VMM: domains can be defined, edited and undefined, not
 * started.  The manager's classes run in this process, so widget state is
 * checked directly; screenshots are kept in $GUI_TEST_OUTDIR and their
 * pixels checked. */
#include <adwaita.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "atoll-client.h"
#include "atoll-manager-application.h"
#include "atoll-manager-devices.h"
#include "atoll-manager-domain-details.h"
#include "atoll-manager-graph.h"
#include "atoll-manager-new-domain.h"
#include "atoll-manager-thumbnail.h"
#include "atoll-manager-util.h"
#include "atoll-manager-window.h"
#include "gui-harness.h"
#include "../unit/pci_sysfs_fixture.h"

static TestServer *atolld;
static char *state_dir, *socket_path, *kernel_path;
static AtollClient *api;            /* the test's own client (sync calls) */
static AtollManagerApplication *app;
static AtollManagerWindow *win;

/* ---- helpers ---- */

static gboolean socket_exists(gpointer data)
{
	(void)data;
	return g_file_test(socket_path, G_FILE_TEST_EXISTS);
}

static gboolean g_file_test_exists_cb(gpointer path)
{
	return g_file_test(path, G_FILE_TEST_EXISTS);
}

static void start_atolld(void)
{
	const char *exe = g_getenv("ATOLLD");
	g_assert_nonnull(exe);
	const char *tmp = harness_tmpdir();
	state_dir = g_build_filename(tmp, "state", NULL);
	char *run_dir = g_build_filename(tmp, "run", NULL);
	g_mkdir_with_parents(state_dir, 0700);
	g_mkdir_with_parents(run_dir, 0700);
	socket_path = g_build_filename(run_dir, "atolld.sock", NULL);
	const char *argv[] = { exe, "--foreground", "--state-dir", state_dir,
			       "--run-dir", run_dir, "--vmm", "/bin/true", NULL };
	atolld = harness_spawn(argv, NULL);
	g_assert_true(harness_wait(socket_exists, NULL, 10000));
	api = atoll_client_new(socket_path);
	kernel_path = g_build_filename(tmp, "vmlinuz", NULL);
	g_assert_true(g_file_set_contents(kernel_path, "not really a kernel", -1, NULL));
	g_free(run_dir);
}

static void define(const char *name, const char *label)
{
	g_autofree char *json = g_strdup_printf(
		"{\"name\": \"%s\", \"memory_mib\": 512, \"vcpus\": 1, \"kernel\": \"%s\", "
		"\"cmdline\": \"console=ttyS0\", \"label\": \"%s\"}", name, kernel_path, label);
	g_autoptr(JsonNode) def = json_from_string(json, NULL);
	g_autoptr(GError) error = NULL;
	JsonNode *reply = atoll_client_define(api, def, &error);
	g_assert_no_error(error);
	json_node_unref(reply);
}

static JsonNode *get_def(const char *name)
{
	g_autoptr(GError) error = NULL;
	JsonNode *def = atoll_client_get_domain(api, name, &error);
	g_assert_no_error(error);
	return def;
}

static gboolean page_is_main(gpointer data)
{
	(void)data;
	return g_strcmp0(atoll_manager_window_get_page(win), "main") == 0 &&
	       atoll_manager_window_has_events(win);
}

static gboolean row_present(gpointer name)
{
	return atoll_manager_window_find_row(win, name) != NULL;
}

static gboolean row_absent(gpointer name)
{
	return atoll_manager_window_find_row(win, name) == NULL;
}

/* Pixels of @shot within 24 per channel of @rgb, inside a rectangle. */
static guint count_colour(GdkPixbuf *shot, guint32 rgb, int x0, int y0, int w, int h)
{
	guint n = 0;
	for (int y = MAX(y0, 0); y < MIN(y0 + h, gdk_pixbuf_get_height(shot)); y++)
		for (int x = MAX(x0, 0); x < MIN(x0 + w, gdk_pixbuf_get_width(shot)); x++) {
			guint32 p = harness_pixel(shot, x, y);
			if (ABS((int)((p >> 16) & 0xff) - (int)((rgb >> 16) & 0xff)) <= 24 &&
			    ABS((int)((p >> 8) & 0xff) - (int)((rgb >> 8) & 0xff)) <= 24 &&
			    ABS((int)(p & 0xff) - (int)(rgb & 0xff)) <= 24)
				n++;
		}
	return n;
}

/* Where @widget is on screen (the window sits at 0,0: Xvfb has no WM). */
static void widget_rect(GtkWidget *widget, graphene_rect_t *out)
{
	GtkWidget *root = GTK_WIDGET(gtk_widget_get_root(widget));
	g_assert_true(gtk_widget_compute_bounds(widget, root, out));
	double sx = 0, sy = 0;
	gtk_native_get_surface_transform(GTK_NATIVE(root), &sx, &sy);
	out->origin.x += sx;
	out->origin.y += sy;
}

static GtkWidget *child(gpointer widget, GType type, const char *name)
{
	GObject *o = gtk_widget_get_template_child(GTK_WIDGET(widget), type, name);
	g_assert_nonnull(o);
	return GTK_WIDGET(o);
}

/* ---- tests ---- */

static gboolean page_is_error(gpointer data)
{
	return g_strcmp0(atoll_manager_window_get_page(data), "error") == 0;
}

static void test_unreachable(void)
{
	g_autofree char *missing = g_build_filename(harness_tmpdir(), "nothing.sock", NULL);
	AtollManagerWindow *w = atoll_manager_window_new(GTK_APPLICATION(app), missing);
	gtk_window_present(GTK_WINDOW(w));
	g_assert_true(harness_wait(page_is_error, w, 5000));
	const char *text = atoll_manager_window_get_error(w);
	g_assert_nonnull(strstr(text, missing));
	g_assert_nonnull(strstr(text, "Is atolld running?"));
	g_assert_nonnull(strstr(text, "group atoll"));
	harness_spin(300);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-unreachable");
	g_assert_nonnull(shot);
	gtk_window_destroy(GTK_WINDOW(w));
}

static void test_empty_then_events(void)
{
	win = atoll_manager_window_new(GTK_APPLICATION(app), socket_path);
	gtk_window_set_default_size(GTK_WINDOW(win), 1100, 700);
	gtk_window_present(GTK_WINDOW(win));
	g_assert_true(harness_wait(page_is_main, NULL, 10000));
	harness_spin(500);
	g_assert_cmpuint(atoll_manager_window_get_n_domains(win), ==, 0);
	g_assert_cmpstr(atoll_manager_window_get_content_page(win), ==, "empty");
	g_autoptr(GdkPixbuf) empty = harness_screenshot("manager-empty");
	g_assert_nonnull(empty);

	/* Defined behind the manager's back: the event brings it in. */
	define("web", "#e01b24");
	g_assert_true(harness_wait(row_present, "web", 3000));
	g_assert_cmpstr(atoll_manager_window_get_content_page(win), ==, "unselected");
	AtollManagerDomainRow *row = atoll_manager_window_find_row(win, "web");
	g_assert_cmpstr(atoll_manager_domain_row_get_state(row), ==, "shutoff");
	GdkRGBA rgba;
	atoll_manager_domain_row_get_label(row, &rgba);
	g_assert_cmpint((int)(rgba.red * 255 + 0.5), ==, 0xe0);

	harness_spin(500);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-list");
	graphene_rect_t r;
	widget_rect(child(row, ATOLL_TYPE_MANAGER_DOMAIN_ROW, "swatch"), &r);
	/* The swatch is a disc of the label colour. */
	g_assert_cmpuint(count_colour(shot, 0xe01b24, (int)r.origin.x, (int)r.origin.y,
				      (int)r.size.width + 1, (int)r.size.height + 1), >=, 100);
	g_assert_cmpuint(count_colour(shot, 0xe01b24, 0, 0, 1100, 700), <, 2000);

	g_autoptr(GError) error = NULL;
	g_assert_true(atoll_client_undefine(api, "web", FALSE, &error));
	g_assert_no_error(error);
	g_assert_true(harness_wait(row_absent, "web", 3000));
	harness_spin(200);
	g_assert_cmpstr(atoll_manager_window_get_content_page(win), ==, "empty");
}

static gboolean def_loaded(gpointer details)
{
	JsonNode *def = atoll_manager_domain_details_get_definition(details);
	return def && g_strcmp0(atoll_json_string(def, "name", NULL), "db") == 0;
}

static gboolean def_loaded_named(gpointer name)
{
	JsonNode *def = atoll_manager_domain_details_get_definition(
		ATOLL_MANAGER_DOMAIN_DETAILS(atoll_manager_window_get_details(win)));
	return def && g_strcmp0(atoll_json_string(def, "name", NULL), name) == 0;
}

static gboolean memory_is_768(gpointer data)
{
	(void)data;
	g_autoptr(JsonNode) def = get_def("db");
	return atoll_json_int(def, "memory_mib", 0) == 768;
}

static gboolean row_has_error(gpointer row)
{
	return atoll_field_row_has_error(row);
}

static void test_settings(void)
{
	define("db", "#2ec27e");
	g_assert_true(harness_wait(row_present, "db", 3000));
	g_assert_true(atoll_manager_window_select(win, "db"));
	g_assert_cmpstr(atoll_manager_window_get_content_page(win), ==, "details");
	GtkWidget *details = atoll_manager_window_get_details(win);
	g_assert_true(harness_wait(def_loaded, details, 3000));
	GType t = ATOLL_TYPE_MANAGER_DOMAIN_DETAILS;

	AdwViewStack *stack = ADW_VIEW_STACK(child(details, t, "view_stack"));
	adw_view_stack_set_visible_child_name(stack, "settings");
	GtkSpinButton *memory = GTK_SPIN_BUTTON(child(details, t, "memory_spin"));
	g_assert_cmpint(gtk_spin_button_get_value_as_int(memory), ==, 512);
	gtk_spin_button_set_value(memory, 768);
	g_assert_true(gtk_widget_activate_action(details, "details.apply", NULL));
	g_assert_true(harness_wait(memory_is_768, NULL, 5000));
	/* Persisted: atolld's definition file says so too. */
	g_autofree char *file = g_build_filename(state_dir, "domains", "db.json", NULL);
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(file, &text, NULL, NULL));
	g_assert_nonnull(strstr(text, "768"));
	g_autoptr(JsonNode) def = get_def("db");
	g_assert_cmpstr(atoll_json_string(def, "label", NULL), ==, "#2ec27e");

	/* A value only atolld refuses: its message lands on the right row. */
	GtkWidget *cmdline = child(details, t, "cmdline_entry");
	AdwActionRow *cmdline_row = ADW_ACTION_ROW(child(details, t, "cmdline_row"));
	gtk_editable_set_text(GTK_EDITABLE(cmdline), "console=ttyS0\x01");
	harness_spin(300);  /* the post-save reload refills the page */
	gtk_editable_set_text(GTK_EDITABLE(cmdline), "console=ttyS0\x01");
	g_assert_true(gtk_widget_activate_action(details, "details.apply", NULL));
	g_assert_true(harness_wait(row_has_error, cmdline_row, 5000));
	g_assert_nonnull(strstr(atoll_field_row_get_error(cmdline_row), "control character"));
	g_assert_nonnull(strstr(atoll_manager_window_get_last_toast(win), "control character"));
	/* A local check: a relative kernel path never leaves the manager. */
	gtk_editable_set_text(GTK_EDITABLE(cmdline), "console=ttyS0");
	gtk_editable_set_text(GTK_EDITABLE(child(details, t, "kernel_entry")), "vmlinuz");
	g_assert_true(gtk_widget_activate_action(details, "details.apply", NULL));
	g_assert_true(atoll_field_row_has_error(ADW_ACTION_ROW(child(details, t, "kernel_row"))));
	/* The label colour row is far down the page: focus scrolls to it. */
	gtk_widget_grab_focus(child(details, t, "label_button"));
	harness_spin(500);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-settings");
	graphene_rect_t r;
	widget_rect(child(details, t, "label_button"), &r);
	g_assert_cmpuint(count_colour(shot, 0x2ec27e, (int)r.origin.x, (int)r.origin.y,
				      (int)r.size.width, (int)r.size.height), >=, 30);

	g_assert_true(gtk_widget_activate_action(details, "details.revert", NULL));
	adw_view_stack_set_visible_child_name(stack, "overview");
	harness_spin(500);
	g_autoptr(GdkPixbuf) overview = harness_screenshot("manager-details");
	widget_rect(child(details, t, "hw_row"), &r);
	g_assert_cmpuint(count_colour(overview, 0xfafafa, (int)r.origin.x, (int)r.origin.y,
				      (int)r.size.width, (int)r.size.height), <,
			 (guint)(r.size.width * r.size.height));
	adw_view_stack_set_visible_child_name(stack, "performance");
	harness_spin(300);
	g_autoptr(GdkPixbuf) perf = harness_screenshot("manager-performance");
	g_assert_nonnull(perf);
}

static gboolean networks_loaded(gpointer dialog)
{
	return atoll_manager_new_domain_networks_loaded(dialog);
}

static gboolean dialog_gone(gpointer weak)
{
	return *(gpointer *)weak == NULL;
}

static void test_assistant(void)
{
	GtkWindow *dialog = atoll_manager_window_new_domain(win);
	AtollManagerNewDomain *nd = ATOLL_MANAGER_NEW_DOMAIN(dialog);
	GType t = ATOLL_TYPE_MANAGER_NEW_DOMAIN;
	g_assert_true(harness_wait(networks_loaded, nd, 5000));

	/* Host limits: vCPUs up to the host's CPUs. */
	GtkSpinButton *vcpus = GTK_SPIN_BUTTON(child(nd, t, "vcpus_spin"));
	double upper = gtk_adjustment_get_upper(gtk_spin_button_get_adjustment(vcpus));
	g_assert_cmpint((int)upper, ==, MIN(g_get_num_processors(), 64));

	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "name_entry")), "bad name!");
	g_assert_false(atoll_manager_new_domain_create(nd));
	AdwActionRow *name_row = ADW_ACTION_ROW(child(nd, t, "name_row"));
	AdwActionRow *kernel_row = ADW_ACTION_ROW(child(nd, t, "kernel_row"));
	g_assert_true(atoll_field_row_has_error(name_row));
	g_assert_true(atoll_field_row_has_error(kernel_row));
	g_assert_cmpstr(adw_action_row_get_subtitle(name_row), ==,
			atoll_field_row_get_error(name_row));
	g_assert_true(gtk_widget_has_css_class(GTK_WIDGET(name_row), "error"));
	harness_spin(500);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-assistant");
	graphene_rect_t r;
	widget_rect(GTK_WIDGET(name_row), &r);
	/* The message is drawn in the error colour beside the field. */
	g_assert_cmpuint(count_colour(shot, 0xc01c28, (int)r.origin.x, (int)r.origin.y,
				      (int)r.size.width, (int)r.size.height), >=, 20);
	/* Focus scrolls the page to the label colour row (keyboard users
	 * get there the same way). */
	gtk_widget_grab_focus(child(nd, t, "label_button"));
	harness_spin(500);
	g_autoptr(GdkPixbuf) shot2 = harness_screenshot("manager-assistant-label");
	widget_rect(child(nd, t, "label_button"), &r);
	g_assert_cmpuint(count_colour(shot2, 0x3584e4, (int)r.origin.x, (int)r.origin.y,
				      (int)r.size.width, (int)r.size.height), >=, 30);

	/* Editing a field clears its message. */
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "name_entry")), "new1");
	g_assert_false(atoll_field_row_has_error(name_row));
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "kernel_entry")), kernel_path);
	/* Only atolld refuses this one: its `field` picks the row. */
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "cmdline_entry")), "a\x02");
	AdwActionRow *cmdline_row = ADW_ACTION_ROW(child(nd, t, "cmdline_row"));
	g_assert_true(atoll_manager_new_domain_create(nd));
	g_assert_true(harness_wait(row_has_error, cmdline_row, 5000));
	g_assert_nonnull(strstr(atoll_field_row_get_error(cmdline_row), "control character"));

	/* A name that exists: 409, shown beside the name. */
	define("taken", "#813d9c");
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "cmdline_entry")), "console=ttyS0");
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "name_entry")), "taken");
	g_assert_true(atoll_manager_new_domain_create(nd));
	g_assert_true(harness_wait(row_has_error, name_row, 5000));

	gpointer weak = nd;
	g_object_add_weak_pointer(G_OBJECT(nd), &weak);
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "name_entry")), "new1");
	g_assert_true(atoll_manager_new_domain_create(nd));
	g_assert_true(harness_wait(dialog_gone, &weak, 5000));
	g_assert_true(harness_wait(row_present, "new1", 3000));
	g_autoptr(JsonNode) def = get_def("new1");
	g_assert_cmpstr(atoll_json_string(def, "label", NULL), ==, "#3584e4");
	g_assert_cmpint(atoll_json_int(def, "vcpus", 0), ==, MIN(g_get_num_processors(), 2));
	g_assert_nonnull(strstr(atoll_manager_window_get_last_toast(win), "new1"));
}

static gboolean selected_new1(gpointer data)
{
	(void)data;
	return g_strcmp0(atoll_manager_window_get_selected(win), "new1") == 0;
}

/* The new domain is selected and shut off: only start and delete apply. */
static void test_action_states(void)
{
	g_assert_true(harness_wait(selected_new1, NULL, 3000));
	g_assert_false(g_action_group_get_action_enabled(G_ACTION_GROUP(win), "shutdown"));
	g_assert_false(g_action_group_get_action_enabled(G_ACTION_GROUP(win), "pause"));
	g_assert_false(g_action_group_get_action_enabled(G_ACTION_GROUP(win), "force-off"));
	g_assert_true(g_action_group_get_action_enabled(G_ACTION_GROUP(win), "start"));
	g_assert_true(g_action_group_get_action_enabled(G_ACTION_GROUP(win), "delete"));
}


/* ---- performance graphs and console thumbnails ---- */

/* Renders @widget now, as it would draw, into a texture (saved as a PNG
 * artifact); no race with the widget's own updates. */
static GdkTexture *render_widget(GtkWidget *widget, const char *name)
{
	int w = gtk_widget_get_width(widget), h = gtk_widget_get_height(widget);
	g_assert_cmpint(w, >, 0);
	g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new(widget);
	GtkSnapshot *snap = gtk_snapshot_new();
	gdk_paintable_snapshot(paintable, snap, w, h);
	g_autoptr(GskRenderNode) node = gtk_snapshot_free_to_node(snap);
	g_assert_nonnull(node);
	GskRenderer *renderer = gtk_native_get_renderer(gtk_widget_get_native(widget));
	GdkTexture *tex = gsk_renderer_render_texture(renderer, node,
		&GRAPHENE_RECT_INIT(0, 0, (float)w, (float)h));
	g_autofree char *file = g_strdup_printf("%s/%s.png", g_getenv("GUI_TEST_OUTDIR"), name);
	g_assert_true(gdk_texture_save_to_png(tex, file));
	return tex;
}

/* Pixels of @tex within 40 per channel of @rgb. */
static guint texture_count(GdkTexture *tex, guint32 rgb, int x0, int y0, int w, int h)
{
	int tw = gdk_texture_get_width(tex), th = gdk_texture_get_height(tex);
	g_autofree guint8 *data = g_malloc((gsize)tw * th * 4);
	gdk_texture_download(tex, data, (gsize)tw * 4);
	guint n = 0;
	for (int y = MAX(y0, 0); y < MIN(y0 + h, th); y++)
		for (int x = MAX(x0, 0); x < MIN(x0 + w, tw); x++) {
			/* gdk_texture_download: B, G, R, A in memory. */
			const guint8 *p = data + ((gsize)y * tw + x) * 4;
			if (ABS((int)p[2] - (int)((rgb >> 16) & 0xff)) <= 40 &&
			    ABS((int)p[1] - (int)((rgb >> 8) & 0xff)) <= 40 &&
			    ABS((int)p[0] - (int)(rgb & 0xff)) <= 40)
				n++;
		}
	return n;
}

static void test_perf_graphs(void)
{
	GtkWidget *details = atoll_manager_window_get_details(win);
	g_assert_true(atoll_manager_window_select(win, "db"));
	g_assert_true(harness_wait(def_loaded, details, 3000));
	AdwViewStack *stack = ADW_VIEW_STACK(child(details, ATOLL_TYPE_MANAGER_DOMAIN_DETAILS,
						   "view_stack"));
	adw_view_stack_set_visible_child_name(stack, "performance");
	harness_spin(300);   /* laid out */
	/* Frozen, as a user would to look at them: the 2 s stats poll (no
	 * samples, nothing runs here) leaves the series alone. */
	gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(child(details,
		ATOLL_TYPE_MANAGER_DOMAIN_DETAILS, "freeze_button")), TRUE);
	/* Three seconds of GET …/stats samples: reads at 2 MB/s then 4 MB/s,
	 * writes at 1 MB/s, 100 then 300 IOPS, 1 kB/s in and 8 kB/s out. */
	g_autoptr(JsonNode) node = json_from_string(
		"[{\"t\":100,\"cpu_time_s\":1,\"memory_rss_bytes\":100000000,"
		"\"disk_rd_bytes\":0,\"disk_wr_bytes\":0,\"disk_rd_ops\":0,\"disk_wr_ops\":0,"
		"\"net_rx_bytes\":0,\"net_tx_bytes\":0},"
		"{\"t\":101,\"cpu_time_s\":1.5,\"memory_rss_bytes\":100000000,"
		"\"disk_rd_bytes\":2000000,\"disk_wr_bytes\":1000000,\"disk_rd_ops\":80,"
		"\"disk_wr_ops\":20,\"net_rx_bytes\":1000,\"net_tx_bytes\":8000},"
		"{\"t\":102,\"cpu_time_s\":2,\"memory_rss_bytes\":120000000,"
		"\"disk_rd_bytes\":6000000,\"disk_wr_bytes\":2000000,\"disk_rd_ops\":330,"
		"\"disk_wr_ops\":70,\"net_rx_bytes\":2000,\"net_tx_bytes\":16000}]", NULL);
	g_assert_nonnull(node);
	atoll_manager_domain_details_show_samples(ATOLL_MANAGER_DOMAIN_DETAILS(details),
						  json_node_get_array(node));
	AtollManagerGraph *disk = ATOLL_MANAGER_GRAPH(atoll_manager_domain_details_get_graph(
		ATOLL_MANAGER_DOMAIN_DETAILS(details), "disk"));
	AtollManagerGraph *net = ATOLL_MANAGER_GRAPH(atoll_manager_domain_details_get_graph(
		ATOLL_MANAGER_DOMAIN_DETAILS(details), "network"));
	g_assert_cmpuint(atoll_manager_graph_get_n_values(disk), ==, 2);
	g_assert_cmpuint(atoll_manager_graph_get_n_second(disk), ==, 2);
	g_assert_cmpstr(atoll_manager_graph_get_summary(disk), ==,
			"read 4.0\u00a0MB/s · write 1.0\u00a0MB/s · 300 IOPS");
	g_assert_cmpstr(atoll_manager_graph_get_summary(net), ==,
			"in 1.0\u00a0kB/s · out 8.0\u00a0kB/s");
	harness_spin(300);
	g_autoptr(GdkTexture) dt = render_widget(GTK_WIDGET(disk), "manager-graph-disk");
	g_autoptr(GdkTexture) nt = render_widget(GTK_WIDGET(net), "manager-graph-network");
	int w = gdk_texture_get_width(dt), h = gdk_texture_get_height(dt);
	/* The read line (orange, rising to 4 MB/s of a 4.4 MB/s scale) is
	 * drawn high at the right edge, low at the left. */
	g_assert_cmpuint(texture_count(dt, 0xe66100, w - 8, 0, 8, h / 4), >, 0);
	g_assert_cmpuint(texture_count(dt, 0xe66100, 0, 0, 8, h / 4), ==, 0);
	/* Network: a few kB/s on the 64 KiB/s minimum scale stay near the
	 * bottom; the sent line is the darker dashed one. */
	g_assert_cmpuint(texture_count(nt, 0x572668, w / 2 - 8, h * 3 / 4, 16, h / 4), >, 0);
	g_assert_cmpuint(texture_count(nt, 0x572668, 0, 0, w, h / 2), ==, 0);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-performance-io");
	graphene_rect_t r;
	widget_rect(GTK_WIDGET(disk), &r);
	g_assert_cmpuint(count_colour(shot, 0xe66100, (int)r.origin.x, (int)r.origin.y,
				      (int)r.size.width, (int)r.size.height), >=, 200);
	gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(child(details,
		ATOLL_TYPE_MANAGER_DOMAIN_DETAILS, "freeze_button")), FALSE);
}

static gboolean thumb_has_picture(gpointer thumb)
{
	return atoll_manager_thumbnail_get_texture(thumb) != NULL;
}

static guint wanted_snapshots;
static gboolean thumb_snapshots(gpointer thumb)
{
	return atoll_manager_thumbnail_get_snapshots(thumb) >= wanted_snapshots;
}

/* A domain row with a live thumbnail, fed by a real SPICE server (the
 * four-quadrant test pattern: red, green / blue, yellow). */
static void test_thumbnail(void)
{
	if (!g_getenv("SPICE_TEST_SERVER")) {
		g_test_skip("built without the SPICE test server");
		return;
	}
	g_autofree char *sock = g_build_filename(harness_tmpdir(), "thumb.sock", NULL);
	const char *args[] = { "--unix", sock, NULL };
	TestServer *srv = test_server_start(args);
	GtkWidget *w = gtk_window_new();
	gtk_window_set_default_size(GTK_WINDOW(w), 400, 120);
	GtkWidget *list = gtk_list_box_new();
	AtollManagerDomainRow *row = atoll_manager_domain_row_new("vm");
	gtk_list_box_append(GTK_LIST_BOX(list), GTK_WIDGET(row));
	gtk_window_set_child(GTK_WINDOW(w), list);
	g_autoptr(JsonNode) entry = json_from_string(
		"{\"name\":\"vm\",\"state\":\"running\",\"memory_mib\":512,\"vcpus\":1,"
		"\"label\":\"#e01b24\"}", NULL);
	atoll_manager_domain_row_update(row, entry, 3);
	g_assert_true(atoll_manager_domain_row_needs_console_uri(row));
	gtk_window_present(GTK_WINDOW(w));
	AtollManagerThumbnail *thumb =
		ATOLL_MANAGER_THUMBNAIL(atoll_manager_domain_row_get_thumbnail(row));
	atoll_manager_thumbnail_set_interval(thumb, 500);
	g_autofree char *uri = g_strdup_printf("spice+unix://%s", sock);
	atoll_manager_domain_row_set_console_uri(row, uri);
	g_assert_false(atoll_manager_domain_row_needs_console_uri(row));
	g_assert_true(harness_wait(thumb_has_picture, thumb, 10000));

	GdkTexture *tex = atoll_manager_thumbnail_get_texture(thumb);
	int tw = gdk_texture_get_width(tex), th = gdk_texture_get_height(tex);
	g_assert_cmpint(tw, ==, ATOLL_MANAGER_THUMBNAIL_WIDTH);
	g_assert_cmpint(th, ==, ATOLL_MANAGER_THUMBNAIL_WIDTH * 480 / 640);
	g_assert_cmpuint(texture_count(tex, 0xff0000, 0, 0, tw / 2, th / 2), ==,
			 (guint)(tw / 2 * (th / 2)));
	g_assert_cmpuint(texture_count(tex, 0x00ff00, tw / 2, 0, tw / 2, th / 2), ==,
			 (guint)(tw / 2 * (th / 2)));
	g_assert_cmpuint(texture_count(tex, 0xffff00, tw / 2, th / 2, tw / 2, th / 2), ==,
			 (guint)(tw / 2 * (th / 2)));
	harness_spin(300);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-thumbnail");
	graphene_rect_t r;
	widget_rect(GTK_WIDGET(thumb), &r);
	g_assert_cmpuint(count_colour(shot, 0xff0000, (int)r.origin.x, (int)r.origin.y,
				      (int)r.size.width, (int)r.size.height), >=, 300);

	/* The guest paints: the next snapshot shows it. */
	wanted_snapshots = atoll_manager_thumbnail_get_snapshots(thumb) + 1;
	test_server_send(srv, "box 0 0 320 240 0000ff");
	g_assert_true(harness_wait(thumb_snapshots, thumb, 5000));
	tex = atoll_manager_thumbnail_get_texture(thumb);
	g_assert_cmpuint(texture_count(tex, 0x0000ff, 0, 0, tw / 2, th / 2), ==,
			 (guint)(tw / 2 * (th / 2)));
	/* No change, no work. */
	guint n = atoll_manager_thumbnail_get_snapshots(thumb);
	harness_spin(1500);
	g_assert_cmpuint(atoll_manager_thumbnail_get_snapshots(thumb), ==, n);

	/* Hidden rows hold no connection. */
	g_assert_true(atoll_manager_thumbnail_is_connected(thumb));
	gtk_widget_set_visible(w, FALSE);
	g_assert_false(atoll_manager_thumbnail_is_connected(thumb));
	gtk_widget_set_visible(w, TRUE);
	g_assert_true(atoll_manager_thumbnail_is_connected(thumb));
	/* Suspended while the domain's console is open elsewhere (one SPICE
	 * client at a time): no connection, the last picture stays. */
	atoll_manager_thumbnail_set_suspended(thumb, TRUE);
	g_assert_false(atoll_manager_thumbnail_is_connected(thumb));
	g_assert_nonnull(atoll_manager_thumbnail_get_texture(thumb));
	atoll_manager_thumbnail_set_suspended(thumb, FALSE);
	g_assert_true(atoll_manager_thumbnail_is_connected(thumb));
	/* Shut off: no picture, no connection. */
	g_autoptr(JsonNode) off = json_from_string("{\"name\":\"vm\",\"state\":\"shutoff\"}", NULL);
	atoll_manager_domain_row_update(row, off, -1);
	g_assert_false(atoll_manager_thumbnail_is_connected(thumb));
	g_assert_false(gtk_widget_get_visible(GTK_WIDGET(thumb)));
	gtk_window_destroy(GTK_WINDOW(w));
	test_server_free(srv);
}

/* ---- remote hosts over ssh ---- */

/* A real sshd on a free loopback port with a temporary host key, one
 * authorized user key and one that is not; a second atolld stands for the
 * remote host's.  ssh reads $ATOLL_MANAGER_SSH_CONFIG (set in main). */
static TestServer *sshd, *far_atolld;
static char *far_socket, *ssh_dir;

static guint16 free_port(void)
{
	g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
					       G_SOCKET_PROTOCOL_TCP, NULL);
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
	g_assert_true(g_socket_bind(sock, any, TRUE, NULL));
	g_autoptr(GSocketAddress) bound = g_socket_get_local_address(sock, NULL);
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static gboolean port_open(gpointer data)
{
	g_autoptr(GSocketClient) c = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = g_socket_client_connect_to_host(
		c, "127.0.0.1", (guint16)GPOINTER_TO_UINT(data), NULL, NULL);
	return conn != NULL;
}

static char *keygen(const char *name)
{
	char *path = g_build_filename(ssh_dir, name, NULL);
	const char *argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name,
			       "-f", path, NULL };
	g_assert_true(harness_run(argv));
	return path;
}

static char *pubkey(const char *key)
{
	g_autofree char *file = g_strconcat(key, ".pub", NULL);
	char *text = NULL;
	g_assert_true(g_file_get_contents(file, &text, NULL, NULL));
	return g_strstrip(text);
}

static gboolean start_sshd(void)
{
	g_autofree char *exe = g_find_program_in_path("sshd");
	if (!exe && g_file_test("/usr/sbin/sshd", G_FILE_TEST_IS_EXECUTABLE))
		exe = g_strdup("/usr/sbin/sshd");
	if (!exe || !g_find_program_in_path("ssh"))
		return FALSE;
	ssh_dir = g_build_filename(harness_tmpdir(), "ssh", NULL);
	g_mkdir_with_parents(ssh_dir, 0700);
	g_autofree char *host_key = keygen("host_key");
	g_autofree char *user_key = keygen("user_key");
	g_autofree char *other_key = keygen("other_key");
	g_autofree char *auth = g_build_filename(ssh_dir, "authorized_keys", NULL);
	g_autofree char *user_pub = pubkey(user_key);
	g_autofree char *auth_text = g_strconcat(user_pub, "\n", NULL);
	g_assert_true(g_file_set_contents(auth, auth_text, -1, NULL));
	/* As root, sshd wants its privilege separation directory. */
	if (geteuid() == 0)
		g_mkdir_with_parents("/run/sshd", 0755);

	guint16 port = free_port();
	g_autofree char *cfg = g_build_filename(ssh_dir, "sshd_config", NULL);
	g_autofree char *pid = g_build_filename(ssh_dir, "sshd.pid", NULL);
	g_autofree char *cfg_text = g_strdup_printf(
		"Port %u\nListenAddress 127.0.0.1\nHostKey %s\nAuthorizedKeysFile %s\n"
		"PidFile %s\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
		"KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
		"AllowStreamLocalForwarding yes\nLogLevel VERBOSE\n",
		port, host_key, auth, pid);
	g_assert_true(g_file_set_contents(cfg, cfg_text, -1, NULL));
	const char *argv[] = { exe, "-D", "-e", "-f", cfg, NULL };
	sshd = harness_spawn(argv, NULL);
	if (!harness_wait(port_open, GUINT_TO_POINTER(port), 10000))
		return FALSE;

	/* The client side: known host key under an alias, one entry per case. */
	g_autofree char *host_pub = pubkey(host_key);
	g_autofree char *known = g_build_filename(ssh_dir, "known_hosts", NULL);
	g_autofree char *known_text = g_strdup_printf("atoll-test-sshd %s\n", host_pub);
	g_assert_true(g_file_set_contents(known, known_text, -1, NULL));
	g_autofree char *empty = g_build_filename(ssh_dir, "known_hosts_empty", NULL);
	g_assert_true(g_file_set_contents(empty, "", -1, NULL));
	GString *client = g_string_new(NULL);
	const struct { const char *alias, *key, *known; } hosts[] = {
		{ "atoll-good", user_key, known }, { "atoll-badkey", other_key, known },
		{ "atoll-unknown", user_key, empty },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(hosts); i++)
		g_string_append_printf(client,
			"Host %s\n  HostName 127.0.0.1\n  Port %u\n  User %s\n  IdentityFile %s\n"
			"  IdentitiesOnly yes\n  IdentityAgent none\n  HostKeyAlias atoll-test-sshd\n"
			"  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n"
			"  StrictHostKeyChecking yes\n  PasswordAuthentication no\n",
			hosts[i].alias, port, g_get_user_name(), hosts[i].key, hosts[i].known);
	g_autofree char *client_cfg = g_build_filename(ssh_dir, "ssh_config", NULL);
	g_assert_true(g_file_set_contents(client_cfg, client->str, -1, NULL));
	g_string_free(client, TRUE);
	g_setenv(ATOLL_MANAGER_SSH_CONFIG_ENV, client_cfg, TRUE);
	return TRUE;
}

static void start_far_atolld(void)
{
	g_autofree char *dir = g_build_filename(harness_tmpdir(), "far", NULL);
	g_autofree char *state = g_build_filename(dir, "state", NULL);
	g_autofree char *run = g_build_filename(dir, "run", NULL);
	g_mkdir_with_parents(state, 0700);
	g_mkdir_with_parents(run, 0700);
	far_socket = g_build_filename(run, "atolld.sock", NULL);
	const char *argv[] = { g_getenv("ATOLLD"), "--foreground", "--state-dir", state,
			       "--run-dir", run, "--vmm", "/bin/true", NULL };
	far_atolld = harness_spawn(argv, NULL);
	g_assert_true(harness_wait(g_file_test_exists_cb, far_socket,
				   10000));
}

static gboolean host_settled(gpointer host)
{
	AtollManagerHostState st = atoll_manager_host_get_state(host);
	return st == ATOLL_MANAGER_HOST_FAILED || st == ATOLL_MANAGER_HOST_READY;
}

static AtollManagerHost *add_failing_host(const char *dest, const char *sock,
					  const char *expect)
{
	g_autoptr(GError) error = NULL;
	AtollManagerHost *host = atoll_manager_window_add_host(win, dest, sock, &error);
	g_assert_no_error(error);
	g_assert_true(harness_wait(host_settled, host, 30000));
	g_assert_cmpint(atoll_manager_host_get_state(host), ==, ATOLL_MANAGER_HOST_FAILED);
	const char *why = atoll_manager_host_get_error(host);
	if (!strstr(why, expect))
		g_error("%s: expected “%s” in: %s", dest, expect, why);
	/* Said in a toast; what is shown stays this computer's. */
	g_assert_nonnull(strstr(atoll_manager_window_get_last_toast(win), expect));
	g_assert_false(atoll_manager_host_is_remote(atoll_manager_window_get_current_host(win)));
	return host;
}

static gboolean showing_far(gpointer host)
{
	return atoll_manager_window_get_current_host(win) == host && page_is_main(NULL) &&
	       atoll_manager_window_find_row(win, "far") != NULL;
}

static gboolean showing_local(gpointer data)
{
	(void)data;
	return !atoll_manager_host_is_remote(atoll_manager_window_get_current_host(win)) &&
	       page_is_main(NULL) && atoll_manager_window_find_row(win, "db") != NULL;
}

typedef struct {
	gboolean done;
	char *uri;
	GError *error;
} MapResult;

static void map_done(GObject *src, GAsyncResult *res, gpointer data)
{
	MapResult *m = data;
	m->uri = atoll_manager_host_map_uri_finish(ATOLL_MANAGER_HOST(src), res, &m->error);
	m->done = TRUE;
}

static gboolean map_finished(gpointer data)
{
	return ((MapResult *)data)->done;
}

static void test_ssh_hosts(void)
{
	if (!start_sshd()) {
		g_test_skip("no sshd (apt-get install openssh-server) or it did not start");
		return;
	}
	start_far_atolld();
	g_autoptr(AtollClient) far = atoll_client_new(far_socket);
	g_autoptr(JsonNode) def = json_from_string(
		"{\"name\": \"far\", \"memory_mib\": 256, \"vcpus\": 1, \"kernel\": \"/vmlinuz\", "
		"\"label\": \"#ff7800\"}", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) r1 = atoll_client_define(far, def, &error);
	g_assert_no_error(error);
	guint before = atoll_manager_window_get_n_hosts(win);

	/* Bad input never reaches ssh. */
	g_assert_null(atoll_manager_window_add_host(win, "-oProxyCommand=x", NULL, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);

	add_failing_host("atoll-unknown", far_socket, "host key");
	add_failing_host("atoll-badkey", far_socket, "did not accept your ssh key");
	AtollManagerHost *nowhere = add_failing_host("atoll-good", "/nonexistent/atolld.sock",
						     "atolld is not running there");
	harness_spin(300);
	g_autoptr(GdkPixbuf) failed = harness_screenshot("manager-hosts-failed");
	g_assert_nonnull(failed);
	atoll_manager_window_remove_host(win, nowhere);

	g_assert_nonnull(atoll_manager_window_add_host(win, "atoll-good", far_socket, &error));
	g_assert_no_error(error);
	AtollManagerHost *good = atoll_manager_window_find_host(win, "atoll-good");
	g_assert_true(harness_wait(showing_far, good, 30000));
	g_assert_null(atoll_manager_window_find_row(win, "db"));
	/* Events come through the tunnel too. */
	g_autoptr(JsonNode) def2 = json_from_string(
		"{\"name\": \"far2\", \"memory_mib\": 256, \"vcpus\": 1, \"kernel\": \"/vmlinuz\"}",
		NULL);
	g_autoptr(JsonNode) r2 = atoll_client_define(far, def2, &error);
	g_assert_no_error(error);
	g_assert_true(harness_wait(row_present, "far2", 5000));
	harness_spin(500);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-remote-host");
	AtollManagerDomainRow *row = atoll_manager_window_find_row(win, "far");
	graphene_rect_t r;
	widget_rect(child(row, ATOLL_TYPE_MANAGER_DOMAIN_ROW, "swatch"), &r);
	g_assert_cmpuint(count_colour(shot, 0xff7800, (int)r.origin.x, (int)r.origin.y,
				      (int)r.size.width + 1, (int)r.size.height + 1), >=, 100);

	/* A console there: forwarded on the same ssh connection, and a
	 * thumbnail through it shows the (real SPICE test server's) screen. */
	if (g_getenv("SPICE_TEST_SERVER")) {
		g_autofree char *far_spice = g_build_filename(harness_tmpdir(), "far.spice", NULL);
		const char *sargs[] = { "--unix", far_spice, NULL };
		TestServer *srv = test_server_start(sargs);
		g_autofree char *far_uri = g_strdup_printf("spice+unix://%s", far_spice);
		MapResult m = { 0 };
		atoll_manager_host_map_uri_async(good, far_uri, NULL, map_done, &m);
		g_assert_true(harness_wait(map_finished, &m, 20000));
		g_assert_no_error(m.error);
		g_assert_nonnull(m.uri);
		g_assert_cmpstr(m.uri, !=, far_uri);
		g_assert_true(g_str_has_prefix(m.uri, "spice+unix://"));
		GtkWidget *tw = gtk_window_new();
		GtkWidget *thumb = atoll_manager_thumbnail_new();
		gtk_window_set_child(GTK_WINDOW(tw), thumb);
		gtk_window_present(GTK_WINDOW(tw));
		atoll_manager_thumbnail_set_uri(ATOLL_MANAGER_THUMBNAIL(thumb), m.uri);
		g_assert_true(harness_wait(thumb_has_picture, thumb, 15000));
		GdkTexture *tex = atoll_manager_thumbnail_get_texture(ATOLL_MANAGER_THUMBNAIL(thumb));
		int tw_ = gdk_texture_get_width(tex), th_ = gdk_texture_get_height(tex);
		g_assert_cmpuint(texture_count(tex, 0xff0000, 0, 0, tw_ / 2, th_ / 2), ==,
				 (guint)(tw_ / 2 * (th_ / 2)));
		gtk_window_destroy(GTK_WINDOW(tw));
		test_server_free(srv);
		g_free(m.uri);
	}

	/* The list survives a restart of the manager. */
	g_autofree char *ini = g_build_filename(g_get_user_config_dir(), "atoll-manager",
						"hosts.ini", NULL);
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(ini, &text, NULL, NULL));
	g_assert_nonnull(strstr(text, "[atoll-good]"));
	g_assert_nonnull(strstr(text, far_socket));
	g_assert_null(strstr(text, "/nonexistent"));

	atoll_manager_window_show_local(win);
	g_assert_true(harness_wait(showing_local, NULL, 10000));
	g_assert_null(atoll_manager_window_find_row(win, "far"));

	/* Back again: the tunnel is still up. */
	g_assert_true(atoll_manager_window_select_host(win, good));
	g_assert_true(harness_wait(showing_far, good, 10000));
	atoll_manager_window_remove_host(win, good);
	g_assert_true(harness_wait(showing_local, NULL, 10000));
	atoll_manager_window_remove_host(win, atoll_manager_window_find_host(win, "atoll-unknown"));
	atoll_manager_window_remove_host(win, atoll_manager_window_find_host(win, "atoll-badkey"));
	g_assert_cmpuint(atoll_manager_window_get_n_hosts(win), ==, before);
	test_server_free(far_atolld);
	test_server_free(sshd);
}

/* ---- clone, new disks, undo ---- */

static gboolean clone_selected(gpointer name)
{
	return g_strcmp0(atoll_manager_window_get_selected(win), name) == 0;
}

static gboolean toast_has(gpointer text)
{
	const char *t = atoll_manager_window_get_last_toast(win);
	return t && strstr(t, text);
}

static AdwMessageDialog *find_message_dialog(void)
{
	GListModel *tops = gtk_window_get_toplevels();
	for (guint i = 0; i < g_list_model_get_n_items(tops); i++) {
		g_autoptr(GObject) w = g_list_model_get_item(tops, i);
		if (ADW_IS_MESSAGE_DIALOG(w) && gtk_widget_get_visible(GTK_WIDGET(w)))
			return ADW_MESSAGE_DIALOG(w);
	}
	return NULL;
}

static void test_clone(void)
{
	/* A 64 MiB image with two written MiB: the copy must carry them and
	 * stay sparse. */
	g_autofree char *img = g_build_filename(harness_tmpdir(), "src.img", NULL);
	FILE *f = fopen(img, "w");
	g_assert_nonnull(f);
	g_autofree guint8 *mib = g_malloc(1024 * 1024);
	for (int i = 0; i < 1024 * 1024; i++)
		mib[i] = (guint8)(i * 7 + 1);
	g_assert_cmpint(fwrite(mib, 1, 1024 * 1024, f), ==, 1024 * 1024);
	g_assert_cmpint(fseek(f, 32 * 1024 * 1024, SEEK_SET), ==, 0);
	g_assert_cmpint(fwrite(mib, 1, 1024 * 1024, f), ==, 1024 * 1024);
	g_assert_cmpint(ftruncate(fileno(f), 64 * 1024 * 1024), ==, 0);
	fclose(f);
	g_autofree char *json = g_strdup_printf(
		"{\"name\": \"src\", \"memory_mib\": 256, \"vcpus\": 1, \"kernel\": \"%s\", "
		"\"disks\": [{\"path\": \"%s\"}], \"nics\": [{\"type\": \"isolated\"}], "
		"\"label\": \"#1c71d8\"}", kernel_path, img);
	g_autoptr(JsonNode) def = json_from_string(json, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) r = atoll_client_define(api, def, &error);
	g_assert_no_error(error);
	g_assert_true(harness_wait(row_present, "src", 3000));

	guint before = atoll_manager_window_get_clone_events(win);
	atoll_manager_window_clone(win, "src", "src-copy");
	g_assert_true(harness_wait(clone_selected, "src-copy", 20000));
	g_assert_cmpuint(atoll_manager_window_get_clone_events(win), >, before);
	g_assert_true(harness_wait(toast_has, "is ready", 3000));

	g_autoptr(JsonNode) copy = get_def("src-copy");
	g_autofree char *want = g_build_filename(state_dir, "images", "src-copy.img", NULL);
	JsonArray *disks = json_object_get_array_member(json_node_get_object(copy), "disks");
	g_assert_cmpstr(atoll_json_string(json_array_get_element(disks, 0), "path", NULL), ==, want);
	JsonArray *nics = json_object_get_array_member(json_node_get_object(copy), "nics");
	g_autoptr(JsonNode) orig = get_def("src");
	JsonArray *onics = json_object_get_array_member(json_node_get_object(orig), "nics");
	g_assert_cmpstr(atoll_json_string(json_array_get_element(nics, 0), "mac", NULL), !=,
			atoll_json_string(json_array_get_element(onics, 0), "mac", NULL));
	g_autofree char *a = NULL, *b = NULL;
	gsize na, nb;
	g_assert_true(g_file_get_contents(img, &a, &na, NULL));
	g_assert_true(g_file_get_contents(want, &b, &nb, NULL));
	g_assert_cmpuint(na, ==, nb);
	g_assert_true(memcmp(a, b, na) == 0);
	GStatBuf st;
	g_assert_cmpint(g_stat(want, &st), ==, 0);
	g_assert_cmpint((gint64)st.st_blocks * 512, <=, 4 * 1024 * 1024);

	/* What atolld refuses, by field: it writes only under its image
	 * directory, with names it checks. */
	g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
	g_assert_null(atoll_client_clone(api, "src", "../x", &e1));
	g_assert_cmpstr(atoll_client_error_get_field(e1), ==, "new_name");
	g_assert_null(atoll_client_create_image(api, "../evil.img", 1, &e2));
	g_assert_cmpstr(atoll_client_error_get_field(e2), ==, "name");
	g_assert_null(atoll_client_create_image(api, "ok.img", 0, &e3));
	g_assert_cmpstr(atoll_client_error_get_field(e3), ==, "size_mib");

	/* A name that exists: atolld's 409 in a toast. */
	atoll_manager_window_clone(win, "src", "src-copy");
	g_assert_true(harness_wait(toast_has, "already exists", 5000));
	g_assert_nonnull(strstr(atoll_manager_window_get_last_toast(win), "Could not clone"));

	/* Delete the copy, keeping its disk: the toast undoes it. */
	g_assert_true(harness_wait(def_loaded_named, "src-copy", 3000));
	g_assert_true(g_action_group_get_action_enabled(G_ACTION_GROUP(win), "delete"));
	g_action_group_activate_action(G_ACTION_GROUP(win), "delete", NULL);
	AdwMessageDialog *dialog = find_message_dialog();
	g_assert_nonnull(dialog);
	adw_message_dialog_response(dialog, "delete");
	/* A click closes it after the response; the call alone does not. */
	gtk_window_destroy(GTK_WINDOW(dialog));
	g_assert_true(harness_wait(row_absent, "src-copy", 5000));
	g_assert_true(harness_wait(toast_has, "deleted", 3000));
	g_assert_true(g_file_test(want, G_FILE_TEST_EXISTS));
	harness_spin(300);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-undo-delete");
	g_assert_nonnull(shot);
	g_action_group_activate_action(G_ACTION_GROUP(win), "undo-delete", NULL);
	g_assert_true(harness_wait(row_present, "src-copy", 5000));
	g_autoptr(JsonNode) back = get_def("src-copy");
	disks = json_object_get_array_member(json_node_get_object(back), "disks");
	g_assert_cmpstr(atoll_json_string(json_array_get_element(disks, 0), "path", NULL), ==, want);
	g_assert_true(harness_wait(toast_has, "restored", 3000));
}

static void test_assistant_new_disk(void)
{
	GtkWindow *dialog = atoll_manager_window_new_domain(win);
	AtollManagerNewDomain *nd = ATOLL_MANAGER_NEW_DOMAIN(dialog);
	GType t = ATOLL_TYPE_MANAGER_NEW_DOMAIN;
	g_assert_true(harness_wait(networks_loaded, nd, 5000));
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "name_entry")), "fresh");
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "kernel_entry")), kernel_path);
	adw_combo_row_set_selected(ADW_COMBO_ROW(child(nd, t, "boot_row")), 2);
	g_assert_true(gtk_widget_get_visible(child(nd, t, "new_disk_row")));
	g_assert_false(gtk_widget_get_visible(child(nd, t, "disk_row")));
	/* Alpine: small memory and disk, its root= line. */
	adw_combo_row_set_selected(ADW_COMBO_ROW(child(nd, t, "os_row")), 3);
	GtkSpinButton *size = GTK_SPIN_BUTTON(child(nd, t, "disk_size_spin"));
	g_assert_cmpint(gtk_spin_button_get_value_as_int(size), ==, 2);
	g_assert_cmpint(gtk_spin_button_get_value_as_int(
		GTK_SPIN_BUTTON(child(nd, t, "memory_spin"))), ==, 256);
	g_assert_nonnull(strstr(gtk_editable_get_text(GTK_EDITABLE(child(nd, t, "cmdline_entry"))),
				"root=/dev/vda"));
	gtk_spin_button_set_value(size, 3);
	harness_spin(300);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-assistant-new-disk");
	g_assert_nonnull(shot);
	gpointer weak = nd;
	g_object_add_weak_pointer(G_OBJECT(nd), &weak);
	g_assert_true(atoll_manager_new_domain_create(nd));
	g_assert_true(harness_wait(dialog_gone, &weak, 5000));
	g_assert_true(harness_wait(row_present, "fresh", 3000));
	g_autoptr(JsonNode) def = get_def("fresh");
	g_autofree char *want = g_build_filename(state_dir, "images", "fresh.img", NULL);
	JsonArray *disks = json_object_get_array_member(json_node_get_object(def), "disks");
	g_assert_cmpstr(atoll_json_string(json_array_get_element(disks, 0), "path", NULL), ==, want);
	g_assert_nonnull(strstr(atoll_json_string(def, "cmdline", ""), "modules=ext4"));
	GStatBuf st;
	g_assert_cmpint(g_stat(want, &st), ==, 0);
	g_assert_cmpint((gint64)st.st_size, ==, 3ll * 1024 * 1024 * 1024);
	g_assert_cmpint((gint64)st.st_blocks, ==, 0);

	/* The same name again: the image exists, said beside the name. */
	dialog = atoll_manager_window_new_domain(win);
	nd = ATOLL_MANAGER_NEW_DOMAIN(dialog);
	g_assert_true(harness_wait(networks_loaded, nd, 5000));
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "name_entry")), "fresh");
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "kernel_entry")), kernel_path);
	adw_combo_row_set_selected(ADW_COMBO_ROW(child(nd, t, "boot_row")), 2);
	AdwActionRow *name_row = ADW_ACTION_ROW(child(nd, t, "name_row"));
	g_assert_true(atoll_manager_new_domain_create(nd));
	g_assert_true(harness_wait(row_has_error, name_row, 5000));
	g_assert_nonnull(strstr(atoll_field_row_get_error(name_row), "exists already"));
	gtk_window_destroy(dialog);
}

static gboolean installer_memory_2048(gpointer data)
{
	(void)data;
	g_autoptr(JsonNode) def = get_def("installer");
	return atoll_json_int(def, "memory_mib", 0) == 2048;
}

/* UEFI + installer ISO: the ISO read-only and booted first, a sparse
 * target disk made by atolld, and a bad ISO path said beside its field. */
static void test_assistant_uefi_iso(void)
{
	GtkWindow *dialog = atoll_manager_window_new_domain(win);
	AtollManagerNewDomain *nd = ATOLL_MANAGER_NEW_DOMAIN(dialog);
	GType t = ATOLL_TYPE_MANAGER_NEW_DOMAIN;
	g_assert_true(harness_wait(networks_loaded, nd, 5000));
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "name_entry")), "installer");
	/* Windows: UEFI from an ISO, 64 GiB, the virtio-win note; no kernel. */
	adw_combo_row_set_selected(ADW_COMBO_ROW(child(nd, t, "os_row")), 4);
	g_assert_cmpuint(adw_combo_row_get_selected(ADW_COMBO_ROW(child(nd, t, "firmware_row"))),
			 ==, 2);
	GtkSpinButton *size = GTK_SPIN_BUTTON(child(nd, t, "disk_size_spin"));
	g_assert_cmpint(gtk_spin_button_get_value_as_int(size), ==, 64);
	GtkWidget *note = child(nd, t, "note_row");
	g_assert_true(gtk_widget_get_visible(note));
	g_assert_nonnull(strstr(adw_action_row_get_subtitle(ADW_ACTION_ROW(note)), "virtio-win"));
	g_assert_true(gtk_widget_get_visible(child(nd, t, "iso_row")));
	g_assert_true(gtk_widget_get_visible(child(nd, t, "new_disk_row")));
	g_assert_false(gtk_widget_get_visible(child(nd, t, "kernel_row")));
	g_assert_false(gtk_widget_get_visible(child(nd, t, "cmdline_row")));
	g_assert_false(gtk_widget_get_visible(child(nd, t, "disk_row")));

	/* A directory is not an ISO; a missing file neither. */
	AdwActionRow *iso_row = ADW_ACTION_ROW(child(nd, t, "iso_row"));
	GtkEditable *iso = GTK_EDITABLE(child(nd, t, "iso_entry"));
	gtk_editable_set_text(iso, state_dir);
	g_assert_false(atoll_manager_new_domain_create(nd));
	g_assert_nonnull(strstr(atoll_field_row_get_error(iso_row), "Not a regular file"));
	g_assert_true(gtk_widget_has_focus(GTK_WIDGET(iso_row)) ||
		      gtk_widget_is_ancestor(gtk_root_get_focus(GTK_ROOT(nd)), GTK_WIDGET(iso_row)));
	harness_spin(300);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-assistant-uefi-iso");
	/* The error is drawn in the row: the error colour is there. */
	graphene_rect_t r;
	widget_rect(GTK_WIDGET(iso_row), &r);
	g_assert_cmpuint(count_colour(shot, 0xc01c28, (int)r.origin.x, (int)r.origin.y,
				      (int)r.size.width, (int)r.size.height), >=, 20);
	g_autofree char *iso_path = g_build_filename(harness_tmpdir(), "setup.iso", NULL);
	gtk_editable_set_text(iso, iso_path);
	g_assert_false(atoll_manager_new_domain_create(nd));
	g_assert_nonnull(strstr(atoll_field_row_get_error(iso_row), "no such file"));

	g_assert_true(g_file_set_contents(iso_path, "CD001 not really an ISO", -1, NULL));
	gtk_spin_button_set_value(size, 2);
	gpointer weak = nd;
	g_object_add_weak_pointer(G_OBJECT(nd), &weak);
	g_assert_true(atoll_manager_new_domain_create(nd));
	g_assert_true(harness_wait(dialog_gone, &weak, 5000));
	g_assert_true(harness_wait(row_present, "installer", 3000));
	g_autoptr(JsonNode) def = get_def("installer");
	g_assert_cmpstr(atoll_json_string(def, "firmware", NULL), ==, "uefi");
	g_assert_cmpstr(atoll_json_string(def, "boot_order", NULL), ==, "disk0,disk1");
	g_assert_null(atoll_json_string(def, "kernel", NULL));
	JsonArray *disks = json_object_get_array_member(json_node_get_object(def), "disks");
	g_assert_cmpuint(json_array_get_length(disks), ==, 2);
	JsonObject *d0 = json_array_get_object_element(disks, 0);
	g_assert_cmpstr(json_object_get_string_member(d0, "path"), ==, iso_path);
	g_assert_true(json_object_get_boolean_member_with_default(d0, "readonly", FALSE));
	JsonObject *d1 = json_array_get_object_element(disks, 1);
	g_autofree char *want = g_build_filename(state_dir, "images", "installer.img", NULL);
	g_assert_cmpstr(json_object_get_string_member(d1, "path"), ==, want);
	g_assert_false(json_object_get_boolean_member_with_default(d1, "readonly", FALSE));
	GStatBuf st;
	g_assert_cmpint(g_stat(want, &st), ==, 0);
	g_assert_cmpint((gint64)st.st_size, ==, 2ll * 1024 * 1024 * 1024);
	g_assert_cmpint((gint64)st.st_blocks, ==, 0);

	/* The details page names the firmware. */
	g_assert_true(atoll_manager_window_select(win, "installer"));
	g_assert_true(harness_wait(def_loaded_named, "installer", 3000));
	GtkWidget *details = atoll_manager_window_get_details(win);
	const char *boot = adw_action_row_get_subtitle(ADW_ACTION_ROW(child(details,
		ATOLL_TYPE_MANAGER_DOMAIN_DETAILS, "boot_row")));
	g_assert_nonnull(strstr(boot, "UEFI"));
	g_assert_nonnull(strstr(boot, "disk0,disk1"));
	/* Settings save a firmware domain without asking for a kernel. */
	harness_spin(300);
	gtk_spin_button_set_value(GTK_SPIN_BUTTON(child(details, ATOLL_TYPE_MANAGER_DOMAIN_DETAILS,
							"memory_spin")), 2048);
	g_assert_true(gtk_widget_activate_action(details, "details.apply", NULL));
	g_assert_true(harness_wait(installer_memory_2048, NULL, 5000));
	g_autoptr(JsonNode) saved = get_def("installer");
	g_assert_cmpstr(atoll_json_string(saved, "firmware", NULL), ==, "uefi");
	g_assert_null(atoll_json_string(saved, "kernel", NULL));

	/* BIOS from an existing disk: atolld takes it without a kernel. */
	dialog = atoll_manager_window_new_domain(win);
	nd = ATOLL_MANAGER_NEW_DOMAIN(dialog);
	g_assert_true(harness_wait(networks_loaded, nd, 5000));
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "name_entry")), "legacy");
	adw_combo_row_set_selected(ADW_COMBO_ROW(child(nd, t, "firmware_row")), 3);
	g_assert_true(gtk_widget_get_visible(child(nd, t, "disk_row")));
	g_assert_false(gtk_widget_get_visible(child(nd, t, "iso_row")));
	g_assert_false(gtk_widget_get_visible(child(nd, t, "initrd_row")));
	gtk_editable_set_text(GTK_EDITABLE(child(nd, t, "disk_entry")), want);
	weak = nd;
	g_object_add_weak_pointer(G_OBJECT(nd), &weak);
	g_assert_true(atoll_manager_new_domain_create(nd));
	g_assert_true(harness_wait(dialog_gone, &weak, 5000));
	g_autoptr(JsonNode) legacy = get_def("legacy");
	g_assert_cmpstr(atoll_json_string(legacy, "firmware", NULL), ==, "bios");
	g_assert_cmpstr(atoll_json_string(legacy, "boot_order", NULL), ==, "disk0");
	g_assert_null(atoll_json_string(legacy, "cmdline", NULL));
}

/* ---- devices tab ---- */

static gboolean devices_settled(gpointer devices)
{
	return g_strcmp0(atoll_manager_devices_get_page(devices), "loading") != 0;
}

/* The real host's PCI and USB lists as atolld gives them (this machine's
 * sysfs; no IOMMU here, so every preflight fails and says why). */
static void test_devices(void)
{
	g_assert_true(atoll_manager_window_select(win, "db"));
	GtkWidget *details = atoll_manager_window_get_details(win);
	g_assert_true(harness_wait(def_loaded, details, 3000));
	AdwViewStack *stack = ADW_VIEW_STACK(child(details, ATOLL_TYPE_MANAGER_DOMAIN_DETAILS,
						   "view_stack"));
	adw_view_stack_set_visible_child_name(stack, "devices");
	AtollManagerDevices *devices = ATOLL_MANAGER_DEVICES(child(details,
		ATOLL_TYPE_MANAGER_DOMAIN_DETAILS, "devices"));
	g_assert_true(harness_wait(devices_settled, devices, 15000));
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) pci = atoll_client_request(api, "GET", "/v1/host/pci", NULL, NULL,
						       &error);
	g_assert_no_error(error);
	JsonArray *list = json_node_get_array(pci);
	g_assert_cmpstr(atoll_manager_devices_get_page(devices), ==, "list");
	g_assert_cmpuint(atoll_manager_devices_get_n_pci(devices), ==, json_array_get_length(list));
	if (json_array_get_length(list) > 0) {
		JsonNode *first = json_array_get_element(list, 0);
		const char *addr = atoll_json_string(first, "address", NULL);
		AdwActionRow *row = atoll_manager_devices_find_row(devices, addr);
		g_assert_nonnull(row);
		g_assert_nonnull(strstr(adw_preferences_row_get_title(ADW_PREFERENCES_ROW(row)),
					addr));
		/* The preflight's first failure is on the row. */
		JsonNode *pf = json_object_get_member(json_node_get_object(first), "preflight");
		JsonArray *checks = json_object_get_array_member(json_node_get_object(pf), "checks");
		for (guint i = 0; i < json_array_get_length(checks); i++) {
			JsonNode *c = json_array_get_element(checks, i);
			if (g_str_equal(atoll_json_string(c, "result", ""), "fail")) {
				g_assert_nonnull(strstr(adw_action_row_get_subtitle(row),
							atoll_json_string(c, "message", "")));
				break;
			}
		}
	}
	harness_spin(500);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-devices");
	g_assert_nonnull(shot);
	adw_view_stack_set_visible_child_name(stack, "overview");
}

/* ---- devices tab: live refresh, USB attach, PCI assign ---- */

static guint live_target;

static gboolean live_reloaded(gpointer devices)
{
	return atoll_manager_devices_get_reloads(devices) >= live_target &&
	       g_strcmp0(atoll_manager_devices_get_page(devices), "list") == 0;
}

/* The Assign/Remove button on a PCI row. */
static GtkWidget *row_button(GtkWidget *w)
{
	if (GTK_IS_BUTTON(w) && g_object_get_data(G_OBJECT(w), "address"))
		return w;
	for (GtkWidget *c = gtk_widget_get_first_child(w); c; c = gtk_widget_get_next_sibling(c)) {
		GtkWidget *b = row_button(c);
		if (b)
			return b;
	}
	return NULL;
}

static const char *live_addr;

static gboolean db_has_pci(gpointer want)
{
	g_autoptr(JsonNode) def = get_def("db");
	JsonNode *pci = json_object_get_member(json_node_get_object(def), "pci");
	gboolean has = FALSE;
	JsonArray *a = pci && JSON_NODE_HOLDS_ARRAY(pci) ? json_node_get_array(pci) : NULL;
	for (guint i = 0; a && i < json_array_get_length(a); i++)
		has |= g_strcmp0(atoll_json_string(json_array_get_element(a, i), "host", NULL),
				 live_addr) == 0;
	return has == GPOINTER_TO_INT(want);
}

static gboolean button_says(gpointer devices, const char *label)
{
	AdwActionRow *row = atoll_manager_devices_find_row(devices, live_addr);
	GtkWidget *b = row ? row_button(GTK_WIDGET(row)) : NULL;
	return b && gtk_widget_get_sensitive(b) &&
	       g_strcmp0(gtk_button_get_label(GTK_BUTTON(b)), label) == 0;
}

static gboolean shows_remove(gpointer devices)
{
	return button_says(devices, "_Remove");
}

static gboolean shows_assign(gpointer devices)
{
	return button_says(devices, "_Assign");
}

/* Presses the row's button the way the keyboard does: focus, activate. */
static void press(AtollManagerDevices *devices, const char *a11y)
{
	AdwActionRow *row = atoll_manager_devices_find_row(devices, live_addr);
	g_assert_nonnull(row);
	GtkWidget *b = row_button(GTK_WIDGET(row));
	g_assert_nonnull(b);
	g_assert_true(gtk_widget_get_focusable(b));
	g_assert_nonnull(strstr(gtk_widget_get_tooltip_text(b), a11y));
	/* Tab from the focused row reaches its button. */
	g_assert_true(gtk_widget_grab_focus(GTK_WIDGET(row)));
	g_assert_true(gtk_widget_child_focus(GTK_WIDGET(win), GTK_DIR_TAB_FORWARD));
	g_assert_true(gtk_root_get_focus(GTK_ROOT(win)) == b);
	g_assert_true(gtk_widget_activate(b));
}

/* On this machine's real sysfs and the real atolld: a device-changed
 * event refreshes the tab (debounced, without the loading page), a USB
 * attach atolld refuses ends in its message in a toast, and Assign/Remove
 * of a real PCI function change the definition and the rows. */
static void test_devices_live(void)
{
	g_assert_true(atoll_manager_window_select(win, "db"));
	GtkWidget *details = atoll_manager_window_get_details(win);
	g_assert_true(harness_wait(def_loaded, details, 3000));
	AdwViewStack *stack = ADW_VIEW_STACK(child(details, ATOLL_TYPE_MANAGER_DOMAIN_DETAILS,
						   "view_stack"));
	adw_view_stack_set_visible_child_name(stack, "devices");
	AtollManagerDevices *devices = ATOLL_MANAGER_DEVICES(child(details,
		ATOLL_TYPE_MANAGER_DOMAIN_DETAILS, "devices"));
	g_assert_true(harness_wait(devices_settled, devices, 15000));
	g_assert_cmpstr(atoll_manager_devices_get_page(devices), ==, "list");

	/* A burst of host hot-plug events (what usb_watch.c sends) through
	 * the window's event handler: one fetch, the old rows stay meanwhile. */
	live_target = atoll_manager_devices_get_reloads(devices) + 1;
	g_autoptr(JsonNode) ev = json_from_string(
		"{\"type\": \"device-changed\", \"kind\": \"usb\", \"action\": \"added\", "
		"\"device\": {\"id\": \"1d6b:0104\", \"path\": \"9-9\"}, \"domain\": null}", NULL);
	atoll_manager_window_handle_event(win, ev);
	atoll_manager_window_handle_event(win, ev);
	g_assert_cmpuint(atoll_manager_devices_get_reloads(devices), <, live_target);
	g_assert_cmpstr(atoll_manager_devices_get_page(devices), ==, "list");
	g_assert_true(harness_wait(live_reloaded, devices, 15000));

	/* db is not running (the VMM here is /bin/true): atolld refuses the
	 * attach and the toast carries its reason. */
	g_assert_true(atoll_manager_devices_set_usb(devices, "9-9", TRUE));
	g_assert_true(harness_wait(toast_has, "Could not attach 9-9 to “db”: ", 5000));
	g_test_message("attach toast: %s", atoll_manager_window_get_last_toast(win));
	g_assert_cmpuint(strlen(atoll_manager_window_get_last_toast(win)), >,
			 strlen("Could not attach 9-9 to “db”: ") + 10);
	g_assert_true(atoll_manager_devices_set_usb(devices, "9-9", FALSE));
	g_assert_true(harness_wait(toast_has, "Could not detach 9-9 from “db”: ", 5000));
	g_test_message("detach toast: %s", atoll_manager_window_get_last_toast(win));

	/* A real PCI function of this machine, no bridge, used by nobody. */
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) pci = atoll_client_request(api, "GET", "/v1/host/pci", NULL, NULL,
						       &error);
	g_assert_no_error(error);
	JsonArray *list = json_node_get_array(pci);
	live_addr = NULL;
	for (guint i = 0; i < json_array_get_length(list) && !live_addr; i++) {
		JsonNode *d = json_array_get_element(list, i);
		const char *class = atoll_json_string(d, "class", "");
		if (!g_str_has_prefix(class, "0x0604") && !g_str_has_prefix(class, "0x0600") &&
		    !atoll_json_string(d, "used_by", NULL))
			live_addr = atoll_json_string(d, "address", NULL);
	}
	if (!live_addr) {
		g_test_skip("no PCI function to assign on this host");
		adw_view_stack_set_visible_child_name(stack, "overview");
		return;
	}
	g_test_message("assigning %s", live_addr);
	guint before = atoll_manager_devices_get_reloads(devices);
	press(devices, "Assign");
	/* Companions (its IOMMU group, its slot's other functions) are asked
	 * about first; the dialog names each one. */
	const char *body = NULL;
	AdwMessageDialog *confirm = atoll_manager_devices_get_confirmation(devices, &body);
	if (confirm) {
		for (guint i = 0; i < json_array_get_length(list); i++) {
			JsonNode *d = json_array_get_element(list, i);
			const char *a = atoll_json_string(d, "address", "");
			gint64 g = atoll_json_int(d, "iommu_group", -1);
			JsonNode *me = NULL;
			for (guint j = 0; j < json_array_get_length(list); j++)
				if (g_str_equal(atoll_json_string(json_array_get_element(list, j),
								  "address", ""), live_addr))
					me = json_array_get_element(list, j);
			if (g_str_equal(a, live_addr) ||
			    g_str_has_prefix(atoll_json_string(d, "class", ""), "0x0604"))
				continue;
			if ((g >= 0 && g == atoll_json_int(me, "iommu_group", -2)) ||
			    strncmp(a, live_addr, strlen(live_addr) - 1) == 0)
				g_assert_nonnull(strstr(body, a));
		}
		harness_spin(300);
		g_autoptr(GdkPixbuf) dshot = harness_screenshot("manager-devices-assign");
		g_assert_nonnull(dshot);
		adw_message_dialog_response(confirm, "assign");
		gtk_window_close(GTK_WINDOW(confirm));
	} else {
		g_test_message("%s has no IOMMU group and no other function in its slot here: "
			       "assigned without a confirmation", live_addr);
	}
	g_assert_true(harness_wait(db_has_pci, GINT_TO_POINTER(TRUE), 5000));
	g_assert_true(harness_wait(toast_has, "assigned to “db”", 5000));
	/* The saved definition comes back and the rows follow. */
	g_assert_true(harness_wait(shows_remove, devices, 15000));
	g_assert_cmpuint(atoll_manager_devices_get_reloads(devices), >, before);
	AdwActionRow *row = atoll_manager_devices_find_row(devices, live_addr);
	g_assert_true(gtk_widget_has_css_class(GTK_WIDGET(row), "accent"));

	harness_spin(500);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-devices-live");
	g_assert_nonnull(shot);
	graphene_rect_t r;
	widget_rect(row_button(GTK_WIDGET(row)), &r);
	/* The Remove button's label, in the accent colour of an assigned
	 * row, is drawn where the button is. */
	g_assert_cmpuint(count_colour(shot, 0x1c71d8, (int)r.origin.x, (int)r.origin.y,
				      (int)r.size.width + 1, (int)r.size.height + 1), >=, 5);

	press(devices, "Remove");
	g_assert_true(harness_wait(db_has_pci, GINT_TO_POINTER(FALSE), 5000));
	g_assert_true(harness_wait(toast_has, "removed from “db”", 5000));
	g_assert_true(harness_wait(shows_assign, devices, 15000));
	adw_view_stack_set_visible_child_name(stack, "overview");
}

/* The Assign confirmation needs an IOMMU group or a multi-function slot,
 * which this machine does not have: a second real atolld reads the
 * q35-like sysfs tree of the passthrough tests (tests/unit/
 * pci_sysfs_fixture.h, through atolld's ATOLL_SYSFS_ROOT), and a Devices
 * tab talks to it. */
static AtollClient *group_api;

static gboolean group_def_has_pci(gpointer n)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) def = atoll_client_get_domain(group_api, "gpu", &error);
	g_assert_no_error(error);
	JsonNode *pci = json_object_get_member(json_node_get_object(def), "pci");
	guint len = pci && JSON_NODE_HOLDS_ARRAY(pci) ?
		json_array_get_length(json_node_get_array(pci)) : 0;
	return len == GPOINTER_TO_UINT(n);
}

static gboolean confirm_open(gpointer devices)
{
	return atoll_manager_devices_get_confirmation(devices, NULL) != NULL;
}

static void test_devices_group(void)
{
	PciSysfs ps;
	memset(&ps, 0, sizeof(ps));
	pci_sysfs_set_up(&ps, NULL);
	g_autofree char *dir = g_build_filename(harness_tmpdir(), "group", NULL);
	g_autofree char *state = g_build_filename(dir, "state", NULL);
	g_autofree char *run = g_build_filename(dir, "run", NULL);
	g_mkdir_with_parents(state, 0700);
	g_mkdir_with_parents(run, 0700);
	g_autofree char *sock = g_build_filename(run, "atolld.sock", NULL);
	const char *argv[] = { g_getenv("ATOLLD"), "--foreground", "--state-dir", state,
			       "--run-dir", run, "--vmm", "/bin/true", NULL };
	const char *env[] = { "ATOLL_SYSFS_ROOT", ps.root, NULL };
	TestServer *srv = harness_spawn(argv, env);
	g_assert_true(harness_wait(g_file_test_exists_cb, sock, 10000));
	group_api = atoll_client_new(sock);
	g_autofree char *json = g_strdup_printf(
		"{\"name\": \"gpu\", \"memory_mib\": 512, \"vcpus\": 1, \"kernel\": \"%s\"}",
		kernel_path);
	g_autoptr(JsonNode) body = json_from_string(json, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_define(group_api, body, &error);
	g_assert_no_error(error);
	g_autoptr(JsonNode) def = atoll_client_get_domain(group_api, "gpu", &error);
	g_assert_no_error(error);

	GtkWidget *window = gtk_window_new();
	gtk_window_set_default_size(GTK_WINDOW(window), 900, 700);
	AtollManagerDevices *devices = g_object_new(ATOLL_TYPE_MANAGER_DEVICES, NULL);
	gtk_window_set_child(GTK_WINDOW(window), GTK_WIDGET(devices));
	gtk_window_present(GTK_WINDOW(window));
	atoll_manager_devices_set_client(devices, group_api);
	atoll_manager_devices_set_definition(devices, def);
	atoll_manager_devices_reload(devices);
	g_assert_true(harness_wait(devices_settled, devices, 15000));
	g_assert_cmpstr(atoll_manager_devices_get_page(devices), ==, "list");

	/* The GPU: its audio function shares slot and group; the root port
	 * in group 1 is a bridge and stays. */
	g_assert_true(atoll_manager_devices_assign(devices, "0000:01:00.0"));
	g_assert_true(harness_wait(confirm_open, devices, 2000));
	const char *text = NULL;
	AdwMessageDialog *d = atoll_manager_devices_get_confirmation(devices, &text);
	g_test_message("confirmation: %s", text);
	g_assert_nonnull(strstr(text, "0000:01:00.1"));
	g_assert_null(strstr(text, "0000:00:01.0"));
	/* What a click on Cancel does: the answer, then the window closes. */
	adw_message_dialog_response(d, "cancel");
	gtk_window_close(GTK_WINDOW(d));
	harness_spin(300);
	g_assert_null(atoll_manager_devices_get_confirmation(devices, NULL));
	g_assert_true(group_def_has_pci(GUINT_TO_POINTER(0)));

	/* A chipset function: the two others of slot 1f come along. */
	g_assert_true(atoll_manager_devices_assign(devices, "0000:00:1f.3"));
	g_assert_true(harness_wait(confirm_open, devices, 2000));
	d = atoll_manager_devices_get_confirmation(devices, &text);
	g_assert_nonnull(strstr(text, "0000:00:1f.0"));
	g_assert_nonnull(strstr(text, "0000:00:1f.2"));
	g_assert_nonnull(strstr(text, "another function of the same slot"));
	harness_spin(300);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-devices-confirm");
	g_assert_nonnull(shot);
	/* The dialog's suggested "Assign All" label is in the accent colour:
	 * there is more of it on screen while the dialog is up. */
	guint with = count_colour(shot, 0x1c71d8, 0, 0, gdk_pixbuf_get_width(shot),
				  gdk_pixbuf_get_height(shot));
	adw_message_dialog_response(d, "assign");
	gtk_window_close(GTK_WINDOW(d));
	g_assert_true(harness_wait(group_def_has_pci, GUINT_TO_POINTER(3), 5000));
	harness_spin(300);
	g_autoptr(GdkPixbuf) after = harness_screenshot("manager-devices-assigned");
	g_assert_cmpuint(with, >=, count_colour(after, 0x1c71d8, 0, 0,
		gdk_pixbuf_get_width(after), gdk_pixbuf_get_height(after)) + 30);

	/* Remove takes the whole slot out again (atolld refuses half). */
	g_autoptr(JsonNode) def2 = atoll_client_get_domain(group_api, "gpu", &error);
	atoll_manager_devices_set_definition(devices, def2);
	g_assert_true(atoll_manager_devices_remove(devices, "0000:00:1f.2"));
	g_assert_true(harness_wait(group_def_has_pci, GUINT_TO_POINTER(0), 5000));

	gtk_window_destroy(GTK_WINDOW(window));
	g_clear_object(&group_api);
	test_server_free(srv);
	pci_sysfs_tear_down(&ps, NULL);
}

/* ---- disks, NICs, lifecycle ---- */

static gboolean hw_saved(gpointer data)
{
	(void)data;
	g_autoptr(JsonNode) def = get_def("hw");
	return json_array_get_length(json_object_get_array_member(json_node_get_object(def),
								  "disks")) == 2;
}

static void test_hardware(void)
{
	g_autofree char *img1 = g_build_filename(harness_tmpdir(), "hw1.img", NULL);
	g_autofree char *img2 = g_build_filename(harness_tmpdir(), "hw2.img", NULL);
	g_assert_true(g_file_set_contents(img1, "", 0, NULL));
	g_assert_true(g_file_set_contents(img2, "", 0, NULL));
	g_autofree char *json = g_strdup_printf(
		"{\"name\": \"hw\", \"memory_mib\": 256, \"vcpus\": 1, \"kernel\": \"%s\", "
		"\"disks\": [{\"path\": \"%s\", \"serial\": \"S1\"}], "
		"\"nics\": [{\"type\": \"user\"}]}", kernel_path, img1);
	g_autoptr(JsonNode) def = json_from_string(json, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) r = atoll_client_define(api, def, &error);
	g_assert_no_error(error);
	g_autoptr(JsonNode) before = get_def("hw");
	const char *mac0 = atoll_json_string(json_array_get_element(json_object_get_array_member(
		json_node_get_object(before), "nics"), 0), "mac", NULL);
	g_assert_true(harness_wait(row_present, "hw", 3000));
	g_assert_true(atoll_manager_window_select(win, "hw"));
	GtkWidget *details = atoll_manager_window_get_details(win);
	GType t = ATOLL_TYPE_MANAGER_DOMAIN_DETAILS;
	g_assert_true(harness_wait(def_loaded_named, "hw", 3000));
	adw_view_stack_set_visible_child_name(ADW_VIEW_STACK(child(details, t, "view_stack")),
					      "settings");
	harness_spin(300);
	AdwPreferencesGroup *disks = ADW_PREFERENCES_GROUP(child(details, t, "disks_group"));

	/* A new disk row without a path never leaves the manager. */
	g_assert_true(gtk_widget_activate_action(details, "details.add-disk", NULL));
	GtkWidget *focus = gtk_root_get_focus(GTK_ROOT(win));
	g_assert_nonnull(focus);
	AdwActionRow *disk2 = ADW_ACTION_ROW(gtk_widget_get_ancestor(focus, ADW_TYPE_ACTION_ROW));
	g_assert_nonnull(disk2);
	g_assert_true(gtk_widget_get_ancestor(GTK_WIDGET(disk2), ADW_TYPE_PREFERENCES_GROUP) ==
		      GTK_WIDGET(disks));
	g_assert_true(gtk_widget_activate_action(details, "details.apply", NULL));
	g_assert_true(atoll_field_row_has_error(disk2));
	GtkEditable *path2 = GTK_EDITABLE(gtk_widget_get_ancestor(focus, GTK_TYPE_ENTRY) ?
		gtk_widget_get_ancestor(focus, GTK_TYPE_ENTRY) : focus);

	/* One only atolld refuses: its field (disks[1].path) picks the row. */
	g_autofree char *bad = g_strdup_printf("%s\x01", img2);
	gtk_editable_set_text(path2, bad);
	g_assert_true(gtk_widget_activate_action(details, "details.apply", NULL));
	g_assert_true(harness_wait(row_has_error, disk2, 5000));
	g_assert_nonnull(strstr(atoll_field_row_get_error(disk2), "control character"));

	/* Read-only second disk, first NIC isolated, a new NIC, keep on crash. */
	gtk_editable_set_text(path2, img2);
	GtkWidget *ro = NULL;
	for (GtkWidget *c = GTK_WIDGET(path2); c && !ro; c = gtk_widget_get_next_sibling(c))
		if (GTK_IS_CHECK_BUTTON(c))
			ro = c;
	g_assert_nonnull(ro);
	gtk_check_button_set_active(GTK_CHECK_BUTTON(ro), TRUE);
	g_assert_true(gtk_widget_activate_action(details, "details.add-nic", NULL));
	AdwComboRow *nic2 = ADW_COMBO_ROW(gtk_root_get_focus(GTK_ROOT(win)));
	g_assert_true(ADW_IS_COMBO_ROW(nic2));
	g_assert_true(gtk_widget_get_ancestor(GTK_WIDGET(nic2), ADW_TYPE_PREFERENCES_GROUP) ==
		      child(details, t, "nics_group"));
	/* The first NIC row is nic2's previous sibling in the group's list. */
	GtkWidget *nic1 = gtk_widget_get_prev_sibling(GTK_WIDGET(nic2));
	g_assert_true(ADW_IS_COMBO_ROW(nic1));
	adw_combo_row_set_selected(ADW_COMBO_ROW(nic1), 1);   /* isolated */
	adw_combo_row_set_selected(ADW_COMBO_ROW(child(details, t, "crash_row")), 2);
	harness_spin(300);
	g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-hardware");
	g_assert_nonnull(shot);
	g_assert_true(gtk_widget_activate_action(details, "details.apply", NULL));
	g_assert_true(harness_wait(hw_saved, NULL, 5000));

	g_autoptr(JsonNode) after = get_def("hw");
	JsonObject *o = json_node_get_object(after);
	JsonArray *d = json_object_get_array_member(o, "disks");
	g_assert_cmpstr(atoll_json_string(json_array_get_element(d, 0), "serial", NULL), ==, "S1");
	g_assert_cmpstr(atoll_json_string(json_array_get_element(d, 1), "path", NULL), ==, img2);
	g_assert_true(json_object_get_boolean_member(
		json_array_get_object_element(d, 1), "readonly"));
	JsonArray *n = json_object_get_array_member(o, "nics");
	g_assert_cmpuint(json_array_get_length(n), ==, 2);
	g_assert_cmpstr(atoll_json_string(json_array_get_element(n, 0), "type", NULL), ==, "isolated");
	g_assert_cmpstr(atoll_json_string(json_array_get_element(n, 0), "mac", NULL), ==, mac0);
	g_assert_cmpstr(atoll_json_string(json_array_get_element(n, 1), "type", NULL), ==, "user");
	g_assert_nonnull(atoll_json_string(json_array_get_element(n, 1), "mac", NULL));
	g_assert_cmpstr(atoll_json_string(after, "on_crash", NULL), ==, "preserve");
	adw_view_stack_set_visible_child_name(ADW_VIEW_STACK(child(details, t, "view_stack")),
					      "overview");
}

int main(int argc, char **argv)
{
	/* The manager keeps its host list in the user's config: not the
	 * real one. */
	g_autofree char *config = g_build_filename(harness_tmpdir(), "config", NULL);
	g_setenv("XDG_CONFIG_HOME", config, TRUE);
	harness_init_display();
	g_test_init(&argc, &argv, NULL);
	adw_init();
	start_atolld();
	app = atoll_manager_application_new();
	g_assert_true(g_application_register(G_APPLICATION(app), NULL, NULL));

	g_test_add_func("/manager/unreachable", test_unreachable);
	g_test_add_func("/manager/empty-then-events", test_empty_then_events);
	g_test_add_func("/manager/settings", test_settings);
	g_test_add_func("/manager/perf-graphs", test_perf_graphs);
	g_test_add_func("/manager/thumbnail", test_thumbnail);
	g_test_add_func("/manager/devices", test_devices);
	g_test_add_func("/manager/devices-live", test_devices_live);
	g_test_add_func("/manager/devices-group", test_devices_group);
	g_test_add_func("/manager/ssh-hosts", test_ssh_hosts);
	g_test_add_func("/manager/assistant", test_assistant);
	g_test_add_func("/manager/actions", test_action_states);
	g_test_add_func("/manager/hardware", test_hardware);
	g_test_add_func("/manager/clone", test_clone);
	g_test_add_func("/manager/assistant-new-disk", test_assistant_new_disk);
	g_test_add_func("/manager/assistant-uefi-iso", test_assistant_uefi_iso);
	int rc = g_test_run();
	if (win)
		gtk_window_destroy(GTK_WINDOW(win));
	test_server_free(atolld);
	return rc;
}
