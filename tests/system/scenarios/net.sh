# net: virtio-net on a tap: the domU and dom0 ping each other over
# 10.0.2.0/24 (inside the dom0 VM only), and the domU sees the given MAC.
. /hwsim/lib.sh

MAC=52:54:00:a7:01:5e
# a persistent tap (busybox has tunctl, not `ip tuntap`)
tunctl -t atap0 >/dev/null || fail "net: cannot create the tap atap0 in dom0"
ip addr add 10.0.2.1/24 dev atap0
ip link set atap0 up

vmm_start net --name net --memory 256 --vcpus 1 \
	--kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline net)" --serial stdio \
	--net "tap=atap0,mac=$MAC"
if wait_serial net '^ATOLL-NET ready' 200; then
	if ping -c 3 -w 20 10.0.2.15 > "$W/ping.out" 2>&1; then
		ok "net: dom0 pinged the domU ($(grep -o '[0-9]* packets received' "$W/ping.out"))"
	else
		fail "net: dom0 cannot ping the domU at 10.0.2.15: $(tail -n 2 "$W/ping.out" | tr '\n' ' ')"
	fi
else
	fail "net: the domU never reported its network up"
fi
vmm_wait net 90
expect_marker net 1 || finish
expect_rc net 0

v=$(serial_value net mac)
[ "$v" = "$MAC" ] && ok "net: domU eth0 has MAC $v" ||
	fail "net: domU eth0 MAC is '$v', expected $MAC from the command line"
v=$(serial_value net ping-rc)
[ "$v" = 0 ] && ok "net: domU pinged dom0" ||
	fail "net: ping from the domU to dom0 10.0.2.1 exited '$v'"
v=$(serial_value net echoes)
[ -n "$v" ] && [ "$v" -ge 3 ] && ok "net: domU answered $v echo requests" ||
	fail "net: domU counted '$v' echo requests from dom0, expected >= 3"
rx=$(cat /sys/class/net/atap0/statistics/rx_packets 2>/dev/null)
[ "${rx:-0}" -gt 0 ] && ok "net: dom0's atap0 received $rx packets" ||
	fail "net: tap atap0 received no packets from the domU (or it is gone: '$rx')"
finish
