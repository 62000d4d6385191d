# toolstack: atolld + the atoll CLI drive real domUs.  Three domains (two
# JSON definitions, one xl.cfg) run at once; one is shut down gracefully
# (ACPI button, `shutdown -w` waits on the event stream), one destroyed;
# atolld is killed with SIGKILL while the third runs and the next atolld
# re-adopts it (same VMM pid); its console, stats, pause/unpause and
# atoll-vmmctl work on the adopted VMM, and it shuts down cleanly.
. /hwsim/lib.sh
. /hwsim/toolstack.sh

elapsed() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }'; }
# gone_watch PID FILE: write dom0's uptime to FILE when PID is gone.
gone_watch() {
	(while kill -0 "$1" 2>/dev/null; do sleep 0.1; done; uptime_s > "$2") &
}
# check_last_exit NAME REASON
check_last_exit() {
	A info --json "$1"
	st=$(json_first state)
	reason=$(json_first reason)
	if [ "$st" = shutoff ] && [ "$reason" = "$2" ]; then
		ok "$1: state shutoff, last exit reason '$reason'"
	else
		fail "$1: atoll info says state '$st', last exit reason '$reason'; expected shutoff / '$2'"
	fi
}
# check_event_driven NAME WHAT: `shutdown -w` returned soon after the VMM
# was gone.  It looks at the state every 5 s as a safety net, so a return
# within 2.5 s of the exit means the domain-state event woke it up.
check_event_driven() {
	gone=$(cat "$W/$1.gone" 2>/dev/null)
	if [ -z "$gone" ]; then
		fail "$1: the VMM was still running when atoll shutdown -w returned"
		return
	fi
	lag=$(awk -v a="$gone" -v b="$SD_END" 'BEGIN { printf "%.1f", b - a }')
	if awk -v l="$lag" 'BEGIN { exit !(l < 2.5) }'; then
		ok "$1: shutdown -w returned $lag s after the VMM exited (the domain-state event, not the 5 s poll)"
	else
		fail "$1: shutdown -w returned $lag s after the VMM exited: the /v1/events domain-state event did not wake it (only its 5 s poll did?)"
	fi
}

atolld_start || {
	fail "atolld did not start (exit $ATOLLD_RC): $(tail -n 3 "$W/atolld.log" | tr '\n' ' ')"
	finish
}
[ -S "$ATOLL_SOCKET" ] && [ -n "$ATOLLD_PID" ] &&
	ok "atolld (pid $ATOLLD_PID) listens on $ATOLL_SOCKET" ||
	fail "atolld exited 0 but $ATOLL_SOCKET is not a socket or no atolld runs (pid '$ATOLLD_PID')"

# 1. Define: two JSON files and one xl.cfg file.
domain_json web console > "$W/web.json"
domain_json db console '"label": "#3584e4"' > "$W/db.json"
cat > "$W/xlvm.cfg" <<EOF
# an xl.cfg(5) file, as xl create takes it
name = "xlvm"
memory = 128
vcpus = 1
kernel = "$DOMU_KERNEL"
ramdisk = "$DOMU_INITRD"
cmdline = "$(domu_cmdline console)"
on_crash = 'coredump-destroy'
builder = "hvm"
EOF
for f in web.json db.json; do
	A define "$W/$f"
	n=${f%.json}
	[ $ARC = 0 ] && grep -q "^Domain $n defined" "$W/a.out" &&
		ok "define $f: Domain $n defined" ||
		fail "atoll define $f exited $ARC: $(cat "$W/a.err")"
done
A define "$W/xlvm.cfg"
if [ $ARC = 0 ] && grep -q '^Domain xlvm defined' "$W/a.out"; then
	ok "define xlvm.cfg (xl.cfg): Domain xlvm defined"
	grep -q "ignoring 'builder'" "$W/a.err" &&
		ok "xl.cfg: 'builder' noted as ignored" ||
		fail "xl.cfg: no note about the ignored key 'builder' on stderr"
else
	fail "atoll define xlvm.cfg exited $ARC: $(cat "$W/a.err")"
fi
A info --json xlvm
[ "$(json_first memory_mib)" = 128 ] && [ "$(json_first on_crash)" = destroy ] &&
	grep -q 'atoll.step=console' "$W/a.out" &&
	ok "xlvm: the xl.cfg mapped to memory_mib 128, on_crash destroy (from coredump-destroy), the cmdline" ||
	fail "xlvm: the definition made from xl.cfg is wrong: memory_mib '$(json_first memory_mib)', on_crash '$(json_first on_crash)' (want 128, destroy)"

# 2. Start all three; `atoll list` shows them running, in xl's columns.
for n in web db xlvm; do
	A start "$n" || fail "atoll start $n exited $ARC: $(cat "$W/a.err")"
done
[ "$FAILS" = 0 ] || finish
for n in web db xlvm; do
	wait_state "$n" running 60 || fail "$n: state '$(dom_state "$n")' 60 s after start, expected running"
done
[ "$FAILS" = 0 ] || finish   # the rest needs three running domains
A list
hdr=$(printf 'Name                                        ID   Mem VCPUs\tState\tTime(s)')
[ "$(head -n 1 "$W/a.out")" = "$hdr" ] && ok "list: xl list's header" ||
	fail "list: header is '$(head -n 1 "$W/a.out")', expected xl's '$hdr'"
for n in web db xlvm; do
	row=$(list_row "$n")
	pid=$(cat "$ATOLL_RUN/vmm/$n.pid" 2>/dev/null)
	set -- $row
	eval "PID_$(echo "$n" | tr a-z A-Z)=\$2"
	if [ "$2" = "$pid" ] && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
	   [ "$3" = 128 ] && [ "$4" = 1 ] && [ "$5" = r----- ] &&
	   echo "$6" | grep -qE '^[0-9]+\.[0-9]$'; then
		ok "list: $n running: $row"
	else
		fail "list: row of $n is '$row'; expected ID = its VMM pid '$pid', Mem 128, VCPUs 1, State r-----, Time(s) N.N"
	fi
done
[ "$(awk 'NR > 1' "$W/a.out" | wc -l)" = 3 ] || fail "list: $(awk 'NR > 1' "$W/a.out" | wc -l) domain rows, expected 3"

for n in web db xlvm; do
	wait_console "$n" '^ATOLL-CONSOLE-READY' 300 ||
		fail "$n: the domU did not reach its console step (state $(dom_state "$n"); serial log: $(tail -n 3 "$(console_log "$n")" | tr -d '\r' | tr '\n' '|'))"
done
[ "$FAILS" = 0 ] || finish
ok "all three domUs booted to their init"

# 3. Graceful shutdown (ACPI power button), waiting on the event stream.
gone_watch "$PID_WEB" "$W/web.gone"
A shutdown -w web
SD_END=$(uptime_s)
[ $ARC = 0 ] && grep -q '^Domain web is shut off\.' "$W/a.out" &&
	ok "web: atoll shutdown -w: Domain web is shut off." ||
	fail "web: atoll shutdown -w exited $ARC: $(cat "$W/a.out" "$W/a.err" | tr '\n' ' ')"
# (the line may follow the shell's prompt: the watcher runs in the background)
grep -q 'ATOLL-POWER-BUTTON pressed' "$(console_log web)" &&
	ok "web: the domU saw the ACPI power button" ||
	fail "web: the domU never saw the power button (shutdown was not graceful)"
sleep 0.3
check_event_driven web
check_last_exit web poweroff
[ -e "$ATOLL_RUN/vmm/web.pid" ] && fail "web: $ATOLL_RUN/vmm/web.pid still exists after the VMM exited"

# 4. Destroy.
A destroy db || fail "atoll destroy db exited $ARC: $(cat "$W/a.err")"
wait_state db shutoff 30 || fail "db: state '$(dom_state db)' 30 s after destroy, expected shutoff"
kill -0 "$PID_DB" 2>/dev/null && fail "db: its VMM (pid $PID_DB) still runs after destroy"
check_last_exit db destroyed
grep -q 'ATOLL-POWER-BUTTON pressed' "$(console_log db)" &&
	fail "db: destroy pressed the power button instead of forcing the domain off"

# 5. Stats: top shows the VMM's RSS, which comes only from stats samples.
A top -b -n 2 -d 1
rss=$(awk '$1 == "xlvm" { r = $6 } END { print r }' "$W/a.out")
[ $ARC = 0 ] && awk -v r="$rss" 'BEGIN { exit !(r > 1) }' &&
	ok "top: xlvm RSS $rss MiB from the stats history" ||
	fail "top -b -n 2 exited $ARC; xlvm RSS(MiB) is '$rss', expected > 1 (GET /v1/domains/xlvm/stats has no samples?)"
[ "$(grep -c '^atoll top - ' "$W/a.out")" = 2 ] || fail "top -b -n 2 printed $(grep -c '^atoll top - ' "$W/a.out") frames, expected 2"

# 6. SIGKILL atolld while xlvm runs; the next atolld re-adopts it.
kill -9 $ATOLLD_PID
i=0
while kill -0 $ATOLLD_PID 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $ATOLLD_PID 2>/dev/null && fail "atolld (pid $ATOLLD_PID) survived SIGKILL?"
sleep 2
kill -0 "$PID_XLVM" 2>/dev/null && ok "xlvm: its VMM (pid $PID_XLVM) survived atolld's SIGKILL" ||
	fail "xlvm: its VMM (pid $PID_XLVM) died with atolld"
OLD_ATOLLD=$ATOLLD_PID
atolld_start || fail "the second atolld did not start (exit $ATOLLD_RC): $(tail -n 3 "$W/atolld.log" | tr '\n' ' ')"
[ -n "$ATOLLD_PID" ] && [ "$ATOLLD_PID" != "$OLD_ATOLLD" ] || fail "no new atolld process (pid '$ATOLLD_PID')"
wait_state xlvm running 30 || fail "xlvm: state '$(dom_state xlvm)' after the restart, expected running"
A list
row=$(list_row xlvm)
set -- $row
[ "$2" = "$PID_XLVM" ] && [ "$5" = r----- ] &&
	ok "after the restart: xlvm still running with the same VMM pid: $row" ||
	fail "after the restart: xlvm row is '$row', expected ID $PID_XLVM and r-----"
for n in web db; do
	set -- $(list_row "$n")
	[ "$1" = "$n" ] && [ "$2" = - ] && [ "$5" = ------ ] &&
		ok "after the restart: $n is still defined, shut off" ||
		fail "after the restart: $n row is '$(list_row "$n")', expected a shut-off domain"
done
A info --json db
[ "$(json_first label)" = '#3584e4' ] && [ "$(json_first memory_mib)" = 128 ] &&
	ok "after the restart: db's definition is intact (label, memory)" ||
	fail "after the restart: db's definition lost fields: label '$(json_first label)', memory_mib '$(json_first memory_mib)'"
grep -q 'xlvm: re-adopted atoll-vmm, pid '"$PID_XLVM" "$W/atolld.log" &&
	ok "atolld logged the re-adoption of pid $PID_XLVM" ||
	fail "atolld's log has no 're-adopted atoll-vmm, pid $PID_XLVM' for xlvm"

# 7. atoll-vmmctl on the VMM's control socket; then atoll pause/unpause.
CTL=$ATOLL_RUN/vmm/xlvm.control
atoll-vmmctl "$CTL" '{"cmd":"pause"}' '{"cmd":"query"}' > "$W/ctl.out" 2>&1
rc=$?
sed 's/^/  vmmctl| /' "$W/ctl.out"
[ $rc = 0 ] && sed -n 2p "$W/ctl.out" | grep -q '"state": *"paused"' &&
	ok "atoll-vmmctl pause: query says paused" ||
	fail "atoll-vmmctl pause + query exited $rc, replies: $(tr '\n' ' ' < "$W/ctl.out")"
atoll-vmmctl "$CTL" '{"cmd":"resume"}' '{"cmd":"query"}' > "$W/ctl.out" 2>&1
rc=$?
sed 's/^/  vmmctl| /' "$W/ctl.out"
[ $rc = 0 ] && sed -n 2p "$W/ctl.out" | grep -q '"state": *"running"' &&
	ok "atoll-vmmctl resume: query says running" ||
	fail "atoll-vmmctl resume + query exited $rc, replies: $(tr '\n' ' ' < "$W/ctl.out")"
grep -q "\"pid\": *$PID_XLVM" "$W/ctl.out" || fail "atoll-vmmctl query: pid is not $PID_XLVM: $(cat "$W/ctl.out")"
A pause xlvm || fail "atoll pause xlvm exited $ARC: $(cat "$W/a.err")"
wait_state xlvm paused 15 && A list && [ "$(list_row xlvm | awk '{ print $5 }')" = --p--- ] &&
	ok "atoll pause: xlvm paused, list shows --p---" ||
	fail "atoll pause: xlvm state '$(dom_state xlvm)', list row '$(list_row xlvm)'"
A unpause xlvm || fail "atoll unpause xlvm exited $ARC: $(cat "$W/a.err")"
wait_state xlvm running 15 && ok "atoll unpause: xlvm running" ||
	fail "atoll unpause: xlvm state '$(dom_state xlvm)', expected running"

# 8. The console of the adopted domain: run a command, see its output.
rm -f "$W/cin" && mkfifo "$W/cin"
atoll console xlvm < "$W/cin" > "$W/console.out" 2> "$W/console.err" &
CON_PID=$!
exec 7> "$W/cin"
# $((6*7)) is expanded by the domU's shell: 42 appears only as output
printf 'echo ATOLL-CONSOLE-$((6*7))\r' >&7
i=0
while ! tr -d '\r' < "$W/console.out" | grep -q '^ATOLL-CONSOLE-42' && [ $i -lt 60 ]; do
	sleep 0.5; i=$((i + 1))
done
exec 7>&-   # end of input: atoll console detaches
i=0
while kill -0 $CON_PID 2>/dev/null && [ $i -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
kill $CON_PID 2>/dev/null && fail "atoll console did not return at the end of its input"
wait $CON_PID
rc=$?
tr -d '\r' < "$W/console.out" | tail -n 5 | sed 's/^/  console| /'
sed 's/^/  console stderr| /' "$W/console.err"
tr -d '\r' < "$W/console.out" | grep -q '^ATOLL-CONSOLE-42' &&
	ok "atoll console xlvm: the domU's shell ran 'echo ATOLL-CONSOLE-\$((6*7))' and printed ATOLL-CONSOLE-42" ||
	fail "atoll console xlvm: no ATOLL-CONSOLE-42 in the console output (exit $rc)"
grep -q "^Connected to xlvm's console" "$W/console.err" || fail "atoll console: no 'Connected to xlvm's console' on stderr"
grep -q '^ATOLL-CONSOLE-READY' "$W/console.out" &&
	ok "atoll console: the kept output from before the restart was shown first" ||
	fail "atoll console: the console history (ATOLL-CONSOLE-READY from the boot) was not replayed after the restart"

# 9. Graceful shutdown of the adopted domain.
gone_watch "$PID_XLVM" "$W/xlvm.gone"
A shutdown -w xlvm
SD_END=$(uptime_s)
[ $ARC = 0 ] && grep -q '^Domain xlvm is shut off\.' "$W/a.out" &&
	ok "xlvm: atoll shutdown -w on the adopted domain: shut off" ||
	fail "xlvm: atoll shutdown -w exited $ARC: $(cat "$W/a.out" "$W/a.err" | tr '\n' ' ')"
sleep 0.3
check_event_driven xlvm
check_last_exit xlvm poweroff
A list
n=$(awk 'NR > 1 && $2 == "-" && $5 == "------"' "$W/a.out" | wc -l)
[ "$n" = 3 ] && ok "list: all three domains shut off" ||
	fail "list: $n of 3 domains shown shut off at the end"

finish
