"""The `agent` scenario's host side (docs/hwsim.md, docs/spice.md).

dom0 gets atoll-vmm's SPICE module (in the module directory this build of
atoll-vmm looks in) and the headless client tests/spice/spice-test-client,
both with their shared libraries.  The domU gets
tests/system/domu-progs/vdagent-probe (built here, static), a minimal SPICE
guest agent on the virtio-serial port com.redhat.spice.0.
"""
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
PROG = os.path.join(os.path.dirname(HERE), 'domu-progs', 'vdagent-probe.c')

TIMEOUT = 420


def _module_dir(build):
    """Where this build's atoll-vmm looks for atoll-spice.so (ATOLL_MODULE_DIR
    = prefix/libdir/atoll, meson.build)."""
    out = subprocess.run(['meson', 'introspect', build, '--buildoptions'],
                         capture_output=True, text=True, check=True).stdout
    opts = {o['name']: o['value'] for o in json.loads(out)}
    return os.path.join(opts['prefix'], opts['libdir'], 'atoll')


def _need(ctx, rel):
    if not ctx.build:
        raise RuntimeError('the agent scenario runs atoll-vmm (not --vmm qemu)')
    path = os.path.join(ctx.build, rel)
    if not os.path.exists(path):
        raise RuntimeError(f'the agent scenario needs {path}: build it (ninja -C {ctx.build})')
    return path


def dom0_files(c, ctx):
    c.binary('usr/local/bin/spice-test-client', _need(ctx, 'tests/spice/spice-test-client'))
    moddir = _module_dir(ctx.build)
    c.binary(os.path.join(moddir, 'atoll-spice.so').lstrip('/'),
             _need(ctx, 'display/atoll-spice.so'))
    ctx.log(f'agent: atoll-spice.so in dom0 at {moddir}')


def domu_files(c, ctx):
    exe = os.path.join(ctx.tmp, 'vdagent-probe')
    subprocess.run(['gcc', '-static', '-O2', '-Wall', '-Wextra', '-Werror',
                    '-I/usr/include/spice-1', '-o', exe, PROG], check=True)
    c.file('usr/bin/vdagent-probe', exe, 0o755)
    # the domU step: the power button (SIGTERM to the VMM) ends it
    c.data('hwsim/steps/agent.sh',
           'watch_button\n'
           # port 0 (hvc0) next to the named port: MULTIPORT's console port
           'i=0; while [ ! -c /dev/hvc0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done\n'
           'echo ATOLL-HVC0-HELLO > /dev/hvc0 && echo ATOLL-HVC0-WRITTEN\n'
           'vdagent-probe\necho "ATOLL-AGENT-EXIT rc=$?"\n'
           'while :; do sleep 60; done\n')
