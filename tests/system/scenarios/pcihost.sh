# pcihost: atolld's host side of PCI passthrough on real sysfs and VFIO
# (see pcihost.py for the machine).  Preflight refuses the e1000 while
# dom0's e1000 driver has it; pci-assignable-add binds its IOMMU group to
# vfio-pci, -remove gives it back to e1000; a domain start binds and its
# stop releases; a second domain wanting the device is refused by name.
. /hwsim/lib.sh
. /hwsim/toolstack.sh

NIC=0000:00:06.0 EDU=0000:00:03.0
STATEFILE=$ATOLL_STATE/pci-assignable.json

drv() { d=$(readlink /sys/bus/pci/devices/$1/driver 2>/dev/null); echo "${d##*/}"; }
nic_ifaces() {
	for n in /sys/class/net/*; do
		d=$(readlink "$n/device/driver" 2>/dev/null)
		[ "${d##*/}" = e1000 ] && echo "${n##*/}"
	done
}

[ -n "$(ls /sys/class/iommu 2>/dev/null)" ] ||
	fail "pcihost: no IOMMU in dom0 (/sys/class/iommu is empty): is intel_iommu=on set?"
for d in $NIC $EDU; do
	g=$(readlink /sys/bus/pci/devices/$d/iommu_group 2>/dev/null)
	note "pcihost: $d $(cat /sys/bus/pci/devices/$d/vendor):$(cat /sys/bus/pci/devices/$d/device) group ${g##*/} driver '$(drv $d)'"
done
[ "$(drv $NIC)" = e1000 ] && ok "e1000 is bound to dom0's e1000 driver ($(nic_ifaces))" ||
	fail "the e1000 at $NIC is not bound to e1000 (driver '$(drv $NIC)'): the test needs a bound endpoint"

atolld_start || {
	fail "atolld did not start (exit $ATOLLD_RC): $(tail -n 3 "$W/atolld.log" | tr '\n' ' ')"
	finish
}

# 1. Listing: real groups, drivers and the preflight summary.
if A pci-list && grep -q "^$NIC .* e1000 .*FAIL (group)" "$W/a.out"; then
	ok "pci-list shows $NIC on e1000 with a failed group preflight"
else
	fail "pci-list (exit $ARC) does not show $NIC on e1000 with FAIL (group)"
fi

# 2. Preflight refuses the group with a bound endpoint, saying how to fix.
A pci-preflight $NIC
if [ "$ARC" = 1 ] && grep -q "^FAIL  group .*bound to the host driver e1000" "$W/a.out" &&
	grep -q "atoll pci-assignable-add $NIC" "$W/a.out"; then
	ok "pci-preflight refuses $NIC (bound to e1000) and names the fix"
else
	fail "pci-preflight $NIC: exit $ARC (want 1), output: $(tr '\n' ' ' < "$W/a.out" | head -c 400)"
fi
# edu has no driver: nothing in its group blocks it.
A pci-preflight 00:03.0
if [ "$ARC" = 0 ] && grep -q "^ok    group" "$W/a.out" && grep -q "^ok    iommu" "$W/a.out"; then
	ok "pci-preflight passes edu (unbound, alone in its group)"
else
	fail "pci-preflight 00:03.0: exit $ARC (want 0): $(tr '\n' ' ' < "$W/a.out" | head -c 400)"
fi

# 3. make-assignable: the group goes to vfio-pci, the original driver is
# remembered on disk.
A pci-assignable-add $NIC
if [ "$ARC" = 0 ] && [ "$(drv $NIC)" = vfio-pci ]; then
	ok "pci-assignable-add bound $NIC to vfio-pci"
else
	fail "pci-assignable-add $NIC: exit $ARC, driver now '$(drv $NIC)'"
fi
g=$(readlink /sys/bus/pci/devices/$NIC/iommu_group); g=${g##*/}
[ -c /dev/vfio/$g ] && ok "/dev/vfio/$g exists (the group is viable for VFIO)" ||
	fail "/dev/vfio/$g is missing after binding: $(ls /dev/vfio | tr '\n' ' ')"
grep -q '"e1000"' "$STATEFILE" 2>/dev/null && ok "the original driver is recorded in $STATEFILE" ||
	fail "$STATEFILE does not record e1000: $(cat "$STATEFILE" 2>&1 | tr '\n' ' ')"
[ -z "$(nic_ifaces)" ] && ok "dom0's e1000 interface is gone while vfio-pci has the device" ||
	fail "an e1000 interface is still there: $(nic_ifaces)"
A pci-assignable-list
grep -q "^$NIC .* vfio-pci .* e1000" "$W/a.out" && ok "pci-assignable-list shows $NIC, originally e1000" ||
	fail "pci-assignable-list does not show $NIC with original driver e1000"
A pci-preflight $NIC
[ "$ARC" = 0 ] && ok "pci-preflight passes $NIC once it is on vfio-pci" ||
	fail "pci-preflight $NIC after assignable-add: exit $ARC: $(tr '\n' ' ' < "$W/a.out" | head -c 300)"

# 4. release: e1000 gets its device back and makes its interface again.
A pci-assignable-remove $NIC
if [ "$ARC" = 0 ] && [ "$(drv $NIC)" = e1000 ]; then
	ok "pci-assignable-remove gave $NIC back to e1000"
else
	fail "pci-assignable-remove $NIC: exit $ARC, driver now '$(drv $NIC)'"
fi
i=0
while [ -z "$(nic_ifaces)" ] && [ $i -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
[ -n "$(nic_ifaces)" ] && ok "dom0 has its e1000 interface again ($(nic_ifaces))" ||
	fail "no e1000 network interface after the release"
[ "$(cat /sys/bus/pci/devices/$NIC/driver_override)" = "(null)" ] &&
	ok "driver_override is cleared" ||
	fail "driver_override of $NIC is '$(cat /sys/bus/pci/devices/$NIC/driver_override)'"

# 5. A domain with the e1000 in its definition: start binds, stop releases,
# and a second domain wanting it is refused by name.
domain_json pt console '"pci": [{"host": "00:06.0"}]' > "$W/pt.json"
domain_json pt2 console '"pci": [{"host": "0000:00:06.0"}]' > "$W/pt2.json"
A define "$W/pt.json"
A define "$W/pt2.json"
A start pt
if [ "$ARC" = 0 ] && [ "$(drv $NIC)" = vfio-pci ]; then
	ok "starting pt bound $NIC to vfio-pci"
else
	fail "start pt: exit $ARC, driver of $NIC '$(drv $NIC)'"
fi
if wait_state pt running 90; then
	ok "pt runs with $NIC passed through"
	A info --json pt
	pid=$(json_first pid)
	if tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -q -- "--pci host=$NIC"; then
		ok "atolld ran pt's atoll-vmm (pid $pid) with --pci host=$NIC"
	else
		fail "pt's VMM (pid '$pid') was not given --pci host=$NIC: $(tr '\0' ' ' < /proc/$pid/cmdline 2>&1 | head -c 300)"
	fi
	tr -d ' \n\t' < "$W/a.out" | grep -q '"status".*"pci":\["0000:00:06.0"\]' &&
		ok "pt's status lists $NIC" || fail "pt's status.pci does not list $NIC"
	A start pt2
	if [ "$ARC" = 5 ] && grep -q "in use by domain pt" "$W/a.err"; then
		ok "pt2 is refused: $NIC is in use by domain pt"
	else
		fail "start pt2 while pt has $NIC: exit $ARC (want 5), stderr $(cat "$W/a.err")"
	fi
	A destroy pt
	wait_state pt shutoff 60 || fail "pt did not stop"
else
	fail "pt did not reach running: state $(dom_state pt); log: $(tail -n 5 "$ATOLL_RUN/vmm/pt.log" 2>/dev/null | tr '\n' ' ')"
	A destroy pt
	wait_state pt shutoff 30
fi
i=0
while [ "$(drv $NIC)" != e1000 ] && [ $i -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
[ "$(drv $NIC)" = e1000 ] && ok "after pt stopped, $NIC is back on e1000" ||
	fail "after pt stopped, $NIC is on '$(drv $NIC)', not e1000"
finish
