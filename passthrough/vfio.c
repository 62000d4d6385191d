/* VFIO container, group and device handling.  Each IOMMU group gets its own
 * container (its own IOMMU domain); devices of one group share it.  Every
 * failure to open a device is turned into a message that names the cause
 * (modules, IOMMU, binding, a group member still bound) and the fix. */
#include "vfio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "memory.h"

struct vfio_group {
	int id;
	int fd;
	int container;
	unsigned users;
	bool ram_mapped;        /* guest RAM is in this container's IOMMU domain */
	struct vfio_group *next;
};

static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vfio_group *groups;

static int ferr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int ferr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

bool vfio_bdf_valid(const char *bdf)
{
	unsigned dom, bus, dev, fn;
	char tail;
	if (!bdf || strlen(bdf) != 12)
		return false;
	for (int i = 0; i < 12; i++) {
		char c = bdf[i];
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			   (c >= 'A' && c <= 'F');
		if (i == 4 || i == 7) {
			if (c != ':')
				return false;
		} else if (i == 10) {
			if (c != '.')
				return false;
		} else if (!hex) {
			return false;
		}
	}
	if (sscanf(bdf, "%4x:%2x:%2x.%1x%c", &dom, &bus, &dev, &fn, &tail) != 4)
		return false;
	return dev < 32 && fn < 8;
}

/* basename of the symlink at path, or "" if it is not a link. */
static void link_name(const char *path, char *out, size_t outlen)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	out[0] = 0;
	if (n <= 0)
		return;
	buf[n] = 0;
	const char *b = strrchr(buf, '/');
	b = b ? b + 1 : buf;
	size_t len = strlen(b);
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, b, len);
	out[len] = 0;
}

static void driver_of(const char *bdf, char *out, size_t outlen)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver", bdf);
	link_name(p, out, outlen);
}

static int bind_hint(const char *bdf, char *err, size_t errlen, const char *what)
{
	return ferr(err, errlen,
		    "%s %s, not vfio-pci: bind it with `echo vfio-pci > "
		    "/sys/bus/pci/devices/%s/driver_override; echo %s > "
		    "/sys/bus/pci/devices/%s/driver/unbind; echo %s > "
		    "/sys/bus/pci/drivers_probe` (or `atoll pci-assignable-add %s`)",
		    bdf, what, bdf, bdf, bdf, bdf, bdf);
}

/* Host-side checks with precise messages, before any VFIO ioctl. */
static int check_host(const char *bdf, int *group_id, char *err, size_t errlen)
{
	char p[PATH_MAX], name[64], drv[64];

	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s", bdf);
	if (access(p, F_OK) < 0)
		return ferr(err, errlen, "pci %s: no such PCI device on this host "
			    "(`ls /sys/bus/pci/devices` lists them)", bdf);
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	link_name(p, name, sizeof(name));
	if (!name[0])
		return ferr(err, errlen, "pci %s: the device has no IOMMU group — the "
			    "IOMMU is off: enable VT-d/AMD-Vi in the firmware and boot "
			    "with intel_iommu=on (Intel) or amd_iommu=on (AMD)", bdf);
	*group_id = atoi(name);
	driver_of(bdf, drv, sizeof(drv));
	if (!drv[0])
		return ferr(err, errlen, "pci %s: the device has no driver, so it is not "
			    "bound to vfio-pci: `echo vfio-pci > /sys/bus/pci/devices/%s/"
			    "driver_override; echo %s > /sys/bus/pci/drivers_probe` (or "
			    "`atoll pci-assignable-add %s`)", bdf, bdf, bdf, bdf);
	if (strcmp(drv, "vfio-pci") != 0) {
		char what[96];
		snprintf(what, sizeof(what), "is bound to %s,", drv);
		return bind_hint(bdf, err, errlen, what);
	}
	if (access("/dev/vfio/vfio", F_OK) < 0)
		return ferr(err, errlen, "pci %s: /dev/vfio/vfio does not exist — load the "
			    "VFIO modules: modprobe vfio-pci", bdf);
	snprintf(p, sizeof(p), "/dev/vfio/%d", *group_id);
	if (access(p, F_OK) < 0)
		return ferr(err, errlen, "pci %s: %s (its IOMMU group) does not exist: is "
			    "devtmpfs mounted on /dev, and is the device bound to vfio-pci "
			    "(driver: %s)?", bdf, p, drv);
	return 0;
}

/* Name the group member that keeps the group from being viable. */
static int not_viable(const char *bdf, int group_id, char *err, size_t errlen)
{
	char p[PATH_MAX], drv[64];
	snprintf(p, sizeof(p), "/sys/kernel/iommu_groups/%d/devices", group_id);
	DIR *dir = opendir(p);
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		driver_of(e->d_name, drv, sizeof(drv));
		/* Unbound devices and bridges under pcieport do not hurt. */
		if (drv[0] && strcmp(drv, "vfio-pci") && strcmp(drv, "pcieport")) {
			ferr(err, errlen, "pci %s: IOMMU group %d is not viable: %s in the "
			     "same group is still bound to %s — give the whole group to "
			     "vfio-pci (`atoll pci-assignable-add %s`) or unbind it "
			     "(`echo %s > /sys/bus/pci/devices/%s/driver/unbind`)",
			     bdf, group_id, e->d_name, drv, e->d_name, e->d_name, e->d_name);
			closedir(dir);
			return -1;
		}
	}
	if (dir)
		closedir(dir);
	return ferr(err, errlen, "pci %s: IOMMU group %d is not viable (every device "
		    "in /sys/kernel/iommu_groups/%d/devices must be bound to vfio-pci "
		    "or unbound)", bdf, group_id, group_id);
}

static int container_open(int group_fd, const char *bdf, char *err, size_t errlen)
{
	int c = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (c < 0)
		return ferr(err, errlen, "pci %s: /dev/vfio/vfio: %s", bdf, strerror(errno));
	if (ioctl(c, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		close(c);
		return ferr(err, errlen, "pci %s: unknown VFIO API version", bdf);
	}
	int type = ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ? VFIO_TYPE1v2_IOMMU
	    : ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0 ? VFIO_TYPE1_IOMMU : -1;
	if (type < 0) {
		close(c);
		return ferr(err, errlen, "pci %s: VFIO has no type-1 IOMMU driver — load "
			    "vfio_iommu_type1", bdf);
	}
	if (ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &c) < 0 ||
	    ioctl(c, VFIO_SET_IOMMU, type) < 0) {
		int e = errno;
		close(c);
		return ferr(err, errlen, "pci %s: cannot set up the IOMMU container: %s",
			    bdf, strerror(e));
	}
	return c;
}

static struct vfio_group *group_get(const char *bdf, int id, char *err, size_t errlen)
{
	struct vfio_group *g;
	char p[64];

	for (g = groups; g; g = g->next)
		if (g->id == id) {
			g->users++;
			return g;
		}
	snprintf(p, sizeof(p), "/dev/vfio/%d", id);
	int fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EBUSY)
			ferr(err, errlen, "pci %s: IOMMU group %d is in use by another process "
			     "(another domain, or QEMU, has a device of it)", bdf, id);
		else
			ferr(err, errlen, "pci %s: %s: %s", bdf, p, strerror(errno));
		return NULL;
	}
	struct vfio_group_status st = { .argsz = sizeof(st) };
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0) {
		ferr(err, errlen, "pci %s: VFIO_GROUP_GET_STATUS: %s", bdf, strerror(errno));
		close(fd);
		return NULL;
	}
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		not_viable(bdf, id, err, errlen);
		close(fd);
		return NULL;
	}
	int c = container_open(fd, bdf, err, errlen);
	if (c < 0) {
		close(fd);
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		close(c);
		close(fd);
		ferr(err, errlen, "out of memory");
		return NULL;
	}
	*g = (struct vfio_group){ .id = id, .fd = fd, .container = c, .users = 1,
				  .next = groups };
	groups = g;
	return g;
}

static void group_put(struct vfio_group *g)
{
	if (!g || --g->users)
		return;
	for (struct vfio_group **pp = &groups; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
	close(g->container);
	close(g->fd);
	free(g);
}

/* Region info with its capability chain (sparse mmap areas). */
static int region_load(struct vfio_device *d, uint32_t idx)
{
	struct vfio_region *r = &d->regions[idx];
	size_t sz = sizeof(struct vfio_region_info);
	struct vfio_region_info *info = calloc(1, sz);

	if (!info)
		return -ENOMEM;
	info->argsz = (uint32_t)sz;
	info->index = idx;
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, info) < 0)
		goto fail;
	if (info->argsz > sz && info->argsz < (1u << 16)) {
		sz = info->argsz;
		struct vfio_region_info *n = realloc(info, sz);
		if (!n)
			goto fail;
		info = n;
		memset(info, 0, sz);
		info->argsz = (uint32_t)sz;
		info->index = idx;
		if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, info) < 0)
			goto fail;
	}
	*r = (struct vfio_region){ .offset = info->offset, .size = info->size,
				   .flags = info->flags };
	bool sparse = false;
	if ((info->flags & VFIO_REGION_INFO_FLAG_CAPS) && info->cap_offset) {
		uint32_t off = info->cap_offset;
		for (int hops = 0; off && off + sizeof(struct vfio_info_cap_header) <= sz &&
		     hops < 16; hops++) {
			struct vfio_info_cap_header *h = (void *)((uint8_t *)info + off);
			if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP &&
			    off + sizeof(struct vfio_region_info_cap_sparse_mmap) <= sz) {
				struct vfio_region_info_cap_sparse_mmap *s = (void *)h;
				sparse = true;
				for (uint32_t i = 0; i < s->nr_areas && r->n_areas < VFIO_MAX_AREAS &&
				     off + sizeof(*s) + (i + 1) * sizeof(s->areas[0]) <= sz; i++) {
					if (!s->areas[i].size)
						continue;
					r->areas[r->n_areas].offset = s->areas[i].offset;
					r->areas[r->n_areas].size = s->areas[i].size;
					r->n_areas++;
				}
			}
			off = h->next;
		}
	}
	if (!sparse && (info->flags & VFIO_REGION_INFO_FLAG_MMAP) && info->size) {
		r->areas[0].offset = 0;
		r->areas[0].size = info->size;
		r->n_areas = 1;
	}
	if (!(info->flags & VFIO_REGION_INFO_FLAG_MMAP))
		r->n_areas = 0;
	free(info);
	return 0;
fail:;
	int e = errno;
	free(info);
	return -e;
}

static int device_load(struct vfio_device *d, char *err, size_t errlen)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &info) < 0)
		return ferr(err, errlen, "pci %s: VFIO_DEVICE_GET_INFO: %s", d->bdf,
			    strerror(errno));
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		return ferr(err, errlen, "pci %s: VFIO does not present it as a PCI device",
			    d->bdf);
	d->flags = info.flags;
	for (uint32_t i = 0; i < VFIO_PCI_NUM_REGIONS && i < info.num_regions; i++) {
		int ret = region_load(d, i);
		/* The VGA region is optional; everything else must answer. */
		if (ret && i != VFIO_PCI_VGA_REGION_INDEX)
			return ferr(err, errlen, "pci %s: region %u info: %s", d->bdf, i,
				    strerror(-ret));
	}
	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS && i < info.num_irqs; i++) {
		struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = i };
		if (ioctl(d->fd, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0)
			d->irq_count[i] = irq.count;
	}
	return 0;
}

int vfio_device_open(struct vfio_device *d, const char *bdf, char *err, size_t errlen)
{
	int id = -1;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	if (!vfio_bdf_valid(bdf))
		return ferr(err, errlen, "pci host=%s: not a PCI address — write it as "
			    "DDDD:BB:DD.F, e.g. 0000:01:00.0", bdf ? bdf : "");
	snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
	for (char *c = d->bdf; *c; c++)
		if (*c >= 'A' && *c <= 'F')
			*c = (char)(*c - 'A' + 'a');
	if (check_host(d->bdf, &id, err, errlen) < 0)
		return -1;
	pthread_mutex_lock(&groups_lock);
	d->group = group_get(d->bdf, id, err, errlen);
	pthread_mutex_unlock(&groups_lock);
	if (!d->group)
		return -1;
	d->fd = ioctl(d->group->fd, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
	if (d->fd < 0) {
		ferr(err, errlen, "pci %s: cannot get the device from its VFIO group: %s%s",
		     d->bdf, strerror(errno),
		     errno == EBUSY ? " (another process has it open)" : "");
		vfio_device_close(d);
		return -1;
	}
	if (device_load(d, err, errlen) < 0) {
		vfio_device_close(d);
		return -1;
	}
	return 0;
}

int vfio_device_reset(struct vfio_device *d)
{
	if (d->fd < 0 || !(d->flags & VFIO_DEVICE_FLAGS_RESET))
		return -ENOTTY;
	return ioctl(d->fd, VFIO_DEVICE_RESET) < 0 ? -errno : 0;
}

void vfio_device_close(struct vfio_device *d)
{
	if (d->fd >= 0) {
		/* Leave the device quiet for whoever gets it next. */
		int ret = vfio_device_reset(d);
		if (ret && ret != -ENOTTY)
			log_warn("pci %s: reset at close failed: %s", d->bdf, strerror(-ret));
		close(d->fd);
		d->fd = -1;
	}
	if (d->group) {
		pthread_mutex_lock(&groups_lock);
		group_put(d->group);
		pthread_mutex_unlock(&groups_lock);
		d->group = NULL;
	}
}

int vfio_dma_map(struct vfio_device *d, uint64_t iova, uint64_t size, void *host)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uint64_t)(uintptr_t)host, .iova = iova, .size = size,
	};
	if (!d->group)
		return -EBADF;
	return ioctl(d->group->container, VFIO_IOMMU_MAP_DMA, &m) < 0 ? -errno : 0;
}

int vfio_dma_unmap(struct vfio_device *d, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap m = { .argsz = sizeof(m), .iova = iova,
						 .size = size };
	if (!d->group)
		return -EBADF;
	return ioctl(d->group->container, VFIO_IOMMU_UNMAP_DMA, &m) < 0 ? -errno : 0;
}

int vfio_dma_map_guest(struct vfio_device *d, const struct guest_memory *gm)
{
	int ret = 0;

	if (!d->group)
		return -EBADF;
	pthread_mutex_lock(&groups_lock);
	if (!d->group->ram_mapped) {
		/* The RAM layout is fixed for the VM's life (no hotplug, no
		 * balloon), so one mapping per RAM region stays valid. */
		ret = vfio_dma_map(d, 0, gm->low_size, gm->host);
		if (!ret && gm->high_size)
			ret = vfio_dma_map(d, GUEST_HIGH_RAM_BASE, gm->high_size,
					   gm->host + gm->low_size);
		d->group->ram_mapped = ret == 0;
	}
	pthread_mutex_unlock(&groups_lock);
	return ret;
}

static bool region_range_ok(const struct vfio_device *d, int idx, uint64_t off, size_t len)
{
	if (idx < 0 || idx >= VFIO_PCI_NUM_REGIONS)
		return false;
	const struct vfio_region *r = &d->regions[idx];
	return len <= r->size && off <= r->size - len;
}

int vfio_region_read(struct vfio_device *d, int idx, uint64_t off, void *buf, size_t len)
{
	if (!region_range_ok(d, idx, off, len))
		return -EINVAL;
	ssize_t n = pread(d->fd, buf, len, (off_t)(d->regions[idx].offset + off));
	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

int vfio_region_write(struct vfio_device *d, int idx, uint64_t off, const void *buf,
		      size_t len)
{
	if (!region_range_ok(d, idx, off, len))
		return -EINVAL;
	ssize_t n = pwrite(d->fd, buf, len, (off_t)(d->regions[idx].offset + off));
	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

/* One VFIO_DEVICE_SET_IRQS with `count` eventfds (none: DATA_NONE, which
 * with count 0 disables the index). */
static int vfio_irq_set(struct vfio_device *d, uint32_t index, uint32_t action,
			const int32_t *fds, uint32_t count)
{
	size_t sz = sizeof(struct vfio_irq_set) + (size_t)count * sizeof(int32_t);
	struct vfio_irq_set *s = calloc(1, sz);
	if (!s)
		return -ENOMEM;
	s->argsz = (uint32_t)sz;
	s->index = index;
	s->count = count;
	s->flags = action | (count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	if (count)
		memcpy(s->data, fds, (size_t)count * sizeof(int32_t));
	int ret = ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s) < 0 ? -errno : 0;
	free(s);
	return ret;
}

int vfio_irq_set_eventfds(struct vfio_device *d, uint32_t index, uint32_t count,
			  const int *fds)
{
	int32_t *v = count ? calloc(count, sizeof(*v)) : NULL;
	if (count && !v)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++)
		v[i] = fds[i];
	int ret = vfio_irq_set(d, index, VFIO_IRQ_SET_ACTION_TRIGGER, v, count);
	free(v);
	return ret;
}

int vfio_irq_set_unmask_eventfd(struct vfio_device *d, uint32_t index, int fd)
{
	int32_t fd32 = fd;
	return vfio_irq_set(d, index, VFIO_IRQ_SET_ACTION_UNMASK, &fd32, 1);
}
