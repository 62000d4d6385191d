# blk: virtio-blk reads (content hash, serial), writes (seen by dom0 after
# the VMM exits) and read-only disks (refused, content unchanged).
. /hwsim/lib.sh

A=$W/a.img B=$W/b.img C=$W/c.img
# 8 MiB of known, varied content: the kernel image, zero-padded to 8 MiB
dd if="$DOMU_KERNEL" of="$A" bs=1M count=8 2>/dev/null
truncate -s 8M "$A"
truncate -s 8M "$B"
dd if="$DOMU_KERNEL" of="$C" bs=1M skip=1 count=4 2>/dev/null
a_sum=$(sha256sum "$A" | cut -d' ' -f1)
c_sum=$(sha256sum "$C" | cut -d' ' -f1)
b_first=$(dd if="$A" bs=65536 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
zero_sum=$(dd if=/dev/zero bs=65536 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)

vmm_run blk 240 --name blk --memory 256 --vcpus 1 \
	--kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline blk)" --serial stdio \
	--disk "path=$A,serial=hwsim-vda-0001" \
	--disk "path=$B" \
	--disk "path=$C,readonly=on"
expect_marker blk 1 || finish
expect_rc blk 0

v=$(serial_value blk vda-sha256)
[ "$v" = "$a_sum" ] && ok "blk: domU read vda, sha256 matches" ||
	fail "blk: domU's sha256 of /dev/vda is '$v', dom0's image has $a_sum"
v=$(serial_value blk vda-serial)
[ "$v" = "hwsim-vda-0001" ] && ok "blk: vda serial '$v'" ||
	fail "blk: /sys/block/vda/serial is '$v', expected hwsim-vda-0001"
v=$(serial_value blk vda-sectors)
[ "$v" = 16384 ] && ok "blk: vda has 16384 sectors" ||
	fail "blk: /sys/block/vda/size is '$v', expected 16384 (8 MiB)"
v=$(serial_value blk vda-ro)
[ "$v" = 0 ] && ok "blk: vda is writable" || fail "blk: /sys/block/vda/ro is '$v', expected 0"

v=$(serial_value blk vdb-write-rc)
[ "$v" = 0 ] && ok "blk: domU wrote vdb" || fail "blk: domU's dd to /dev/vdb exited '$v'"
v=$(serial_value blk vdb-readback)
[ "$v" = "$b_first" ] && ok "blk: domU read back what it wrote to vdb" ||
	fail "blk: domU read back sha256 $v from vdb, wrote $b_first"
v=$(dd if="$B" bs=65536 skip=16 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$v" = "$b_first" ] && ok "blk: dom0 sees the domU's write in b.img" ||
	fail "blk: b.img at 1 MiB has sha256 $v after the VMM exited, the domU wrote $b_first"
v=$(dd if="$B" bs=65536 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$v" = "$zero_sum" ] || fail "blk: b.img's first MiB changed (the domU wrote only at 1 MiB)"
v=$(stat -c %s "$B")
[ "$v" = 8388608 ] || fail "blk: b.img size changed to $v"

v=$(serial_value blk vdc-ro)
[ "$v" = 1 ] && ok "blk: vdc (readonly=on) is read-only in the domU" ||
	fail "blk: /sys/block/vdc/ro is '$v', expected 1 for readonly=on"
v=$(serial_value blk vdc-write-rc)
[ -n "$v" ] && [ "$v" != 0 ] && ok "blk: write to vdc refused (dd status $v)" ||
	fail "blk: dd to read-only /dev/vdc exited '$v', expected a failure"
v=$(serial_value blk vdc-sha256)
[ "$v" = "$c_sum" ] && ok "blk: domU read vdc, sha256 matches" ||
	fail "blk: domU's sha256 of /dev/vdc is '$v', expected $c_sum"
v=$(sha256sum "$C" | cut -d' ' -f1)
[ "$v" = "$c_sum" ] && ok "blk: c.img unchanged" ||
	fail "blk: the read-only image c.img changed (sha256 $v, was $c_sum)"
finish
