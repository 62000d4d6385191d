# manager: atoll-manager on the host shows a domain that runs here.  atolld
# (run directory from manager.py, unique to the run) runs `gfx`, a domU with
# a SPICE console drawing the display test pattern; manager-relay exposes
# atolld's socket and gfx's SPICE socket on TCP 7000/7001, which the outer
# QEMU forwards to the host; the host side (manager.py) runs the manager's
# window against them and checks the pattern in its console tab and list
# thumbnail (docs/manager.md).
. /hwsim/lib.sh
. /hwsim/toolstack.sh
. /hwsim/manager.env

ATOLL_RUN=$MGR_RUN
export ATOLL_SOCKET=$ATOLL_RUN/atolld.sock
mkdir -p "$ATOLL_RUN"

ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 ||
	{ fail "manager: dom0's NIC did not come up"; finish; }

atolld_start || {
	fail "atolld did not start (exit $ATOLLD_RC): $(tail -n 3 "$W/atolld.log" | tr '\n' ' ')"
	finish
}
domain_json gfx display '"graphics": {"type": "spice"}, "label": "#e01b24"' > "$W/gfx.json"
A define "$W/gfx.json" || { fail "atoll define gfx exited $ARC: $(cat "$W/a.err")"; finish; }
A start gfx || { fail "atoll start gfx exited $ARC: $(cat "$W/a.err")"; finish; }

# atolld reports the console once the VMM answered on its control socket.
uri=
i=0
while [ $i -lt 600 ]; do
	A spice-uri gfx > /dev/null 2>&1 && uri=$(cat "$W/a.out") && [ -n "$uri" ] && break
	sleep 0.5
	i=$((i + 1))
done
path=${uri#spice+unix://}
[ -S "$path" ] && ok "gfx runs with its SPICE console at $path" ||
	{ fail "no SPICE socket for gfx (atoll spice-uri: '$uri')"; finish; }

manager-relay 7000 "$ATOLL_SOCKET" 2> "$W/relay-api.log" &
manager-relay 7001 "$path" 2> "$W/relay-spice.log" &
sleep 1

# The host side waits up to 5 min per step (TCG: the domU draws late).
if HOST_TIMEOUT=1500 host_request manager-shot gfx "$path"; then
	ok "$HOST_ANSWER"
else
	fail "the manager did not show gfx's screen: $HOST_ANSWER"
fi
A destroy gfx
finish
