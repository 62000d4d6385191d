# boot: an unmodified Debian kernel boots to the domU's init, prints the
# marker on the emulated 16550A, powers off; atoll-vmm exits 0.
. /hwsim/lib.sh

vmm_run boot 180 --name boot --memory 256 --vcpus 1 \
	--kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline boot)" --serial stdio
expect_marker boot 1 || finish
expect_rc boot 0
up=$(serial_value boot uptime)
[ -n "$up" ] && note "boot: domU reached init at guest uptime $up s"
finish
