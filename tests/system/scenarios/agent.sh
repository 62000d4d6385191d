# The SPICE agent channel end to end (docs/spice.md): the domU's Linux
# virtio_console driver finds the MULTIPORT port com.redhat.spice.0 (and
# hvc0 on port 0, the --console file), a
# minimal guest agent (domu-progs/vdagent-probe.c) speaks VDAgent on it, and
# spice-test-client (spice-client-glib) in dom0, on the VMM's unix socket,
# sees the agent's capabilities and clipboard grab, while its window size
# and its own clipboard grab reach the guest agent as VDAgent messages.
. /hwsim/lib.sh
trap '' PIPE

CLIENT_WAIT_MS=30000          # one waiting client command, under TCG

. /hwsim/spice-client.sh

expect_domu() {
	if wait_serial d "$1" 60; then
		ok "$2"
	else
		fail "$2: no line '$1' on the domU console (last: $(tail -n 3 "$W/d.serial" | tr -d '\r' | tr '\n' '|'))"
	fi
}

give_up() {
	kill -TERM "$VMM_PID" 2>/dev/null
	vmm_wait d 60
	finish
}

SOCK=$W/agent.spice
vmm_start d --memory 256 --kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline agent)" --spice "unix:$SOCK" --console "file:$W/hvc0.out"
if ! wait_serial d '^ATOLL-AGENT-READY' 240; then
	fail "the domU agent did not open com.redhat.spice.0 (last: $(tail -n 5 "$W/d.serial" | tr -d '\r' | tr '\n' '|'); stderr: $(head -c 400 "$W/d.err" | tr '\n' '|'))"
	give_up
fi
if grep -q ATOLL-HVC0-HELLO "$W/hvc0.out" 2>/dev/null; then
	ok "port 0 is still the console: the domU's /dev/hvc0 output reached --console file:"
else
	fail "the domU's hvc0 output did not reach the console file (domU: $(tr -d '\r' < "$W/d.serial" | grep -E 'HVC0' | tr '\n' '|'))"
fi
PORTLINE=$(tr -d '\r' < "$W/d.serial" | grep -E '^ATOLL-AGENT-SYSFS .*name=com.redhat.spice.0' | head -n 1)
DEV=$(tr -d '\r' < "$W/d.serial" | grep '^ATOLL-AGENT-READY' | head -n 1 | cut -d' ' -f2)
ok "the domU's virtio_console found ${PORTLINE#ATOLL-AGENT-SYSFS } and opened $DEV"
i=0
until grep -q 'spice: guest agent connected' "$W/d.err" || [ $i -ge 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
grep -q 'spice: guest agent connected' "$W/d.err" &&
	ok "atoll-vmm plugged the guest agent into SPICE when the domU opened the port" ||
	fail "atoll-vmm did not report the guest agent (stderr: $(tr '\n' '|' < "$W/d.err" | cut -c1-400))"

client_start a --unix "$SOCK"
# 1. guest -> client: the agent's capabilities and clipboard grab
if client_cmd wait-agent clipboard; then
	ok "the client sees the guest agent with clipboard support (its ANNOUNCE_CAPABILITIES crossed)"
else
	fail "the client never saw the guest agent's clipboard capability: $CLIENT_ANSWER"
	client_stop
	give_up
fi
expect_domu '^ATOLL-AGENT-CAPS request=1' "the client's ANNOUNCE_CAPABILITIES reached the guest agent"
if client_cmd expect-grab && [ "$CLIENT_ANSWER" = "ok selection=0 types=1" ]; then
	ok "the guest agent's CLIPBOARD_GRAB (CLIPBOARD, UTF-8 text) reached the client"
else
	fail "the client did not get the guest's clipboard grab: $CLIENT_ANSWER"
fi

# 2. client -> guest: window size and the client's clipboard grab
client_cmd resize 1024 768 || fail "the client could not send a monitor config: $CLIENT_ANSWER"
expect_domu '^ATOLL-AGENT-MONITORS n=[0-9]+ 1024x768' "the client's window size reached the guest agent as MONITORS_CONFIG 1024x768"
client_cmd clipboard-grab || fail "the client could not grab: $CLIENT_ANSWER"
expect_domu '^ATOLL-AGENT-GRAB selection=0 types=1' "the client's CLIPBOARD_GRAB reached the guest agent"
client_stop

note "domU agent lines: $(tr -d '\r' < "$W/d.serial" | grep -E '^ATOLL-AGENT' | tr '\n' ' ')"
kill -TERM "$VMM_PID" 2>/dev/null
vmm_wait d 120
finish
