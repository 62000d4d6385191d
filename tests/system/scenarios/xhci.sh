# xhci: a Linux domU's xhci_hcd drives atoll-vmm's xHCI controller (--xhci)
# without any device attached: probe, root hubs with the right port
# counts, a driver rebind (controller reset); no Host System Error.
# (Devices through the controller: the usb scenario.)
. /hwsim/lib.sh

vmm_run x 240 --name x --memory 256 --vcpus 1 --xhci \
	--kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline xhci)" --serial stdio
expect_marker x 1 || finish
expect_rc x 0
grep -q "ATOLL-XHCI done" "$W/x.serial" || fail "the domU step did not finish: $(tail -n 5 "$W/x.serial" | tr '\n' '|')"
b=$(serial_value x "ATOLL-XHCI bound")
[ -n "$b" ] && [ "$b" != none ] && ok "xhci_hcd bound to the controller at $b" ||
	fail "xhci_hcd did not bind (serial: $(grep -i xhci "$W/x.serial" | tail -n 8 | tr '\n' '|'))"
check_hubs() { # PREFIX
	u2=$(tr -d '\r' < "$W/x.serial" | grep "^ATOLL-XHCI $1 " | grep "speed=480 " | head -n 1)
	u3=$(tr -d '\r' < "$W/x.serial" | grep "^ATOLL-XHCI $1 " | grep -E "speed=(5000|10000) " | head -n 1)
	echo "$u2" | grep -q "ports=4 " && ok "$1: USB 2 root hub with 4 ports" ||
		fail "$1: USB 2 root hub: '${u2:-missing}'"
	echo "$u3" | grep -q "ports=4 " && ok "$1: USB 3 root hub with 4 ports" ||
		fail "$1: USB 3 root hub: '${u3:-missing}'"
}
check_hubs first
[ "$(serial_value x "ATOLL-XHCI rebound hubs")" = 2 ] && ok "both root hubs back after a driver rebind" ||
	fail "after rebind: $(grep rebound "$W/x.serial")"
check_hubs again
[ "$(serial_value x "ATOLL-XHCI irq")" -ge 1 ] 2>/dev/null && ok "xhci_hcd has its interrupt" ||
	fail "no xhci interrupt in /proc/interrupts"
grep -qiE "host system error|HC died|not responding|timeout" "$W/x.serial" &&
	fail "the guest driver complained: $(grep -iE "host system error|HC died|not responding|timeout" "$W/x.serial" | head -n 3 | tr '\n' '|')"
grep -q "broke the controller" "$W/x.err" &&
	fail "the VMM raised Host System Error: $(grep "broke the controller" "$W/x.err" | head -n 1)"
finish
