"""PCI passthrough with VFIO (docs/vfio.md): the outer QEMU is a q35 with an
emulated Intel IOMMU and three devices to pass through (edu, bochs-display,
e1000 on QEMU's user network); dom0 binds them to vfio-pci and atoll-vmm
gives them to one domU, whose own drivers use them.  The host side checks
the bochs-display's picture with a QMP screendump of the outer machine."""
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))

MACHINE = 'q35'
TIMEOUT = 600
DOM0_APPEND = 'intel_iommu=on'
DOM0_MODULES = ['vfio', 'vfio_iommu_type1', 'vfio_pci']
DOMU_MODULES = ['e1000', 'e1000e', 'uio_pci_generic', 'bochs']

# Where the devices sit in the outer machine (dom0's view), fixed here so
# the dom0 script knows them.
DEVICES = ['-device', 'intel-iommu,caching-mode=on',
           '-device', 'edu,addr=03.0',
           '-device', 'bochs-display,addr=04.0,id=gpu',
           '-device', 'e1000,addr=06.0,netdev=n0',
           '-netdev', 'user,id=n0',
           '-device', 'e1000e,addr=07.0,netdev=n1',
           '-netdev', 'user,id=n1,net=10.0.3.0/24']

# The domU side.  Step vfio-list: list the PCI functions the domU sees (run
# under atoll-vmm and under QEMU, and compared).  Step vfio: that, then the
# NICs, edu and the bochs-display, each reporting ATOLL-* lines.
DOMU_LIST = r'''
# What the domU sees of each PCI function: ids, class, revision,
# subsystem, each BAR's (and the ROM's) size and kind, the bound driver.
for d in /sys/bus/pci/devices/*; do
	drv=$(readlink "$d/driver" 2>/dev/null)
	bars=
	while read -r start end flags; do
		if [ $((end)) -ne 0 ]; then
			bars="$bars,$((end - start + 1))/$(printf %x $((flags & 0x102300)))"
		else
			bars="$bars,-"
		fi
	done < "$d/resource"
	echo "ATOLL-PCI $(cat "$d/vendor"):$(cat "$d/device") class=$(cat "$d/class")" \
		"rev=$(cat "$d/revision") sub=$(cat "$d/subsystem_vendor"):$(cat "$d/subsystem_device")" \
		"pin=$(od -An -tx1 -j61 -N1 "$d/config" | tr -d ' ')" \
		"bars=${bars#,} driver=${drv##*/}"
done
'''

# MSI: edu signals a vector no driver owns; the kernel says so in its log.
DOMU_MSI = r'''
dev_by_id() { # VENDOR DEVICE -> BDF
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ] && echo "${d##*/}"
	done | head -n 1
}
edu=$(dev_by_id 0x1234 0x11e8)
[ -n "$edu" ] && /hwsim/vfio-guest edu-msi "$edu" 233
sleep 1
echo "ATOLL-EDU-MSI seen=$(dmesg | grep -c 'No irq handler for vector')" \
	"line=$(dmesg | grep 'No irq handler for vector' | tail -n 1 | tr ' ' _)"
'''

# Under QEMU (the peer): the listing, and edu's MSI for comparison.
DOMU_PEER = r'''
. /hwsim/steps/vfio-list.sh
. /hwsim/steps/vfio-msi.sh
# e1000e told to use MSI: does its driver's 100 ms MSI self-test pass here?
rmmod e1000e && insmod /lib/modules/hwsim/e1000e.ko IntMode=1 && sleep 1
for n in /sys/class/net/*; do
	drv=$(readlink "$n/device/driver" 2>/dev/null)
	[ "${drv##*/}" = e1000e ] && ip link set "${n##*/}" up
done
sleep 3
echo "ATOLL-E1000E-PEER msi-test=$(dmesg | grep -q 'MSI interrupt test failed' && echo failed || echo passed)"
'''

DOMU_STEP = r'''
. /hwsim/steps/vfio-list.sh
dev_by_id() { # VENDOR DEVICE -> BDF
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ] && echo "${d##*/}"
	done | head -n 1
}

# A NIC test: link, a DHCP lease from QEMU's user network, a ping to its
# gateway, and how the NIC's interrupts arrive (intx, msi, msix) and how
# many did.  LABEL DRIVER GATEWAY
cat > /tmp/udhcpc.sh <<'SCRIPT'
#!/bin/sh
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
ip addr flush dev "$interface"
ip addr add "$ip/${mask:-24}" dev "$interface"
echo "ATOLL-LEASE $interface ip=$ip router=$router"
SCRIPT
chmod +x /tmp/udhcpc.sh
ip link set lo up
net_test() {
	nic=
	for n in /sys/class/net/*; do
		drv=$(readlink "$n/device/driver" 2>/dev/null)
		[ "${drv##*/}" = "$2" ] && nic=${n##*/}
	done
	echo "$1 iface=${nic:-none}"
	[ -n "$nic" ] || return
	ip link set "$nic" up
	i=0
	while [ "$(cat /sys/class/net/$nic/carrier 2>/dev/null)" != 1 ] && [ $i -lt 100 ]; do
		sleep 0.2; i=$((i + 1))
	done
	echo "$1 carrier=$(cat /sys/class/net/$nic/carrier 2>/dev/null)"
	udhcpc -i "$nic" -s /tmp/udhcpc.sh -n -q -t 10 -T 3 -A 1 2>/dev/null
	echo "$1 dhcp-rc=$? addr=$(ip -4 -o addr show dev "$nic" | awk '{ print $4 }')"
	ping -c 3 -w 30 "$3" > /tmp/ping.out 2>&1
	echo "$1 ping-rc=$? $(grep -o '[0-9]* packets received' /tmp/ping.out | tr ' ' _)"
	pdev=/sys/class/net/$nic/device
	if [ -n "$(ls "$pdev/msi_irqs" 2>/dev/null)" ]; then
		mode=$(cat "$pdev"/msi_irqs/* | sort -u | tr '\n' + | sed 's/+$//')
		list=$(ls "$pdev/msi_irqs" | tr '\n' ' ')
	else
		mode=intx
		list=$(cat "$pdev/irq")
	fi
	n=$(awk -v l=" $list " '{ k = $1; sub(":", "", k) } index(l, " " k " ") {
		for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }' /proc/interrupts)
	echo "$1 irq-mode=$mode vectors=$(echo $list | wc -w) irqs=$n"
	ip link set "$nic" down
}
net_test ATOLL-E1000 e1000 10.0.2.2
# e1000e: MSI-X by default; then again with the driver told to use MSI
net_test ATOLL-E1000E e1000e 10.0.3.2
rmmod e1000e && insmod /lib/modules/hwsim/e1000e.ko IntMode=1 && sleep 1
net_test ATOLL-E1000E-MSI e1000e 10.0.3.2
dmesg | grep -iE 'e1000e.*(msi|interrupt)' | sed 's/^/ATOLL-DMESG /'

edu=$(dev_by_id 0x1234 0x11e8)
echo "ATOLL-EDU bdf=${edu:-none}"
[ -n "$edu" ] && /hwsim/vfio-guest edu "$edu"
. /hwsim/steps/vfio-msi.sh
grep -E 'uio|eth' /proc/interrupts | sed 's/^/ATOLL-IRQS /'

gpu=$(dev_by_id 0x1234 0x1111)
drv=$(readlink "/sys/bus/pci/devices/$gpu/driver" 2>/dev/null)
echo "ATOLL-FB bdf=${gpu:-none} driver=${drv##*/}"
if /hwsim/vfio-guest fb; then
	# dom0 asks the host for a screendump meanwhile; keep the picture
	sleep 40
fi
'''


def qemu_args(ctx):
    return DEVICES


# QEMU as the peer VMM in dom0 (-device vfio-pci), with what -M q35 loads.
QEMU_FILES = ['/usr/share/seabios/bios-256k.bin', '/usr/share/qemu/kvmvapic.bin',
              '/usr/share/qemu/linuxboot_dma.bin']


def dom0_files(c, ctx):
    qemu = shutil.which('qemu-system-x86_64')
    if not qemu:
        raise RuntimeError('the vfio scenario runs QEMU in dom0 as its peer: install qemu-system-x86')
    c.binary('usr/bin/qemu-system-x86_64', qemu)
    for f in QEMU_FILES:
        if os.path.exists(f):
            c.file(f, os.path.realpath(f), 0o644)


def domu_files(c, ctx):
    exe = os.path.join(ctx.tmp, 'vfio-guest')
    subprocess.run(['gcc', '-static', '-O2', '-Wall', '-o', exe,
                    os.path.join(HERE, 'vfio.c')], check=True)
    c.file('hwsim/vfio-guest', exe, 0o755)
    c.data('hwsim/steps/vfio-list.sh', DOMU_LIST)
    c.data('hwsim/steps/vfio-msi.sh', DOMU_MSI)
    c.data('hwsim/steps/vfio-peer.sh', DOMU_PEER)
    c.data('hwsim/steps/vfio.sh', DOMU_STEP)


def read_ppm(path):
    """(width, height, bytes) of a binary PPM (P6, maxval 255)."""
    with open(path, 'rb') as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b'#':
            pos = data.index(b'\n', pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b'P6' or fields[3] != b'255':
        raise RuntimeError(f'{path} is not a P6 PPM with maxval 255')
    w, h = int(fields[1]), int(fields[2])
    return w, h, data[pos + 1:]


def check_pattern(path):
    """What vfio-guest fb draws: left half red, right half green, bottom
    quarter blue.  Returns (ok, description)."""
    w, h, px = read_ppm(path)

    def at(x, y):
        i = (y * w + x) * 3
        return tuple(px[i:i + 3])
    want = {'red': ((w // 4, h // 3), (255, 0, 0)),
            'green': ((3 * w // 4, h // 3), (0, 255, 0)),
            'blue': ((w // 2, 7 * h // 8), (0, 0, 255)),
            'red2': ((w // 8, h // 2), (255, 0, 0)),
            'green2': ((7 * w // 8, 2 * h // 3), (0, 255, 0))}
    seen = {k: at(*xy) for k, (xy, _) in want.items()}
    ok = all(seen[k] == rgb for k, (_, rgb) in want.items())
    desc = f'{w}x{h} ' + ' '.join(f'{k}={"%02x%02x%02x" % seen[k]}' for k in want)
    return ok, desc


def on_line(line, ctx):
    if line.strip() != 'HWSIM: HOST screendump':
        return
    path = os.path.join(ctx.logdir, 'vfio-screen.ppm')
    ctx.qmp('screendump', filename=path, device='gpu')
    ok, desc = check_pattern(path)
    ctx.log(f'screendump of the passed-through bochs-display: {path}: {desc}')
    if ok:
        ctx.reply('OK ' + desc)
    else:
        ctx.fail('the outer display does not show the domU\'s test pattern: ' + desc)
        ctx.reply('BAD ' + desc)
