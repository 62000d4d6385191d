"""The `agent` scenario's host side (docs/hwsim.md, docs/spice.md).

dom0 gets atoll-vmm's SPICE module (in the module directory this build of
atoll-vmm looks in) and the headless client tests/spice/spice-test-client,
both with their shared libraries.  The domU gets
tests/system/domu-progs/vdagent-probe (built here, static), a minimal SPICE
guest agent on the virtio-serial port com.redhat.spice.0.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PROG = os.path.join(os.path.dirname(HERE), 'domu-progs', 'vdagent-probe.c')

TIMEOUT = 420


def dom0_files(c, ctx):
    ctx.add_spice(c)


def domu_files(c, ctx):
    c.file('usr/bin/vdagent-probe',
           ctx.static_program(PROG, ['-I/usr/include/spice-1']), 0o755)
    # the domU step: the power button (SIGTERM to the VMM) ends it
    c.data('hwsim/steps/agent.sh',
           'watch_button\n'
           # port 0 (hvc0) next to the named port: MULTIPORT's console port
           'i=0; while [ ! -c /dev/hvc0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done\n'
           'echo ATOLL-HVC0-HELLO > /dev/hvc0 && echo ATOLL-HVC0-WRITTEN\n'
           'vdagent-probe\necho "ATOLL-AGENT-EXIT rc=$?"\n'
           'while :; do sleep 60; done\n')
