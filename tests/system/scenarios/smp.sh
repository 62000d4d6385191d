# smp: with --vcpus 2 the domU brings both CPUs online.
. /hwsim/lib.sh

vmm_run smp 240 --name smp --memory 256 --vcpus 2 \
	--kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline smp)" --serial stdio
expect_marker smp 1 || finish
online=$(serial_value smp online)
nproc=$(serial_value smp nproc)
if [ "$online" = "0-1" ] && [ "$nproc" = 2 ]; then
	ok "smp: domU sees CPUs $online online"
else
	fail "smp: domU sees online CPUs '$online' (nproc '$nproc'), expected 0-1 (2)"
fi
expect_rc smp 0
finish
