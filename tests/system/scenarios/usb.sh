# USB passthrough through libusb (docs/usb.md; plug-in usb.py, domU step
# usb-domu.sh).  One domU, driven from here through atoll-vmm's control
# socket:
#  1. the outer usb-storage disk (46f4:0001) attached at start (--usb): the
#     domU reads the known pattern and writes a mark; after release dom0's
#     usb-storage has the disk back and reads the mark;
#  2. hot-detach of the disk, hot-attach and hot-detach of the usb-kbd
#     (0627:0001): the domU sees each come and go, dom0's drivers get them
#     back;
#  3. a key pressed on the outer usb-kbd (QMP) arrives in the domU as evdev
#     events;
#  4. a second VMM asking for the attached keyboard is refused, clearly;
#  5. the disk, attached again, is unplugged from the outer machine (QMP
#     device_del): it leaves the domU and usb-list by itself.
. /hwsim/lib.sh
CTL=$W/u.ctl
DISK=46f4:0001
KBD=0627:0001

ctl() { # prints the reply; status as atoll-vmmctl's
	out=$(/usr/local/bin/atoll-vmmctl "$CTL" "$1")
	rc=$?
	echo "HWSIM: vmmctl $1 -> $out" >&2
	echo "$out"
	return $rc
}
usb_path() { # VID:PID -> sysfs name (1-1)
	for d in /sys/bus/usb/devices/*; do
		[ "$(cat "$d/idVendor" 2>/dev/null):$(cat "$d/idProduct" 2>/dev/null)" = "$1" ] &&
			echo "${d##*/}" && return 0
	done
	return 1
}
iface_driver() { # sysfs name -> driver of interface 0 ("" if none)
	l=$(readlink "/sys/bus/usb/devices/$1:1.0/driver" 2>/dev/null) && echo "${l##*/}"
}
dom0_disk() { for d in /sys/block/sd*; do [ -e "$d" ] && echo "${d##*/}" && return 0; done; return 1; }
wait_until() { # SECONDS COMMAND...
	t=$(($1 * 5)); shift
	while ! "$@" 2>/dev/null; do
		[ "$t" -le 0 ] && return 1
		sleep 0.2; t=$((t - 1))
	done
}
driver_is() { [ "$(iface_driver "$1")" = "$2" ]; }

# usb-probe (domu-progs/usb-probe.c): rarely sent requests, answered by the
# device itself in dom0 (the reference) and through passthrough in the domU.
probe_dom0() { # TAG VID:PID EP READ WANT...: run it here, check what must hold
	tag=$1 id=$2 ep=$3 rd=$4; shift 4
	usb-probe "$tag" "$id" "$ep" "$rd" > "$W/probe-$tag.ref" 2>&1
	sed 's/^/  dom0| /' "$W/probe-$tag.ref"
	for w in "$@"; do
		grep -qx "ATOLL-USBP-$tag $w" "$W/probe-$tag.ref" ||
			fail "dom0 usb-probe $tag: no '$w' from the device itself"
	done
}
same_as_dom0() { # TAG: the domU's answers = dom0's, line for line
	tr -d '\r' < "$W/u.serial" | grep "^ATOLL-USBP-$1 " > "$W/probe-$1.domu"
	if [ -s "$W/probe-$1.domu" ] && cmp -s "$W/probe-$1.ref" "$W/probe-$1.domu"; then
		ok "domU usb-probe $1 through passthrough = the device's own answers: $(tr '\n' ' ' < "$W/probe-$1.domu")"
	else
		fail "domU usb-probe $1: $(tr '\n' ' ' < "$W/probe-$1.domu"), the device itself: $(tr '\n' ' ' < "$W/probe-$1.ref")"
	fi
}

# dom0 first: both devices enumerated by its own drivers.
wait_until 60 usb_path $DISK && wait_until 60 usb_path $KBD && wait_until 60 dom0_disk
SP=$(usb_path $DISK) KP=$(usb_path $KBD)
note "dom0: disk at ${SP:-?} ($(iface_driver "$SP")), keyboard at ${KP:-?} ($(iface_driver "$KP")), block device $(dom0_disk)"
[ -n "$SP" ] && [ -n "$KP" ] || { fail "dom0 does not see both USB devices: $(ls /sys/bus/usb/devices)"; finish; }
want=$(cat /hwsim/usb-expected)
got=$(dd if=/dev/$(dom0_disk) bs=65536 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] && ok "dom0 reads the known pattern from its own usb-storage" ||
	fail "dom0's view of the USB disk: sha256 $got, expected $want"

probe_dom0 kbd $KBD 0x81 1 short=18 vid=0627 stall=EPIPE after-stall=2 setinterface=0 \
	read=ETIMEDOUT setconfig=0 final=18 done
probe_dom0 disk $DISK 0x81 0 short=18 vid=46f4 setinterface=0 clearhalt=0 setconfig=0 \
	final=18 done
wait_until 60 dom0_disk || fail "dom0's usb-storage did not take the disk back after usb-probe"

vmm_start u --name u --memory 256 --kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline usb)" --usb host=$DISK --control "$CTL"

# 1. attached at start
if wait_serial u "ATOLL-USB disk-done" 240; then
	d=$(serial_value u "ATOLL-USB disk")
	[ -n "$d" ] && [ "$d" != none ] && ok "domU sees the USB disk as $d" ||
		fail "domU found no USB disk (serial: $(tail -n 5 "$W/u.serial" | tr '\n' '|'); stderr: $(tail -n 5 "$W/u.err" | tr '\n' '|'))"
	s=$(serial_value u "ATOLL-USB disk-sha256")
	[ "$s" = "$want" ] && ok "domU reads the known pattern through passthrough" ||
		fail "domU's sha256 of the USB disk $s, expected $want"
	grep -q "sector5=ATOLL-USB-PATTERN sector 00000005" "$W/u.serial" &&
		ok "domU: sector 5 says it is sector 5" || fail "domU: sector 5 wrong: $(grep sector5= "$W/u.serial")"
	[ "$(serial_value u "ATOLL-USB write-rc")" = 0 ] && ok "domU wrote to the USB disk" ||
		fail "domU's write failed: $(grep write-rc "$W/u.serial")"
else
	fail "domU did not finish with the USB disk (serial: $(tail -n 5 "$W/u.serial" | tr '\n' '|'); stderr: $(tail -n 5 "$W/u.err" | tr '\n' '|'))"
fi
drv=$(iface_driver "$SP")
[ "$drv" = usbfs ] && ok "while attached, the disk's interface belongs to usbfs (the VMM), not usb-storage" ||
	fail "while attached, dom0's driver of the disk is '$drv', expected usbfs"
list=$(ctl '{"cmd":"usb-list"}')
echo "$list" | grep -q "\"host\":\"$DISK\"" && ok "usb-list shows $DISK" || fail "usb-list: $list"

# 2. hot-detach the disk; dom0 gets it back with what the domU wrote
ctl "{\"cmd\":\"usb-detach\",\"host\":\"$DISK\"}" >/dev/null && ok "usb-detach $DISK accepted" ||
	fail "usb-detach $DISK refused"
wait_serial u "ATOLL-USB disk-gone" 60 && ok "domU saw the disk go away" ||
	fail "the disk did not disappear from the domU"
if wait_until 60 driver_is "$SP" usb-storage && wait_until 60 dom0_disk; then
	ok "dom0's usb-storage has the disk back"
	sleep 1
	m=$(dd if=/dev/$(dom0_disk) bs=512 skip=2048 count=1 iflag=direct 2>/dev/null | head -n 1)
	[ "$m" = ATOLL-USB-WRITTEN-BY-DOMU ] && ok "dom0 reads the domU's write after release" ||
		fail "dom0 reads '$m' at sector 2048, expected the domU's mark"
else
	fail "dom0's usb-storage did not get the disk back (driver '$(iface_driver "$SP")')"
fi

# hot-attach the keyboard
r=$(ctl "{\"cmd\":\"usb-attach\",\"host\":\"$KBD\"}")
echo "$r" | grep -q '"ok":true.*"id":"usb[0-9]*".*"port":[1-9]' && ok "usb-attach $KBD: $r" ||
	fail "usb-attach $KBD: $r"
kid=$(echo "$r" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
r=$(ctl "{\"cmd\":\"usb-attach\",\"host\":\"$KBD\"}")
echo "$r" | grep -q "already attached" && ok "a second usb-attach of $KBD is refused: $r" ||
	fail "a second usb-attach of $KBD: $r"

# 4. another VMM may not take it
timeout 60 "$HWSIM_VMM" --name b --memory 128 --kernel "$DOMU_KERNEL" --serial none \
	--usb host=$KBD > "$W/b.out" 2> "$W/b.err"
rc=$?
sed 's/^/  vmm[b] stderr| /' "$W/b.err"
if [ $rc -ne 0 ] && grep -q "in use by another program" "$W/b.err"; then
	ok "a second VMM asking for $KBD is refused (exit $rc) with a clear message"
else
	fail "a second VMM asking for $KBD: exit $rc, stderr $(head -c 300 "$W/b.err")"
fi
# ... nor hot-attach it; this VMM starts libusb only now, inside its seccomp
# sandbox (its control socket answers once the sandbox is on)
"$HWSIM_VMM" --name b2 --memory 128 --kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline ignore)" --serial none --xhci --control "$W/b2.ctl" \
	> "$W/b2.out" 2> "$W/b2.err" &
B2=$!
if wait_until 60 test -S "$W/b2.ctl"; then
	r=$(/usr/local/bin/atoll-vmmctl "$W/b2.ctl" "{\"cmd\":\"usb-attach\",\"host\":\"$KBD\"}")
	echo "$r" | grep -q '"ok":false.*in use by another program' &&
		ok "usb-attach of $KBD to a second running VMM is refused: $r" ||
		fail "usb-attach of $KBD to a second running VMM: $r"
	/usr/local/bin/atoll-vmmctl "$W/b2.ctl" '{"cmd":"destroy"}' > /dev/null
else
	fail "the second VMM's control socket did not appear"
fi
wait_until 30 sh -c "! kill -0 $B2" || kill -9 $B2 2>/dev/null
wait $B2 2>/dev/null
sed 's/^/  vmm[b2] stderr| /' "$W/b2.err"

# 3. a key press
if wait_serial u "ATOLL-USB kbd-listening" 120; then
	ok "domU sees the hot-attached keyboard as $(serial_value u "ATOLL-USB kbd")"
	host_request send-key a || fail "the host did not press the key: $HOST_ANSWER"
	wait_serial u "ATOLL-USB kbd-events-done" 120
	grep -q "ATOLL-USB key code=30 value=1" "$W/u.serial" &&
		grep -q "ATOLL-USB key code=30 value=0" "$W/u.serial" &&
		ok "the key 'a' pressed on the outer usb-kbd reached the domU (KEY_A down and up)" ||
		fail "no KEY_A events in the domU: $(grep 'ATOLL-USB key' "$W/u.serial" | tr '\n' '|')"
	wait_serial u "ATOLL-USBP-kbd done" 60
	same_as_dom0 kbd
else
	fail "the hot-attached keyboard did not show up in the domU"
fi
ctl "{\"cmd\":\"usb-detach\",\"id\":\"$kid\"}" >/dev/null && ok "usb-detach $kid accepted" ||
	fail "usb-detach $kid refused"
wait_serial u "ATOLL-USB kbd-gone" 60 && ok "domU saw the keyboard go away" ||
	fail "the keyboard did not disappear from the domU"
wait_until 60 driver_is "$KP" usbhid && ok "dom0's usbhid has the keyboard back" ||
	fail "dom0's driver of the keyboard is '$(iface_driver "$KP")', expected usbhid"

# 5. physical unplug while attached
r=$(ctl "{\"cmd\":\"usb-attach\",\"host\":\"$DISK\"}")
echo "$r" | grep -q '"ok":true' && ok "usb-attach $DISK again: $r" || fail "usb-attach $DISK again: $r"
if wait_serial u "ATOLL-USB disk2=sd" 120; then
	ok "domU sees the re-attached disk"
	wait_serial u "ATOLL-USB disk2-probed" 90
	same_as_dom0 disk
	host_request unplug ustor || fail "the host did not unplug the disk: $HOST_ANSWER"
	wait_serial u "ATOLL-USB disk2-gone" 60 && ok "domU saw the unplugged disk go away" ||
		fail "the unplugged disk did not disappear from the domU"
	wait_until 30 grep -q "host device $DISK disconnected" "$W/u.err" &&
		ok "the VMM noticed the unplug: $(grep "host device $DISK disconnected" "$W/u.err")" ||
		fail "the VMM did not log the unplug (stderr: $(tail -n 3 "$W/u.err" | tr '\n' '|'))"
	list=$(ctl '{"cmd":"usb-list"}')
	echo "$list" | grep -q '"devices":\[\]' && ok "usb-list is empty after the unplug" ||
		fail "usb-list after the unplug: $list"
else
	fail "the re-attached disk did not show up in the domU"
fi

vmm_wait u 120
expect_rc u 0
n=$(serial_count u "ATOLL-USB-LOG .*new .*USB device")
m=$(serial_count u "ATOLL-USB-LOG .*USB disconnect")
[ "$n" -ge 3 ] && [ "$m" -ge 3 ] && ok "domU kernel logged $n connects and $m disconnects" ||
	fail "domU kernel logged $n connects and $m disconnects, expected 3 each"
finish
