# hwsim scenario helpers, sourced by every scenario script in dom0.
#
# A scenario calls fail "reason" for every broken expectation (it goes on
# checking, so one run reports everything it can) and ends with `finish`,
# which exits non-zero if anything failed.

case "${HWSIM_VMM_KIND:-atoll}" in
qemu) HWSIM_VMM=/hwsim/qemu-atoll ;;   # harness self-check, see docs/hwsim.md
*)    HWSIM_VMM=/usr/local/bin/atoll-vmm ;;
esac
DOMU_KERNEL=/boot/vmlinuz
DOMU_INITRD=/boot/domu.cpio.gz
W=/tmp/hwsim
mkdir -p "$W"
FAILS=0

fail() {
	echo "HWSIM: FAIL: $*"
	FAILS=$((FAILS + 1))
}
ok() { echo "HWSIM: ok: $*"; }
note() { echo "HWSIM: $*"; }
finish() {
	[ "$FAILS" -eq 0 ] && exit 0
	echo "HWSIM: $FAILS check(s) failed"
	exit 1
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# host_request WORDS...: ask the host side of the harness (the scenario's
# plug-in, tests/system/scenarios/NAME.py, on_line) to do something outside
# dom0 — a QMP command to the outer QEMU, a screenshot check — and print its
# one-line answer (read from ttyS1).  Returns 1 if none came within
# HOST_TIMEOUT seconds (default 120) or the answer starts with "ERROR".
host_request() {
	[ -c /dev/ttyS1 ] || { echo "ERROR no ttyS1 to the host"; return 1; }
	if [ -z "$HOST_TTY_READY" ]; then
		# kept open from here on: a closed tty drops what arrives
		stty -F /dev/ttyS1 -echo -icanon icrnl 2>/dev/null
		exec 7< /dev/ttyS1
		HOST_TTY_READY=1
	fi
	echo "HWSIM: HOST $*"
	HOST_ANSWER=
	IFS= read -r -t "${HOST_TIMEOUT:-120}" HOST_ANSWER <&7
	echo "HWSIM: host answered: $HOST_ANSWER"
	case "$HOST_ANSWER" in ""|ERROR*) return 1 ;; esac
	return 0
}

# Extra domU kernel arguments from hwsim.py --domu-append (comma-separated
# on dom0's command line, e.g. atoll.dmesg=1).
DOMU_EXTRA=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^hwsim.domu_append=//p' | tr ',' ' ')

# domu_cmdline STEP [extra...]: the domU kernel command line for a step.
domu_cmdline() {
	step=$1; shift
	echo "console=ttyS0 quiet atoll.step=$step $DOMU_EXTRA $*"
}

# vmm_start NAME ARGS...: start the VMM in the background.  The domU's serial
# (the VMM's stdout) goes to $W/NAME.serial and is echoed to the console
# prefixed with "domU|"; the VMM's stderr goes to $W/NAME.err.  stdin is a
# FIFO nobody writes to, so the VMM sees neither a tty nor EOF.
vmm_start() {
	name=$1; shift
	: > "$W/$name.serial"
	: > "$W/$name.err"
	[ -p "$W/stdin.fifo" ] || mkfifo "$W/stdin.fifo"
	echo "HWSIM: [$(uptime_s)] start $name: $(basename "$HWSIM_VMM") $*"
	"$HWSIM_VMM" "$@" <> "$W/stdin.fifo" > "$W/$name.serial" 2> "$W/$name.err" &
	VMM_PID=$!
	VMM_T0=$(uptime_s)
	rm -f "$W/$name.fifo" && mkfifo "$W/$name.fifo"
	# a read loop, not sed: echo is unbuffered, so lines show up at once
	(while IFS= read -r l; do echo "  domU[$name]| $l"; done < "$W/$name.fifo") &
	tail -f "$W/$name.serial" > "$W/$name.fifo" 2>/dev/null &
	TAIL_PID=$!
}

# vmm_wait NAME TIMEOUT: wait for the VMM; VMM_RC gets its exit status, or
# "timeout" (then it was killed).  Prints its stderr.
vmm_wait() {
	name=$1 limit=$2
	i=0
	while kill -0 "$VMM_PID" 2>/dev/null; do
		if [ "$i" -ge $((limit * 5)) ]; then
			# A stuck domain: ask atoll-vmm for its vCPU and queue
			# state (twice, to see whether the guest moves), and what
			# each of its threads is doing, before killing it.
			for t in 1 2; do
				kill -USR2 "$VMM_PID" 2>/dev/null
				sleep 2
			done
			for task in /proc/"$VMM_PID"/task/*; do
				echo "HWSIM: vmm thread $(cat "$task/comm" 2>/dev/null):" \
					"state $(cut -d' ' -f3 "$task/stat" 2>/dev/null)" \
					"wchan $(cat "$task/wchan" 2>/dev/null)"
			done
			kill -KILL "$VMM_PID" 2>/dev/null
			wait "$VMM_PID" 2>/dev/null
			VMM_RC=timeout
			break
		fi
		sleep 0.2
		i=$((i + 1))
	done
	if [ "${VMM_RC:-}" != timeout ]; then
		wait "$VMM_PID"
		VMM_RC=$?
	fi
	sleep 0.3   # let tail print the last lines
	kill "$TAIL_PID" 2>/dev/null
	wait "$TAIL_PID" 2>/dev/null
	sed "s/^/  vmm[$name] stderr| /" "$W/$name.err"
	echo "HWSIM: [$(uptime_s)] $name: VMM exit status $VMM_RC after" \
		"$(awk -v a="$VMM_T0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s"
	unset VMM_PID
}

# vmm_run NAME TIMEOUT ARGS...: start and wait.
vmm_run() {
	name=$1 limit=$2; shift 2
	VMM_RC=
	vmm_start "$name" "$@"
	vmm_wait "$name" "$limit"
}

# wait_serial NAME REGEX TIMEOUT: wait until the domU's serial shows REGEX
# (while the VMM still runs).  Returns 1 on timeout or VMM exit.
wait_serial() {
	i=0
	while ! grep -qE "$2" "$W/$1.serial"; do
		kill -0 "$VMM_PID" 2>/dev/null || { grep -qE "$2" "$W/$1.serial"; return; }
		[ "$i" -ge $(($3 * 10)) ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# serial_value NAME KEY: the value of "KEY=value" on the domU's serial
# (first occurrence; trailing CR stripped).
serial_value() {
	tr -d '\r' < "$W/$1.serial" | grep -oE "$2=[^ ]*" | head -n 1 | cut -d= -f2-
}

# serial_count NAME REGEX: how many lines match.
serial_count() {
	tr -d '\r' < "$W/$1.serial" | grep -cE "$2"
}

# expect_rc NAME WANT: check the VMM's exit status.
expect_rc() {
	if [ "$VMM_RC" = "$2" ]; then
		ok "$1: atoll-vmm exit status $2"
	else
		fail "$1: atoll-vmm exit status $VMM_RC, expected $2 (stderr: $(tr '\n' ' ' < "$W/$1.err" | cut -c1-300))"
	fi
}

# expect_marker NAME [COUNT]: the domU reached its init COUNT times (default 1).
expect_marker() {
	n=$(serial_count "$1" '^ATOLL-DOMU-UP ')
	if [ "$n" = "${2:-1}" ]; then
		ok "$1: domU init marker seen $n time(s)"
	else
		fail "$1: domU init marker seen $n time(s), expected ${2:-1} (VMM exit status $VMM_RC; last serial lines: $(tail -n 3 "$W/$1.serial" | tr -d '\r' | tr '\n' '|'); stderr: $(head -c 300 "$W/$1.err" | tr '\n' '|'))"
		return 1
	fi
}
