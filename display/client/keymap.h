/* keymap.h - Linux evdev keycodes to PC/XT (set 1) scancodes for SPICE.
 *
 * SPICE carries keys as XT set-1 scancodes.  spice-client-glib takes them in
 * the "0x1xx" form: the low byte is the make code, bit 8 (ATOLL_XT_EXTENDED)
 * means the key is sent with an 0xe0 prefix.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ATOLL_XT_EXTENDED 0x100u

/* GDK's hardware keycode on X11 (evdev/XKB) and Wayland is evdev + 8. */
#define ATOLL_KEYMAP_XKB_OFFSET 8u

/* The XT scancode of an evdev key code (KEY_* in linux/input-event-codes.h),
 * in spice-client-glib's 0x1xx form; 0 if the key has no XT scancode. */
guint atoll_keymap_evdev_to_xt(guint evdev_code);

/* Same for a GDK hardware keycode (evdev + 8); 0 if unmapped. */
guint atoll_keymap_hardware_to_xt(guint hardware_keycode);

/* The bytes the guest's keyboard controller receives for @xt: the 0xe0
 * prefix for extended keys, then the make code, or the break code
 * (make | 0x80) when @release.  Returns how many bytes were written to
 * @out (0 for @xt == 0). */
gsize atoll_keymap_xt_bytes(guint xt, gboolean release, guint8 out[2]);

G_END_DECLS
