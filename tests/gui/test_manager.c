/* test_manager.c - atoll-manager against a real atolld under Xvfb.
 *
 * atolld (built from the tree) runs on temporary --state-dir/--run-dir with
 * /bin/true as its VMM: domains can be defined, edited and undefined, not
 * started.  The manager's classes run in this process, so widget state is
 * checked directly; screenshots are kept in $GUI_TEST_OUTDIR and their
 * pixels checked. */
#include <adwaita.h>
#include <glib/gstdio.h>

#include "atoll-client.h"
#include "atoll-manager-application.h"
#include "atoll-manager-domain-details.h"
#include "atoll-manager-new-domain.h"
#include "atoll-manager-util.h"
#include "atoll-manager-window.h"
#include "gui-harness.h"

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

int main(int argc, char **argv)
{
	harness_init_display();
	g_test_init(&argc, &argv, NULL);
	adw_init();
	start_atolld();
	app = atoll_manager_application_new();
	g_assert_true(g_application_register(G_APPLICATION(app), NULL, NULL));

	g_test_add_func("/manager/unreachable", test_unreachable);
	g_test_add_func("/manager/empty-then-events", test_empty_then_events);
	g_test_add_func("/manager/settings", test_settings);
	g_test_add_func("/manager/assistant", test_assistant);
	g_test_add_func("/manager/actions", test_action_states);
	int rc = g_test_run();
	if (win)
		gtk_window_destroy(GTK_WINDOW(win));
	test_server_free(atolld);
	return rc;
}
