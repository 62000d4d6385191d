#!/usr/bin/env bash
# Install everything Atoll needs to build and test on Debian 12.
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
  libglib2.0-dev libjson-glib-dev libseccomp-dev
  liblzma-dev zlib1g-dev libzstd-dev
  libsoup-3.0-dev libvirt-dev libxml2-dev
  libspice-client-glib-2.0-dev libgtk-4-dev libadwaita-1-dev libspice-server-dev
  xvfb imagemagick xdotool dbus desktop-file-utils appstream
  passt libusb-1.0-0-dev ovmf virt-viewer mtools dosfstools fdisk
  seabios syslinux syslinux-common
  openssh-client openssh-server
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "atoll: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
# The hwsim test machine (QEMU, busybox, the Debian kernel) has its own list.
if [ -x "$(dirname "$0")/../tests/system/install-deps.sh" ]; then
  "$(dirname "$0")/../tests/system/install-deps.sh"
fi
