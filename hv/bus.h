/* Port I/O and MMIO dispatch by address range. */
#ifndef ATOLL_BUS_H
#define ATOLL_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A device's access handler.  `offset` is relative to the region's base;
 * for a read the handler fills `data[0..len)`, for a write it consumes it. */
typedef void (*bus_access_fn)(void *opaque, uint64_t offset, uint8_t *data,
			      uint32_t len, bool is_write);

struct bus_region {
	uint64_t base, len;
	bus_access_fn fn;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name;
	pthread_rwlock_t lock;
	struct bus_region *regions; /* sorted by base, never overlapping */
	size_t n, cap;
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);
/* -EEXIST if the range overlaps a registered one, -EINVAL if empty/wraps. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 bus_access_fn fn, void *opaque, const char *name);
/* Remove the region starting at `base`; -ENOENT if there is none. */
int bus_unregister(struct bus *bus, uint64_t base);
/* Dispatch an access.  Returns false (and for reads fills 0xff) when no
 * region covers it.  Handlers run without the bus lock held, so a handler
 * may itself register or unregister regions (PCI BAR moves). */
bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		bool is_write);

/* Little-endian helpers for handlers. */
static inline uint64_t bus_data_get(const uint8_t *data, uint32_t len)
{
	uint64_t v = 0;
	for (uint32_t i = 0; i < len && i < 8; i++)
		v |= (uint64_t)data[i] << (8 * i);
	return v;
}

static inline void bus_data_set(uint8_t *data, uint32_t len, uint64_t v)
{
	for (uint32_t i = 0; i < len && i < 8; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

#endif
