# usbevents: atolld's host USB hot-plug events (docs/usb.md, "Hot-plug
# events"; plug-in usbevents.py, domU step usbevents-domu.sh).  The outer
# xHCI starts empty; the host plugs and pulls usb-kbd devices (QMP) when
# asked.  Checked on atolld's /v1/events stream:
#  1. a keyboard plugged in on the host: {"action": "added", "device": the
#     entry GET /v1/host/usb shows, "domain": null}; pulled out: "removed",
#     the same device (bus, address, path);
#  2. a keyboard attached to running domU e1 and pulled out on the host:
#     "removed" names e1, the domU's USB stack loses it, atolld's in-use
#     list (usb-list, status.usb) forgets it, e1's VMM keeps running;
#  3. plugged in again: "added", free, and it attaches to e1 again.
# Before udevd runs, one plug and pull are only recorded (docs/usb.md).
. /hwsim/lib.sh
. /hwsim/toolstack.sh

KBD=0627:0001
EV=$W/events
wait_until() { # SECONDS COMMAND...
	t=$(($1 * 5)); shift
	while ! "$@" 2>/dev/null; do
		[ "$t" -le 0 ] && return 1
		sleep 0.2; t=$((t - 1))
	done
}
# usb_event ACTION N: the Nth device-changed usb event with ACTION so far
# (after line BASE of the stream)
BASE=0
usb_event() { tail -n +$((BASE + 1)) "$EV" | grep '"type":"device-changed"' | grep '"kind":"usb"' |
	grep "\"action\":\"$1\"" | sed -n "${2}p"; }
has_event() { [ -n "$(usb_event "$1" "$2")" ]; }
# field KEY LINE: a scalar member of a one-line JSON text (first match)
field() { echo "$2" | grep -o "\"$1\":\(\"[^\"]*\"\|[-0-9a-z]*\)" | head -n 1 |
	sed 's/^[^:]*://; s/^"//; s/"$//'; }
# dev_field KEY LINE: the same inside the event's "device" object
dev_field() { field "$1" "$(echo "$2" | sed 's/.*"device":{\([^}]*\)}.*/\1/')"; }
kbd_path() { # dom0's sysfs name of the keyboard
	for d in /sys/bus/usb/devices/*; do
		[ "$(cat "$d/idVendor" 2>/dev/null):$(cat "$d/idProduct" 2>/dev/null)" = $KBD ] &&
			echo "${d##*/}" && return 0
	done
	return 1
}
no_kbd() { ! kbd_path > /dev/null; }
plug() { host_request usb-add "$1" || fail "the host did not plug in $1: $HOST_ANSWER"; }
pull() { host_request usb-del "$1" || fail "the host did not pull out $1: $HOST_ANSWER"; }

atolld_start || {
	fail "atolld did not start (exit $ATOLLD_RC): $(tail -n 3 "$W/atolld.log" | tr '\n' ' ')"
	finish
}
usbevents-reader "$ATOLL_SOCKET" > "$EV" 2> "$W/reader.err" &
READER=$!
wait_until 30 grep -q READY "$W/reader.err" || fail "no event stream: $(cat "$W/reader.err")"
tail -f "$EV" 2>/dev/null | while IFS= read -r l; do echo "  event| $l"; done &
EVTAIL=$!

# 0. Without udevd (a record, not a check: docs/usb.md says why there
# should be no event), then udevd, as on any dom0 with udev.
plug hk0
wait_until 20 kbd_path || fail "dom0 does not see the keyboard plugged in (hk0)"
if wait_until 8 grep -q '"kind":"usb"' "$EV"; then
	note "without udevd: atolld did report the keyboard: $(grep '"kind":"usb"' "$EV")"
else
	note "without udevd: no event within 8 s of dom0 seeing the keyboard (libusb listens to udevd)"
fi
pull hk0
wait_until 20 no_kbd || fail "dom0 still sees hk0 after device_del"
sleep 2
mkdir -p /run/udev
/lib/systemd/systemd-udevd --daemon --resolve-names=never 2>> "$W/udevd.log" ||
	fail "systemd-udevd did not start: $(tail -n 3 "$W/udevd.log" | tr '\n' ' ')"
sleep 1
BASE=$(wc -l < "$EV")   # from here on only what udevd made atolld see counts

# 1. plugged in and pulled out on the host, no domain involved
t0=$(uptime_s)
plug hk1
if wait_until 60 has_event added 1; then
	e=$(usb_event added 1)
	P1=$(dev_field path "$e") B1=$(dev_field bus "$e") A1=$(dev_field address "$e")
	ok "event after plugging in ($t0 -> $(uptime_s) s): $e"
	wait_until 10 kbd_path
	A usb-list
	[ "$(dev_field id "$e")" = $KBD ] && [ "$(dev_field product "$e")" = "QEMU USB Keyboard" ] &&
		[ "$P1" = "$(kbd_path)" ] && [ -n "$B1" ] && [ -n "$A1" ] &&
		[ "$(field domain "$e")" = null ] && [ "$(dev_field used_by "$e")" = null ] &&
		awk -v p="$P1" -v id=$KBD '$1 == p && $2 == id' "$W/a.out" | grep -q "QEMU USB Keyboard" &&
		ok "added: $KBD \"QEMU USB Keyboard\" at $P1 (bus $B1, address $A1), no domain, as usb-list shows it" ||
		fail "added event does not describe the keyboard at $(kbd_path): $e"
else
	fail "no \"added\" event after the host plugged in a keyboard (events: $(tr '\n' ' ' < "$EV"))"
fi
pull hk1
if wait_until 60 has_event removed 1; then
	e=$(usb_event removed 1)
	[ "$(dev_field id "$e")" = $KBD ] && [ "$(dev_field path "$e")" = "$P1" ] &&
		[ "$(dev_field address "$e")" = "$A1" ] && [ "$(field domain "$e")" = null ] &&
		ok "removed: the same keyboard ($P1, address $A1), no domain" ||
		fail "removed event does not match the keyboard plugged in: $e"
else
	fail "no \"removed\" event after the host pulled the keyboard out"
fi
wait_until 20 no_kbd || fail "dom0 still sees the keyboard after device_del"

# 2. attached to a running domU, then pulled out on the host
domain_json e1 usbevents '"usb_controller": true' > "$W/e1.json"
A define "$W/e1.json"
A start e1
wait_state e1 running 120 || fail "e1 did not start: state $(dom_state e1)"
plug hk2
wait_until 60 has_event added 2 || fail "no \"added\" event for the second keyboard"
wait_until 20 kbd_path
A usb-attach e1 $KBD
[ "$ARC" = 0 ] && ok "attached $KBD to e1: $(cat "$W/a.out")" ||
	fail "usb-attach e1 $KBD: exit $ARC: $(cat "$W/a.err")"
if wait_console e1 "ATOLL-UE kbd-1=[0-9]" 180; then
	ok "e1 sees the keyboard: $(tr -d '\r' < "$(console_log e1)" | grep 'ATOLL-UE kbd-1=')"
else
	fail "the attached keyboard did not show up in e1 ($(tr -d '\r' < "$(console_log e1)" | grep ATOLL-UE | tr '\n' ' '))"
fi
A usb-list
awk -v id=$KBD '$2 == id { print $4 }' "$W/a.out" | grep -qx e1 || fail "usb-list does not say e1 uses the keyboard"
VMMPID=$(cat "$ATOLL_RUN/vmm/e1.pid" 2>/dev/null)
pull hk2
if wait_until 60 has_event removed 2; then
	e=$(usb_event removed 2)
	[ "$(field domain "$e")" = e1 ] && [ "$(dev_field id "$e")" = $KBD ] &&
		ok "removed names the domain that had it: $e" ||
		fail "removed event of e1's keyboard: $e (want domain e1)"
else
	fail "no \"removed\" event after pulling out e1's keyboard"
fi
wait_console e1 "ATOLL-UE kbd-1-gone" 120 && ok "the keyboard left e1's USB bus" ||
	fail "the keyboard did not leave e1 ($(tr -d '\r' < "$(console_log e1)" | grep ATOLL-UE | tr '\n' ' '))"
A info --json e1
grep -q "$KBD" "$W/a.out" && fail "e1's status still lists $KBD: $(tr -d '\n ' < "$W/a.out" | grep -o '"usb":\[[^]]*\]')" ||
	ok "e1's status.usb no longer lists the keyboard"
A usb-list
grep -q "$KBD" "$W/a.out" && fail "usb-list still shows the keyboard" || ok "usb-list no longer shows the keyboard"
[ "$(dom_state e1)" = running ] && [ -n "$VMMPID" ] && kill -0 "$VMMPID" 2>/dev/null &&
	ok "e1 and its VMM (pid $VMMPID) keep running" ||
	fail "e1 is $(dom_state e1), VMM pid '$VMMPID' after the unplug"
grep -i "disconnect" "$ATOLL_RUN/vmm/e1.log" | sed 's/^/  vmm[e1]| /'

# 3. back again: free, and it attaches again
plug hk3
if wait_until 60 has_event added 3; then
	e=$(usb_event added 3)
	[ "$(field domain "$e")" = null ] && [ "$(dev_field used_by "$e")" = null ] &&
		ok "plugged in again: added, used by nobody: $e" || fail "added (again): $e"
else
	fail "no \"added\" event for the keyboard plugged in again"
fi
wait_until 20 kbd_path
A usb-attach e1 $KBD
[ "$ARC" = 0 ] && ok "the keyboard attaches to e1 again" ||
	fail "usb-attach e1 $KBD after the unplug: exit $ARC: $(cat "$W/a.err")"
wait_console e1 "ATOLL-UE kbd-2=[0-9]" 180 && ok "e1 sees the keyboard again" ||
	fail "the re-attached keyboard did not show up in e1"
grep '"action":"attached"' "$EV" | grep -c '"domain":"e1"' | grep -qx 2 &&
	ok "two \"attached\" events for e1" || fail "\"attached\" events for e1: $(grep -c '"action":"attached"' "$EV")"

A destroy e1
wait_state e1 shutoff 60 || fail "e1 did not stop"
kill "$READER" "$EVTAIL" 2>/dev/null
finish
