# vfio: PCI passthrough through VFIO (docs/vfio.md).  The outer q35 has an
# emulated Intel IOMMU and edu (03.0), bochs-display (04.0) and e1000 (06.0,
# on QEMU's user network); see vfio.py.  dom0 binds them to vfio-pci,
# atoll-vmm gives all three to one domU, and the domU's own drivers use
# them: e1000 gets a DHCP lease and pings the gateway, a test program runs
# edu's DMA both ways with interrupts, bochs-drm shows a pattern that the
# host sees in a screendump of the outer machine.
. /hwsim/lib.sh

EDU=0000:00:03.0 GPU=0000:00:04.0 NIC=0000:00:06.0 NIC2=0000:00:07.0

[ -n "$(ls /sys/class/iommu 2>/dev/null)" ] ||
	fail "vfio: no IOMMU in dom0 (/sys/class/iommu is empty): is intel_iommu=on set?"
for d in $EDU $GPU $NIC $NIC2; do
	g=$(readlink /sys/bus/pci/devices/$d/iommu_group 2>/dev/null)
	note "vfio: $d $(cat /sys/bus/pci/devices/$d/vendor):$(cat /sys/bus/pci/devices/$d/device) IOMMU group ${g##*/}"
done

# Before binding: atoll-vmm must say what is wrong and how to fix it.
vmm_run unbound 60 --name unbound --memory 64 --kernel "$DOMU_KERNEL" \
	--initrd "$DOMU_INITRD" --pci host=$NIC
if [ "$VMM_RC" = 1 ] && grep -q "not bound to vfio-pci" "$W/unbound.err" &&
	grep -q "drivers_probe" "$W/unbound.err"; then
	ok "vfio: an unbound device is refused with the command that binds it"
else
	fail "vfio: atoll-vmm with an unbound device: exit $VMM_RC, stderr: $(head -c 300 "$W/unbound.err")"
fi
vmm_run badaddr 60 --name badaddr --memory 64 --kernel "$DOMU_KERNEL" \
	--initrd "$DOMU_INITRD" --pci host=0000:00:1e.0
if [ "$VMM_RC" = 1 ] && grep -q "no such PCI device" "$W/badaddr.err"; then
	ok "vfio: a missing device is refused by name"
else
	fail "vfio: atoll-vmm with a missing device: exit $VMM_RC, stderr: $(head -c 300 "$W/badaddr.err")"
fi

for d in $EDU $GPU $NIC $NIC2; do
	if [ -e /sys/bus/pci/devices/$d/driver ]; then
		echo $d > /sys/bus/pci/devices/$d/driver/unbind
	fi
	echo vfio-pci > /sys/bus/pci/devices/$d/driver_override
	echo $d > /sys/bus/pci/drivers_probe
	drv=$(readlink /sys/bus/pci/devices/$d/driver)
	[ "${drv##*/}" = vfio-pci ] || fail "vfio: $d did not bind to vfio-pci (driver '${drv##*/}')"
done
ls /dev/vfio | tr '\n' ' ' | sed 's/^/HWSIM: \/dev\/vfio: /'; echo

vmm_start pt --name pt --memory 256 --vcpus 1 \
	--kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline vfio vt.global_cursor_default=0)" --serial stdio \
	--pci host=$NIC --pci host=$EDU --pci host=$GPU --pci host=$NIC2
wait_serial pt '^ATOLL-EDU-MSI raised' 400 &&
	grep vfio /proc/interrupts | sed 's/^/HWSIM: dom0 irq during edu MSI: /'
if wait_serial pt '^ATOLL-FB drawn' 400; then
	sleep 3   # the fbdev emulation flushes its shadow buffer to VRAM lazily
	if host_request screendump; then
		ok "vfio: the outer machine's display shows the domU's pattern ($HOST_ANSWER)"
	else
		fail "vfio: the screendump does not show the domU's pattern: $HOST_ANSWER"
	fi
else
	fail "vfio: the domU never drew on the bochs-display ($(grep ATOLL-FB "$W/pt.serial" | tr -d '\r' | tr '\n' ' '))"
fi
vmm_wait pt 200
expect_marker pt 1 || finish
expect_rc pt 0

val() { tr -d '\r' < "$W/pt.serial" | grep "^$1 " | grep -oE "$2=[^ ]*" | tail -n 1 | cut -d= -f2-; }
n=$(serial_count pt '^ATOLL-PCI ')
note "vfio: the domU sees $n PCI functions"
for id in 0x8086:0x100e 0x1234:0x11e8 0x1234:0x1111 0x8086:0x10d3; do
	serial_count pt "^ATOLL-PCI $id " | grep -qx 1 && ok "vfio: domU sees $id" ||
		fail "vfio: the domU does not list device $id"
done

# (1) e1000 (INTx), and e1000e with MSI-X, then MSI
nic_checks() { # LABEL WHAT MODE (empty: any)
	v=$(val $1 carrier)
	[ "$v" = 1 ] && ok "vfio: $2 link is up in the domU" || fail "vfio: $2 carrier '$v'"
	v=$(val $1 dhcp-rc)
	[ "$v" = 0 ] && ok "vfio: $2 got a DHCP lease ($(val $1 addr))" ||
		fail "vfio: $2 DHCP failed (udhcpc exit '$v')"
	v=$(val $1 ping-rc)
	[ "$v" = 0 ] && ok "vfio: the domU pinged the user network's gateway through the $2" ||
		fail "vfio: ping through the $2 exited '$v'"
	v=$(val $1 irqs)
	if [ "$(val $1 irq-mode)" = "${3:-$(val $1 irq-mode)}" ] && [ -n "$v" ] && [ "$v" -gt 0 ]; then
		ok "vfio: $2 took $v interrupts as $(val $1 irq-mode) ($(val $1 vectors) vector(s))"
	else
		fail "vfio: $2 interrupts: mode '$(val $1 irq-mode)' (want $3), count '$v'"
	fi
}
nic_checks ATOLL-E1000 e1000 intx
nic_checks ATOLL-E1000E e1000e msix
# With IntMode=1 the driver tests MSI with a 100 ms deadline and falls back
# to INTx if it fails; checked against the peer below.
nic_checks ATOLL-E1000E-MSI "e1000e (IntMode=1)" ""

# (2) edu
v=$(val ATOLL-EDU ident)
case "$v" in 0x??0000ed) ok "vfio: edu identifies itself ($v)" ;;
*) fail "vfio: edu ident '$v'" ;; esac
[ "$(val ATOLL-EDU live)" = ok ] && ok "vfio: edu liveness register inverts" ||
	fail "vfio: edu liveness check"
[ "$(val ATOLL-EDU factorial5)" = 120 ] && ok "vfio: edu computed 5! = 120" ||
	fail "vfio: edu factorial '$(val ATOLL-EDU factorial5)'"
[ "$(val ATOLL-EDU to-dev-irq)" = 1 ] && [ "$(val ATOLL-EDU from-dev-irq)" = 1 ] &&
	ok "vfio: edu DMA interrupts arrived both ways (uio_pci_generic, INTx)" ||
	fail "vfio: edu DMA interrupts: to-dev '$(val ATOLL-EDU to-dev-irq)' from-dev '$(val ATOLL-EDU from-dev-irq)' (uio '$(val ATOLL-EDU uio)')"
v=$(val ATOLL-EDU-MSI line)
if [ "$(val ATOLL-EDU-MSI seen)" -ge 1 ] 2>/dev/null && echo "$v" | grep -q '\.233_No_irq'; then
	ok "vfio: edu's MSI reached the domU's CPU with the vector the domU programmed"
else
	fail "vfio: edu's MSI (vector 233) did not arrive: '$(val ATOLL-EDU-MSI seen)' '$v' ($(val ATOLL-EDU-MSI cap))"
fi
[ "$(val ATOLL-EDU roundtrip)" = ok ] && ok "vfio: edu DMA round trip intact" ||
	fail "vfio: edu DMA round trip '$(val ATOLL-EDU roundtrip)' ($(val ATOLL-EDU mismatches) mismatches, buffer $(val ATOLL-EDU buf-phys))"

# (3) bochs-display
v=$(val ATOLL-FB driver)
[ "$v" = bochs-drm ] && ok "vfio: bochs-drm drives the passed-through display" ||
	fail "vfio: bochs-display driver in the domU is '$v'"

for d in $EDU $GPU $NIC $NIC2; do
	drv=$(readlink /sys/bus/pci/devices/$d/driver)
	[ "${drv##*/}" = vfio-pci ] || fail "vfio: $d lost its vfio-pci binding after the domU"
done

# (5) The peer: the same domU under QEMU's -device vfio-pci in this dom0
# must see the same devices (ids, class, revision, subsystem, BAR sizes
# and kinds, ROM, interrupt pin, driver).
note "vfio: [$(uptime_s)] the same domU under QEMU -device vfio-pci"
: > "$W/qemu.serial"
# SeaBIOS would run the NICs' option ROMs (iPXE) first, which takes
# minutes nested under TCG; the ROM BARs stay visible to the guest.
printf '\000' > "$W/no-optionroms"
qemu-system-x86_64 -enable-kvm -M q35 -cpu host -m 256 -smp 1 -nodefaults \
	-no-user-config -display none -no-reboot \
	-fw_cfg "name=etc/pci-optionrom-exec,file=$W/no-optionroms" \
	-kernel "$DOMU_KERNEL" -initrd "$DOMU_INITRD" \
	-append "$(domu_cmdline vfio-peer)" -serial "file:$W/qemu.serial" \
	-device vfio-pci,host=$NIC -device vfio-pci,host=$EDU -device vfio-pci,host=$GPU \
	-device vfio-pci,host=$NIC2 \
	> "$W/qemu.err" 2>&1 &
qpid=$!
i=0
while kill -0 $qpid 2>/dev/null && [ $i -lt 900 ]; do sleep 0.2; i=$((i + 1)); done
kill -KILL $qpid 2>/dev/null
wait $qpid
note "vfio: [$(uptime_s)] QEMU exited $? ($(head -c 200 "$W/qemu.err" | tr '\n' ' '))"
tr -d '\r' < "$W/qemu.serial" | grep -E '^ATOLL-' | sed 's/^/  qemu-domU| /'
note "vfio: edu MSI under QEMU: $(tr -d '\r' < "$W/qemu.serial" | grep '^ATOLL-EDU-MSI seen')"
# MSI latency (edu raising to the domU kernel's message), both VMMs.
msi_latency() { # SERIAL FILE
	tr -d '\r' < "$1" | awk '/^ATOLL-EDU-MSI raise-at=/ { split($2, a, "="); t = a[2] }
		/^ATOLL-EDU-MSI seen=/ { if (match($0, /\[_*[0-9.]+\]/)) { v = substr($0, RSTART, RLENGTH);
			gsub(/[^0-9.]/, "", v); printf "%.0f ms", (v - t) * 1000 } }'
}
note "vfio: edu MSI latency (raise to the domU's interrupt): atoll-vmm $(msi_latency "$W/pt.serial"), QEMU $(msi_latency "$W/qemu.serial")"
# e1000e's own MSI self-test (100 ms deadline): atoll-vmm must do as well
# as QEMU's vfio-pci on the same machine.
peer=$(tr -d '\r' < "$W/qemu.serial" | grep -oE 'ATOLL-E1000E-PEER msi-test=[a-z]+' | cut -d= -f2)
mine=$(tr -d '\r' < "$W/pt.serial" | grep -q 'MSI interrupt test failed' && echo failed || echo passed)
if [ "$mine" = passed ] || [ "$mine" = "$peer" ]; then
	ok "vfio: e1000e's MSI self-test $mine under atoll-vmm ($peer under QEMU's vfio-pci)"
else
	fail "vfio: e1000e's MSI self-test $mine under atoll-vmm but $peer under QEMU's vfio-pci"
fi
[ "$mine" = passed ] && [ "$(val ATOLL-E1000E-MSI irq-mode)" != msi ] &&
	fail "vfio: e1000e passed its MSI test but does not use MSI ($(val ATOLL-E1000E-MSI irq-mode))"
for id in 0x8086:0x100e 0x1234:0x11e8 0x1234:0x1111 0x8086:0x10d3; do
	a=$(tr -d '\r' < "$W/pt.serial" | grep "^ATOLL-PCI $id ")
	q=$(tr -d '\r' < "$W/qemu.serial" | grep "^ATOLL-PCI $id ")
	if [ -n "$a" ] && [ "$a" = "$q" ]; then
		ok "vfio: atoll-vmm and QEMU show $id the same: ${a#ATOLL-PCI }"
	else
		fail "vfio: $id differs: atoll-vmm '${a#ATOLL-PCI }', QEMU '${q#ATOLL-PCI }'"
	fi
done
finish
