/* PCI bus 0: config space through 0xCF8/0xCFC and ECAM, BAR assignment at
 * creation, and BAR (re)mapping when the guest moves a BAR or toggles
 * decoding in the command register. */
#include "pci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../log.h"
#include "../memory.h"
#include "../vm.h"

#define PCI_IO_BASE      0xC000
#define PCI_IO_END       0x10000
#define CF8_ENABLE       0x80000000u

void pci_device_init(struct pci_device *dev, const char *name,
		     uint16_t vendor, uint16_t device, uint32_t class_code,
		     uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
	memset(dev, 0, sizeof(*dev));
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	uint8_t *c = dev->cfg;
	c[0] = (uint8_t)vendor; c[1] = (uint8_t)(vendor >> 8);
	c[2] = (uint8_t)device; c[3] = (uint8_t)(device >> 8);
	c[PCI_REVISION_ID] = revision;
	c[PCI_CLASS_PROG] = (uint8_t)class_code;
	c[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
	c[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
	c[PCI_SUBSYSTEM_VENDOR_ID] = (uint8_t)subsys_vendor;
	c[PCI_SUBSYSTEM_VENDOR_ID + 1] = (uint8_t)(subsys_vendor >> 8);
	c[PCI_SUBSYSTEM_ID] = (uint8_t)subsys_id;
	c[PCI_SUBSYSTEM_ID + 1] = (uint8_t)(subsys_id >> 8);
	pci_device_set_wmask(dev, PCI_COMMAND, 2,
			     PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
			     PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	pci_device_set_wmask(dev, PCI_INTERRUPT_LINE, 1, 0xff);
}

void pci_device_set_wmask(struct pci_device *dev, uint32_t off, uint32_t len,
			  uint32_t mask)
{
	for (uint32_t i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		dev->wmask[off + i] = (uint8_t)(mask >> (8 * i));
}

static void cfg_put32(struct pci_device *dev, uint32_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		dev->cfg[off + i] = (uint8_t)(v >> (8 * i));
}

static uint32_t cfg_get32(const struct pci_device *dev, uint32_t off)
{
	return (uint32_t)dev->cfg[off] | (uint32_t)dev->cfg[off + 1] << 8 |
	       (uint32_t)dev->cfg[off + 2] << 16 | (uint32_t)dev->cfg[off + 3] << 24;
}

int pci_device_set_bar(struct pci_device *dev, int idx, enum pci_bar_kind kind,
		       uint64_t size, bool prefetch, bus_access_fn fn, void *opaque)
{
	uint64_t min = kind == PCI_BAR_IO ? 4 : 4096;
	if (idx < 0 || idx >= PCI_NUM_BARS || (kind == PCI_BAR_MEM64 && idx == 5))
		return -EINVAL;
	if (size < min || (size & (size - 1)))
		return -EINVAL;
	if (kind == PCI_BAR_IO && size > 256)
		return -EINVAL;
	dev->bars[idx] = (struct pci_bar){ .kind = kind, .prefetch = prefetch,
					   .size = size, .fn = fn, .opaque = opaque };
	uint32_t off = PCI_BAR0 + 4 * (uint32_t)idx;
	uint32_t flags = kind == PCI_BAR_IO ? 1 : (kind == PCI_BAR_MEM64 ? 4 : 0);
	if (prefetch)
		flags |= 8;
	cfg_put32(dev, off, flags);
	uint32_t lowmask = kind == PCI_BAR_IO ? 0x3 : 0xf;
	pci_device_set_wmask(dev, off, 4, (uint32_t)~(size - 1) & ~lowmask);
	if (kind == PCI_BAR_MEM64)
		pci_device_set_wmask(dev, off + 4, 4, (uint32_t)(~(size - 1) >> 32));
	return 0;
}

int pci_device_add_capability(struct pci_device *dev, uint8_t id,
			      const void *body, uint32_t len)
{
	/* Capabilities follow the standard header, dword aligned, chained in
	 * the order they were added. */
	uint32_t off = dev->cap_end ? (dev->cap_end + 3u) & ~3u : 0x40;
	if (off + 2 + len > 0x100)
		return -1;
	dev->cfg[off] = id;
	dev->cfg[off + 1] = 0;
	memcpy(&dev->cfg[off + 2], body, len);
	if (dev->last_cap)
		dev->cfg[dev->last_cap + 1] = (uint8_t)off;
	else
		dev->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	dev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->last_cap = (uint8_t)off;
	dev->cap_end = (uint16_t)(off + 2 + len);
	return (int)off;
}

/* The address a BAR currently decodes at, or false if it decodes nothing
 * (decoding off, or a sizing pattern / zero address). */
static bool bar_decode_addr(const struct pci_device *dev, int idx, uint64_t *addr)
{
	const struct pci_bar *b = &dev->bars[idx];
	uint16_t cmd = pci_cfg_get16(dev, PCI_COMMAND);
	uint32_t off = PCI_BAR0 + 4 * (uint32_t)idx;
	uint64_t a;

	if (b->kind == PCI_BAR_IO) {
		if (!(cmd & PCI_COMMAND_IO))
			return false;
		a = cfg_get32(dev, off) & ~0x3u;
		if (a == 0 || a + b->size > PCI_IO_END)
			return false;
	} else {
		if (!(cmd & PCI_COMMAND_MEMORY))
			return false;
		a = cfg_get32(dev, off) & ~0xfu;
		if (b->kind == PCI_BAR_MEM64)
			a |= (uint64_t)cfg_get32(dev, off + 4) << 32;
		if (a == 0 || a + b->size < a)
			return false;
		/* Never let a BAR shadow RAM: the guest would lose memory. */
		if (guest_ptr(&dev->host->vm->mem, a, 1))
			return false;
	}
	*addr = a;
	return true;
}

static struct bus *bar_bus(struct pci_device *dev, int idx)
{
	return dev->bars[idx].kind == PCI_BAR_IO ? &dev->host->vm->io_bus
						 : &dev->host->vm->mmio_bus;
}

/* Bring BAR idx's bus registration in line with config space. */
static void bar_update(struct pci_device *dev, int idx)
{
	struct pci_bar *b = &dev->bars[idx];
	uint64_t addr = 0;
	bool want = bar_decode_addr(dev, idx, &addr);

	if (b->mapped && want && addr == b->addr)
		return;
	uint64_t old = b->addr;
	bool was = b->mapped;
	if (b->mapped) {
		bus_unregister(bar_bus(dev, idx), b->addr);
		b->mapped = false;
	}
	if (want) {
		int ret = bus_register(bar_bus(dev, idx), addr, b->size, b->fn,
				       b->opaque, dev->name);
		if (ret == 0) {
			b->mapped = true;
			b->addr = addr;
		} else {
			log_debug("%s: BAR%d at 0x%llx overlaps another region; not mapped",
				  dev->name, idx, (unsigned long long)addr);
		}
	}
	if (dev->bar_moved && (was != b->mapped || old != b->addr))
		dev->bar_moved(dev, idx, old, was);
}

static void bars_update(struct pci_device *dev)
{
	for (int i = 0; i < PCI_NUM_BARS; i++)
		if (dev->bars[i].kind != PCI_BAR_NONE)
			bar_update(dev, i);
}

#define PCI_ROM_ENABLE 0x1
#define PCI_ROM_MAX    (16u << 20)

int pci_device_set_rom(struct pci_device *dev, const uint8_t *rom, size_t len)
{
	uint32_t size = 2048;   /* the smallest ROM BAR */

	if (!rom || !len || len > PCI_ROM_MAX)
		return -EINVAL;
	while (size < len)
		size <<= 1;
	dev->rom = rom;
	dev->rom_len = (uint32_t)len;
	dev->rom_size = size;
	pci_device_set_wmask(dev, PCI_ROM_ADDRESS, 4, ~(size - 1) | PCI_ROM_ENABLE);
	return 0;
}

static void rom_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct pci_device *dev = opaque;

	if (is_write)
		return;
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < dev->rom_len ? dev->rom[off + i] : 0xff;
}

/* Decode the ROM while it and memory decoding are on, never over RAM. */
static void rom_update(struct pci_device *dev)
{
	struct vm *vm = dev->host->vm;
	uint32_t reg = (uint32_t)pci_cfg_read(dev, PCI_ROM_ADDRESS, 4);
	uint64_t addr = reg & ~(dev->rom_size - 1);
	bool want = (reg & PCI_ROM_ENABLE) && addr &&
		    (pci_cfg_get16(dev, PCI_COMMAND) & PCI_COMMAND_MEMORY) &&
		    !guest_ptr(&vm->mem, addr, 1) && !guest_ptr(&vm->mem, addr + dev->rom_size - 1, 1);

	if (dev->rom_mapped && (!want || addr != dev->rom_addr)) {
		bus_unregister(&vm->mmio_bus, dev->rom_addr);
		dev->rom_mapped = false;
	}
	if (want && !dev->rom_mapped) {
		if (bus_register(&vm->mmio_bus, addr, dev->rom_size, rom_access, dev,
				 dev->name) == 0) {
			dev->rom_mapped = true;
			dev->rom_addr = addr;
		} else {
			log_debug("%s: ROM at 0x%llx overlaps another region; not mapped",
				  dev->name, (unsigned long long)addr);
		}
	}
}

uint32_t pci_cfg_read(struct pci_device *dev, uint32_t off, uint32_t len)
{
	uint32_t v = 0;
	if (dev->cfg_read && off < PCI_CFG_SIZE && len <= 4 && len <= PCI_CFG_SIZE - off)
		return dev->cfg_read(dev, off, len);
	for (uint32_t i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		v |= (uint32_t)dev->cfg[off + i] << (8 * i);
	return v;
}

void pci_cfg_write(struct pci_device *dev, uint32_t off, uint32_t len, uint32_t val)
{
	if (off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
		return;
	for (uint32_t i = 0; i < len; i++) {
		uint8_t m = dev->wmask[off + i];
		dev->cfg[off + i] = (uint8_t)((dev->cfg[off + i] & ~m) |
					      ((uint8_t)(val >> (8 * i)) & m));
	}
	bool touches_bars = off < PCI_BAR0 + 24 && off + len > PCI_BAR0;
	bool touches_cmd = off < PCI_COMMAND + 2 && off + len > PCI_COMMAND;
	if (touches_bars || touches_cmd)
		bars_update(dev);
	bool touches_rom = off < PCI_ROM_ADDRESS + 4 && off + len > PCI_ROM_ADDRESS;
	if (dev->rom && (touches_rom || touches_cmd))
		rom_update(dev);
	if (dev->cfg_write)
		dev->cfg_write(dev, off, len, val);
}

/* A config access from the guest: `addr` is bus/devfn/register. */
static void host_cfg_access(struct pci_host *host, uint32_t bus, uint32_t devfn,
			    uint32_t reg, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_device *dev = bus == 0 ? host->devs[devfn & 0xff] : NULL;

	/* Only naturally aligned 1/2/4-byte accesses inside config space. */
	if (!dev || (len != 1 && len != 2 && len != 4) || (reg & (len - 1)) ||
	    reg + len > PCI_CFG_SIZE) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&host->lock);
	if (is_write)
		pci_cfg_write(dev, reg, len, (uint32_t)bus_data_get(data, len));
	else
		bus_data_set(data, len, pci_cfg_read(dev, reg, len));
	pthread_mutex_unlock(&host->lock);
}

static void cf8_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct pci_host *host = opaque;

	if (off == 1 && len == 1) {
		/* 0xCF9, the chipset's reset control register: SYS_RST and
		 * FULL_RST are kept, RST_CPU going 1 resets the machine. */
		if (!is_write) {
			data[0] = host->rcr;
			return;
		}
		host->rcr = data[0] & 0x0a;
		if (data[0] & 0x04)
			vm_request_reset(host->vm);
		return;
	}
	if (off < 4) {
		/* The address register only answers whole dword accesses. */
		if (off != 0 || len != 4) {
			if (!is_write)
				memset(data, 0xff, len);
			return;
		}
		if (is_write)
			host->cf8 = (uint32_t)bus_data_get(data, 4);
		else
			bus_data_set(data, 4, host->cf8);
		return;
	}
	uint32_t a = host->cf8;
	if (!(a & CF8_ENABLE)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	uint32_t reg = (a & 0xfc) | (uint32_t)(off - 4);
	host_cfg_access(host, (a >> 16) & 0xff, (a >> 8) & 0xff, reg, data, len,
			is_write);
}

static void ecam_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			bool is_write)
{
	host_cfg_access(opaque, (uint32_t)(off >> 20), (uint32_t)(off >> 12) & 0xff,
			(uint32_t)off & 0xfff, data, len, is_write);
}

int pci_host_set_ecam(struct pci_host *host, uint64_t base, uint64_t len)
{
	if (host->ecam_len && base == host->ecam_base && len == host->ecam_len)
		return 0;
	if (host->ecam_len)
		bus_unregister(&host->vm->mmio_bus, host->ecam_base);
	host->ecam_base = host->ecam_len = 0;
	if (!len)
		return 0;
	/* Never over RAM or another device: the guest picks the address. */
	if (base + len < base || guest_ptr(&host->vm->mem, base, 1) ||
	    guest_ptr(&host->vm->mem, base + len - 1, 1))
		return -EINVAL;
	int ret = bus_register(&host->vm->mmio_bus, base, len, ecam_access, host,
			       "pci-ecam");
	if (ret == 0) {
		host->ecam_base = base;
		host->ecam_len = len;
	}
	return ret;
}

int pci_host_init(struct pci_host *host, struct vm *vm)
{
	memset(host, 0, sizeof(*host));
	host->vm = vm;
	pthread_mutex_init(&host->lock, NULL);
	host->mmio32_next = PCI_MMIO32_BASE;
	host->io_next = PCI_IO_BASE;
	host->mmio64_base = guest_mmio64_base(&vm->mem);
	host->mmio64_next = host->mmio64_base;
	host->mmio64_end = host->mmio64_base + PCI_MMIO64_SIZE;

	int ret = bus_register(&vm->io_bus, 0xcf8, 8, cf8_access, host, "pci-cf8");
	if (!ret)
		ret = pci_host_set_ecam(host, PCI_ECAM_BASE, PCI_ECAM_SIZE);
	if (ret)
		return ret;
	/* Intel's Q35 MCH id: the id OVMF expects of the host bridge. */
	pci_device_init(&host->bridge, "host-bridge", 0x8086, 0x29c0, 0x060000,
			0, 0x1af4, 0x1100);
	return pci_host_add(host, &host->bridge, 0) < 0 ? -EIO : 0;
}

static int bar_allocate(struct pci_host *host, struct pci_device *dev, int idx)
{
	struct pci_bar *b = &dev->bars[idx];
	uint64_t *next, end;

	if (b->kind == PCI_BAR_IO) {
		next = &host->io_next;
		end = PCI_IO_END;
	} else if (b->kind == PCI_BAR_MEM64 && (b->prefetch || b->size > (64u << 20))) {
		next = &host->mmio64_next;
		end = host->mmio64_end;
	} else {
		next = &host->mmio32_next;
		end = PCI_MMIO32_BASE + PCI_MMIO32_SIZE;
	}
	uint64_t a = (*next + b->size - 1) & ~(b->size - 1);
	if (a + b->size > end || a + b->size < a) {
		log_error("%s: no room for BAR%d (%llu bytes) in the PCI window",
			  dev->name, idx, (unsigned long long)b->size);
		return -ENOSPC;
	}
	*next = a + b->size;
	uint32_t off = PCI_BAR0 + 4 * (uint32_t)idx;
	uint32_t flags = cfg_get32(dev, off) & (b->kind == PCI_BAR_IO ? 0x3u : 0xfu);
	cfg_put32(dev, off, (uint32_t)a | flags);
	if (b->kind == PCI_BAR_MEM64)
		cfg_put32(dev, off + 4, (uint32_t)(a >> 32));
	return 0;
}

int pci_host_add(struct pci_host *host, struct pci_device *dev, int devfn)
{
	pthread_mutex_lock(&host->lock);
	if (devfn < 0) {
		for (int slot = 1; slot < PCI_MAX_SLOTS; slot++) {
			if (!host->devs[slot << 3]) {
				devfn = slot << 3;
				break;
			}
		}
	}
	if (devfn < 0 || devfn > 255 || host->devs[devfn]) {
		pthread_mutex_unlock(&host->lock);
		log_error("%s: no free PCI slot", dev->name);
		return -ENOSPC;
	}
	dev->host = host;
	dev->devfn = (uint8_t)devfn;
	int ret = 0;
	for (int i = 0; i < PCI_NUM_BARS && !ret; i++)
		if (dev->bars[i].kind != PCI_BAR_NONE)
			ret = bar_allocate(host, dev, i);
	if (!ret) {
		/* As firmware would leave it: decoding on, BARs live. */
		uint16_t cmd = pci_cfg_get16(dev, PCI_COMMAND) | PCI_COMMAND_MEMORY |
			       PCI_COMMAND_IO;
		dev->cfg[PCI_COMMAND] = (uint8_t)cmd;
		dev->cfg[PCI_COMMAND + 1] = (uint8_t)(cmd >> 8);
		host->devs[devfn] = dev;
		bars_update(dev);
	}
	pthread_mutex_unlock(&host->lock);
	return ret ? ret : devfn;
}
