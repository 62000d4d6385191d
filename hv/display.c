/* The display/input hub (display.h).
 *
 * Lock order: a device's own lock, then the hub lock, then whatever the
 * console backend takes inside its listener.  So listener callbacks run
 * with the hub lock held (once display_set_listener returns, the old
 * listener is never called again), while source and sink callbacks, which
 * take device locks, run after the hub lock is dropped: a console thread
 * calling display_request_size must not hold the hub lock while the
 * device's event-loop thread holds its own lock and reports damage.
 * Listener callbacks must not call back into the hub. */
#include "display.h"

#include <string.h>

void display_init(struct display *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
}

void display_set_source(struct display *d, const struct display_source *src)
{
	pthread_mutex_lock(&d->lock);
	if (src)
		d->source = *src;
	else
		memset(&d->source, 0, sizeof(d->source));
	pthread_mutex_unlock(&d->lock);
}

void display_surface_changed(struct display *d, const struct display_surface *s)
{
	pthread_mutex_lock(&d->lock);
	d->surface = *s;
	d->has_surface = true;
	if (d->listener.surface_changed)
		d->listener.surface_changed(d->listener.opaque, &d->surface);
	pthread_mutex_unlock(&d->lock);
}

/* Clip to the current surface: a listener never sees a rectangle outside
 * the pixels it was given. */
static bool clip(const struct display_surface *s, uint32_t *x, uint32_t *y,
		 uint32_t *w, uint32_t *h)
{
	if (*x >= s->width || *y >= s->height || *w == 0 || *h == 0)
		return false;
	if (*w > s->width - *x)
		*w = s->width - *x;
	if (*h > s->height - *y)
		*h = s->height - *y;
	return true;
}

void display_damage(struct display *d, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	pthread_mutex_lock(&d->lock);
	if (d->has_surface && d->listener.damage && clip(&d->surface, &x, &y, &w, &h))
		d->listener.damage(d->listener.opaque, x, y, w, h);
	pthread_mutex_unlock(&d->lock);
}

void display_set_listener(struct display *d, const struct display_listener *l)
{
	pthread_mutex_lock(&d->lock);
	if (l)
		d->listener = *l;
	else
		memset(&d->listener, 0, sizeof(d->listener));
	/* A listener arriving late still learns the current surface. */
	if (d->has_surface && d->listener.surface_changed)
		d->listener.surface_changed(d->listener.opaque, &d->surface);
	pthread_mutex_unlock(&d->lock);
}

static struct display_source get_source(struct display *d)
{
	pthread_mutex_lock(&d->lock);
	struct display_source s = d->source;
	pthread_mutex_unlock(&d->lock);
	return s;
}

void display_request_size(struct display *d, uint32_t width, uint32_t height)
{
	struct display_source s = get_source(d);

	if (s.request_size && width && height)
		s.request_size(s.opaque, width, height);
}

void display_refresh(struct display *d)
{
	struct display_source s = get_source(d);

	if (s.refresh)
		s.refresh(s.opaque);
}

void display_add_input_sink(struct display *d, const struct input_sink *sink)
{
	pthread_mutex_lock(&d->lock);
	if (d->n_sinks < DISPLAY_MAX_SINKS)
		d->sinks[d->n_sinks++] = *sink;
	pthread_mutex_unlock(&d->lock);
}

enum input_kind { IN_KEY, IN_POINTER, IN_BUTTON, IN_WHEEL };

static bool sink_handles(const struct input_sink *s, enum input_kind k)
{
	switch (k) {
	case IN_KEY: return s->key != NULL;
	case IN_POINTER: return s->pointer != NULL;
	case IN_BUTTON: return s->button != NULL;
	case IN_WHEEL: return s->wheel != NULL;
	}
	return false;
}

/* The first sink that takes this kind of event and has a driver behind it.
 * A keyboard-only sink (i8042, the virtio keyboard) is skipped for pointer
 * events, so the keyboard and the tablet can be separate devices. */
static bool pick_sink(struct display *d, enum input_kind k, struct input_sink *out)
{
	struct input_sink sinks[DISPLAY_MAX_SINKS];
	unsigned n;

	pthread_mutex_lock(&d->lock);
	n = d->n_sinks;
	memcpy(sinks, d->sinks, sizeof(sinks));
	pthread_mutex_unlock(&d->lock);
	for (unsigned i = 0; i < n; i++) {
		if (!sink_handles(&sinks[i], k))
			continue;
		if (sinks[i].active && !sinks[i].active(sinks[i].opaque))
			continue;
		*out = sinks[i];
		return true;
	}
	return false;
}

void display_input_key(struct display *d, uint16_t code, bool down)
{
	struct input_sink s;

	if (pick_sink(d, IN_KEY, &s))
		s.key(s.opaque, code, down);
}

void display_input_pointer(struct display *d, uint32_t x, uint32_t y)
{
	struct input_sink s;

	if (x > 0x7fff)
		x = 0x7fff;
	if (y > 0x7fff)
		y = 0x7fff;
	if (pick_sink(d, IN_POINTER, &s))
		s.pointer(s.opaque, x, y);
}

void display_input_button(struct display *d, uint16_t code, bool down)
{
	struct input_sink s;

	if (pick_sink(d, IN_BUTTON, &s))
		s.button(s.opaque, code, down);
}

void display_input_wheel(struct display *d, int32_t steps)
{
	struct input_sink s;

	if (steps && pick_sink(d, IN_WHEEL, &s))
		s.wheel(s.opaque, steps);
}
