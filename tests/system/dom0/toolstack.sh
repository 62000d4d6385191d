# Helpers for the toolstack scenarios (atolld + atoll + atoll-vmmctl in
# dom0), sourced after lib.sh.  hwsim.py copies the binaries only for the
# scenarios that ask for them (see TOOLSTACK_SCENARIOS there).

ATOLL_STATE=/tmp/atoll-state          # on dom0's tmpfs
ATOLL_RUN=/run/atoll                  # atoll's default socket directory
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export ATOLL_SOCKET=$ATOLL_RUN/atolld.sock

for b in atolld atoll atoll-vmmctl; do
	[ -x /usr/local/bin/$b ] || { fail "toolstack: /usr/local/bin/$b is not in dom0 (hwsim.py did not copy it)"; finish; }
done

# atolld_start: start the daemon (it detaches once its socket is up); its
# log is appended to $W/atolld.log and echoed as "atolld| ..." lines.
atolld_start() {
	echo "HWSIM: [$(uptime_s)] starting atolld"
	G_MESSAGES_DEBUG=${ATOLLD_DEBUG:-} atolld --state-dir "$ATOLL_STATE" \
		--run-dir "$ATOLL_RUN" --vmm "$HWSIM_VMM" 2>> "$W/atolld.log"
	ATOLLD_RC=$?
	ATOLLD_PID=$(pidof atolld)
	if [ -z "$ATOLLD_TAIL" ]; then
		touch "$W/atolld.log"
		tail -f "$W/atolld.log" 2>/dev/null | while IFS= read -r l; do echo "  atolld| $l"; done &
		ATOLLD_TAIL=$!
	fi
	return $ATOLLD_RC
}

# A ARGS...: run `atoll ARGS`, output in $W/a.out / $W/a.err, status in
# $ARC; everything is echoed to the console.
A() {
	atoll "$@" > "$W/a.out" 2> "$W/a.err"
	ARC=$?
	echo "HWSIM: [$(uptime_s)] \$ atoll $* -> $ARC"
	sed 's/^/  | /' "$W/a.out"
	sed 's/^/  stderr| /' "$W/a.err"
	return $ARC
}

# list_row NAME: NAME's row of the last `atoll list` output ($W/a.out).
list_row() { awk -v n="$1" '$1 == n' "$W/a.out"; }

# json_first KEY [FILE]: the first "KEY": value in a JSON file (strings
# unquoted), default the last atoll output.
json_first() {
	grep -o "\"$1\" *: *\(\"[^\"]*\"\|[-0-9.a-z]*\)" "${2:-$W/a.out}" | head -n 1 |
		sed 's/^[^:]*: *//; s/^"//; s/"$//'
}

# dom_state NAME: the atolld state name (status.state of `atoll info --json`).
dom_state() {
	atoll info --json "$1" > "$W/state.json" 2>/dev/null || { echo "?"; return; }
	json_first state "$W/state.json"
}

# wait_state NAME STATE TIMEOUT
wait_state() {
	i=0
	while [ "$(dom_state "$1")" != "$2" ]; do
		[ $i -ge $(($3 * 2)) ] && return 1
		sleep 0.5
		i=$((i + 1))
	done
}

# console_log NAME: the file atolld keeps the domain's serial output in.
console_log() { echo "$ATOLL_STATE/logs/$1.console.log"; }

# wait_console NAME REGEX TIMEOUT: the domain's serial output shows REGEX
# (gives up early when the domain is no longer running).
wait_console() {
	i=0
	while ! tr -d '\r' < "$(console_log "$1")" 2>/dev/null | grep -qE "$2"; do
		[ $i -ge $(($3 * 2)) ] && return 1
		if [ $((i % 10)) = 9 ]; then
			case "$(dom_state "$1")" in shutoff|crashed) return 1 ;; esac
		fi
		sleep 0.5
		i=$((i + 1))
	done
}

# dump_domain_logs [NAME...]: the VMM logs and serial output, for the
# record (default: every domain that has a VMM log).
dump_domain_logs() {
	[ $# = 0 ] && set -- $(ls "$ATOLL_RUN/vmm" 2>/dev/null | sed -n 's/\.log$//p')
	for n in "$@"; do
		[ -f "$ATOLL_RUN/vmm/$n.log" ] && sed "s/^/  vmm[$n].log| /" "$ATOLL_RUN/vmm/$n.log"
		[ -f "$(console_log "$n")" ] && tr -d '\r' < "$(console_log "$n")" | sed "s/^/  domU[$n]| /"
	done
}

# domain_json NAME STEP [EXTRA_JSON]: an Atoll definition for a test domU.
domain_json() {
	cat <<EOF
{
  "name": "$1",
  "memory_mib": 128,
  "vcpus": 1,
  "kernel": "$DOMU_KERNEL",
  "initrd": "$DOMU_INITRD",
  "cmdline": "$(domu_cmdline "$2")",
  "shutdown_timeout_s": 60${3:+,
  $3}
}
EOF
}

# finish (lib.sh's, plus the logs every toolstack run should leave behind).
finish() {
	pidof atolld > /dev/null && kill -TERM $(pidof atolld) && sleep 1
	dump_domain_logs
	[ -n "$ATOLLD_TAIL" ] && kill "$ATOLLD_TAIL" 2>/dev/null
	[ "$FAILS" -eq 0 ] && exit 0
	echo "HWSIM: $FAILS check(s) failed"
	exit 1
}
