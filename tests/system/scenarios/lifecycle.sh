# lifecycle: poweroff, reboot (destroy / restart), SIGTERM -> ACPI power
# button -> clean poweroff, and the forced stop when the domU ignores it.
. /hwsim/lib.sh

common() { # the arguments every run here shares
	echo --memory 128 --vcpus 1 --kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
		--serial stdio
}
elapsed() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }'; }

# 1. poweroff -> 0, and the VMM says why it stopped.
vmm_run poweroff 180 --name poweroff $(common) --cmdline "$(domu_cmdline poweroff)"
expect_marker poweroff 1
expect_rc poweroff 0
grep -qiE 'power|shut ?down|halt' "$W/poweroff.err" &&
	ok "poweroff: atoll-vmm reported the poweroff: $(grep -iE 'power|shut ?down|halt' "$W/poweroff.err" | head -n 1)" ||
	fail "poweroff: atoll-vmm printed no message about the domU powering off on stderr"

# 2. reboot with on_reboot=destroy -> 2, booted once.
vmm_run rebootd 180 --name rebootd $(common) --cmdline "$(domu_cmdline reboot)" \
	--on-reboot destroy
expect_marker rebootd 1
expect_rc rebootd 2

# 3. reboot with on_reboot=restart -> boots again; the second boot powers
#    off (vda carries the "already rebooted" mark) -> 0.
truncate -s 1M "$W/state.img"
vmm_run rebootr 300 --name rebootr $(common) --cmdline "$(domu_cmdline reboot-once)" \
	--on-reboot restart --disk "path=$W/state.img"
expect_marker rebootr 2
[ "$(serial_count rebootr '^ATOLL-REBOOT second boot')" = 1 ] &&
	ok "rebootr: the restarted domU ran its second boot" ||
	fail "rebootr: no second boot after the domU rebooted with on_reboot=restart"
expect_rc rebootr 0

# 4. SIGTERM -> the domU gets the ACPI power button and powers off -> 0.
vmm_start button --name button $(common) --cmdline "$(domu_cmdline button)" \
	--shutdown-timeout 60
if wait_serial button '^ATOLL-(WAITING|NO-POWER-BUTTON)' 180; then
	grep -q '^ATOLL-NO-POWER-BUTTON' "$W/button.serial" &&
		fail "button: the domU has no ACPI 'Power Button' input device (FADT fixed power button missing?)"
	t0=$(uptime_s)
	kill -TERM "$VMM_PID"
	vmm_wait button 90
	expect_rc button 0
	grep -q '^ATOLL-POWER-BUTTON pressed' "$W/button.serial" &&
		ok "button: the domU saw the power button $(elapsed "$t0") s after SIGTERM" ||
		fail "button: the domU never saw a power-button press after SIGTERM"
else
	fail "button: the domU did not reach its init"
	vmm_wait button 1
fi

# 5. the domU ignores the button: forced off after --shutdown-timeout -> 4.
vmm_start ignore --name ignore $(common) --cmdline "$(domu_cmdline ignore)" \
	--shutdown-timeout 3
if wait_serial ignore '^ATOLL-WAITING' 180; then
	t0=$(uptime_s)
	kill -TERM "$VMM_PID"
	vmm_wait ignore 60
	took=$(elapsed "$t0")
	expect_rc ignore 4
	if awk -v t="$took" 'BEGIN { exit !(t >= 2.5 && t < 20) }'; then
		ok "ignore: forced off $took s after SIGTERM (--shutdown-timeout 3)"
	else
		fail "ignore: atoll-vmm stopped $took s after SIGTERM, expected about 3 s (--shutdown-timeout 3)"
	fi
else
	fail "ignore: the domU did not reach its init"
	vmm_wait ignore 1
fi
finish
