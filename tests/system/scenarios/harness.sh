# The harness's own plumbing: a scenario plug-in (harness.py) adds a domU
# step and answers dom0's host_request over ttyS1 with QMP's help.
. /hwsim/lib.sh

if host_request qmp-status; then
	case "$HOST_ANSWER" in
	"running") ok "host answered over ttyS1: outer QEMU is $HOST_ANSWER" ;;
	*) fail "host answered '$HOST_ANSWER', expected 'running'" ;;
	esac
else
	fail "no answer from the host to host_request"
fi

vmm_start h --memory 128 --kernel "$DOMU_KERNEL" --initrd "$DOMU_INITRD" \
	--cmdline "$(domu_cmdline plugin-step)"
vmm_wait h 120
grep -q "ATOLL-PLUGIN-STEP ran" "$W/h.serial" && ok "domU ran the plug-in's step" ||
	fail "the domU did not run the step from harness.py's domu_files"
finish
