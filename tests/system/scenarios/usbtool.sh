# usbtool: atolld + atoll with real USB devices (usbtool.py: the outer
# xHCI has a usb-storage 46f4:0001 and a usb-kbd 0627:0001).  usb-list
# through libusb; a definition's device attached at start; a second domain
# naming the same keyboard by its bus-port path is refused, naming the
# first; hot-attach and -detach of the disk into a domain with
# "usb_controller"; attach of a device another domain has is refused, and
# so is hot-plug into a domain without a controller; stop frees the device.
. /hwsim/lib.sh
. /hwsim/toolstack.sh

DISK=46f4:0001 KBD=0627:0001
usb_path() { # VID:PID -> sysfs name (1-1)
	for d in /sys/bus/usb/devices/*; do
		[ "$(cat "$d/idVendor" 2>/dev/null):$(cat "$d/idProduct" 2>/dev/null)" = "$1" ] &&
			echo "${d##*/}" && return 0
	done
	return 1
}
i=0
while { ! usb_path $DISK || ! usb_path $KBD; } > /dev/null && [ $i -lt 120 ]; do
	sleep 0.5; i=$((i + 1))
done
SP=$(usb_path $DISK) KP=$(usb_path $KBD)
[ -n "$SP" ] && [ -n "$KP" ] || { fail "dom0 does not see both USB devices: $(ls /sys/bus/usb/devices | tr '\n' ' ')"; finish; }
note "usbtool: disk at $SP, keyboard at $KP"
# usb_row ID: the device's row of the last `atoll usb-list`
usb_row() { awk -v id="$1" '$2 == id' "$W/a.out"; }
used_by() { usb_row "$1" | awk '{ print $4 }'; }

atolld_start || {
	fail "atolld did not start (exit $ATOLLD_RC): $(tail -n 3 "$W/atolld.log" | tr '\n' ' ')"
	finish
}

A usb-list
if [ "$ARC" = 0 ] && usb_row $KBD | grep -q "^$KP .*QEMU USB Keyboard" &&
	usb_row $DISK | grep -q "^$SP .*\(high\|super\) .*QEMU USB HARDDRIVE"; then
	ok "usb-list shows the keyboard at $KP and the disk at $SP ($(usb_row $DISK | awk '{ print $3 }') speed)"
else
	fail "usb-list (exit $ARC) does not show both devices with path, speed and product"
fi

domain_json u1 console '"usb": [{"host": "0627:0001"}]' > "$W/u1.json"
domain_json u2 console "\"usb\": [{\"host\": \"$KP\"}]" > "$W/u2.json"
domain_json u3 console '"usb_controller": true' > "$W/u3.json"
domain_json u4 console > "$W/u4.json"
for n in u1 u2 u3 u4; do A define "$W/$n.json"; done

A start u1
if [ "$ARC" = 0 ] && wait_state u1 running 120; then
	ok "u1 runs with the keyboard from its definition"
else
	fail "u1 did not start with --usb host=$KBD: exit $ARC, state $(dom_state u1); $(tail -n 5 "$ATOLL_RUN/vmm/u1.log" 2>/dev/null | tr '\n' ' ')"
fi
A usb-list
[ "$(used_by $KBD)" = u1 ] && ok "usb-list: the keyboard is used by u1" ||
	fail "usb-list: the keyboard's user is '$(used_by $KBD)', not u1"

# the same keyboard, named by its path: refused, naming u1
A start u2
if [ "$ARC" = 5 ] && grep -q "in use by domain u1" "$W/a.err"; then
	ok "u2 (the keyboard as $KP) is refused: in use by domain u1"
else
	fail "start u2 while u1 has the keyboard: exit $ARC (want 5): $(cat "$W/a.err")"
fi

A start u3
wait_state u3 running 120 || fail "u3 did not start: state $(dom_state u3)"
A usb-attach u3 $KBD
if [ "$ARC" = 5 ] && grep -q "in use by domain u1" "$W/a.err"; then
	ok "usb-attach of u1's keyboard to u3 is refused, naming u1"
else
	fail "usb-attach u3 $KBD: exit $ARC (want 5): $(cat "$W/a.err")"
fi
A usb-attach u3 $DISK
if [ "$ARC" = 0 ] && grep -q "^Attached $DISK to u3" "$W/a.out"; then
	ok "hot-attached the disk to u3: $(cat "$W/a.out")"
	A usb-list
	[ "$(used_by $DISK)" = u3 ] && ok "usb-list: the disk is used by u3" ||
		fail "usb-list: the disk's user is '$(used_by $DISK)', not u3"
	A usb-attach u1 $SP
	[ "$ARC" = 5 ] && grep -q "in use by domain u3" "$W/a.err" &&
		ok "attaching u3's disk (as $SP) to u1 is refused, naming u3" ||
		fail "usb-attach u1 $SP: exit $ARC (want 5): $(cat "$W/a.err")"
	A usb-detach u3 $DISK
	[ "$ARC" = 0 ] && ok "hot-detached the disk from u3" ||
		fail "usb-detach u3 $DISK: exit $ARC: $(cat "$W/a.err")"
else
	fail "usb-attach u3 $DISK: exit $ARC: $(cat "$W/a.err")"
fi

# a domain started without a USB controller cannot take hot-plugged devices
A start u4
if wait_state u4 running 120; then
	A usb-attach u4 $DISK
	[ "$ARC" = 5 ] && grep -q "no USB controller" "$W/a.err" &&
		ok "hot-plug into u4 (no usb_controller) is refused, saying how to fix it" ||
		fail "usb-attach u4 $DISK: exit $ARC (want 5): $(cat "$W/a.err")"
	A destroy u4
else
	fail "u4 did not start: state $(dom_state u4)"
fi

A destroy u1
wait_state u1 shutoff 60 || fail "u1 did not stop"
A usb-list
[ "$(used_by $KBD)" = "-" ] && ok "after u1 stopped the keyboard is free" ||
	fail "after u1 stopped, usb-list says the keyboard is used by '$(used_by $KBD)'"
A start u2
[ "$ARC" = 0 ] && ok "u2 starts with the keyboard now" || fail "start u2 after u1 stopped: exit $ARC: $(cat "$W/a.err")"
A destroy u2
A destroy u3
wait_state u2 shutoff 60
wait_state u3 shutoff 60
finish
