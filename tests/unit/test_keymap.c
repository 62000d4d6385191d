/* Unit tests for display/client/keymap.c: evdev -> XT set-1 scancodes. */
#include <glib.h>

#include "keymap.h"

typedef struct {
    guint evdev;
    const char *name;
    guint8 press[2];
    gsize press_len;
    guint8 release[2];
} KeyCase;

/* Expected bytes are what a PC keyboard sends for each key. */
static const KeyCase cases[] = {
    { 1,   "Esc",          { 0x01 }, 1, { 0x81 } },
    { 2,   "1",            { 0x02 }, 1, { 0x82 } },
    { 14,  "Backspace",    { 0x0e }, 1, { 0x8e } },
    { 15,  "Tab",          { 0x0f }, 1, { 0x8f } },
    { 28,  "Enter",        { 0x1c }, 1, { 0x9c } },
    { 29,  "LeftCtrl",     { 0x1d }, 1, { 0x9d } },
    { 30,  "A",            { 0x1e }, 1, { 0x9e } },
    { 42,  "LeftShift",    { 0x2a }, 1, { 0xaa } },
    { 56,  "LeftAlt",      { 0x38 }, 1, { 0xb8 } },
    { 57,  "Space",        { 0x39 }, 1, { 0xb9 } },
    { 58,  "CapsLock",     { 0x3a }, 1, { 0xba } },
    { 59,  "F1",           { 0x3b }, 1, { 0xbb } },
    { 69,  "NumLock",      { 0x45 }, 1, { 0xc5 } },
    { 71,  "KP7",          { 0x47 }, 1, { 0xc7 } },
    { 83,  "KPDot",        { 0x53 }, 1, { 0xd3 } },
    { 86,  "102nd",        { 0x56 }, 1, { 0xd6 } },
    { 87,  "F11",          { 0x57 }, 1, { 0xd7 } },
    { 88,  "F12",          { 0x58 }, 1, { 0xd8 } },
    { 96,  "KPEnter",      { 0xe0, 0x1c }, 2, { 0xe0, 0x9c } },
    { 97,  "RightCtrl",    { 0xe0, 0x1d }, 2, { 0xe0, 0x9d } },
    { 98,  "KPSlash",      { 0xe0, 0x35 }, 2, { 0xe0, 0xb5 } },
    { 100, "RightAlt",     { 0xe0, 0x38 }, 2, { 0xe0, 0xb8 } },
    { 102, "Home",         { 0xe0, 0x47 }, 2, { 0xe0, 0xc7 } },
    { 103, "Up",           { 0xe0, 0x48 }, 2, { 0xe0, 0xc8 } },
    { 104, "PageUp",       { 0xe0, 0x49 }, 2, { 0xe0, 0xc9 } },
    { 105, "Left",         { 0xe0, 0x4b }, 2, { 0xe0, 0xcb } },
    { 106, "Right",        { 0xe0, 0x4d }, 2, { 0xe0, 0xcd } },
    { 107, "End",          { 0xe0, 0x4f }, 2, { 0xe0, 0xcf } },
    { 108, "Down",         { 0xe0, 0x50 }, 2, { 0xe0, 0xd0 } },
    { 109, "PageDown",     { 0xe0, 0x51 }, 2, { 0xe0, 0xd1 } },
    { 110, "Insert",       { 0xe0, 0x52 }, 2, { 0xe0, 0xd2 } },
    { 111, "Delete",       { 0xe0, 0x53 }, 2, { 0xe0, 0xd3 } },
    { 125, "LeftMeta",     { 0xe0, 0x5b }, 2, { 0xe0, 0xdb } },
    { 126, "RightMeta",    { 0xe0, 0x5c }, 2, { 0xe0, 0xdc } },
    { 127, "Menu",         { 0xe0, 0x5d }, 2, { 0xe0, 0xdd } },
    { 113, "Mute",         { 0xe0, 0x20 }, 2, { 0xe0, 0xa0 } },
};

static void test_table(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        const KeyCase *k = &cases[i];
        guint8 out[2] = { 0 };
        guint xt = atoll_keymap_evdev_to_xt(k->evdev);

        g_test_message("key %s (evdev %u) -> 0x%x", k->name, k->evdev, xt);
        g_assert_cmpuint(xt, !=, 0);
        g_assert_cmpuint(atoll_keymap_xt_bytes(xt, FALSE, out), ==, k->press_len);
        g_assert_cmpmem(out, k->press_len, k->press, k->press_len);
        g_assert_cmpuint(atoll_keymap_xt_bytes(xt, TRUE, out), ==, k->press_len);
        g_assert_cmpmem(out, k->press_len, k->release, k->press_len);
        /* GDK reports evdev + 8; both entry points must agree. */
        g_assert_cmpuint(atoll_keymap_hardware_to_xt(k->evdev + 8), ==, xt);
    }
}

/* spice-client-glib wants extended keys as 0x100 | make code. */
static void test_spice_form(void)
{
    g_assert_cmpuint(atoll_keymap_evdev_to_xt(97), ==, 0x11d);
    g_assert_cmpuint(atoll_keymap_evdev_to_xt(111), ==, 0x153);
    g_assert_cmpuint(atoll_keymap_evdev_to_xt(30), ==, 0x1e);
}

static void test_unmapped(void)
{
    guint8 out[2];

    g_assert_cmpuint(atoll_keymap_evdev_to_xt(0), ==, 0);      /* KEY_RESERVED */
    g_assert_cmpuint(atoll_keymap_evdev_to_xt(84), ==, 0);     /* hole in table */
    g_assert_cmpuint(atoll_keymap_evdev_to_xt(0x2ff), ==, 0);  /* past the end */
    g_assert_cmpuint(atoll_keymap_evdev_to_xt(G_MAXUINT), ==, 0);
    g_assert_cmpuint(atoll_keymap_hardware_to_xt(0), ==, 0);
    g_assert_cmpuint(atoll_keymap_hardware_to_xt(7), ==, 0);
    g_assert_cmpuint(atoll_keymap_xt_bytes(0, FALSE, out), ==, 0);
}

/* Every mapped key must yield a make code below 0x80, or its break code
 * would collide with another key's make code. */
static void test_all_make_codes_valid(void)
{
    for (guint ev = 1; ev < 256; ev++) {
        guint xt = atoll_keymap_evdev_to_xt(ev);

        if (!xt)
            continue;
        g_assert_cmpuint(xt & ~(ATOLL_XT_EXTENDED | 0x7fu), ==, 0);
        g_assert_cmpuint(xt & 0x7f, !=, 0);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/keymap/table", test_table);
    g_test_add_func("/keymap/spice-form", test_spice_form);
    g_test_add_func("/keymap/unmapped", test_unmapped);
    g_test_add_func("/keymap/make-codes-valid", test_all_make_codes_valid);
    return g_test_run();
}
