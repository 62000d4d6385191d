/* bochs-display: QEMU's "bochs-display" PCI device (1234:1111, class
 * 0x0380), a linear framebuffer with the Bochs DISPI mode registers and an
 * EDID blob, driven by Linux's bochs (bochs-drm) and by firmware
 * (QemuVideoDxe).  docs/display.md has the register map. */
#ifndef ATOLL_BOCHS_DISPLAY_H
#define ATOLL_BOCHS_DISPLAY_H

#include <stdint.h>

struct vm;

#define BOCHS_VENDOR     0x1234
#define BOCHS_DEVICE     0x1111
#define BOCHS_FB_SIZE    (16u << 20)   /* BAR 0 */
#define BOCHS_MMIO_SIZE  0x1000        /* BAR 2 */

/* BAR 2 layout */
#define BOCHS_MMIO_EDID   0x000   /* 0x400 bytes, EDID blocks */
#define BOCHS_MMIO_VGA    0x400   /* VGA ports 0x3c0-0x3df (ignored) */
#define BOCHS_MMIO_DISPI  0x500   /* 16-bit registers, index * 2 */
#define BOCHS_MMIO_QEXT   0x600   /* QEMU extended registers */

/* DISPI register indexes */
#define DISPI_INDEX_ID          0x0
#define DISPI_INDEX_XRES        0x1
#define DISPI_INDEX_YRES        0x2
#define DISPI_INDEX_BPP         0x3
#define DISPI_INDEX_ENABLE      0x4
#define DISPI_INDEX_BANK        0x5
#define DISPI_INDEX_VIRT_WIDTH  0x6
#define DISPI_INDEX_VIRT_HEIGHT 0x7
#define DISPI_INDEX_X_OFFSET    0x8
#define DISPI_INDEX_Y_OFFSET    0x9
#define DISPI_INDEX_VIDEO_MEMORY_64K 0xa
#define DISPI_NUM_REGS          0xb

#define DISPI_ID5          0xb0c5
#define DISPI_ENABLED      0x01
#define DISPI_GETCAPS      0x02
#define DISPI_8BIT_DAC     0x20
#define DISPI_LFB_ENABLED  0x40
#define DISPI_NOCLEARMEM   0x80
#define DISPI_MAX_XRES     16000
#define DISPI_MAX_YRES     12000
#define DISPI_MAX_BPP      32

/* Damage is found in tiles of this many pixels square. */
#define BOCHS_TILE 64

/* Plug the device into the VM's PCI bus and make it the display source. */
int bochs_display_create(struct vm *vm);
/* Free it again once the VM is stopped and its buses are no longer used.
 * (vm_destroy does not call it yet: the process exits.  Tests do.) */
void bochs_display_destroy(struct vm *vm);

#endif
