# domU step "usb" of the usb scenario (sourced by the domU init as
# /hwsim/steps/usb.sh).  dom0 drives the sequence from outside: it attached
# the USB disk at start, detaches it once we have written to it, then
# hot-attaches the keyboard, presses a key and detaches the keyboard.  We
# only react to what appears and disappears, and report ATOLL-USB lines.

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
	t=$(($1 * 5)); shift
	while ! "$@" 2>/dev/null; do
		[ "$t" -le 0 ] && return 1
		sleep 0.2; t=$((t - 1))
	done
}
usb_disk() { for d in /sys/block/sd*; do [ -e "$d" ] && echo "${d##*/}" && return 0; done; return 1; }
no_usb_disk() { ! usb_disk >/dev/null; }
kbd_event() {
	for ev in /sys/class/input/event*; do
		grep -q "QEMU USB Keyboard" "$ev/device/name" 2>/dev/null && echo "${ev##*/}" && return 0
	done
	return 1
}
no_kbd() { ! kbd_event >/dev/null; }

echo "ATOLL-USB controllers=$(ls /sys/bus/pci/drivers/xhci_hcd 2>/dev/null | grep -c :)"

# 1. The disk attached at start: read the known pattern, write a mark.
if wait_for 90 usb_disk; then
	d=$(usb_disk)
	echo "ATOLL-USB disk=$d sectors=$(cat /sys/block/$d/size)"
	echo "ATOLL-USB sector5=$(dd if=/dev/$d bs=512 skip=5 count=1 2>/dev/null | head -n 1)"
	echo "ATOLL-USB disk-sha256=$(dd if=/dev/$d bs=65536 2>/dev/null | sha256sum | cut -d' ' -f1)"
	printf 'ATOLL-USB-WRITTEN-BY-DOMU\n' > /tmp/mark
	dd if=/tmp/mark of=/dev/$d bs=512 seek=2048 conv=sync,fsync,notrunc 2>/dev/null
	echo "ATOLL-USB write-rc=$?"
	echo 3 > /proc/sys/vm/drop_caches
	echo "ATOLL-USB readback=$(dd if=/dev/$d bs=512 skip=2048 count=1 2>/dev/null | head -n 1)"
else
	echo "ATOLL-USB disk=none"
fi
echo "ATOLL-USB disk-done"

# 2. dom0 hot-detaches the disk.
wait_for 120 no_usb_disk && echo "ATOLL-USB disk-gone" || echo "ATOLL-USB disk-still-there"

# 3. dom0 hot-attaches the keyboard; a key pressed on the outer QEMU's
# usb-kbd must arrive here as evdev events.
if wait_for 120 kbd_event; then
	ev=$(kbd_event)
	echo "ATOLL-USB kbd=$ev"
	# struct input_event on x86-64: 16 bytes of time, u16 type, u16 code,
	# s32 value.  Collect them in the background while dom0 presses.
	(dd if=/dev/input/$ev of=/tmp/kbd.events bs=24 2>/dev/null) &
	reader=$!
	sleep 1
	echo "ATOLL-USB kbd-listening"
	got() { od -An -v -tu2 -w24 /tmp/kbd.events | awk '$9 == 1 && $10 == 30 && $11 == 0 { f = 1 } END { exit !f }'; }
	wait_for 90 got
	kill "$reader" 2>/dev/null
	od -An -v -tu2 -w24 /tmp/kbd.events | awk '$9 == 1 { print "ATOLL-USB key code=" $10 " value=" $11 }'
	echo "ATOLL-USB kbd-events-done"
	# The requests a driver rarely sends, on the same device.
	usb-probe kbd 0627:0001 0x81 1
	wait_for 120 no_kbd && echo "ATOLL-USB kbd-gone" || echo "ATOLL-USB kbd-still-there"
else
	echo "ATOLL-USB kbd=none"
fi

# 4. dom0 hot-attaches the disk again, then it is unplugged from the outer
# machine: it must vanish here too.
if wait_for 120 usb_disk; then
	echo "ATOLL-USB disk2=$(usb_disk)"
	usb-probe disk 46f4:0001 0x81 0
	# the probe gave the interface back to usb-storage: wait for its disk
	wait_for 60 usb_disk
	echo "ATOLL-USB disk2-probed"
	wait_for 120 no_usb_disk && echo "ATOLL-USB disk2-gone" || echo "ATOLL-USB disk2-still-there"
else
	echo "ATOLL-USB disk2=none"
fi

# What the guest kernel logged about the ports.
dmesg | grep -E "new .*USB device|USB disconnect" | sed 's/^/ATOLL-USB-LOG /'
