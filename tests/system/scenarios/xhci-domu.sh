# domU step "xhci" of the xhci scenario: report what Linux's xhci_hcd made
# of atoll-vmm's controller, as ATOLL-XHCI lines.

wait_for() {
	t=$(($1 * 5)); shift
	while ! "$@" 2>/dev/null; do
		[ "$t" -le 0 ] && return 1
		sleep 0.2; t=$((t - 1))
	done
}
hubs() { ls -d /sys/bus/usb/devices/usb* 2>/dev/null | wc -l; }
two_hubs() { [ "$(hubs)" -ge 2 ]; }
report() { # PREFIX
	for h in /sys/bus/usb/devices/usb*; do
		[ -e "$h" ] || continue
		echo "ATOLL-XHCI $1 ${h##*/} speed=$(cat $h/speed) ports=$(cat $h/maxchild) version=$(cat $h/version | tr -d ' ')"
	done
}

dev=$(ls /sys/bus/pci/drivers/xhci_hcd 2>/dev/null | grep : | head -n 1)
echo "ATOLL-XHCI bound=${dev:-none}"
wait_for 30 two_hubs
echo "ATOLL-XHCI hubs=$(hubs)"
report first
echo "ATOLL-XHCI irq=$(grep -c xhci /proc/interrupts)"
if [ -n "$dev" ]; then
	# A driver unbind/bind halts, resets and re-initialises the controller.
	echo "$dev" > /sys/bus/pci/drivers/xhci_hcd/unbind
	echo "ATOLL-XHCI after-unbind hubs=$(hubs)"
	echo "$dev" > /sys/bus/pci/drivers/xhci_hcd/bind
	wait_for 30 two_hubs
	echo "ATOLL-XHCI rebound hubs=$(hubs)"
	report again
fi
dmesg | grep -iE "xhci|usb" | sed 's/^/ATOLL-XHCI-LOG /'
echo "ATOLL-XHCI done"
