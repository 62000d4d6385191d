/* The VM's console: one framebuffer shown to the user and the user's input
 * going back to the guest.  Display devices (virtio-gpu, bochs-display)
 * feed it; a console backend (SPICE, display/) listens to it and sends
 * input; input devices (virtio-input, the i8042 keyboard) consume input.
 * This header is the contract between those three sides. */
#ifndef ATOLL_DISPLAY_H
#define ATOLL_DISPLAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;

/* Pixels are 32-bit XRGB8888 little-endian (B, G, R, X in memory), the
 * format both virtio-gpu's B8G8R8X8 and bochs-display at 32 bpp use. */
struct display_surface {
	uint32_t width, height;
	uint32_t stride;        /* bytes per line */
	const uint8_t *pixels;  /* owned by the display device; stays valid
				 * until the next surface_changed */
};

/* The console backend's side.  Called from whichever thread the display
 * device runs on (vCPU or event loop); the backend copies what it needs. */
struct display_listener {
	void (*surface_changed)(void *opaque, const struct display_surface *s);
	/* Pixels in the rectangle changed; the surface is the last one given. */
	void (*damage)(void *opaque, uint32_t x, uint32_t y, uint32_t w, uint32_t h);
	void *opaque;
};

/* The display device's side. */
struct display_source {
	/* The client would like this size (window resized): the device tells
	 * the guest (virtio-gpu display info + config event; ignored by
	 * devices that cannot). */
	void (*request_size)(void *opaque, uint32_t width, uint32_t height);
	/* Devices without explicit flushes (bochs-display) are polled: find
	 * what changed since the last call and report it with display_damage. */
	void (*refresh)(void *opaque);
	void *opaque;
};

/* Where input goes.  Keys are Linux input event codes (KEY_*), pointer
 * positions absolute in [0, 0x7fff] on both axes, buttons BTN_LEFT etc. */
struct input_sink {
	void (*key)(void *opaque, uint16_t code, bool down);
	void (*pointer)(void *opaque, uint32_t x, uint32_t y);
	void (*button)(void *opaque, uint16_t code, bool down);
	void (*wheel)(void *opaque, int32_t steps);   /* + away from the user */
	/* Whether the guest has a driver listening (else try the next sink). */
	bool (*active)(void *opaque);
	void *opaque;
};

#define DISPLAY_MAX_SINKS 4

struct display {
	pthread_mutex_t lock;
	struct display_listener listener;   /* at most one console backend */
	struct display_source source;       /* the active display device */
	struct display_surface surface;     /* the last surface given */
	bool has_surface;
	struct input_sink sinks[DISPLAY_MAX_SINKS];   /* in priority order */
	unsigned n_sinks;
};

void display_init(struct display *d);
/* Device side. */
void display_set_source(struct display *d, const struct display_source *src);
void display_surface_changed(struct display *d, const struct display_surface *s);
void display_damage(struct display *d, uint32_t x, uint32_t y, uint32_t w, uint32_t h);
/* Console side. */
void display_set_listener(struct display *d, const struct display_listener *l);
void display_request_size(struct display *d, uint32_t width, uint32_t height);
void display_refresh(struct display *d);
/* Input: sinks register in priority order (virtio-input before i8042);
 * each event goes to the first active sink. */
void display_add_input_sink(struct display *d, const struct input_sink *sink);
void display_input_key(struct display *d, uint16_t code, bool down);
void display_input_pointer(struct display *d, uint32_t x, uint32_t y);
void display_input_button(struct display *d, uint16_t code, bool down);
void display_input_wheel(struct display *d, int32_t steps);

#endif
