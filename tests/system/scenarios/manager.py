"""The `manager` scenario's host side (docs/manager.md, docs/hwsim.md).

atoll-manager on the host shows a domain that really runs: dom0 runs atolld
and a SPICE-enabled domU drawing the display scenario's test pattern; a
static relay in dom0 (manager-relay.c, built here) exposes atolld's API
socket and the domain's SPICE socket on TCP ports that the outer QEMU's
user-mode NIC forwards to the host.  Here each is turned back into a unix
socket: the API one anywhere, the SPICE one at the very path dom0's atolld
reports as status.spice.uri (dom0 runs atolld with a run directory whose
name is unique to this run, so that path is free on the host too).  Then
tests/gui/manager_hwsim_shot.c (the manager's own window on a private
Xvfb) must show the pattern in the console tab and in the list thumbnail;
its screenshot is kept as LOGDIR/manager-console.png.
"""
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import threading
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
RELAY_SRC = os.path.join(HERE, 'manager-relay.c')

_spec = importlib.util.spec_from_file_location('hwsim_manager_display', os.path.join(HERE, 'display.py'))
display = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(display)

TIMEOUT = 900
TOOLSTACK = True
DOM0_MODULES = ['virtio_pci', 'virtio_net']
DOMU_MODULES = ['virtio_gpu', 'virtio_input']
API_PORT, SPICE_PORT = 7000, 7001      # manager-relay's ports in dom0
SHOT_WAIT = 300                        # seconds for each wait of the manager


def _run_dir(ctx):
    if not hasattr(ctx, 'manager_run'):
        ctx.manager_run = '/tmp/atoll-hwsim-mgr-' + uuid.uuid4().hex[:8]
    return ctx.manager_run


def dom0_files(c, ctx):
    display.dom0_files(c, ctx)          # atoll-spice.so (and its libraries)
    c.file('usr/local/bin/manager-relay', ctx.static_program(RELAY_SRC), 0o755)
    c.data('hwsim/manager.env', f'MGR_RUN={_run_dir(ctx)}\n')


def domu_files(c, ctx):
    display.domu_files(c, ctx)          # display-pattern and the `display` step


def qemu_args(ctx):
    ctx.manager_ports = (display._free_port(), display._free_port())
    api, spice = ctx.manager_ports
    return ['-netdev', f'user,id=n0,restrict=on,'
            f'hostfwd=tcp:127.0.0.1:{api}-10.0.2.15:{API_PORT},'
            f'hostfwd=tcp:127.0.0.1:{spice}-10.0.2.15:{SPICE_PORT}',
            '-device', 'virtio-net-pci,netdev=n0']


class Relay(threading.Thread):
    """Unix socket PATH -> TCP 127.0.0.1:PORT, a thread pair per connection."""

    def __init__(self, path, port):
        super().__init__(daemon=True)
        self.path, self.port = path, port
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(16)

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(('127.0.0.1', self.port))
            except OSError:
                conn.close()
                continue
            threading.Thread(target=self._pump, args=(conn, up), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, conn), daemon=True).start()

    def close(self):
        self.sock.close()


def run_manager(domain, spice_path, ctx):
    run = _run_dir(ctx)
    if not spice_path.startswith(run + '/'):
        return f'ERROR the SPICE socket {spice_path} is not under this run\'s {run}'
    if not ctx.build:
        return 'ERROR the manager scenario needs --vmm from a build directory'
    exe = os.path.join(ctx.build, 'manager-gui', 'manager-hwsim-shot')
    if not os.path.exists(exe):
        return f'ERROR {exe} is missing: build it (ninja -C {ctx.build})'
    api_port, spice_port = ctx.manager_ports
    os.makedirs(os.path.dirname(spice_path), exist_ok=True)
    api_path = os.path.join(run, 'atolld.sock')
    relays = [Relay(api_path, api_port), Relay(spice_path, spice_port)]
    for r in relays:
        r.start()
    home = os.path.join(ctx.tmp, 'manager-home')
    os.makedirs(home, exist_ok=True)
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=home, XDG_CACHE_HOME=home,
               NO_AT_BRIDGE='1')
    argv = [exe, '--socket', api_path, '--domain', domain, '--out', ctx.logdir,
            '--timeout', str(SHOT_WAIT)]
    if shutil.which('dbus-run-session'):
        argv = ['dbus-run-session', '--'] + argv
    try:
        with open(os.path.join(ctx.logdir, 'manager-shot.log'), 'w') as logf:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=logf, text=True, env=env,
                               timeout=4 * SHOT_WAIT)
        lines = [l for l in r.stdout.splitlines() if l.startswith(('ok', 'ERROR'))]
        answer = lines[-1] if lines else f'ERROR manager-hwsim-shot exited {r.returncode} ' \
            f'without an answer (see manager-shot.log)'
    except subprocess.TimeoutExpired:
        answer = 'ERROR manager-hwsim-shot did not finish'
    finally:
        for r in relays:
            r.close()
        shutil.rmtree(run, ignore_errors=True)
    ctx.log('manager: ' + answer)
    return answer


def on_line(line, ctx):
    m = re.search(r'HWSIM: HOST manager-shot (\S+) (\S+)\s*$', line)
    if m:
        ctx.reply(run_manager(m.group(1), m.group(2), ctx))
