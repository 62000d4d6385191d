"""The `display` scenario's host side (docs/hwsim.md, docs/spice.md).

dom0 gets atoll-vmm's SPICE module (in the module directory atoll-vmm was
built to look in) and the headless test client tests/spice/spice-test-client,
both with their libraries; the domU gets virtio_gpu + virtio_input and
tests/system/domu-progs/display-pattern (built here, static), which draws the
test pattern and prints the input it receives.  The outer machine has a user
-mode NIC whose host port forwards to dom0's 10.0.2.15:5900, where the VMM
listens with a ticket: dom0's `host_request remote-viewer|atoll-viewer 5900
TICKET` makes this plug-in run that viewer under Xvfb on the host, screenshot
it, check the pattern's colours, and keep the PNG in the log directory.
"""
import os
import re
import shutil
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROG = os.path.join(os.path.dirname(HERE), 'domu-progs', 'display-pattern.c')

TIMEOUT = 420
DOM0_MODULES = ['virtio_pci', 'virtio_net']
DOMU_MODULES = ['virtio_gpu', 'virtio_input']

# The pattern display-pattern.c draws: name -> (RGB, least share of a
# screenshot).  Quadrants are a quarter of the guest screen; the magenta
# square is 32x32 (1/1000 of 1280x800), so it only has to be there.
PATTERN = {
    'red': ((0xff, 0x00, 0x00), 0.03),
    'green': ((0x00, 0xff, 0x00), 0.03),
    'blue': ((0x00, 0x00, 0xff), 0.03),
    'amber': ((0xff, 0xc0, 0x00), 0.03),
    'magenta': ((0xff, 0x00, 0xff), 0.0002),
}
TOLERANCE = 24        # per channel: scaling and lossy (JPEG) encodings on TCP
VIEWER_WAIT = 60      # seconds for a viewer to show the pattern


def dom0_files(c, ctx):
    ctx.add_spice(c)


def domu_files(c, ctx):
    c.file('usr/bin/display-pattern', ctx.static_program(PROG), 0o755)
    # the domU step: the power button (SIGTERM to the VMM) ends it
    c.data('hwsim/steps/display.sh',
           'watch_button\ndisplay-pattern\necho "ATOLL-DISPLAY-EXIT rc=$?"\n'
           'while :; do sleep 60; done\n')


def _free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def qemu_args(ctx):
    ctx.display_port = _free_port()
    # restrict=on: dom0 reaches nothing outside; the forward still works
    return ['-netdev', f'user,id=n0,restrict=on,'
            f'hostfwd=tcp:127.0.0.1:{ctx.display_port}-10.0.2.15:5900',
            '-device', 'virtio-net-pci,netdev=n0']


def _histogram(png):
    """{(r, g, b): pixel count} of an image, by ImageMagick."""
    out = subprocess.run(['convert', png, '-depth', '8', '-format', '%c', 'histogram:info:-'],
                         capture_output=True, text=True, check=True).stdout
    hist = {}
    for line in out.splitlines():
        m = re.match(r'\s*(\d+):\s*\(\s*(\d+),\s*(\d+),\s*(\d+)', line)
        if m:
            n, r, g, b = (int(x) for x in m.groups())
            hist[(r, g, b)] = hist.get((r, g, b), 0) + n
    return hist


def _pattern_shares(png):
    hist = _histogram(png)
    total = sum(hist.values()) or 1
    shares = {}
    for name, (rgb, _) in PATTERN.items():
        n = sum(c for px, c in hist.items()
                if all(abs(a - b) <= TOLERANCE for a, b in zip(px, rgb)))
        shares[name] = n / total
    return shares


def _missing(shares):
    return [f'{n} {shares[n]:.2%} < {want:.2%}' for n, (_, want) in PATTERN.items()
            if shares[n] < want]


def _start_xvfb(logf):
    r, w = os.pipe()
    xvfb = subprocess.Popen(['Xvfb', '-displayfd', str(w), '-screen', '0', '1280x800x24',
                             '-nolisten', 'tcp'], pass_fds=(w,), stdout=logf,
                            stderr=subprocess.STDOUT)
    os.close(w)
    num = b''
    with os.fdopen(r, 'rb') as f:
        num = f.readline().strip()
    if not num:
        xvfb.kill()
        xvfb.wait()
        raise RuntimeError('Xvfb did not start (no display number)')
    return xvfb, ':' + num.decode()


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _viewer_argv(kind, ctx, ticket, work):
    port = ctx.display_port
    if kind == 'remote-viewer':
        vv = os.path.join(work, 'console.vv')
        with open(vv, 'w') as f:   # a .vv file: the password stays off argv
            f.write(f'[virt-viewer]\ntype=spice\nhost=127.0.0.1\nport={port}\n'
                    f'password={ticket}\ndelete-this-file=0\n')
        return ['remote-viewer', '--auto-resize=never', vv]
    return [ctx.need('display/client/atoll-viewer'), f'spice://127.0.0.1:{port}',
            '--password', ticket, '--size', '1280x800']


def run_viewer(kind, ticket, ctx):
    """Run a viewer against the VMM under Xvfb until a screenshot shows the
    pattern; returns the answer for dom0."""
    work = os.path.join(ctx.tmp, 'viewer-' + kind)
    os.makedirs(work, exist_ok=True)
    shot = os.path.join(work, 'shot.png')
    artifact = os.path.join(ctx.logdir, f'display-{kind}.png')
    logpath = os.path.join(ctx.logdir, f'display-{kind}.log')
    with open(logpath, 'w') as logf:
        xvfb, disp = _start_xvfb(logf)
        viewer = None
        try:
            env = dict(os.environ, DISPLAY=disp, GDK_BACKEND='x11', GSK_RENDERER='cairo',
                       NO_AT_BRIDGE='1', HOME=work, XDG_CONFIG_HOME=work,
                       XDG_CACHE_HOME=work)
            env.pop('WAYLAND_DISPLAY', None)
            t0 = time.monotonic()
            viewer = subprocess.Popen(_viewer_argv(kind, ctx, ticket, work), env=env,
                                      stdout=logf, stderr=subprocess.STDOUT)
            shares, missing = None, ['no screenshot']
            while time.monotonic() - t0 < VIEWER_WAIT:
                time.sleep(2)
                if viewer.poll() is not None:
                    missing = [f'{kind} exited with status {viewer.returncode}']
                    break
                r = subprocess.run(['import', '-display', disp, '-window', 'root', shot],
                                   capture_output=True, env=env)
                if r.returncode != 0:
                    continue
                shares = _pattern_shares(shot)
                missing = _missing(shares)
                if not missing:
                    break
            took = time.monotonic() - t0
            if os.path.exists(shot):
                shutil.copy(shot, artifact)
        finally:
            if viewer:
                _stop(viewer)
            _stop(xvfb)
    if missing:
        msg = (f'{kind} did not show the pattern within {VIEWER_WAIT} s: '
               f'{", ".join(missing)} (screenshot {artifact}, log {logpath})')
        ctx.fail(msg)
        return 'ERROR ' + msg
    got = ' '.join(f'{n}={shares[n]:.1%}' for n in PATTERN)
    ctx.log(f'display: {kind} showed the pattern after {took:.0f} s ({got}); {artifact}')
    return f'ok {kind} showed the pattern after {took:.0f} s: {got}; screenshot {artifact}'


def on_line(line, ctx):
    m = re.search(r'HWSIM: HOST (remote-viewer|atoll-viewer) (\d+) (\S+)\s*$', line)
    if not m:
        return
    kind, dom0_port, ticket = m.groups()
    if dom0_port != '5900':   # the port qemu_args forwards to
        ctx.reply(f'ERROR only dom0 port 5900 is forwarded, not {dom0_port}')
        return
    ctx.reply(run_viewer(kind, ticket, ctx))
