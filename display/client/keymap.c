/* keymap.c - evdev key codes to PC/XT set-1 scancodes.
 *
 * Linux numbered its KEY_* codes after the XT set-1 make codes, so KEY_ESC
 * (1) .. KEY_KPDOT (83) are the scancodes themselves; everything past that
 * is listed by hand.  Values with ATOLL_XT_EXTENDED are E0-prefixed keys.
 */
#include "keymap.h"

#define E(code) (ATOLL_XT_EXTENDED | (code))

/* Indexed by evdev code; only codes above KEY_KPDOT need an entry. */
static const guint16 evdev_high[] = {
    [85] = 0x76,        /* KEY_ZENKAKUHANKAKU */
    [86] = 0x56,        /* KEY_102ND */
    [87] = 0x57,        /* KEY_F11 */
    [88] = 0x58,        /* KEY_F12 */
    [89] = 0x73,        /* KEY_RO */
    [90] = 0x78,        /* KEY_KATAKANA */
    [91] = 0x77,        /* KEY_HIRAGANA */
    [92] = 0x79,        /* KEY_HENKAN */
    [93] = 0x70,        /* KEY_KATAKANAHIRAGANA */
    [94] = 0x7b,        /* KEY_MUHENKAN */
    [95] = 0x5c,        /* KEY_KPJPCOMMA */
    [96] = E(0x1c),     /* KEY_KPENTER */
    [97] = E(0x1d),     /* KEY_RIGHTCTRL */
    [98] = E(0x35),     /* KEY_KPSLASH */
    [99] = E(0x37),     /* KEY_SYSRQ (Print Screen) */
    [100] = E(0x38),    /* KEY_RIGHTALT (AltGr) */
    [102] = E(0x47),    /* KEY_HOME */
    [103] = E(0x48),    /* KEY_UP */
    [104] = E(0x49),    /* KEY_PAGEUP */
    [105] = E(0x4b),    /* KEY_LEFT */
    [106] = E(0x4d),    /* KEY_RIGHT */
    [107] = E(0x4f),    /* KEY_END */
    [108] = E(0x50),    /* KEY_DOWN */
    [109] = E(0x51),    /* KEY_PAGEDOWN */
    [110] = E(0x52),    /* KEY_INSERT */
    [111] = E(0x53),    /* KEY_DELETE */
    [113] = E(0x20),    /* KEY_MUTE */
    [114] = E(0x2e),    /* KEY_VOLUMEDOWN */
    [115] = E(0x30),    /* KEY_VOLUMEUP */
    [116] = E(0x5e),    /* KEY_POWER */
    [117] = 0x59,       /* KEY_KPEQUAL */
    /* The real Pause key sends E1 1D 45; like QEMU we carry it as E0 46 and
     * leave the expansion to the guest-side keyboard emulation. */
    [119] = E(0x46),    /* KEY_PAUSE */
    [121] = 0x7e,       /* KEY_KPCOMMA */
    [124] = 0x7d,       /* KEY_YEN */
    [125] = E(0x5b),    /* KEY_LEFTMETA */
    [126] = E(0x5c),    /* KEY_RIGHTMETA */
    [127] = E(0x5d),    /* KEY_COMPOSE (Menu) */
    [128] = E(0x68),    /* KEY_STOP */
    [140] = E(0x21),    /* KEY_CALC */
    [142] = E(0x5f),    /* KEY_SLEEP */
    [143] = E(0x63),    /* KEY_WAKEUP */
    [155] = E(0x6c),    /* KEY_MAIL */
    [156] = E(0x66),    /* KEY_BOOKMARKS */
    [157] = E(0x6b),    /* KEY_COMPUTER */
    [158] = E(0x6a),    /* KEY_BACK */
    [159] = E(0x69),    /* KEY_FORWARD */
    [163] = E(0x19),    /* KEY_NEXTSONG */
    [164] = E(0x22),    /* KEY_PLAYPAUSE */
    [165] = E(0x10),    /* KEY_PREVIOUSSONG */
    [166] = E(0x24),    /* KEY_STOPCD */
    [172] = E(0x32),    /* KEY_HOMEPAGE */
    [173] = E(0x67),    /* KEY_REFRESH */
    [183] = 0x64,       /* KEY_F13 */
    [184] = 0x65,       /* KEY_F14 */
    [185] = 0x66,       /* KEY_F15 */
    [186] = 0x67,       /* KEY_F16 */
    [187] = 0x68,       /* KEY_F17 */
    [188] = 0x69,       /* KEY_F18 */
    [189] = 0x6a,       /* KEY_F19 */
    [190] = 0x6b,       /* KEY_F20 */
    [191] = 0x6c,       /* KEY_F21 */
    [192] = 0x6d,       /* KEY_F22 */
    [193] = 0x6e,       /* KEY_F23 */
    [194] = 0x76,       /* KEY_F24 */
    [217] = E(0x65),    /* KEY_SEARCH */
};

#define KEY_KPDOT 83u

guint atoll_keymap_evdev_to_xt(guint evdev_code)
{
    if (evdev_code == 0)
        return 0;
    if (evdev_code <= KEY_KPDOT)
        return evdev_code;
    if (evdev_code < G_N_ELEMENTS(evdev_high))
        return evdev_high[evdev_code];
    return 0;
}

guint atoll_keymap_hardware_to_xt(guint hardware_keycode)
{
    if (hardware_keycode < ATOLL_KEYMAP_XKB_OFFSET)
        return 0;
    return atoll_keymap_evdev_to_xt(hardware_keycode - ATOLL_KEYMAP_XKB_OFFSET);
}

gsize atoll_keymap_xt_bytes(guint xt, gboolean release, guint8 out[2])
{
    guint8 code = xt & 0x7f;
    gsize n = 0;

    if (xt == 0)
        return 0;
    if (xt & ATOLL_XT_EXTENDED)
        out[n++] = 0xe0;
    out[n++] = release ? (code | 0x80) : code;
    return n;
}
