# SPICE console end to end (docs/spice.md): a domU draws a test pattern on
# virtio-gpu (domu-progs/display-pattern.c), atoll-vmm serves it over SPICE
# on TCP with a ticket, and spice-test-client (spice-client-glib) in dom0
# checks the pixels, sends keys and clicks the domU prints from evdev, asks
# for other window sizes; a wrong ticket is refused, a client killed while
# frames flow leaves the VM running; remote-viewer and atoll-viewer on the
# host (display.py, over a forwarded port) show the pattern.  A second domU
# then serves SPICE on a unix socket, the way atolld runs it.
. /hwsim/lib.sh
# a client that died must not take this script with it (writes to its FIFO)
trap '' PIPE

TICKET="hwsim-$(cat /proc/sys/kernel/random/uuid | cut -c1-8)"
CLIENT_WAIT_MS=30000          # one waiting client command, under TCG

# The pattern (display-pattern.c): quadrants red, green, blue, amber; a white
# 1-pixel frame; a 32x32 magenta square in the middle.
RED=ff0000 GREEN=00ff00 BLUE=0000ff AMBER=ffc000 WHITE=ffffff MAGENTA=ff00ff

. /hwsim/spice-client.sh

answer_value() { echo "$CLIENT_ANSWER" | grep -oE "$1=[0-9]+" | cut -d= -f2; }

# expect_pixels LABEL W H: the pattern's pixels at a W x H screen, exactly.
expect_pixels() {
	label=$1 w=$2 h=$3 bad=0
	hw=$((w / 2)) hh=$((h / 2))
	for spec in "$((w / 4)) $((h / 4)) $RED" "$((3 * w / 4)) $((h / 4)) $GREEN" \
		"$((w / 4)) $((3 * h / 4)) $BLUE" "$((3 * w / 4)) $((3 * h / 4)) $AMBER" \
		"$((hw - 1)) 5 $RED" "$hw 5 $GREEN" "5 $((hh - 1)) $RED" "5 $hh $BLUE" \
		"0 0 $WHITE" "$((w - 1)) $((h - 1)) $WHITE" "$((hw - 16)) $((hh - 16)) $MAGENTA" \
		"$((hw + 15)) $((hh + 15)) $MAGENTA" "$((hw - 17)) $((hh - 17)) $RED"; do
		client_cmd expect-pixel $spec || {
			fail "$label: pixel ($(echo "$spec" | cut -d' ' -f1,2)) should be $(echo "$spec" | cut -d' ' -f3): $CLIENT_ANSWER"
			bad=1
		}
	done
	[ $bad = 0 ] && ok "$label: the client received the domU's ${w}x${h} pattern (13 pixels exact, quadrant edges included)"
}

# expect_domu REGEX WHAT: domU $DOM printed a line matching REGEX.
DOM=d
expect_domu() {
	if wait_serial "$DOM" "$1" 30; then
		ok "$2"
	else
		fail "$2: no line '$1' on the domU console (last: $(tail -n 3 "$W/$DOM.serial" | tr -d '\r' | tr '\n' '|'))"
	fi
}

vmm_alive() { kill -0 "$VMM_PID" 2>/dev/null; }

# give_up: nothing further can be checked; stop the domU and report.
give_up() {
	kill -TERM "$VMM_PID" 2>/dev/null
	vmm_wait "$DOM" 60
	finish
}

# ---- dom0's NIC: the host forwards a port to 10.0.2.15:5900 ----
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 ||
	fail "no eth0 in dom0 for the host's port forward (virtio_net)"

vmm_start d --memory 256 --kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline display)" --gpu virtio \
	--spice "tcp:0.0.0.0:5900,password=$TICKET"
if ! wait_serial d '^ATOLL-DISPLAY-READY' 240; then
	fail "the domU did not draw its pattern (last: $(tail -n 5 "$W/d.serial" | tr -d '\r' | tr '\n' '|'); stderr: $(head -c 400 "$W/d.err" | tr '\n' '|'))"
	give_up
fi
note "VMM stderr so far: $(tr '\n' '|' < "$W/d.err")"
note "domU: $(grep -E '^ATOLL-(PATTERN|INPUT)' "$W/d.serial" | tr -d '\r' | tr '\n' ' ')"
grep -q 'name=Atoll_Virtio_Keyboard' "$W/d.serial" && grep -q 'name=Atoll_Virtio_Tablet' "$W/d.serial" ||
	fail "the domU has no Atoll virtio keyboard and tablet under /dev/input"

# ---- 1. pixels ----
client_start a --host 127.0.0.1 --port 5900 --password "$TICKET"
if client_cmd wait-primary; then
	set -- $CLIENT_ANSWER
	SW=$2 SH=$3
	ok "SPICE client connected with the ticket: primary surface ${SW}x${SH}"
	expect_pixels "initial mode" "$SW" "$SH"
else
	fail "the SPICE client got no primary surface: $CLIENT_ANSWER"
	give_up
fi

# ---- 2. keys and clicks reach the domU's evdev ----
client_cmd key 0x1e          # A
client_cmd key 0x148         # E0 48: Up
expect_domu '^ATOLL-KEY code=30 value=1 dev=Atoll_Virtio_Keyboard' "key A pressed reached the domU's virtio keyboard"
expect_domu '^ATOLL-KEY code=30 value=0 dev=Atoll_Virtio_Keyboard' "key A released reached the domU"
expect_domu '^ATOLL-KEY code=103 value=1 dev=Atoll_Virtio_Keyboard' "extended key Up (E0 48) reached the domU as KEY_UP"
client_cmd click $((SW / 2)) $((SH / 4)) 1
client_cmd click $((SW / 4)) $((3 * SH / 4)) 3
client_cmd scroll up
expect_domu '^ATOLL-BTN code=272 value=1 ' "left click reached the domU's virtio tablet (BTN_LEFT)"
expect_domu '^ATOLL-BTN code=273 value=1 ' "right click reached the domU (BTN_RIGHT)"
expect_domu '^ATOLL-WHEEL value=1 ' "wheel up reached the domU (REL_WHEEL +1)"
# positions: 0..0x7fff over the surface
check_pos() {
	line=$(tr -d '\r' < "$W/d.serial" | grep -E "^ATOLL-BTN code=$1 value=1 " | head -n 1)
	x=$(echo "$line" | sed -n 's/.* x=\([0-9]*\).*/\1/p')
	y=$(echo "$line" | sed -n 's/.* y=\([0-9]*\).*/\1/p')
	ex=$(($2 * 32767 / (SW - 1))) ey=$(($3 * 32767 / (SH - 1)))
	if [ -n "$x" ] && [ $((x - ex)) -le 64 ] && [ $((ex - x)) -le 64 ] &&
	   [ $((y - ey)) -le 64 ] && [ $((ey - y)) -le 64 ]; then
		ok "click at ($2,$3) arrived at tablet ($x,$y), expected about ($ex,$ey)"
	else
		fail "click at ($2,$3) arrived at tablet ($x,$y), expected about ($ex,$ey) of 0..32767"
	fi
}
check_pos 272 $((SW / 2)) $((SH / 4))
check_pos 273 $((SW / 4)) $((3 * SH / 4))

# ---- 3. the client's window size becomes the domU's mode ----
resize_to() {
	i=0
	# the server takes monitor configs once its agent is attached
	until client_cmd resize "$1" "$2"; do
		i=$((i + 1))
		[ $i -ge 10 ] && break
		sleep 1
	done
	expect_domu "^ATOLL-MODE $1x$2 sysfs=$1x$2" "client asked for $1x$2: the domU's DRM connector prefers $1x$2 (sysfs modes too) and it switched"
	if client_cmd wait-primary "$1" "$2"; then
		ok "the client's primary surface followed to $1x$2"
		expect_pixels "after resize to $1x$2" "$1" "$2"
	else
		fail "the client's surface did not become $1x$2: $CLIENT_ANSWER"
	fi
}
resize_to 1024 768
resize_to 1280 800
SW=1280 SH=800

# ---- figures: guest framebuffer write -> client invalidate ----
# A key makes the domU fill the whole screen; the time runs from sending the
# key (so it includes the input path into the guest) to the invalidate that
# brought the first and the last pixel; bytes are the display channel's.
figure() {   # figure KEY WHAT COLOUR
	client_cmd stats; b0=$(answer_value bytes)
	client_cmd now; t0=$(answer_value t_ns)
	client_cmd key "$1"
	client_cmd expect-pixel 0 0 "$3" && t1=$(answer_value t_ns)
	client_cmd expect-pixel $((SW - 1)) $((SH - 1)) "$3" && t2=$(answer_value t_ns) &&
		b2=$(answer_value bytes) &&
		note "figure: full-screen $2 change ${SW}x${SH}, key -> first pixel $(( (t1 - t0) / 1000000 )) ms, -> last pixel $(( (t2 - t0) / 1000000 )) ms, $((b2 - b0)) bytes on the display channel ($LINK)"
}
LINK=TCP
if [ "$FAILS" -eq 0 ]; then
	figure 0x3c flat 3060a0      # F2
	figure 0x3d noise 010203     # F3
	client_cmd key 0x3e          # F4: the pattern again
	expect_domu '^ATOLL-PATTERN 1280x800' "domU redrew the pattern"
fi

# ---- 5b. a client killed while frames flow ----
n0=$(serial_count d '^ATOLL-ANIM start')
client_cmd stats; inv0=$(answer_value invalidates)
client_cmd key 0x58          # F12: 4 s of full-screen frames
if wait_serial d '^ATOLL-ANIM start' 60; then
	i=0
	while [ $i -lt 50 ]; do   # until updates are arriving
		client_cmd stats; [ "$(answer_value invalidates)" -gt "$((inv0 + 2))" ] && break
		sleep 0.1; i=$((i + 1))
	done
	kill -KILL "$CLIENT_PID"
	wait "$CLIENT_PID" 2>/dev/null
	exec 8>&-
	note "killed client a (-9) after $(answer_value invalidates) invalidates, while the domU animates"
	sleep 1
	vmm_alive && ok "atoll-vmm still runs after a client was killed mid-frame" ||
		fail "atoll-vmm died when a client was killed mid-frame (stderr: $(tail -c 400 "$W/d.err" | tr '\n' '|'))"
	expect_domu '^ATOLL-ANIM done frames=' "the domU kept drawing after the client was killed"
else
	fail "the domU did not start animating on F12"
fi

# ---- 5a. a wrong ticket is refused ----
client_start bad --host 127.0.0.1 --port 5900 --password "not-$TICKET"
client_cmd wait-primary
case "$CLIENT_ANSWER" in
"error disconnected"*) ok "a client with a wrong ticket was refused ($CLIENT_ANSWER)" ;;
*) fail "a client with a wrong ticket was not refused: '$CLIENT_ANSWER'" ;;
esac
client_stop

# ---- the VM still answers: a new client sees the pattern, types a key ----
client_start b --host 10.0.2.15 --port 5900 --password "$TICKET"
if client_cmd wait-primary 1280 800; then
	expect_pixels "new client after the kill" 1280 800
	client_cmd key 0x1f      # S
	expect_domu '^ATOLL-KEY code=31 value=1 dev=Atoll_Virtio_Keyboard' "the domU still answers: key S from a new client"
else
	fail "a new client got no 1280x800 surface after the kill: $CLIENT_ANSWER"
fi
client_stop

# ---- 4. interop on the host: remote-viewer, atoll-viewer under Xvfb ----
for viewer in remote-viewer atoll-viewer; do
	if HOST_TIMEOUT=150 host_request $viewer 5900 "$TICKET"; then
		ok "$viewer on the host: $HOST_ANSWER"
	else
		fail "$viewer on the host: ${HOST_ANSWER:-no answer}"
	fi
	vmm_alive || fail "atoll-vmm died while $viewer was connected"
done

# ---- end: SIGTERM -> power button -> poweroff ----
kill -TERM "$VMM_PID"
vmm_wait d 90
expect_rc d 0

# ---- 6. the unix socket atolld gives the VMM (no ticket: mode 0600) ----
DOM=u LINK="unix socket"
mkdir -p /run/atoll
vmm_start u --memory 256 --kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline display)" --gpu virtio --spice unix:/run/atoll/u.spice
wait_serial u '^ATOLL-DISPLAY-READY' 240 ||
	fail "the second domU did not draw its pattern (last: $(tail -n 5 "$W/u.serial" | tr -d '\r' | tr '\n' '|'); stderr: $(head -c 400 "$W/u.err" | tr '\n' '|'))"
mode=$(stat -c %a /run/atoll/u.spice 2>/dev/null)
[ "$mode" = 600 ] && ok "unix socket /run/atoll/u.spice has mode 0600" ||
	fail "unix socket /run/atoll/u.spice has mode '$mode', expected 600"
client_start c --unix /run/atoll/u.spice
if client_cmd wait-primary; then
	set -- $CLIENT_ANSWER
	SW=$2 SH=$3
	expect_pixels "unix socket" "$SW" "$SH"
	client_cmd key 0x30      # B
	expect_domu '^ATOLL-KEY code=48 value=1 dev=Atoll_Virtio_Keyboard' "key B over the unix socket reached the domU"
	[ "$FAILS" -eq 0 ] && figure 0x3c flat 3060a0
else
	fail "no primary surface over the unix socket: $CLIENT_ANSWER"
fi
client_stop
kill -TERM "$VMM_PID"
vmm_wait u 90
expect_rc u 0
[ -e /run/atoll/u.spice ] && fail "atoll-vmm left its socket /run/atoll/u.spice behind"
finish
