# Legacy BIOS boot with Debian's SeaBIOS (docs/uefi.md, "BIOS"): (1) an MBR
# disk with syslinux on a FAT16 partition (built on the host, bios.py) boots
# Linux to userspace through SeaBIOS's virtio-blk driver; the guest has no
# /sys/firmware/efi and SMBIOS names SeaBIOS; (2) without a bootable disk
# SeaBIOS says "No bootable device" on the serial console (sercon); (3) with
# --gpu bochs the VGA BIOS (bochs-display's ROM BAR) draws that text on the
# display, checked through SPICE on the host.
. /hwsim/lib.sh
trap '' PIPE

LIMIT=${BIOS_BOOT_LIMIT:-150}

# wait_for NAME REGEX LIMIT: until the domU serial matches or the VMM ends.
wait_for() {
	i=0
	while [ $i -lt $(($3 * 5)) ]; do
		grep -a -q "$2" "$W/$1.serial" && return 0
		kill -0 "$VMM_PID" 2>/dev/null || { grep -a -q "$2" "$W/$1.serial"; return $?; }
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

stop_vmm() {
	kill -TERM "$VMM_PID" 2>/dev/null; sleep 0.5; kill -TERM "$VMM_PID" 2>/dev/null
	vmm_wait "$1" 30
}

# ---- (1) MBR + syslinux disk -> Linux userspace ----------------------------
cp /hwsim/bios.img "$W/bios.img"
vmm_start disk --name disk --memory 384 --vcpus 2 --firmware bios --disk "path=$W/bios.img"
t0=$(uptime_s)
if wait_for disk 'ATOLL-DOMU-UP' "$LIMIT"; then
	note "disk: Linux init after $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s from VMM start"
	vmm_wait disk 90
	grep -a -q "SeaBIOS (version" "$W/disk.serial" && ok "SeaBIOS ran (its banner is on serial)" ||
		fail "no SeaBIOS banner on the serial console"
	grep -a -q "SYSLINUX" "$W/disk.serial" && ok "SeaBIOS started the disk's MBR and syslinux" ||
		fail "no SYSLINUX banner: the boot loader did not run"
	ok "the BIOS-booted disk reached Linux userspace"
	grep -a -q "ATOLL-BIOS efi=absent" "$W/disk.serial" &&
		ok "no /sys/firmware/efi in the guest: a BIOS boot" ||
		fail "the guest has /sys/firmware/efi or no step output: $(grep -a ATOLL-BIOS "$W/disk.serial" | tr '\n' ' ')"
	grep -a -q "ATOLL-BIOS vendor=SeaBIOS" "$W/disk.serial" &&
		ok "DMI bios_vendor is SeaBIOS" ||
		fail "DMI bios_vendor: $(grep -a 'ATOLL-BIOS vendor' "$W/disk.serial")"
	grep -a -q "ATOLL-BIOS product=disk" "$W/disk.serial" &&
		ok "the VMM's SMBIOS tables reached the guest through SeaBIOS (product = domain name)" ||
		fail "SMBIOS product: $(grep -a 'ATOLL-BIOS product' "$W/disk.serial")"
	grep -a -q "ATOLL-BIOS badbars=0" "$W/disk.serial" &&
		ok "every BAR SeaBIOS placed lies in the DSDT's PCI windows (Linux claims them all)" ||
		fail "Linux had to move BARs SeaBIOS placed: $(grep -a 'ATOLL-BIOS badbars' "$W/disk.serial")"
	grep -a -q "ATOLL-BIOS cpus=2" "$W/disk.serial" && ok "both vCPUs are up after SeaBIOS" ||
		fail "vCPUs: $(grep -a 'ATOLL-BIOS cpus' "$W/disk.serial")"
	if grep -a -q "ATOLL-ACPI .*DSDT.*ATOLL" "$W/disk.serial" &&
	   grep -a -q "ATOLL-ACPI .*MCFG.*ATOLL" "$W/disk.serial"; then
		ok "the guest runs on atoll-vmm's ACPI tables, placed by SeaBIOS's table loader"
	else
		fail "ACPI tables in the guest: $(grep -a ATOLL-ACPI "$W/disk.serial" | tr '\n' ' ')"
	fi
	[ "$VMM_RC" = 0 ] && ok "the guest powered off (exit 0)" || fail "BIOS disk boot: VMM exit $VMM_RC"
	grep -a ATOLL-E820 "$W/disk.serial" | head -12
else
	fail "the MBR/syslinux disk did not boot Linux within $LIMIT s"
	stop_vmm disk
	tail -c 3000 "$W/disk.serial" | tr -d '\033' | sed 's/^/  disk| /'
fi

# ---- (2) nothing bootable --------------------------------------------------
vmm_start none --name none --memory 256 --firmware bios
t0=$(uptime_s)
if wait_for none 'No bootable device' 90; then
	ok "without a bootable disk SeaBIOS says 'No bootable device' on serial"
	note "none: 'No bootable device' after $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s"
else
	fail "no 'No bootable device' on serial within 90 s"
	tail -c 2000 "$W/none.serial" | tr -d '\033' | sed 's/^/  none| /'
fi
stop_vmm none

# ---- (3) the VGA BIOS on bochs-display, seen through SPICE ------------------
vmm_start vga --name vga --memory 256 --firmware bios --gpu bochs --spice "unix:$W/vga.spice"
if wait_for vga 'No bootable device' 90; then
	rm -f "$W/c.in"; mkfifo "$W/c.in"
	# The client's shell opens c.out only once the FIFO has a writer:
	# create it first so ask() never counts lines of a missing file.
	: > "$W/c.out"; : > "$W/c.err"
	/usr/local/bin/spice-test-client --timeout-ms 30000 --unix "$W/vga.spice" < "$W/c.in" > "$W/c.out" 2> "$W/c.err" &
	CPID=$!
	exec 8> "$W/c.in"
	ask() { # one command, one answer line
		n=$(wc -l < "$W/c.out"); echo "$*" >&8; i=0
		while [ "$(wc -l < "$W/c.out")" -le "$n" ] && [ $i -lt 450 ] && kill -0 $CPID 2>/dev/null; do
			sleep 0.1; i=$((i + 1)); done
		A=$(sed -n "$((n + 1))p" "$W/c.out"); echo "HWSIM: spice: $* -> $A"
		case "$A" in ok*) return 0 ;; esac; return 1
	}
	if ask wait-primary && sleep 1 && ask dump "$W/vga.ppm"; then
		gzip -c "$W/vga.ppm" | base64 | tr -d '\n' | fold -w 3000 | sed 's/^/HWSIM: SHOT /'
		echo
		if host_request bios-shot; then
			ok "the VGA BIOS (vgabios-bochs-display) drew SeaBIOS's text on the display: $HOST_ANSWER"
		else
			fail "SPICE screenshot of the BIOS screen: $HOST_ANSWER"
		fi
	else
		fail "no BIOS screen through SPICE ($(tail -3 "$W/c.err"))"
	fi
	echo quit >&8; exec 8>&-
	wait $CPID 2>/dev/null
else
	fail "with --gpu bochs SeaBIOS did not reach 'No bootable device' on serial"
fi
stop_vmm vga

finish
