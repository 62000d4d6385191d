# atolld manages a UEFI domain's variable store (docs/uefi.md): define
# creates state_dir/nvram/NAME_VARS.fd from the OVMF template, start runs
# OVMF with it (the shell on the domain's console), the firmware writes it,
# undefine keeps it, re-define does not overwrite it, undefine
# --delete-disks deletes it.  dom0's kvm-amd is a TEST-ONLY build (uefi.py).
. /hwsim/lib.sh
. /hwsim/toolstack.sh

note "$(cat /etc/hwsim/test-only-kvm 2>/dev/null || echo 'stock kvm-amd')"
TEMPLATE=/usr/share/OVMF/OVMF_VARS_4M.fd
NV=$ATOLL_STATE/nvram/fw_VARS.fd
atolld_start || fail "atolld did not start (status $ATOLLD_RC)"
cat > "$W/fw.json" <<'JSON'
{"name": "fw", "memory_mib": 256, "vcpus": 1, "firmware": "uefi"}
JSON

A define "$W/fw.json" || fail "define of a firmware=uefi domain without a kernel failed"
if cmp -s "$TEMPLATE" "$NV"; then
	ok "define created $NV from the OVMF template"
else
	fail "define did not create the variable store from the template ($(ls -l "$ATOLL_STATE/nvram" 2>&1))"
fi
A start fw || fail "start failed"
if wait_console fw 'Shell>' 180; then
	ok "atolld's UEFI domain reached the UEFI shell (its console log)"
else
	fail "no UEFI shell on the domain's console within 180 s"
	tail -c 1500 "$(console_log fw)" | tr -d '\033' | sed 's/^/  console| /'
fi
ps -o args | grep -q "[f]irmware-vars $NV" &&
	ok "the VMM runs with --firmware uefi --firmware-vars $NV" ||
	fail "the VMM was not given the domain's variable store: $(ps -o args | grep '[a]toll-vmm')"
A destroy fw
wait_state fw shutoff 30 || fail "destroy: the domain did not stop"
if cmp -s "$TEMPLATE" "$NV"; then
	fail "the firmware's writes did not reach $NV"
else
	ok "the firmware's variables are in the domain's store"
fi
before=$(sha256sum "$NV" | cut -d' ' -f1)
A undefine fw || fail "undefine failed"
[ -f "$NV" ] && ok "undefine without --delete-disks keeps the store" ||
	fail "undefine removed the variable store without --delete-disks"
A define "$W/fw.json" || fail "re-define failed"
[ "$(sha256sum "$NV" | cut -d' ' -f1)" = "$before" ] &&
	ok "re-defining keeps the domain's boot entries (store not overwritten)" ||
	fail "re-define overwrote the variable store"
A undefine fw --delete-disks || fail "undefine --delete-disks failed"
[ ! -e "$NV" ] && ok "undefine --delete-disks deleted the store" ||
	fail "undefine --delete-disks left $NV"
finish
