/* PCI devices and the host bridge (legacy 0xCF8/0xCFC and ECAM).  The VMM
 * assigns every BAR an address at creation (there is no firmware to do it
 * for a direct Linux boot); the guest may move BARs and the bus follows. */
#ifndef ATOLL_PCI_H
#define ATOLL_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../bus.h"

struct vm;
struct pci_device;

#define PCI_CFG_SIZE      4096
#define PCI_MAX_SLOTS     32
#define PCI_NUM_BARS      6

/* Standard config space offsets. */
#define PCI_VENDOR_ID     0x00
#define PCI_DEVICE_ID     0x02
#define PCI_COMMAND       0x04
#define  PCI_COMMAND_IO     0x1
#define  PCI_COMMAND_MEMORY 0x2
#define  PCI_COMMAND_MASTER 0x4
#define  PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS        0x06
#define  PCI_STATUS_CAP_LIST 0x10
#define PCI_REVISION_ID   0x08
#define PCI_CLASS_PROG    0x09
#define PCI_HEADER_TYPE   0x0e
#define PCI_BAR0          0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID  0x2e
#define PCI_ROM_ADDRESS   0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_CAP_ID_MSI    0x05
#define PCI_CAP_ID_VNDR   0x09
#define PCI_CAP_ID_EXP    0x10
#define PCI_CAP_ID_MSIX   0x11

/* INTx routing, as the DSDT's _PRT describes it: slot `slot`, pin `pin`
 * (1 = INTA) raises this IOAPIC GSI (level triggered, shared). */
#define PCI_INTX_GSI_BASE 16
static inline uint32_t pci_intx_gsi(unsigned slot, unsigned pin)
{
	return PCI_INTX_GSI_BASE + (slot + pin - 1) % 8;
}

enum pci_bar_kind { PCI_BAR_NONE, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
	enum pci_bar_kind kind;
	bool prefetch;
	uint64_t size;          /* power of two */
	uint64_t addr;          /* current guest address */
	bool mapped;            /* registered on a bus right now */
	bus_access_fn fn;       /* handler for the whole BAR */
	void *opaque;
};

struct pci_device {
	char name[32];
	uint8_t devfn;          /* slot << 3 | function */
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];  /* bits the guest may write */
	struct pci_bar bars[PCI_NUM_BARS];
	uint8_t last_cap;       /* offset of the last capability, 0 if none */
	uint16_t cap_end;       /* first free byte after the capabilities */
	struct pci_host *host;
	void *opaque;

	/* Called after the generic config write has been applied, for
	 * capabilities the device emulates (MSI-X control, ...). */
	void (*cfg_write)(struct pci_device *dev, uint32_t off, uint32_t len,
			  uint32_t val);
	/* If set, answers config reads instead of cfg[] (a passed-through
	 * device reads some registers from the hardware). */
	uint32_t (*cfg_read)(struct pci_device *dev, uint32_t off, uint32_t len);
	/* Called after a BAR was mapped, moved or unmapped, so the device can
	 * move what the kernel maps for it (ioeventfds, memory slots). */
	void (*bar_moved)(struct pci_device *dev, int bar, uint64_t old_addr,
			  bool was_mapped);

	/* Expansion ROM (pci_device_set_rom): the bytes, owned by the caller. */
	const uint8_t *rom;
	uint32_t rom_len, rom_size;   /* bytes given; the BAR's power-of-two size */
	uint64_t rom_addr;
	bool rom_mapped;
};

struct pci_host {
	struct vm *vm;
	pthread_mutex_t lock;   /* config space accesses and BAR moves */
	struct pci_device *devs[256];  /* bus 0, indexed by devfn */
	struct pci_device bridge;     /* 00.0 host bridge */
	uint32_t cf8;
	uint64_t mmio32_next, mmio64_next, io_next;
	uint64_t mmio64_base, mmio64_end;
	uint64_t ecam_base, ecam_len;  /* where ECAM decodes; len 0: nowhere */
	uint8_t rcr;                   /* 0xCF9 reset control */
};

void pci_device_init(struct pci_device *dev, const char *name,
		     uint16_t vendor, uint16_t device, uint32_t class_code,
		     uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id);
/* Declare a BAR before pci_host_add().  size must be a power of two
 * (io >= 4, memory >= 4096); a 64-bit BAR uses idx and idx+1. */
int pci_device_set_bar(struct pci_device *dev, int idx, enum pci_bar_kind kind,
		       uint64_t size, bool prefetch, bus_access_fn fn, void *opaque);
/* Give the device an expansion ROM BAR (0x30) decoding `len` bytes of
 * `rom` (read-only; the rest of the BAR reads 0xff) while the guest enables
 * it: a VGA BIOS for firmware to run.  rom must outlive the device.
 * 0, or -EINVAL for an empty or over-16 MiB ROM. */
int pci_device_set_rom(struct pci_device *dev, const uint8_t *rom, size_t len);
/* Append a capability: `body` is what follows the (id, next) header, `len`
 * its size.  Returns the capability's offset, or -1 if config space is full. */
int pci_device_add_capability(struct pci_device *dev, uint8_t id,
			      const void *body, uint32_t len);
/* Make `len` bytes at `off` guest-writable (mask bits set) or not. */
void pci_device_set_wmask(struct pci_device *dev, uint32_t off, uint32_t len,
			  uint32_t mask);

int pci_host_init(struct pci_host *host, struct vm *vm);
/* Move the ECAM window (q35's PCIEXBAR); len 0 turns it off.  -EINVAL
 * over RAM, -EEXIST over another region. */
int pci_host_set_ecam(struct pci_host *host, uint64_t base, uint64_t len);
/* Plug a device into the next free slot (or at `devfn` if >= 0), allocate
 * its BARs and map them.  Returns the devfn or a negative errno. */
int pci_host_add(struct pci_host *host, struct pci_device *dev, int devfn);

/* Config accessors (used by the host bridge and by tests). */
uint32_t pci_cfg_read(struct pci_device *dev, uint32_t off, uint32_t len);
void pci_cfg_write(struct pci_device *dev, uint32_t off, uint32_t len, uint32_t val);

static inline uint16_t pci_cfg_get16(const struct pci_device *d, uint32_t off)
{
	return (uint16_t)(d->cfg[off] | d->cfg[off + 1] << 8);
}

#endif
