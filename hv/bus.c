#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	pthread_rwlock_init(&bus->lock, NULL);
}

void bus_destroy(struct bus *bus)
{
	free(bus->regions);
	pthread_rwlock_destroy(&bus->lock);
	bus->regions = NULL;
	bus->n = bus->cap = 0;
}

/* Index of the first region whose end is above addr. */
static size_t bus_lower_bound(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bus_region *r = &bus->regions[mid];
		if (r->base + r->len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 bus_access_fn fn, void *opaque, const char *name)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	size_t i = bus_lower_bound(bus, base);
	if (i < bus->n && bus->regions[i].base < base + len) {
		pthread_rwlock_unlock(&bus->lock);
		return -EEXIST;
	}
	if (bus->n == bus->cap) {
		size_t cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_region *r = realloc(bus->regions, cap * sizeof(*r));
		if (!r) {
			pthread_rwlock_unlock(&bus->lock);
			return -ENOMEM;
		}
		bus->regions = r;
		bus->cap = cap;
	}
	memmove(&bus->regions[i + 1], &bus->regions[i],
		(bus->n - i) * sizeof(bus->regions[0]));
	bus->regions[i] = (struct bus_region){ base, len, fn, opaque, name };
	bus->n++;
	pthread_rwlock_unlock(&bus->lock);
	return 0;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	int ret = -ENOENT;
	pthread_rwlock_wrlock(&bus->lock);
	size_t i = bus_lower_bound(bus, base);
	if (i < bus->n && bus->regions[i].base == base) {
		memmove(&bus->regions[i], &bus->regions[i + 1],
			(bus->n - i - 1) * sizeof(bus->regions[0]));
		bus->n--;
		ret = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		bool is_write)
{
	struct bus_region r;
	bool found = false;

	pthread_rwlock_rdlock(&bus->lock);
	size_t i = bus_lower_bound(bus, addr);
	if (i < bus->n && bus->regions[i].base <= addr) {
		r = bus->regions[i];
		found = true;
	}
	pthread_rwlock_unlock(&bus->lock);

	/* An access straddling the region's end is cut to what fits; the
	 * rest reads as all-ones like an unclaimed bus would. */
	if (!found) {
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	uint64_t off = addr - r.base;
	uint32_t n = len;
	if (n > r.len - off) {
		n = (uint32_t)(r.len - off);
		if (!is_write)
			memset(data + n, 0xff, len - n);
	}
	r.fn(r.opaque, off, data, n, is_write);
	return true;
}
