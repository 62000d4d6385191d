# A spice-test-client (tests/spice) driven through a FIFO, for the scenarios
# that check a SPICE console from dom0.  Sourced after lib.sh; the caller sets
# CLIENT_WAIT_MS (how long one waiting client command may take).

# client_start NAME ARGS...: start it; its answers go to $W/NAME.out.
client_start() {
	cname=$1; shift
	rm -f "$W/$cname.in"; mkfifo "$W/$cname.in"
	: > "$W/$cname.out"
	/usr/local/bin/spice-test-client --timeout-ms "$CLIENT_WAIT_MS" "$@" \
		< "$W/$cname.in" > "$W/$cname.out" 2> "$W/$cname.err" &
	CLIENT_PID=$!
	exec 8> "$W/$cname.in"
	CLIENT=$cname
}

# client_cmd COMMAND: send one command, wait for its one-line answer in
# CLIENT_ANSWER; returns 1 unless it starts with "ok".
client_cmd() {
	before=$(wc -l < "$W/$CLIENT.out")
	echo "$*" >&8
	i=0
	while [ "$(wc -l < "$W/$CLIENT.out")" -le "$before" ]; do
		if [ $i -ge $(( (CLIENT_WAIT_MS / 1000 + 15) * 10 )) ] ||
		   ! kill -0 "$CLIENT_PID" 2>/dev/null; then
			sleep 0.2
			[ "$(wc -l < "$W/$CLIENT.out")" -gt "$before" ] && break
			CLIENT_ANSWER="(no answer; client $(kill -0 "$CLIENT_PID" 2>/dev/null && echo running || echo gone); stdout: $(tail -c 200 "$W/$CLIENT.out" | tr '\n' ' '); stderr: $(tail -c 300 "$W/$CLIENT.err" | tr '\n' ' '))"
			echo "HWSIM: client $CLIENT: $* -> $CLIENT_ANSWER"
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	CLIENT_ANSWER=$(sed -n "$((before + 1))p" "$W/$CLIENT.out")
	echo "HWSIM: client $CLIENT: $* -> $CLIENT_ANSWER"
	case "$CLIENT_ANSWER" in ok*) return 0 ;; esac
	return 1
}

# client_stop: quit and reap it.
client_stop() {
	echo quit >&8 2>/dev/null
	exec 8>&-
	i=0
	while kill -0 "$CLIENT_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -KILL "$CLIENT_PID" 2>/dev/null
	wait "$CLIENT_PID" 2>/dev/null
}
