# xhci-bench (figures only, see xhci-bench.py): a 32 MiB usb-storage disk
# read whole (sha256 checked), twice, by dom0 directly and by a domU
# through --usb host=46f4:0001.  Absolute times under TCG mean nothing;
# the ratio is the figure.
. /hwsim/lib.sh
DISK=46f4:0001
want=$(cat /hwsim/bench-expected)
dom0_disk() { for d in /sys/block/sd*; do [ -e "$d" ] && echo "${d##*/}" && return 0; done; return 1; }
i=0; while ! dom0_disk >/dev/null && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
d=$(dom0_disk) || { fail "dom0 sees no USB disk"; finish; }
for run in 1 2; do
	echo 3 > /proc/sys/vm/drop_caches
	t0=$(uptime_s)
	s=$(dd if=/dev/$d bs=1048576 2>/dev/null | sha256sum | cut -d' ' -f1)
	t1=$(uptime_s)
	[ "$s" = "$want" ] || fail "dom0 read a wrong disk image"
	note "FIGURE dom0 read 32 MiB run $run: $(awk -v a=$t0 -v b=$t1 'BEGIN { printf "%.2f", b - a }') s"
done
vmm_start u --name u --memory 256 --kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline xhci-bench)" --usb host=$DISK
wait_serial u "ATOLL-BENCH done" 400 || fail "domU did not finish: $(tail -n 5 "$W/u.serial" | tr '\n' '|'); $(tail -n 5 "$W/u.err" | tr '\n' '|')"
for run in 1 2; do
	l=$(tr -d '\r' < "$W/u.serial" | grep "^ATOLL-BENCH run=$run ")
	echo "$l" | grep -q "sha256=$want " || fail "domU run $run read a wrong image: $l"
	note "FIGURE domU (xHCI + libusb) read 32 MiB run $run: $(echo "$l" | sed 's/.*seconds=//') s"
done
grep "broke the controller" "$W/u.err" && fail "Host System Error"
kill "$VMM_PID" 2>/dev/null
vmm_wait u 60
finish
