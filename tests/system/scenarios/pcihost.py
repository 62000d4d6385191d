"""pcihost: the host side of PCI passthrough under atolld (issue 6, test 4)
on a q35 with an emulated Intel IOMMU, an e1000 (bound to dom0's e1000
driver) and an edu (no driver): atolld's preflight refuses a group with a
bound endpoint, `atoll pci-assignable-add` binds it to vfio-pci and
`-remove` gives e1000 its device back; a domain with the device in its
definition gets it bound at start and released at stop, and a second
domain asking for it is refused by name.  See docs/gaming-vm.md."""

MACHINE = 'q35'
TOOLSTACK = True
TIMEOUT = 600
DOM0_APPEND = 'intel_iommu=on'
DOM0_MODULES = ['vfio', 'vfio_iommu_type1', 'vfio_pci', 'e1000']


def qemu_args(ctx):
    return ['-device', 'intel-iommu,caching-mode=on',
            '-device', 'edu,addr=03.0',
            '-device', 'e1000,addr=06.0,netdev=n0',
            '-netdev', 'user,id=n0']
