# libvirt: a real libvirtd (network driver, dnsmasq, iptables-nft) in dom0
# runs network "default" (virbr0, 192.168.122.0/24 — inside dom0 only);
# atolld uses it: a domain's NIC on "default" is a tap on virbr0, the domU
# gets a DHCP lease from libvirt's dnsmasq and pings virbr0's address, and
# the tap is gone once the domain stops.
. /hwsim/lib.sh
. /hwsim/toolstack.sh

LV_URI=network:///system     # the monolithic libvirtd serves it with the network driver only
export ATOLL_LIBVIRT_URI=$LV_URI
MAC=52:54:00:a7:02:01
TAP=atl-lvnet-0

virsh_() {
	virsh -c "$LV_URI" "$@" > "$W/virsh.out" 2>&1
	rc=$?
	echo "HWSIM: [$(uptime_s)] \$ virsh $* -> $rc"
	sed 's/^/  | /' "$W/virsh.out"
	return $rc
}

# 1. libvirtd and network "default" (libvirt's own default.xml: NAT).
mkdir -p /run/libvirt
libvirtd --config /etc/libvirt/libvirtd.conf > "$W/libvirtd.log" 2>&1 &
LIBVIRTD_PID=$!
i=0
while [ ! -S /run/libvirt/libvirt-sock ] && [ $i -lt 120 ]; do
	kill -0 $LIBVIRTD_PID 2>/dev/null || break
	sleep 0.5; i=$((i + 1))
done
if [ ! -S /run/libvirt/libvirt-sock ]; then
	fail "libvirtd did not create /run/libvirt/libvirt-sock: $(tail -n 5 "$W/libvirtd.log" | tr '\n' ' ')"
	finish
fi
ok "libvirtd (pid $LIBVIRTD_PID) is up"
virsh_ net-define /usr/share/libvirt/networks/default.xml ||
	fail "virsh net-define default.xml failed: $(cat "$W/virsh.out")"
if virsh_ net-start default; then
	ok "network default started with libvirt's NAT rules"
else
	fail "virsh net-start default (forward mode nat) failed: $(tr '\n' ' ' < "$W/virsh.out")"
	sed 's/^/  libvirtd| /' "$W/libvirtd.log" | tail -n 30
	finish
fi
ip -4 addr show dev virbr0 | grep -q 'inet 192.168.122.1/24' &&
	ok "virbr0 has 192.168.122.1/24" ||
	fail "virbr0 has no 192.168.122.1/24: $(ip -4 addr show dev virbr0 2>&1 | tr '\n' ' ')"
pidof dnsmasq > /dev/null && ok "libvirt's dnsmasq runs (pid $(pidof dnsmasq))" ||
	fail "no dnsmasq process after net-start (DHCP cannot work)"
iptables-save -t nat 2>/dev/null | grep -q 'MASQUERADE' &&
	ok "libvirt installed its NAT rules: $(iptables-save -t nat | grep -c MASQUERADE) MASQUERADE rule(s)" ||
	fail "no MASQUERADE rule in the nat table after net-start"

# 2. atolld on libvirt.
atolld_start || {
	fail "atolld did not start (exit $ATOLLD_RC): $(tail -n 3 "$W/atolld.log" | tr '\n' ' ')"
	finish
}
# 3. A domain with a NIC on "default": DHCP from dnsmasq, ping to virbr0.
#    Its start is this atolld's first use of libvirt (no /v1/networks call
#    before it): atolld must connect on demand.
domain_json lvnet dhcp "\"nics\": [{\"type\": \"network\", \"network\": \"default\", \"mac\": \"$MAC\"}]" > "$W/lvnet.json"
A define "$W/lvnet.json" || fail "atoll define lvnet.json exited $ARC: $(cat "$W/a.err")"
A start lvnet || { fail "atoll start lvnet exited $ARC: $(cat "$W/a.err")"; finish; }
wait_state lvnet running 60 || fail "lvnet: state '$(dom_state lvnet)' 60 s after start, expected running"
[ -e "/sys/class/net/virbr0/brif/$TAP" ] &&
	ok "tap $TAP is a port of virbr0" ||
	fail "tap $TAP is not on virbr0 (ports: $(ls /sys/class/net/virbr0/brif 2>&1 | tr '\n' ' '))"
if wait_console lvnet '^ATOLL-CONSOLE-READY' 300; then
	tr -d '\r' < "$(console_log lvnet)" | grep -E '^ATOLL-(DHCP|NET)' | sed 's/^/  domU[lvnet]| /'
	lease=$(tr -d '\r' < "$(console_log lvnet)" | sed -n 's/^ATOLL-DHCP ip=\([0-9.]*\) .*router=\([0-9.]*\).*/\1 \2/p' | head -n 1)
	set -- $lease
	case "$1" in
	192.168.122.*) ok "lvnet: DHCP lease $1 from libvirt's dnsmasq, router $2" ;;
	*) fail "lvnet: no DHCP lease in 192.168.122.0/24 (domU said: $(tr -d '\r' < "$(console_log lvnet)" | grep '^ATOLL-DHCP' | tr '\n' ' '))" ;;
	esac
	[ "$2" = 192.168.122.1 ] || fail "lvnet: DHCP router is '$2', expected virbr0's 192.168.122.1"
	[ "$(tr -d '\r' < "$(console_log lvnet)" | grep -o 'ping-rc=[0-9]*' | head -n 1)" = ping-rc=0 ] &&
		ok "lvnet: the domU pinged virbr0 (192.168.122.1)" ||
		fail "lvnet: ping from the domU to 192.168.122.1 failed ($(tr -d '\r' < "$(console_log lvnet)" | grep -o 'ping-rc=[0-9]*'))"
	if [ -n "$1" ] && ping -c 2 -w 20 "$1" > "$W/ping.out" 2>&1; then
		ok "dom0 pinged the domU at $1 over virbr0"
	else
		fail "dom0 cannot ping the domU at '$1': $(tail -n 2 "$W/ping.out" | tr '\n' ' ')"
	fi
	grep -qi "$MAC" /var/lib/libvirt/dnsmasq/virbr0.status 2>/dev/null &&
		ok "libvirt recorded the lease of $MAC (virbr0.status)" ||
		fail "libvirt's lease file /var/lib/libvirt/dnsmasq/virbr0.status does not list $MAC: $(cat /var/lib/libvirt/dnsmasq/virbr0.status 2>&1 | tr '\n' ' ')"
else
	fail "lvnet: the domU did not reach its console step: $(tail -n 3 "$(console_log lvnet)" | tr -d '\r' | tr '\n' '|')"
fi

A network-list
row=$(awk '$1 == "default"' "$W/a.out")
set -- $row
[ $ARC = 0 ] && [ "$2" = virbr0 ] && [ "$3" = yes ] && [ "$4" = nat ] &&
	[ "$5" = 192.168.122.1/24 ] && [ "$6" = 192.168.122.2-192.168.122.254 ] &&
	ok "network-list: $row" ||
	fail "network-list exited $ARC; row of default is '$row', expected default virbr0 yes nat 192.168.122.1/24 192.168.122.2-192.168.122.254"

# 4. An xl.cfg vif on bridge=virbr0 maps to network "default" (atoll asks
# atolld for the networks).
cat > "$W/xlnet.cfg" <<EOF
name = "xlnet"
memory = 128
vcpus = 1
kernel = "$DOMU_KERNEL"
vif = [ 'mac=52:54:00:A7:02:02,bridge=virbr0,model=virtio' ]
EOF
A define "$W/xlnet.cfg"
A info --json xlnet
[ "$(json_first network)" = default ] && [ "$(json_first mac)" = 52:54:00:a7:02:02 ] &&
	ok "xl.cfg vif bridge=virbr0 became a NIC on network default" ||
	fail "xl.cfg vif bridge=virbr0: NIC network '$(json_first network)', mac '$(json_first mac)'; expected default, 52:54:00:a7:02:02"

# 5. Stop it: the tap goes away.
A shutdown -w lvnet
[ $ARC = 0 ] && ok "lvnet: shut down" || fail "lvnet: atoll shutdown -w exited $ARC: $(cat "$W/a.err")"
i=0
while [ -e "/sys/class/net/$TAP" ] && [ $i -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
[ -e "/sys/class/net/$TAP" ] && fail "tap $TAP still exists after lvnet stopped" ||
	ok "tap $TAP was removed when lvnet stopped"

kill $LIBVIRTD_PID 2>/dev/null
finish
