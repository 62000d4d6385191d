/* The VFIO-PCI device model.  The kernel's vfio-pci already filters what
 * userspace may write to the device's config space; on top of that the
 * VMM virtualises what only it can know: BAR addresses (the guest's, not
 * the host's), memory/IO decoding, the ROM BAR, the interrupt line, and
 * MSI/MSI-X, whose messages become KVM GSI routes fed by VFIO's eventfds
 * through irqfds (no userspace hop per interrupt).  Everything else in
 * config space goes to the device.  BARs are mmapped and given to KVM as
 * memory slots, except pages that must trap (the MSI-X table and PBA). */
#include "vfio_pci.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "irq.h"
#include "log.h"
#include "memory.h"
#include "pci/msix.h"
#include "pci/pci.h"
#include "vm.h"

#define PAGE            4096ULL
#define ROM_MAX         (16u << 20)
#define MSI_MAX_VECTORS 32
#define VP_MAX_DEVICES  16
#define MAX_SEGS        (VFIO_MAX_AREAS * 3)

#define PCI_COMMAND_PARITY 0x40
#define PCI_COMMAND_SERR   0x100
#define MSI_CTRL_ENABLE    0x0001
#define MSI_CTRL_64BIT     0x0080
#define MSI_CTRL_PVM       0x0100
#define MSIX_CTRL_ENABLE   0x8000
#define MSIX_CTRL_FMASK    0x4000
#define ROM_ENABLE         0x1u

struct vp_vec {
	struct msi_vector mv;   /* gsi, eventfd (VFIO's trigger), route */
	bool have_gsi;
	bool irqfd;             /* KVM delivers mv.eventfd right now */
};

struct vp_bar {
	struct vfio_pci *vp;
	int idx;
	uint64_t size;          /* the device's; the guest sees at least 4 KiB */
	void *maps[VFIO_MAX_AREAS];
	uint64_t map_len[VFIO_MAX_AREAS];
	int slots[MAX_SEGS];
	unsigned n_slots;
};

struct vfio_pci {
	struct pci_device pci;
	struct vm *vm;
	struct vfio_device dev;
	pthread_mutex_t lock;   /* interrupt state; after the PCI host lock */
	bool broken;
	uint8_t virt[PCI_CFG_SIZE];   /* 1: the guest reads cfg[], 0: the device */
	uint8_t to_hw[PCI_CFG_SIZE];  /* 1: guest writes go on to the device */
	uint32_t hw_cfg_size;
	struct vp_bar bars[PCI_NUM_BARS];

	int msi_cap;            /* 0 if none */
	unsigned msi_max;       /* vectors the device supports */
	bool msi_on;
	unsigned msi_n;         /* vectors enabled */

	int msix_cap;
	uint16_t msix_n;
	int table_bar, pba_bar;
	uint64_t table_off, pba_off;
	struct msix_entry *table;
	bool msix_on;

	struct vp_vec *vecs;
	unsigned n_vecs;

	uint8_t pin;            /* 0: no INTx */
	uint32_t intx_gsi;
	int intx_fd, resample_fd;
	bool intx_on;

	uint8_t *rom;
	uint32_t rom_size;      /* power of two; 0 without a ROM */
	bool rom_mapped;
	uint64_t rom_addr;
};

static struct vfio_pci *devices[VP_MAX_DEVICES];
static unsigned n_devices;

struct pci_device *vfio_pci_device(struct vfio_pci *vp)
{
	return &vp->pci;
}

static bool touches(uint32_t off, uint32_t len, uint32_t start, uint32_t n)
{
	return off < start + n && off + len > start;
}

static uint32_t cfg32(const struct pci_device *d, uint32_t off)
{
	return (uint32_t)d->cfg[off] | (uint32_t)d->cfg[off + 1] << 8 |
	       (uint32_t)d->cfg[off + 2] << 16 | (uint32_t)d->cfg[off + 3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A device that stopped answering: one line, then it reads as absent. */
static void mark_broken(struct vfio_pci *vp, const char *what, int err)
{
	if (vp->broken)
		return;
	vp->broken = true;
	log_error("pci %s: %s failed (%s); the device is marked broken and reads "
		  "as all-ones from now on — the rest of the VM keeps running",
		  vp->dev.bdf, what, strerror(-err));
}

static int hw_cfg_read(struct vfio_pci *vp, uint32_t off, void *buf, uint32_t len)
{
	return vfio_region_read(&vp->dev, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len);
}

static int hw_cfg_write(struct vfio_pci *vp, uint32_t off, const void *buf, uint32_t len)
{
	return vfio_region_write(&vp->dev, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len);
}

/* ---- interrupt vectors ------------------------------------------------- */

static bool have_kvm(const struct vfio_pci *vp)
{
	return vp->vm->vm_fd >= 0 && vp->vm->routing;
}

static int vec_prepare(struct vfio_pci *vp, struct vp_vec *v)
{
	if (v->mv.eventfd < 0) {
		v->mv.eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->mv.eventfd < 0)
			return -errno;
	}
	if (!v->have_gsi) {
		pthread_mutex_lock(&vp->vm->gsi_lock);
		v->mv.gsi = vp->vm->next_gsi++;
		pthread_mutex_unlock(&vp->vm->gsi_lock);
		v->have_gsi = true;
	}
	return 0;
}

static int irqfd(struct vfio_pci *vp, int fd, uint32_t gsi, uint32_t flags, int resample)
{
	struct kvm_irqfd i = { .fd = (uint32_t)fd, .gsi = gsi, .flags = flags,
			       .resamplefd = (uint32_t)resample };
	if (vp->vm->vm_fd < 0)
		return -EBADF;
	return ioctl(vp->vm->vm_fd, KVM_IRQFD, &i) < 0 ? -errno : 0;
}

/* Deliver vector v as (addr, data) or, masked, not at all: a masked
 * vector's eventfd keeps counting, and KVM injects what is pending when
 * the irqfd is assigned again on unmask. */
static void vec_sync(struct vfio_pci *vp, struct vp_vec *v, bool deliver, uint64_t addr,
		     uint32_t data)
{
	if (!have_kvm(vp) || v->mv.eventfd < 0)
		return;
	if (deliver) {
		if (msi_vector_route(vp->vm, &v->mv, addr, data))
			return;
		if (!v->irqfd) {
			int ret = irqfd(vp, v->mv.eventfd, v->mv.gsi, 0, -1);
			if (ret)
				log_warn("pci %s: cannot attach an irqfd to GSI %u: %s",
					 vp->dev.bdf, v->mv.gsi, strerror(-ret));
			v->irqfd = ret == 0;
		}
	} else if (v->irqfd) {
		irqfd(vp, v->mv.eventfd, v->mv.gsi, KVM_IRQFD_FLAG_DEASSIGN, -1);
		v->irqfd = false;
	}
}

static bool vec_pending(const struct vp_vec *v)
{
	struct pollfd p = { .fd = v->mv.eventfd, .events = POLLIN };
	return v->mv.eventfd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Give VFIO the first n vectors' eventfds as triggers of irq `index`. */
static int vecs_attach(struct vfio_pci *vp, uint32_t index, unsigned n)
{
	int *fds = calloc(n, sizeof(int));
	int ret = fds ? 0 : -ENOMEM;
	for (unsigned i = 0; i < n && !ret; i++) {
		ret = vec_prepare(vp, &vp->vecs[i]);
		if (!ret)
			fds[i] = vp->vecs[i].mv.eventfd;
	}
	if (!ret)
		ret = vfio_irq_set_eventfds(&vp->dev, index, n, fds);
	free(fds);
	return ret;
}

static void vecs_detach(struct vfio_pci *vp, uint32_t index, unsigned n)
{
	vfio_irq_set_eventfds(&vp->dev, index, 0, NULL);
	for (unsigned i = 0; i < n && i < vp->n_vecs; i++)
		vec_sync(vp, &vp->vecs[i], false, 0, 0);
}

/* ---- INTx ---------------------------------------------------------------- */

/* Level-triggered INTx without a userspace hop: VFIO masks the line at the
 * host and signals intx_fd, KVM raises the GSI; the guest's EOI signals
 * resample_fd, which makes VFIO unmask the line. */
static void intx_enable(struct vfio_pci *vp)
{
	if (!vp->pin || vp->intx_on || vp->intx_fd < 0 || !have_kvm(vp))
		return;
	int ret = irqfd(vp, vp->intx_fd, vp->intx_gsi, KVM_IRQFD_FLAG_RESAMPLE,
			vp->resample_fd);
	if (!ret)
		ret = vfio_irq_set_eventfds(&vp->dev, VFIO_PCI_INTX_IRQ_INDEX, 1, &vp->intx_fd);
	if (!ret)
		ret = vfio_irq_set_unmask_eventfd(&vp->dev, VFIO_PCI_INTX_IRQ_INDEX,
						  vp->resample_fd);
	if (ret) {
		log_warn("pci %s: INTx not available (%s); the guest must use MSI/MSI-X",
			 vp->dev.bdf, strerror(-ret));
		vfio_irq_set_eventfds(&vp->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, NULL);
		irqfd(vp, vp->intx_fd, vp->intx_gsi, KVM_IRQFD_FLAG_DEASSIGN, -1);
		return;
	}
	vp->intx_on = true;
}

static void intx_disable(struct vfio_pci *vp)
{
	if (!vp->intx_on)
		return;
	vfio_irq_set_eventfds(&vp->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, NULL);
	/* Deassigning also lowers the line if the guest had not EOIed. */
	irqfd(vp, vp->intx_fd, vp->intx_gsi, KVM_IRQFD_FLAG_DEASSIGN, -1);
	vp->intx_on = false;
}

/* ---- MSI ------------------------------------------------------------------ */

static uint16_t msi_ctrl(const struct vfio_pci *vp)
{
	return pci_cfg_get16(&vp->pci, (uint32_t)vp->msi_cap + 2);
}

static uint32_t msi_data_off(const struct vfio_pci *vp)
{
	return (uint32_t)vp->msi_cap + ((msi_ctrl(vp) & MSI_CTRL_64BIT) ? 12 : 8);
}

static void msi_sync(struct vfio_pci *vp)
{
	const struct pci_device *d = &vp->pci;
	uint32_t cap = (uint32_t)vp->msi_cap;
	uint16_t ctrl = msi_ctrl(vp);
	uint64_t addr = cfg32(d, cap + 4);
	if (ctrl & MSI_CTRL_64BIT)
		addr |= (uint64_t)cfg32(d, cap + 8) << 32;
	uint32_t data = pci_cfg_get16(d, msi_data_off(vp));
	uint32_t mask = (ctrl & MSI_CTRL_PVM) ? cfg32(d, msi_data_off(vp) + 4) : 0;

	for (unsigned i = 0; i < vp->msi_n; i++) {
		/* Multiple messages: the low data bits carry the vector. */
		uint32_t di = (data & ~(vp->msi_n - 1)) | i;
		vec_sync(vp, &vp->vecs[i], !(mask & (1u << i)), addr, di);
	}
}

static void msi_cfg_write(struct vfio_pci *vp)
{
	uint16_t ctrl = msi_ctrl(vp);
	bool on = ctrl & MSI_CTRL_ENABLE;

	if (on && !vp->msi_on) {
		unsigned mme = (ctrl >> 4) & 7, n = 1u << mme;
		if (n > vp->msi_max)
			n = vp->msi_max;
		intx_disable(vp);
		int ret = vecs_attach(vp, VFIO_PCI_MSI_IRQ_INDEX, n);
		if (ret) {
			log_error("pci %s: cannot enable MSI (%u vectors) on the host: %s",
				  vp->dev.bdf, n, strerror(-ret));
		}
		vp->msi_n = n;
		vp->msi_on = true;
		msi_sync(vp);
		log_info("pci %s: MSI on: %u vector(s) from GSI %u, address 0x%llx data 0x%x",
			 vp->dev.bdf, n, vp->vecs[0].mv.gsi,
			 (unsigned long long)vp->vecs[0].mv.addr, vp->vecs[0].mv.data);
	} else if (!on && vp->msi_on) {
		vecs_detach(vp, VFIO_PCI_MSI_IRQ_INDEX, vp->msi_n);
		vp->msi_on = false;
		vp->msi_n = 0;
		intx_enable(vp);
	}
	if (vp->msi_on)
		msi_sync(vp);
}

/* The capability stays as the device has it (64-bit, per-vector masking,
 * vector count) but lives in cfg[]: only the VMM programs the device. */
static void msi_init(struct vfio_pci *vp, int cap)
{
	struct pci_device *d = &vp->pci;
	uint32_t c = (uint32_t)cap;
	uint16_t ctrl = pci_cfg_get16(d, c + 2);
	unsigned mmc = (ctrl >> 1) & 7;

	vp->msi_cap = cap;
	vp->msi_max = mmc > 5 ? 32 : 1u << mmc;
	ctrl &= (uint16_t)~(MSI_CTRL_ENABLE | 0x70);
	put16(&d->cfg[c + 2], ctrl);
	uint32_t len = 10 + ((ctrl & MSI_CTRL_64BIT) ? 4 : 0) + ((ctrl & MSI_CTRL_PVM) ? 10 : 0);
	for (uint32_t i = 0; i < len && c + i < 256; i++) {
		vp->virt[c + i] = 1;
		vp->to_hw[c + i] = 0;
	}
	memset(&d->cfg[c + 4], 0, len - 4);
	pci_device_set_wmask(d, c + 2, 2, MSI_CTRL_ENABLE | 0x70);
	pci_device_set_wmask(d, c + 4, 4, 0xfffffffc);
	if (ctrl & MSI_CTRL_64BIT)
		pci_device_set_wmask(d, c + 8, 4, 0xffffffff);
	uint32_t data = msi_data_off(vp);
	pci_device_set_wmask(d, data, 2, 0xffff);
	if (ctrl & MSI_CTRL_PVM)
		pci_device_set_wmask(d, data + 4, 4, vp->msi_max == 32 ? 0xffffffffu :
				     (1u << vp->msi_max) - 1);
}

/* ---- MSI-X ------------------------------------------------------------------ */

static uint16_t msix_ctrl(const struct vfio_pci *vp)
{
	return pci_cfg_get16(&vp->pci, (uint32_t)vp->msix_cap + 2);
}

static bool msix_masked(const struct vfio_pci *vp, unsigned i)
{
	return (msix_ctrl(vp) & MSIX_CTRL_FMASK) || (vp->table[i].ctrl & 1);
}

static void msix_sync_one(struct vfio_pci *vp, unsigned i)
{
	const struct msix_entry *e = &vp->table[i];
	vec_sync(vp, &vp->vecs[i], !msix_masked(vp, i),
		 (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

static void vp_msix_cfg_write(struct vfio_pci *vp)
{
	bool on = msix_ctrl(vp) & MSIX_CTRL_ENABLE;

	if (on && !vp->msix_on) {
		intx_disable(vp);
		/* Every vector at once: kernels before 6.5 cannot grow the
		 * set later without disabling MSI-X. */
		int ret = vecs_attach(vp, VFIO_PCI_MSIX_IRQ_INDEX, vp->msix_n);
		if (ret)
			log_error("pci %s: cannot enable MSI-X (%u vectors) on the host: %s",
				  vp->dev.bdf, vp->msix_n, strerror(-ret));
		else
			log_info("pci %s: MSI-X on: %u vectors", vp->dev.bdf, vp->msix_n);
		vp->msix_on = true;
	} else if (!on && vp->msix_on) {
		vecs_detach(vp, VFIO_PCI_MSIX_IRQ_INDEX, vp->msix_n);
		vp->msix_on = false;
		intx_enable(vp);
	}
	if (vp->msix_on)
		for (unsigned i = 0; i < vp->msix_n; i++)
			msix_sync_one(vp, i);
}

static void msix_table_rw(struct vfio_pci *vp, uint64_t off, uint8_t *data, uint32_t len,
			  bool is_write)
{
	if ((len != 4 && len != 8) || (off & (len - 1)) ||
	    off + len > msix_table_size(vp->msix_n)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	for (uint32_t done = 0; done < len; done += 4) {
		uint64_t o = off + done;
		unsigned v = (unsigned)(o / 16);
		uint32_t *field = (uint32_t *)&vp->table[v] + (o % 16) / 4;
		if (!is_write) {
			bus_data_set(data + done, 4, *field);
			continue;
		}
		*field = (uint32_t)bus_data_get(data + done, 4);
		if (o % 16 == 12)
			*field &= 1;        /* only the mask bit exists */
		if (vp->msix_on)
			msix_sync_one(vp, v);
	}
}

/* Pending: masked vectors whose interrupt arrived meanwhile. */
static void msix_pba_read(struct vfio_pci *vp, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
	for (uint32_t i = 0; i < len; i++) {
		for (unsigned b = 0; b < 8; b++) {
			uint64_t v = (off + i) * 8 + b;
			if (v < vp->msix_n && vp->msix_on && msix_masked(vp, (unsigned)v) &&
			    vec_pending(&vp->vecs[v]))
				data[i] |= (uint8_t)(1u << b);
		}
	}
}

static void vp_msix_init(struct vfio_pci *vp, int cap)
{
	struct pci_device *d = &vp->pci;
	uint32_t c = (uint32_t)cap;
	uint16_t ctrl = pci_cfg_get16(d, c + 2);
	uint32_t table = cfg32(d, c + 4), pba = cfg32(d, c + 8);
	uint16_t n = (uint16_t)((ctrl & 0x7ff) + 1);
	int tb = (int)(table & 7), pb = (int)(pba & 7);

	for (uint32_t i = 0; i < 12; i++) {
		vp->virt[c + i] = 1;
		vp->to_hw[c + i] = 0;
	}
	put16(&d->cfg[c + 2], ctrl & 0x7ff);
	/* The table and PBA must lie inside memory BARs of the device. */
	bool ok = tb < PCI_NUM_BARS && pb < PCI_NUM_BARS &&
		  vp->bars[tb].size && vp->bars[pb].size &&
		  d->bars[tb].kind != PCI_BAR_IO && d->bars[pb].kind != PCI_BAR_IO &&
		  (uint64_t)(table & ~7u) + msix_table_size(n) <= vp->bars[tb].size &&
		  (uint64_t)(pba & ~7u) + msix_pba_size(n) <= vp->bars[pb].size;
	if (!ok || !(vp->table = calloc(n, sizeof(*vp->table)))) {
		log_warn("pci %s: its MSI-X capability points outside its BARs; MSI-X "
			 "stays off for the guest", vp->dev.bdf);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		vp->table[i].ctrl = 1;
	vp->msix_cap = cap;
	vp->msix_n = n;
	vp->table_bar = tb;
	vp->pba_bar = pb;
	vp->table_off = table & ~7u;
	vp->pba_off = pba & ~7u;
	pci_device_set_wmask(d, c + 2, 2, MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
}

/* ---- BARs ------------------------------------------------------------------ */

static uint64_t page_down(uint64_t v) { return v & ~(PAGE - 1); }
static uint64_t page_up(uint64_t v) { return (v + PAGE - 1) & ~(PAGE - 1); }

/* [s, e) minus the pages of the MSI-X table and PBA if they are in this
 * BAR: what may be a memory slot.  Returns the number of segments. */
static unsigned carve(const struct vfio_pci *vp, int bar, uint64_t s, uint64_t e,
		      uint64_t out[][2], unsigned max)
{
	uint64_t ex[2][2];
	unsigned nex = 0, n = 0;

	if (vp->msix_n && vp->table_bar == bar)
		ex[nex][0] = page_down(vp->table_off),
		ex[nex++][1] = page_up(vp->table_off + msix_table_size(vp->msix_n));
	if (vp->msix_n && vp->pba_bar == bar)
		ex[nex][0] = page_down(vp->pba_off),
		ex[nex++][1] = page_up(vp->pba_off + msix_pba_size(vp->msix_n));
	if (nex == 2 && ex[1][0] < ex[0][0]) {
		uint64_t t0 = ex[0][0], t1 = ex[0][1];
		ex[0][0] = ex[1][0], ex[0][1] = ex[1][1];
		ex[1][0] = t0, ex[1][1] = t1;
	}
	uint64_t cur = s;
	for (unsigned i = 0; i <= nex && n < max; i++) {
		uint64_t stop = i < nex ? ex[i][0] : e;
		if (stop > e)
			stop = e;
		if (stop > cur) {
			out[n][0] = cur;
			out[n++][1] = stop;
		}
		if (i < nex && ex[i][1] > cur)
			cur = ex[i][1];
	}
	return n;
}

static void bar_unmap_slots(struct vp_bar *b)
{
	for (unsigned i = 0; i < b->n_slots; i++)
		vm_unmap_ram(b->vp->vm, b->slots[i]);
	b->n_slots = 0;
}

/* Hand the mmapped parts of the BAR at guest address gpa to KVM; whatever
 * is left (or whatever KVM refuses) traps to bar_access. */
static void bar_map_slots(struct vp_bar *b, uint64_t gpa)
{
	struct vfio_pci *vp = b->vp;
	const struct vfio_region *r = &vp->dev.regions[b->idx];

	for (unsigned a = 0; a < r->n_areas; a++) {
		if (!b->maps[a])
			continue;
		uint64_t segs[MAX_SEGS][2];
		uint64_t s = r->areas[a].offset, e = s + b->map_len[a];
		unsigned n = carve(vp, b->idx, s, e, segs, MAX_SEGS);
		for (unsigned i = 0; i < n && b->n_slots < MAX_SEGS; i++) {
			int slot;
			uint8_t *host = (uint8_t *)b->maps[a] + (segs[i][0] - s);
			int ret = vm_map_ram(vp->vm, gpa + segs[i][0], segs[i][1] - segs[i][0],
					     host, false, &slot);
			if (ret) {
				log_debug("pci %s: BAR%d +0x%llx: no memory slot (%s); trapped",
					  vp->dev.bdf, b->idx, (unsigned long long)segs[i][0],
					  strerror(-ret));
				continue;
			}
			b->slots[b->n_slots++] = slot;
		}
	}
}

static void bar_moved(struct pci_device *dev, int idx, uint64_t old_addr, bool was_mapped)
{
	(void)old_addr;
	(void)was_mapped;
	struct vfio_pci *vp = dev->opaque;
	struct vp_bar *b = &vp->bars[idx];

	bar_unmap_slots(b);
	if (dev->bars[idx].mapped && dev->bars[idx].kind != PCI_BAR_IO)
		bar_map_slots(b, dev->bars[idx].addr);
}

/* A trapped BAR access: the MSI-X table and PBA are emulated, the rest
 * goes to the device through the region file offset. */
static void bar_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct vp_bar *b = opaque;
	struct vfio_pci *vp = b->vp;

	if (vp->msix_n) {
		pthread_mutex_lock(&vp->lock);
		bool done = false;
		if (b->idx == vp->table_bar && off >= vp->table_off &&
		    off < vp->table_off + msix_table_size(vp->msix_n)) {
			msix_table_rw(vp, off - vp->table_off, data, len, is_write);
			done = true;
		} else if (b->idx == vp->pba_bar && off >= vp->pba_off &&
			   off < vp->pba_off + msix_pba_size(vp->msix_n)) {
			if (!is_write)
				msix_pba_read(vp, off - vp->pba_off, data, len);
			done = true;
		}
		pthread_mutex_unlock(&vp->lock);
		if (done)
			return;
	}
	/* Past the device's own size (a BAR padded to 4 KiB): nothing. */
	if (vp->broken || off >= b->size || len > b->size - off) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	int ret = is_write ? vfio_region_write(&vp->dev, b->idx, off, data, len)
			   : vfio_region_read(&vp->dev, b->idx, off, data, len);
	if (ret) {
		if (!is_write)
			memset(data, 0xff, len);
		mark_broken(vp, is_write ? "a BAR write" : "a BAR read", ret);
	}
}

static void bar_mmap(struct vfio_pci *vp, struct vp_bar *b)
{
	const struct vfio_region *r = &vp->dev.regions[b->idx];

	for (unsigned a = 0; a < r->n_areas; a++) {
		uint64_t off = r->areas[a].offset, len = page_up(r->areas[a].size);
		if ((off & (PAGE - 1)) || off >= page_up(b->size) || len > page_up(b->size) - off)
			continue;
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, vp->dev.fd,
			       (off_t)(r->offset + off));
		if (p == MAP_FAILED) {
			log_debug("pci %s: BAR%d: mmap: %s; accesses trap", vp->dev.bdf,
				  b->idx, strerror(errno));
			continue;
		}
		b->maps[a] = p;
		b->map_len[a] = len;
	}
}

/* Declare the device's BARs as it has them (kind, prefetch, size). */
static int bars_init(struct vfio_pci *vp, char *err, size_t errlen)
{
	struct pci_device *d = &vp->pci;

	for (int i = 0; i < PCI_NUM_BARS; i++) {
		const struct vfio_region *r = &vp->dev.regions[i];
		uint32_t off = PCI_BAR0 + 4 * (uint32_t)i;
		uint32_t raw = cfg32(d, off);
		struct vp_bar *b = &vp->bars[i];

		*b = (struct vp_bar){ .vp = vp, .idx = i };
		put32(&d->cfg[off], 0);
		if (!r->size)
			continue;
		if (r->size & (r->size - 1)) {
			snprintf(err, errlen, "pci %s: BAR%d is %llu bytes, not a power of two",
				 vp->dev.bdf, i, (unsigned long long)r->size);
			return -1;
		}
		bool io = raw & 1;
		enum pci_bar_kind kind = io ? PCI_BAR_IO :
			((raw & 6) == 4 ? PCI_BAR_MEM64 : PCI_BAR_MEM32);
		uint64_t size = r->size;
		if (!io && size < PAGE)
			size = PAGE;        /* its own page, so it can be a slot */
		if (io && size > 256) {
			log_warn("pci %s: I/O BAR%d (%llu bytes) is larger than atoll-vmm "
				 "supports; the guest does not get it", vp->dev.bdf, i,
				 (unsigned long long)size);
			continue;
		}
		if (kind == PCI_BAR_MEM64 && i == 5) {
			snprintf(err, errlen, "pci %s: 64-bit BAR5 has no upper half", vp->dev.bdf);
			return -1;
		}
		int ret = pci_device_set_bar(d, i, kind, size, !io && (raw & 8), bar_access, b);
		if (ret) {
			snprintf(err, errlen, "pci %s: BAR%d: %s", vp->dev.bdf, i, strerror(-ret));
			return -1;
		}
		b->size = r->size;
		if (!io)
			bar_mmap(vp, b);
		if (kind == PCI_BAR_MEM64) {
			i++;
			put32(&d->cfg[off + 4], 0);
		}
	}
	return 0;
}

/* ---- expansion ROM --------------------------------------------------------- */

static void rom_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct vfio_pci *vp = opaque;
	if (is_write)
		return;
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < vp->rom_size ? vp->rom[off + i] : 0xff;
}

static void rom_update(struct vfio_pci *vp)
{
	struct pci_device *d = &vp->pci;
	uint32_t reg = cfg32(d, PCI_ROM_ADDRESS);
	uint64_t addr = reg & ~(uint32_t)(vp->rom_size - 1);
	bool want = vp->rom_size && (reg & ROM_ENABLE) && addr &&
		    (pci_cfg_get16(d, PCI_COMMAND) & PCI_COMMAND_MEMORY) &&
		    !guest_ptr(&vp->vm->mem, addr, 1) &&
		    !guest_ptr(&vp->vm->mem, addr + vp->rom_size - 1, 1);

	if (vp->rom_mapped && (!want || addr != vp->rom_addr)) {
		bus_unregister(&vp->vm->mmio_bus, vp->rom_addr);
		vp->rom_mapped = false;
	}
	if (want && !vp->rom_mapped) {
		if (bus_register(&vp->vm->mmio_bus, addr, vp->rom_size, rom_access, vp,
				 d->name) == 0) {
			vp->rom_mapped = true;
			vp->rom_addr = addr;
		} else {
			log_debug("pci %s: ROM at 0x%llx overlaps another region; not mapped",
				  vp->dev.bdf, (unsigned long long)addr);
		}
	}
}

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = 2048;          /* the smallest ROM BAR */
	while (p < n)
		p <<= 1;
	return p;
}

static int rom_load_file(struct vfio_pci *vp, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > ROM_MAX) {
		snprintf(err, errlen, "pci %s: rom=%s: %s", vp->dev.bdf, path,
			 fd < 0 ? strerror(errno) :
			 st.st_size <= 0 ? "empty file" : "larger than 16 MiB, not a ROM image");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	vp->rom_size = pow2_at_least((uint64_t)st.st_size);
	vp->rom = malloc(vp->rom_size);
	ssize_t n = vp->rom ? read(fd, vp->rom, (size_t)st.st_size) : -1;
	close(fd);
	if (n != st.st_size) {
		snprintf(err, errlen, "pci %s: rom=%s: cannot read it", vp->dev.bdf, path);
		return -1;
	}
	memset(vp->rom + n, 0xff, vp->rom_size - (size_t)n);
	return 0;
}

/* The device's own ROM, read once: the guest reads a copy. */
static void rom_load_device(struct vfio_pci *vp)
{
	const struct vfio_region *r = &vp->dev.regions[VFIO_PCI_ROM_REGION_INDEX];
	if (!r->size || r->size > ROM_MAX)
		return;
	vp->rom_size = pow2_at_least(r->size);
	vp->rom = malloc(vp->rom_size);
	if (!vp->rom || vfio_region_read(&vp->dev, VFIO_PCI_ROM_REGION_INDEX, 0, vp->rom,
					 r->size)) {
		log_info("pci %s: its ROM cannot be read; the guest sees none", vp->dev.bdf);
		free(vp->rom);
		vp->rom = NULL;
		vp->rom_size = 0;
		return;
	}
	memset(vp->rom + r->size, 0xff, vp->rom_size - r->size);
}

/* ---- config space ------------------------------------------------------------ */

static uint32_t cfg_read(struct pci_device *d, uint32_t off, uint32_t len)
{
	struct vfio_pci *vp = d->opaque;
	uint8_t hw[4];
	bool need_hw = false;

	for (uint32_t i = 0; i < len; i++)
		need_hw |= !vp->virt[off + i];
	if (need_hw) {
		int ret = vp->broken ? -EIO : hw_cfg_read(vp, off, hw, len);
		if (ret) {
			mark_broken(vp, "a config space read", ret);
			memset(hw, 0xff, sizeof(hw));
		}
	}
	uint32_t v = 0;
	for (uint32_t i = 0; i < len; i++)
		v |= (uint32_t)(vp->virt[off + i] ? d->cfg[off + i] : hw[i]) << (8 * i);
	return v;
}

static void cfg_forward(struct vfio_pci *vp, uint32_t off, uint32_t len, uint32_t val)
{
	uint8_t b[4];
	bool all = true;

	bus_data_set(b, len, val);
	for (uint32_t i = 0; i < len; i++)
		all &= vp->to_hw[off + i] != 0;
	int ret = 0;
	if (all) {
		ret = hw_cfg_write(vp, off, b, len);
	} else {
		for (uint32_t i = 0; i < len && !ret; i++)
			if (vp->to_hw[off + i])
				ret = hw_cfg_write(vp, off + i, &b[i], 1);
	}
	if (ret)
		mark_broken(vp, "a config space write", ret);
}

static void cfg_write(struct pci_device *d, uint32_t off, uint32_t len, uint32_t val)
{
	struct vfio_pci *vp = d->opaque;

	if (!vp->broken)
		cfg_forward(vp, off, len, val);
	if (touches(off, len, PCI_COMMAND, 2) || touches(off, len, PCI_ROM_ADDRESS, 4))
		rom_update(vp);
	pthread_mutex_lock(&vp->lock);
	if (vp->msi_cap && touches(off, len, (uint32_t)vp->msi_cap + 2, 22))
		msi_cfg_write(vp);
	if (vp->msix_cap && touches(off, len, (uint32_t)vp->msix_cap + 2, 2))
		vp_msix_cfg_write(vp);
	pthread_mutex_unlock(&vp->lock);
}

/* Which bytes the guest reads from cfg[] and which of its writes reach
 * the device; then the capabilities the VMM virtualises. */
static void cfg_layout(struct vfio_pci *vp)
{
	struct pci_device *d = &vp->pci;

	memset(vp->virt, 1, sizeof(vp->virt));
	memset(vp->to_hw, 0, sizeof(vp->to_hw));
	/* The standard header is the VMM's, except status (RW1C error bits
	 * and the live interrupt status bit), and command, cache line size
	 * and latency timer, which the device must also see. */
	vp->virt[PCI_STATUS] = vp->virt[PCI_STATUS + 1] = 0;
	vp->to_hw[PCI_STATUS] = vp->to_hw[PCI_STATUS + 1] = 1;
	vp->to_hw[PCI_COMMAND] = vp->to_hw[PCI_COMMAND + 1] = 1;
	vp->to_hw[0x0c] = vp->to_hw[0x0d] = 1;
	pci_device_set_wmask(d, 0x0c, 2, 0xffff);
	pci_device_set_wmask(d, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
			     PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
			     PCI_COMMAND_INTX_DISABLE);
	/* Capabilities and extended space: the device's (vfio-pci filters). */
	for (uint32_t o = 0x40; o < vp->hw_cfg_size && o < PCI_CFG_SIZE; o++) {
		vp->virt[o] = 0;
		vp->to_hw[o] = 1;
	}
	/* Each function is placed alone in its own slot. */
	d->cfg[PCI_HEADER_TYPE] &= 0x7f;

	if (!(d->cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST))
		return;
	uint8_t seen[256] = { 0 };
	for (uint32_t c = d->cfg[PCI_CAPABILITY_LIST] & 0xfc; c >= 0x40 && c < 0xff && !seen[c];
	     c = d->cfg[c + 1] & 0xfc) {
		seen[c] = 1;
		if (d->cfg[c] == PCI_CAP_ID_MSI && !vp->msi_cap && c + 24 <= 256)
			msi_init(vp, (int)c);
		else if (d->cfg[c] == PCI_CAP_ID_MSIX && !vp->msix_cap && c + 12 <= 256)
			vp_msix_init(vp, (int)c);
	}
}

static int vecs_alloc(struct vfio_pci *vp)
{
	unsigned n = vp->msix_n > vp->msi_max ? vp->msix_n : vp->msi_max;
	if (!n)
		return 0;
	vp->vecs = calloc(n, sizeof(*vp->vecs));
	if (!vp->vecs)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		vp->vecs[i].mv.eventfd = -1;
	vp->n_vecs = n;
	return 0;
}

static void intx_init(struct vfio_pci *vp)
{
	struct pci_device *d = &vp->pci;
	uint8_t pin = d->cfg[PCI_INTERRUPT_PIN];

	d->cfg[PCI_INTERRUPT_LINE] = 0;
	if (pin < 1 || pin > 4 || !vp->dev.irq_count[VFIO_PCI_INTX_IRQ_INDEX]) {
		d->cfg[PCI_INTERRUPT_PIN] = 0;
		return;
	}
	vp->pin = pin;
	vp->intx_gsi = pci_intx_gsi(d->devfn >> 3, pin);
	d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)vp->intx_gsi;
	vp->intx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vp->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vp->intx_fd < 0 || vp->resample_fd < 0) {
		log_warn("pci %s: eventfd: %s; no INTx", vp->dev.bdf, strerror(errno));
		return;
	}
	intx_enable(vp);
}

struct vfio_pci *vfio_pci_attach(struct vm *vm, struct vfio_device *dev,
				 const char *rom_path, char *err, size_t errlen)
{
	struct vfio_pci *vp = calloc(1, sizeof(*vp));
	uint8_t hdr[64];

	if (!vp) {
		snprintf(err, errlen, "out of memory");
		vfio_device_close(dev);
		return NULL;
	}
	vp->vm = vm;
	vp->dev = *dev;
	vp->intx_fd = vp->resample_fd = -1;
	pthread_mutex_init(&vp->lock, NULL);
	struct pci_device *d = &vp->pci;
	vp->hw_cfg_size = (uint32_t)vp->dev.regions[VFIO_PCI_CONFIG_REGION_INDEX].size;
	if (vp->hw_cfg_size > PCI_CFG_SIZE)
		vp->hw_cfg_size = PCI_CFG_SIZE;
	if (vp->hw_cfg_size < 64 || hw_cfg_read(vp, 0, hdr, 64)) {
		snprintf(err, errlen, "pci %s: cannot read its config space", vp->dev.bdf);
		goto fail;
	}
	char name[32];
	snprintf(name, sizeof(name), "vfio-%s", vp->dev.bdf + 5);
	pci_device_init(d, name, 0, 0, 0, 0, 0, 0);
	/* The device's own header and capabilities as the starting point. */
	uint32_t n = vp->hw_cfg_size < 256 ? vp->hw_cfg_size : 256;
	if (hw_cfg_read(vp, 0, d->cfg, n)) {
		snprintf(err, errlen, "pci %s: cannot read its config space", vp->dev.bdf);
		goto fail;
	}
	if ((d->cfg[PCI_HEADER_TYPE] & 0x7f) != 0) {
		snprintf(err, errlen, "pci %s: is a PCI bridge (header type %u); only "
			 "endpoints can be passed through", vp->dev.bdf,
			 d->cfg[PCI_HEADER_TYPE] & 0x7f);
		goto fail;
	}
	d->opaque = vp;
	d->cfg_read = cfg_read;
	d->cfg_write = cfg_write;
	d->bar_moved = bar_moved;
	put16(&d->cfg[PCI_COMMAND], 0);
	put32(&d->cfg[PCI_ROM_ADDRESS], 0);
	if (bars_init(vp, err, errlen))
		goto fail;
	cfg_layout(vp);
	if (vecs_alloc(vp)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (rom_path ? rom_load_file(vp, rom_path, err, errlen) : (rom_load_device(vp), 0))
		goto fail;
	if (vp->rom_size)
		pci_device_set_wmask(d, PCI_ROM_ADDRESS, 4,
				     ~(vp->rom_size - 1) | ROM_ENABLE);
	int devfn = pci_host_add(vm->pci, d, -1);
	if (devfn < 0) {
		snprintf(err, errlen, "pci %s: no room on the guest's PCI bus: %s",
			 vp->dev.bdf, strerror(-devfn));
		goto fail;
	}
	intx_init(vp);
	/* pci_host_add turned decoding on, as firmware would: tell the device. */
	uint16_t cmd = pci_cfg_get16(d, PCI_COMMAND);
	if (hw_cfg_write(vp, PCI_COMMAND, &cmd, 2))
		log_warn("pci %s: cannot enable decoding on the device", vp->dev.bdf);
	log_info("pci %s (%04x:%04x) is the guest's 00:%02x.0%s%s%s", vp->dev.bdf,
		 pci_cfg_get16(d, PCI_VENDOR_ID), pci_cfg_get16(d, PCI_DEVICE_ID),
		 devfn >> 3, vp->msix_n ? ", MSI-X" : "", vp->msi_cap ? ", MSI" : "",
		 vp->pin ? ", INTx" : "");
	return vp;
fail:
	vp->pci.host = NULL;
	vfio_pci_detach(vp);
	return NULL;
}

/* Off the bus: nothing reaches the device model once it is freed. */
static void unplug(struct vfio_pci *vp)
{
	struct pci_device *d = &vp->pci;
	struct pci_host *h = d->host;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	if (h->devs[d->devfn] == d)
		h->devs[d->devfn] = NULL;
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		if (!d->bars[i].mapped)
			continue;
		bus_unregister(d->bars[i].kind == PCI_BAR_IO ? &vp->vm->io_bus
							     : &vp->vm->mmio_bus, d->bars[i].addr);
		d->bars[i].mapped = false;
	}
	if (vp->rom_mapped)
		bus_unregister(&vp->vm->mmio_bus, vp->rom_addr);
	vp->rom_mapped = false;
	pthread_mutex_unlock(&h->lock);
	d->host = NULL;
}

void vfio_pci_detach(struct vfio_pci *vp)
{
	if (!vp)
		return;
	unplug(vp);
	pthread_mutex_lock(&vp->lock);
	if (vp->msix_on)
		vecs_detach(vp, VFIO_PCI_MSIX_IRQ_INDEX, vp->msix_n);
	if (vp->msi_on)
		vecs_detach(vp, VFIO_PCI_MSI_IRQ_INDEX, vp->msi_n);
	intx_disable(vp);
	pthread_mutex_unlock(&vp->lock);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct vp_bar *b = &vp->bars[i];
		if (b->vp)
			bar_unmap_slots(b);
		for (unsigned a = 0; a < VFIO_MAX_AREAS; a++)
			if (b->maps[a])
				munmap(b->maps[a], b->map_len[a]);
	}
	for (unsigned i = 0; i < vp->n_vecs; i++)
		if (vp->vecs[i].mv.eventfd >= 0)
			close(vp->vecs[i].mv.eventfd);
	if (vp->intx_fd >= 0)
		close(vp->intx_fd);
	if (vp->resample_fd >= 0)
		close(vp->resample_fd);
	vfio_device_close(&vp->dev);
	free(vp->vecs);
	free(vp->table);
	free(vp->rom);
	free(vp);
}

int vfio_pci_create_all(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *cfg = vm->cfg;

	for (size_t i = 0; i < cfg->n_pci; i++) {
		struct vfio_device dev;
		if (n_devices >= VP_MAX_DEVICES) {
			snprintf(err, errlen, "pci: more than %d devices", VP_MAX_DEVICES);
			return -1;
		}
		if (vfio_device_open(&dev, cfg->pci[i].host, err, errlen))
			return -1;
		int ret = vfio_device_reset(&dev);
		if (ret && ret != -ENOTTY)
			log_warn("pci %s: reset before start failed: %s", dev.bdf, strerror(-ret));
		ret = vfio_dma_map_guest(&dev, &vm->mem);
		if (ret) {
			snprintf(err, errlen, "pci %s: cannot map guest RAM for the device's "
				 "DMA: %s%s", dev.bdf, strerror(-ret), ret == -ENOMEM ?
				 " (raise the locked-memory limit: ulimit -l)" : "");
			vfio_device_close(&dev);
			return -1;
		}
		struct vfio_pci *vp = vfio_pci_attach(vm, &dev, cfg->pci[i].rom, err, errlen);
		if (!vp)
			return -1;
		devices[n_devices++] = vp;
	}
	return 0;
}

void vfio_pci_destroy_all(struct vm *vm)
{
	(void)vm;
	while (n_devices)
		vfio_pci_detach(devices[--n_devices]);
}
