# domU step "usbevents" (usbevents.sh drives it from dom0): report the
# hot-attached keyboard each time it comes and goes, as the guest's own USB
# stack sees it (sysfs) and its input layer names it.
wait_for() { # SECONDS COMMAND...
	t=$(($1 * 5)); shift
	while ! "$@" 2>/dev/null; do
		[ "$t" -le 0 ] && return 1
		sleep 0.2; t=$((t - 1))
	done
}
kbd() { # sysfs name of the keyboard, if the guest has one
	for d in /sys/bus/usb/devices/*; do
		[ "$(cat "$d/idVendor" 2>/dev/null):$(cat "$d/idProduct" 2>/dev/null)" = 0627:0001 ] &&
			echo "${d##*/}" && return 0
	done
	return 1
}
no_kbd() { ! kbd > /dev/null; }
kbd_input() { grep -l "QEMU USB Keyboard" /sys/class/input/*/name 2>/dev/null | head -n 1; }
echo "ATOLL-UE controllers=$(ls /sys/bus/pci/drivers/xhci_hcd 2>/dev/null | grep -c :)"
for n in 1 2; do
	if wait_for 300 kbd; then
		wait_for 10 kbd_input
		echo "ATOLL-UE kbd-$n=$(kbd) input=$(kbd_input)"
	else
		echo "ATOLL-UE kbd-$n=none"
		break
	fi
	[ $n = 2 ] && break
	wait_for 300 no_kbd && echo "ATOLL-UE kbd-$n-gone" || echo "ATOLL-UE kbd-$n-still-there"
done
echo "ATOLL-UE done"
while :; do sleep 60; done
