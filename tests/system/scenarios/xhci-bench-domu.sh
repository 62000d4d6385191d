# domU step of the xhci-bench scenario: read the passed-through USB disk
# twice, timed, and check it.
wait_for() {
	t=$(($1 * 5)); shift
	while ! "$@" 2>/dev/null; do
		[ "$t" -le 0 ] && return 1
		sleep 0.2; t=$((t - 1))
	done
}
usb_disk() { for d in /sys/block/sd*; do [ -e "$d" ] && echo "${d##*/}" && return 0; done; return 1; }
if wait_for 120 usb_disk; then
	d=$(usb_disk)
	for run in 1 2; do
		echo 3 > /proc/sys/vm/drop_caches
		t0=$(cut -d' ' -f1 /proc/uptime)
		s=$(dd if=/dev/$d bs=1048576 2>/dev/null | sha256sum | cut -d' ' -f1)
		t1=$(cut -d' ' -f1 /proc/uptime)
		echo "ATOLL-BENCH run=$run sha256=$s seconds=$(awk -v a=$t0 -v b=$t1 'BEGIN { printf "%.2f", b - a }')"
	done
else
	echo "ATOLL-BENCH disk=none"
fi
echo "ATOLL-BENCH done"
