/* manager_hwsim_shot.c - the host side of the `manager` hwsim scenario
 * (tests/system/scenarios/manager.py): atoll-manager's window, on a private
 * Xvfb, against the atolld of hwsim's dom0 (its socket relayed to
 * --socket), shows the running domain --domain, its console tab and its
 * list thumbnail; both must show the domU's test pattern (red, green,
 * blue and amber quadrants, tests/system/domu-progs/display-pattern.c).
 *
 *   manager-hwsim-shot --socket PATH --domain NAME --out DIR [--timeout S]
 *
 * Prints one line: "ok ..." or "ERROR ..."; exit status 0 or 1.  The
 * screenshot is DIR/manager-console.png. */
#include <adwaita.h>

#include "atoll-manager-application.h"
#include "atoll-manager-domain-details.h"
#include "atoll-manager-thumbnail.h"
#include "atoll-manager-util.h"
#include "atoll-manager-window.h"
#include "atoll-console.h"
#include "gui-harness.h"

static AtollManagerWindow *win;
static const char *domain;

static const struct { const char *name; guint32 rgb; } pattern[] = {
	{ "red", 0xff0000 }, { "green", 0x00ff00 }, { "blue", 0x0000ff }, { "amber", 0xffc000 },
};

static G_GNUC_NORETURN void die(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	printf("ERROR %s\n", msg);
	fflush(stdout);
	exit(1);
}

static gboolean connected(gpointer data)
{
	(void)data;
	return g_strcmp0(atoll_manager_window_get_page(win), "main") == 0 &&
	       atoll_manager_window_has_events(win);
}

static gboolean running(gpointer data)
{
	(void)data;
	AtollManagerDomainRow *row = atoll_manager_window_find_row(win, domain);
	return row && g_strcmp0(atoll_manager_domain_row_get_state(row), "running") == 0;
}

static guint count(GdkPixbuf *shot, guint32 rgb, int x0, int y0, int w, int h)
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

static void rect_of(GtkWidget *widget, graphene_rect_t *out)
{
	GtkWidget *root = GTK_WIDGET(gtk_widget_get_root(widget));
	if (!gtk_widget_compute_bounds(widget, root, out))
		die("the %s is not on screen", G_OBJECT_TYPE_NAME(widget));
	double sx = 0, sy = 0;
	gtk_native_get_surface_transform(GTK_NATIVE(root), &sx, &sy);
	out->origin.x += sx;
	out->origin.y += sy;
}

/* Every quadrant colour covers at least 3 % of the widget's area. */
static char *missing_colours(GdkPixbuf *shot, GtkWidget *widget)
{
	graphene_rect_t r;
	rect_of(widget, &r);
	double area = MAX(1.0, r.size.width * r.size.height);
	GString *miss = g_string_new(NULL);
	for (gsize i = 0; i < G_N_ELEMENTS(pattern); i++) {
		double share = count(shot, pattern[i].rgb, (int)r.origin.x, (int)r.origin.y,
				     (int)r.size.width, (int)r.size.height) / area;
		if (share < 0.03)
			g_string_append_printf(miss, "%s%s %.1f%%", miss->len ? ", " : "",
					       pattern[i].name, share * 100);
	}
	if (!miss->len) {
		g_string_free(miss, TRUE);
		return NULL;
	}
	return g_string_free(miss, FALSE);
}

static GtkWidget *console_widget(void)
{
	GtkWidget *details = atoll_manager_window_get_details(win);
	GtkWidget *scroller = GTK_WIDGET(gtk_widget_get_template_child(details,
		ATOLL_TYPE_MANAGER_DOMAIN_DETAILS, "console_scroller"));
	GtkWidget *child = gtk_scrolled_window_get_child(GTK_SCROLLED_WINDOW(scroller));
	/* The scrolled window wraps a non-scrollable child in a viewport. */
	if (child && GTK_IS_VIEWPORT(child))
		child = gtk_viewport_get_child(GTK_VIEWPORT(child));
	return child && ATOLL_IS_CONSOLE(child) ? child : NULL;
}

static gboolean console_shows_guest(gpointer data)
{
	(void)data;
	GtkWidget *c = console_widget();
	if (!c || atoll_console_get_state(ATOLL_CONSOLE(c)) != ATOLL_CONSOLE_STATE_CONNECTED)
		return FALSE;
	int w = 0, h = 0;
	atoll_console_get_guest_size(ATOLL_CONSOLE(c), &w, &h);
	return w > 0 && h > 0;
}

static gboolean thumbnail_ready(gpointer thumb)
{
	return atoll_manager_thumbnail_get_texture(thumb) != NULL;
}

int main(int argc, char **argv)
{
	g_autofree char *socket = NULL, *name = NULL, *out = NULL;
	int timeout = 180;
	GOptionEntry entries[] = {
		{ "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket, "atolld socket", "PATH" },
		{ "domain", 0, 0, G_OPTION_ARG_STRING, &name, "running domain", "NAME" },
		{ "out", 0, 0, G_OPTION_ARG_FILENAME, &out, "screenshot directory", "DIR" },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "seconds per wait", "S" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, NULL) || !socket || !name || !out)
		die("usage: manager-hwsim-shot --socket PATH --domain NAME --out DIR");
	domain = name;
	g_setenv("GUI_TEST_OUTDIR", out, TRUE);
	harness_init_display();
	adw_init();
	AtollManagerApplication *app = atoll_manager_application_new();
	g_application_register(G_APPLICATION(app), NULL, NULL);
	win = atoll_manager_window_new(GTK_APPLICATION(app), socket);
	gtk_window_set_default_size(GTK_WINDOW(win), 1200, 780);
	gtk_window_present(GTK_WINDOW(win));
	guint ms = (guint)timeout * 1000;
	if (!harness_wait(connected, NULL, ms))
		die("the manager did not connect to %s: %s", socket,
		    atoll_manager_window_get_error(win) ? atoll_manager_window_get_error(win) : "?");
	if (!harness_wait(running, NULL, ms))
		die("domain %s is not in the list as running", name);

	/* The list thumbnail first (the row is on screen from the start). */
	AtollManagerDomainRow *row = atoll_manager_window_find_row(win, name);
	GtkWidget *thumb = atoll_manager_domain_row_get_thumbnail(row);
	if (!harness_wait(thumbnail_ready, thumb, ms))
		die("no thumbnail for %s (uri %s)", name,
		    atoll_manager_thumbnail_get_uri(ATOLL_MANAGER_THUMBNAIL(thumb)) ?
		    atoll_manager_thumbnail_get_uri(ATOLL_MANAGER_THUMBNAIL(thumb)) : "none");
	/* Live while nothing else holds the domain's SPICE client slot: the
	 * domU draws late under TCG, so wait for the pattern here first. */
	g_autofree char *tmiss = NULL;
	for (int i = 0; i < timeout / 2; i++) {
		harness_spin(2000);
		g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-thumbnail");
		g_free(tmiss);
		tmiss = missing_colours(shot, thumb);
		if (!tmiss)
			break;
	}
	if (tmiss)
		die("the list thumbnail does not show the pattern: %s (see %s/manager-thumbnail.png)",
		    tmiss, out);

	atoll_manager_window_select(win, name);
	GtkWidget *details = atoll_manager_window_get_details(win);
	AdwViewStack *stack = ADW_VIEW_STACK(gtk_widget_get_template_child(details,
		ATOLL_TYPE_MANAGER_DOMAIN_DETAILS, "view_stack"));
	adw_view_stack_set_visible_child_name(stack, "console");
	if (!harness_wait(console_shows_guest, NULL, ms)) {
		GtkWidget *c = console_widget();
		die("the console tab shows no guest screen (%s)", !c ? "no console widget" :
		    atoll_console_get_error_message(ATOLL_CONSOLE(c)) ?
		    atoll_console_get_error_message(ATOLL_CONSOLE(c)) : "not connected");
	}
	/* Selecting it suspended the thumbnail (its last picture stays) and
	 * gave the SPICE client slot to the console tab. */
	g_autofree char *miss = NULL;
	for (int i = 0; i < timeout / 2; i++) {
		harness_spin(2000);
		g_autoptr(GdkPixbuf) shot = harness_screenshot("manager-console");
		g_free(miss);
		g_free(tmiss);
		miss = missing_colours(shot, console_widget());
		tmiss = missing_colours(shot, thumb);
		if (!miss && !tmiss)
			break;
	}
	if (miss || tmiss)
		die("the pattern is not on screen: console: %s; thumbnail: %s (see %s/manager-console.png)",
		    miss ? miss : "ok", tmiss ? tmiss : "ok", out);
	int w = 0, h = 0;
	atoll_console_get_guest_size(ATOLL_CONSOLE(console_widget()), &w, &h);
	printf("ok the manager shows %s's screen (%dx%d) in its console tab and list "
	       "thumbnail, through dom0's atolld; %s/manager-console.png\n", name, w, h, out);
	fflush(stdout);
	gtk_window_destroy(GTK_WINDOW(win));
	return 0;
}
