#!/bin/sh
# Install what the hwsim system tests need on a Debian 12 machine (root).
# The Debian kernel package itself is fetched by hwsim.py (apt-get download)
# and cached in $ATOLL_HWSIM_CACHE (default /var/cache/atoll-hwsim).
set -e
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (apt-get install)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# qemu-system-x86: the outer machine and the benchmark peer (pulls seabios,
#   ipxe-qemu and qemu-system-data firmware);
# busybox-static: dom0 and domU userland; python3: the harness;
# dpkg/apt/libc-bin (dpkg-deb, apt-get download, ldd) are always there.
# The libvirt scenario copies the host's libvirtd (network driver), virsh,
# dnsmasq and iptables-nft into dom0: libvirt-daemon, libvirt-clients,
# dnsmasq-base, iptables.  Nothing of them runs on the host itself
# (libvirt-daemon without -system starts no service).
# The uefi scenario: Debian's OVMF; sfdisk (fdisk), mkfs.vfat (dosfstools)
# and mtools build its ESP disk; ImageMagick turns the SPICE screenshot
# into a PNG; make + gcc build its TEST-ONLY kvm-amd (CR8 workaround,
# docs/uefi.md) from linux-source-6.1 and the dom0 kernel's headers, which
# the plug-in fetches itself with apt-get download into the hwsim cache.
apt-get install -y -q --no-install-recommends \
	qemu-system-x86 busybox-static python3 cpio \
	libvirt-daemon libvirt-clients dnsmasq-base iptables \
	ovmf fdisk dosfstools mtools imagemagick make gcc xz-utils
