#!/bin/sh
# hwsim benchmark, dom0 side: boot the same domU N times with one VMM and
# print one "HWSIM-BENCH" line per boot.  Which VMM and how many boots come
# from the kernel command line (hwsim.bench=atoll|microvm|q35, hwsim.runs=N).
# Figures only: nothing here asserts anything about time.
. /hwsim/lib.sh

kind=atoll runs=3 mem=256
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	hwsim.bench=*) kind="${arg#*=}" ;;
	hwsim.runs=*) runs="${arg#*=}" ;;
	esac
done
append="$(domu_cmdline bench)"

start_vmm() { # $1 = serial log
	case "$kind" in
	atoll)
		/usr/local/bin/atoll-vmm --name bench --memory $mem --vcpus 1 \
			--kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
			--cmdline "$append" --serial stdio ;;
	microvm|q35)
		qemu-system-x86_64 -enable-kvm -M "$kind" -cpu host -m $mem -smp 1 \
			-nodefaults -no-user-config -display none -serial stdio \
			-kernel "$DOMU_KERNEL" -initrd "$DOMU_INITRD" -append "$append" ;;
	esac <> "$W/stdin.fifo" > "$1" 2> "$1.err" &
	PID=$!
}

# RSS of the whole process, and of its largest mapping (the guest RAM: the
# part of it the guest touched), in kB.
mem_kb() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { split($1, r, "-"); cur = 1 }
	     /^Size:/ { size = $2 }
	     /^Rss:/ { tot += $2; if (size > bigsize) { bigsize = size; big = $2 } }
	     END { print tot, big }' "/proc/$1/smaps"
}

mkfifo "$W/stdin.fifo"
i=1
status=0
while [ $i -le "$runs" ]; do
	log="$W/bench$i.serial"
	: > "$log"
	t0=$(uptime_s)
	start_vmm "$log"
	n=0
	while ! grep -q '^ATOLL-DOMU-UP' "$log"; do
		kill -0 $PID 2>/dev/null || break
		[ $n -ge 3000 ] && break   # 150 s
		sleep 0.05; n=$((n + 1))
	done
	t1=$(uptime_s)
	if ! grep -q '^ATOLL-DOMU-UP' "$log"; then
		echo "HWSIM: FAIL: bench $kind run $i: the domU did not reach init"
		sed 's/^/  | /' "$log" "$log.err" | tail -n 20
		kill -KILL $PID 2>/dev/null; wait $PID
		status=1
		break
	fi
	n=0
	while ! grep -q '^ATOLL-BENCH-READY' "$log" && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
	sleep 2   # let the VMM settle after the guest's boot
	set -- $(mem_kb $PID)
	up=$(tr -d '\r' < "$log" | sed -n 's/.*uptime=\([0-9.]*\).*/\1/p' | head -n 1)
	boot=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	echo "HWSIM-BENCH vmm=$kind run=$i boot_s=$boot guest_uptime_s=$up rss_kb=$1 guest_kb=$2 overhead_kb=$(($1 - $2))"
	kill -KILL $PID 2>/dev/null
	wait $PID 2>/dev/null
	i=$((i + 1))
done
exit $status
