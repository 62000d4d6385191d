/* MSI-X (PCI Local Bus 3.0, 6.8.2).  The guest programs the table; each
 * entry maps to a KVM GSI route + irqfd, installed when the vector is
 * unmasked so a masked vector never fires a stale message. */
#include "msix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "pci.h"

#define MSIX_CTRL_ENABLE   0x8000
#define MSIX_CTRL_FMASK    0x4000
#define MSIX_ENTRY_MASKED  1

uint32_t msix_table_size(uint16_t nvec)
{
	return (uint32_t)nvec * 16;
}

uint32_t msix_pba_size(uint16_t nvec)
{
	return ((uint32_t)nvec + 63) / 64 * 8;
}

int msix_init(struct msix *m, struct pci_device *dev, struct vm *vm,
	      uint16_t nvec, int bar, uint32_t table_off, uint32_t pba_off)
{
	memset(m, 0, sizeof(*m));
	if (nvec == 0 || nvec > MSIX_MAX_VECTORS || bar < 0 || bar >= PCI_NUM_BARS ||
	    (table_off & 7) || (pba_off & 7))
		return -EINVAL;
	m->dev = dev;
	m->vm = vm;
	m->nvec = nvec;
	m->bar = bar;
	m->table_off = table_off;
	m->pba_off = pba_off;
	pthread_mutex_init(&m->lock, NULL);
	m->table = calloc(nvec, sizeof(*m->table));
	m->pba = calloc(msix_pba_size(nvec) / 8, sizeof(uint64_t));
	m->vec = calloc(nvec, sizeof(*m->vec));
	if (!m->table || !m->pba || !m->vec) {
		msix_destroy(m);
		return -ENOMEM;
	}
	for (uint16_t i = 0; i < nvec; i++) {
		m->table[i].ctrl = MSIX_ENTRY_MASKED;
		m->vec[i].eventfd = -1;
	}
	uint8_t body[10];
	uint16_t ctrl = (uint16_t)(nvec - 1);
	uint32_t table = table_off | (uint32_t)bar;
	uint32_t pba = pba_off | (uint32_t)bar;
	memcpy(body, &ctrl, 2);
	memcpy(body + 2, &table, 4);
	memcpy(body + 6, &pba, 4);
	m->cap = pci_device_add_capability(dev, PCI_CAP_ID_MSIX, body, sizeof(body));
	if (m->cap < 0) {
		msix_destroy(m);
		return -ENOSPC;
	}
	/* Only Enable and Function Mask are writable. */
	pci_device_set_wmask(dev, (uint32_t)m->cap + 2, 2,
			     MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
	return 0;
}

void msix_destroy(struct msix *m)
{
	if (m->vec && m->vm)
		for (uint16_t i = 0; i < m->nvec; i++)
			if (m->vec[i].eventfd >= 0)
				msi_vector_destroy(m->vm, &m->vec[i]);
	free(m->table);
	free(m->pba);
	free(m->vec);
	m->table = NULL;
	m->pba = NULL;
	m->vec = NULL;
}

static uint16_t msix_ctrl(const struct msix *m)
{
	return pci_cfg_get16(m->dev, (uint32_t)m->cap + 2);
}

bool msix_enabled(struct msix *m)
{
	return (msix_ctrl(m) & MSIX_CTRL_ENABLE) != 0;
}

static bool vector_masked(const struct msix *m, uint16_t v)
{
	return (msix_ctrl(m) & MSIX_CTRL_FMASK) || (m->table[v].ctrl & MSIX_ENTRY_MASKED);
}

/* Make the GSI route match the table entry.  Lock held. */
static int vector_sync(struct msix *m, uint16_t v)
{
	struct msix_entry *e = &m->table[v];
	if (m->vec[v].eventfd < 0) {
		int ret = msi_vector_init(m->vm, &m->vec[v]);
		if (ret)
			return ret;
	}
	return msi_vector_route(m->vm, &m->vec[v],
				(uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

static void vector_fire(struct msix *m, uint16_t v)
{
	if (vector_sync(m, v) == 0)
		msi_vector_fire(&m->vec[v]);
}

/* After an unmask, deliver what became pending while masked. */
static void deliver_pending(struct msix *m)
{
	if (!msix_enabled(m))
		return;
	for (uint16_t v = 0; v < m->nvec; v++) {
		uint64_t bit = 1ULL << (v % 64);
		if ((m->pba[v / 64] & bit) && !vector_masked(m, v)) {
			m->pba[v / 64] &= ~bit;
			vector_fire(m, v);
		}
	}
}

void msix_table_access(struct msix *m, uint64_t off, uint8_t *data,
		       uint32_t len, bool is_write)
{
	/* The spec allows dword and qword accesses, aligned. */
	if ((len != 4 && len != 8) || (off & (len - 1)) ||
	    off + len > msix_table_size(m->nvec)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&m->lock);
	for (uint32_t done = 0; done < len; done += 4) {
		uint64_t o = off + done;
		uint16_t v = (uint16_t)(o / 16);
		uint32_t *field = (uint32_t *)&m->table[v] + (o % 16) / 4;
		if (!is_write) {
			bus_data_set(data + done, 4, *field);
			continue;
		}
		bool was_masked = vector_masked(m, v);
		*field = (uint32_t)bus_data_get(data + done, 4);
		if ((o % 16) == 12)
			*field &= MSIX_ENTRY_MASKED;
		if (was_masked && !vector_masked(m, v))
			deliver_pending(m);
	}
	pthread_mutex_unlock(&m->lock);
}

void msix_pba_access(struct msix *m, uint64_t off, uint8_t *data,
		     uint32_t len, bool is_write)
{
	if (is_write)
		return; /* read-only */
	memset(data, 0, len);
	pthread_mutex_lock(&m->lock);
	uint32_t size = msix_pba_size(m->nvec);
	for (uint32_t i = 0; i < len; i++)
		if (off + i < size)
			data[i] = ((const uint8_t *)m->pba)[off + i];
	pthread_mutex_unlock(&m->lock);
}

void msix_cfg_write(struct msix *m, uint32_t off, uint32_t len, uint32_t val)
{
	(void)val;
	uint32_t ctrl = (uint32_t)m->cap + 2;
	if (off + len <= ctrl || off >= ctrl + 2)
		return;
	pthread_mutex_lock(&m->lock);
	deliver_pending(m);
	pthread_mutex_unlock(&m->lock);
}

void msix_notify(struct msix *m, uint16_t vector)
{
	if (vector >= m->nvec)
		return;
	pthread_mutex_lock(&m->lock);
	if (!msix_enabled(m)) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	if (vector_masked(m, vector))
		m->pba[vector / 64] |= 1ULL << (vector % 64);
	else
		vector_fire(m, vector);
	pthread_mutex_unlock(&m->lock);
}
