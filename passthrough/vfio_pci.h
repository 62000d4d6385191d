/* A host PCI device given to the guest through VFIO: config space passed
 * through with BARs, command, MSI, MSI-X and the ROM BAR virtualised; BARs
 * mapped as KVM memory slots; interrupts straight from VFIO's eventfds into
 * KVM irqfds.  See docs/vfio.md. */
#ifndef ATOLL_VFIO_PCI_H
#define ATOLL_VFIO_PCI_H

#include <stddef.h>

#include "vfio.h"

struct vm;
struct vfio_pci;

/* Open every device of vm->cfg->pci, map guest RAM for its DMA and plug it
 * into the PCI bus.  err says which device failed and why. */
int vfio_pci_create_all(struct vm *vm, char *err, size_t errlen);
/* Unplug, reset and close them all (domain stop). */
void vfio_pci_destroy_all(struct vm *vm);

/* The device model over an already-open VFIO device (takes it over; on
 * failure it is closed).  rom_path: expansion ROM contents from a file
 * instead of the device, or NULL. */
struct vfio_pci *vfio_pci_attach(struct vm *vm, struct vfio_device *dev,
				 const char *rom_path, char *err, size_t errlen);
void vfio_pci_detach(struct vfio_pci *vp);
struct pci_device *vfio_pci_device(struct vfio_pci *vp);

#endif
