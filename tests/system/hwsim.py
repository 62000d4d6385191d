#!/usr/bin/env python3
"""hwsim: end-to-end tests of atoll-vmm inside an emulated machine.

The host's /dev/kvm cannot run a full Linux guest, so every system test runs
one level down: an outer QEMU in pure TCG (-cpu EPYC, which emulates SVM with
nested paging) boots a small test "dom0" (Debian's kernel + a busybox
initramfs), dom0 loads the real kvm-amd module, and atoll-vmm runs domUs on
that /dev/kvm.  A scenario script inside dom0 drives the domUs and prints
"HWSIM: FAIL: <reason>" lines and a final "HWSIM: RESULT PASS|FAIL"; this
program streams dom0's serial console to stdout and to a log file and turns
that into an exit code: 0 pass, 1 fail, 77 skip (the machine cannot run it).

See docs/hwsim.md.  Python 3 standard library only.
"""

import argparse
import fcntl
import gzip
import io
import os
import re
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_DIR = os.path.join(os.path.dirname(HERE), 'bench')
SKIP = 77
KERNEL_PKG_RE = re.compile(r'^linux-image-(6\.1\.0-(\d+))-amd64-unsigned$')

# Modules, by name; their dependencies are found from each .ko's modinfo.
DOM0_MODULES = ['kvm_amd', 'tun']
DOMU_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_console',
                'virtio_rng', 'virtio_mmio', 'button', 'evdev']

# QEMU, copied into dom0 as the peer VMM (bench, --vmm qemu); firmware it
# loads for -M q35 / -M microvm with -kernel.
QEMU_FIRMWARE = ['/usr/share/seabios/bios-256k.bin',
                 '/usr/share/qemu/kvmvapic.bin',
                 '/usr/share/qemu/linuxboot_dma.bin',
                 '/usr/share/qemu/qboot.rom',
                 '/usr/share/qemu/bios-microvm.bin']

# Scenarios: name -> (outer vCPUs, seconds the whole dom0 run may take).
SCENARIOS = {
    'boot': (1, 300),
    # smp: a 2-vCPU domU on a 1-vCPU dom0 (its vCPU threads share the core).
    # With the outer machine at -smp 2, multi-threaded TCG's emulated SVM
    # triple-faulted or stalled nested guests in 2 of 2 CI runs
    # (docs/hwsim.md, Known limits); the domU's SMP bring-up (MADT, INIT/SIPI,
    # topology) is what this scenario proves, and it needs no second host CPU.
    'smp': (1, 360),
    'blk': (1, 360),
    'net': (1, 360),
    'lifecycle': (1, 900),
    'toolstack': (1, 600),
    'libvirt': (1, 600),
}


class Plugin:
    """What a scenario adds to the emulated machine, from an optional
    tests/system/scenarios/NAME.py next to NAME.sh (docs/hwsim.md).  Such a
    file defines any of:

      SMP, TIMEOUT        outer vCPUs, seconds for the whole run
      MACHINE             outer machine type ('pc' unless it needs 'q35')
      MEMORY              outer RAM in MiB (default 2048)
      TOOLSTACK           True: copy atolld, atoll, atoll-vmmctl into dom0
      DOM0_MODULES, DOMU_MODULES   extra kernel modules, by name
      DOM0_APPEND         extra dom0 kernel arguments
      def dom0_files(c, ctx)       add files to dom0's initramfs (c: Cpio)
      def domu_files(c, ctx)       add files to the domU initramfs; a domU
                                   step STEP runs /hwsim/steps/STEP.sh
      def qemu_args(ctx)           extra outer QEMU arguments (a list)
      def on_line(line, ctx)       called for each dom0 serial line; dom0's
                                   `host_request` (lib.sh) arrives here as
                                   "HWSIM: HOST <words>" and is answered with
                                   ctx.reply(text); ctx.qmp(cmd, **args)
                                   talks to the outer QEMU; ctx.fail(msg)
                                   records a failure seen on the host side
    ctx has: args, kernel, tmp (a scratch dir that lives for the run),
    build (the build directory holding --vmm, or None), log(msg).
    """

    def __init__(self, name):
        self.name = name
        self.mod = None
        path = os.path.join(HERE, 'scenarios', name + '.py')
        if os.path.exists(path):
            import importlib.util
            spec = importlib.util.spec_from_file_location('hwsim_scenario_' + name, path)
            self.mod = importlib.util.module_from_spec(spec)
            sys.dont_write_bytecode = True
            spec.loader.exec_module(self.mod)

    def get(self, attr, default=None):
        return getattr(self.mod, attr, default) if self.mod else default

    def call(self, fn, *a):
        f = self.get(fn)
        return f(*a) if f else None

    def known(self):
        return self.name in SCENARIOS or self.mod is not None


class Context:
    """The run's state handed to a scenario plug-in."""

    def __init__(self, args, kernel, tmp):
        self.args, self.kernel, self.tmp = args, kernel, tmp
        self.build = None
        if args.vmm and args.vmm != 'qemu':
            self.build = os.path.dirname(os.path.dirname(os.path.abspath(args.vmm)))
        self.fails = []
        self.retries = []
        self.qmp_path = os.path.join(tmp, 'qmp.sock')
        self.host_path = os.path.join(tmp, 'host.sock')
        self._qmp = None
        self._host = None

    def log(self, msg):
        log(msg)

    def need(self, rel):
        """A file from the build that holds --vmm, or a clear error."""
        if not self.build:
            raise RuntimeError(f'this scenario needs {rel} from an atoll build (not --vmm qemu)')
        path = os.path.join(self.build, rel)
        if not os.path.exists(path):
            raise RuntimeError(f'this scenario needs {path}: build it (ninja -C {self.build})')
        return path

    def static_program(self, src, flags=()):
        """Compile one C file from the source tree into a static binary (for
        the domU or dom0, which have no libc); returns its path."""
        exe = os.path.join(self.tmp, os.path.splitext(os.path.basename(src))[0])
        subprocess.run(['gcc', '-static', '-O2', '-Wall', '-Wextra', '-Werror', *flags,
                        '-o', exe, src], check=True)
        return exe

    def add_spice(self, c):
        """atoll-vmm's SPICE module, where this build's atoll-vmm looks for it
        (ATOLL_MODULE_DIR = prefix/libdir/atoll), and the headless
        spice-test-client, both with their shared libraries."""
        import json
        info = os.path.join(self.need('meson-info'), 'intro-buildoptions.json')
        try:
            with open(info) as f:
                opts = {o['name']: o['value'] for o in json.load(f)}
            moddir = os.path.join(opts['prefix'], opts['libdir'], 'atoll')
        except (OSError, ValueError, KeyError) as e:
            raise RuntimeError(f'cannot tell where atoll-vmm looks for atoll-spice.so: '
                               f'{info}: {e}')
        c.binary('usr/local/bin/spice-test-client', self.need('tests/spice/spice-test-client'))
        c.binary(os.path.join(moddir, 'atoll-spice.so').lstrip('/'),
                 self.need('display/atoll-spice.so'))
        self.log(f'atoll-spice.so in dom0 at {moddir}')

    def fail(self, msg):
        log('host-side FAIL: ' + msg)
        self.fails.append(msg)

    def qmp(self, cmd, **arguments):
        """One QMP command to the outer QEMU; returns its 'return' value."""
        import json
        import socket
        if self._qmp is None:
            s = socket.socket(socket.AF_UNIX)
            s.connect(self.qmp_path)
            self._qmp = (s, s.makefile('rwb'))
            self._qmp[1].readline()  # greeting
            self.qmp('qmp_capabilities')
        s, f = self._qmp
        msg = {'execute': cmd}
        if arguments:
            msg['arguments'] = arguments
        f.write(json.dumps(msg).encode() + b'\n')
        f.flush()
        while True:
            r = json.loads(f.readline())
            if 'event' in r:
                continue
            if 'error' in r:
                raise RuntimeError(f'QMP {cmd}: {r["error"].get("desc")}')
            return r.get('return')

    def reply(self, text):
        """A line to dom0's ttyS1, where `host_request` waits for it."""
        import socket
        if self._host is None:
            self._host = socket.socket(socket.AF_UNIX)
            self._host.connect(self.host_path)
        self._host.sendall(text.encode() + b'\n')

    def close(self):
        for c in (self._qmp and self._qmp[0], self._host):
            if c:
                c.close()
        self._qmp = self._host = None


# Scenarios that run the toolstack (atolld, atoll, atoll-vmmctl) in dom0;
# the others get only atoll-vmm, which keeps their initramfs small.
TOOLSTACK_SCENARIOS = {'toolstack', 'libvirt'}
TOOLSTACK_BINARIES = {  # name in dom0 -> (option, path under the build dir)
    'atolld': ('atolld', 'dom0-services/atolld/atolld'),
    'atoll': ('atoll', 'dom0-services/cli/atoll'),
    'atoll-vmmctl': ('vmmctl', 'hv/atoll-vmmctl'),
}


# The libvirt scenario: a real libvirtd (network driver only) in dom0, with
# dnsmasq for DHCP and iptables-nft for the NAT rules of network "default".
LIBDIR = '/usr/lib/x86_64-linux-gnu'
LIBVIRT_BINARIES = ['/usr/sbin/libvirtd', '/usr/bin/virsh', '/usr/sbin/dnsmasq',
                    '/usr/lib/libvirt/libvirt_leaseshelper',
                    '/usr/sbin/xtables-nft-multi',
                    LIBDIR + '/libvirt/connection-driver/libvirt_driver_network.so']
LIBVIRT_XTABLES_LINKS = ['iptables', 'iptables-save', 'iptables-restore',
                         'ip6tables', 'ip6tables-save', 'ip6tables-restore']
# bridge and tun for the network and the taps; netfilter for libvirt's
# iptables(-nft) rules (filter, nat with MASQUERADE, mangle CHECKSUM).
# crc32c_generic first: libcrc32c (under nf_conntrack, nf_tables) asks the
# crypto API for "crc32c" at load time, and dom0 has no modprobe to find it.
LIBVIRT_MODULES = ['crc32c_generic', 'bridge', 'veth', 'nf_tables', 'nft_compat', 'nft_chain_nat',
                   'nft_masq', 'nft_ct', 'nft_reject_inet', 'nft_reject_ipv4',
                   'nft_reject_ipv6', 'xt_MASQUERADE', 'xt_CHECKSUM', 'xt_conntrack',
                   'xt_tcpudp', 'xt_comment', 'xt_addrtype', 'ipt_REJECT',
                   'ip6t_REJECT', 'nf_conntrack', 'nf_nat']
LIBVIRT_PACKAGES = 'libvirt-daemon libvirt-clients dnsmasq-base iptables'
# libvirt's own "default" network (libvirt-daemon-config-network's
# default.xml), written here so that the host needs no network defined.
LIBVIRT_DEFAULT_NET = '''<network>
  <name>default</name>
  <bridge name='virbr0'/>
  <forward/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
    </dhcp>
  </ip>
</network>
'''
LIBVIRTD_CONF = '''# hwsim dom0: root only, no polkit, log to stderr
unix_sock_group = "root"
unix_sock_ro_perms = "0770"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:stderr"
'''
DOM0_EXTRA_USERS = ('nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'
                    'dnsmasq:x:999:65534:dnsmasq:/var/lib/misc:/bin/false\n'
                    'libvirt-dnsmasq:x:998:998:libvirt dnsmasq:/var/lib/libvirt/dnsmasq:/bin/false\n')
DOM0_EXTRA_GROUPS = 'nogroup:x:65534:\nlibvirt-dnsmasq:x:998:\nlibvirt:x:997:\n'


class Skip(Exception):
    """The machine cannot run hwsim at all (not a test failure)."""


def log(msg):
    print('hwsim: ' + msg, flush=True)


# --------------------------------------------------------------------------
# Kernel: Debian's standard flavour, fetched with apt and cached.

def cache_dir():
    d = os.environ.get('ATOLL_HWSIM_CACHE', '/var/cache/atoll-hwsim')
    try:
        os.makedirs(d, exist_ok=True)
        if os.access(d, os.W_OK):
            return d
    except OSError:
        pass
    alt = os.path.join(os.path.expanduser('~'), '.cache', 'atoll-hwsim')
    os.makedirs(alt, exist_ok=True)
    log(f'cache {d} is not writable, using {alt} (set ATOLL_HWSIM_CACHE)')
    return alt


def newest_kernel_package():
    """Newest linux-image-6.1.0-N-amd64-unsigned apt knows, or None."""
    try:
        out = subprocess.run(['apt-cache', 'pkgnames', 'linux-image-6.1.0-'],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    best = None
    for name in out.split():
        m = KERNEL_PKG_RE.match(name)
        if m and (best is None or int(m.group(2)) > best[1]):
            best = (name, int(m.group(2)), m.group(1) + '-amd64')
    return best


def cached_kernels(cache):
    found = []
    for name in os.listdir(cache):
        m = re.match(r'^kernel-(6\.1\.0-(\d+)-amd64)$', name)
        if m and os.path.exists(os.path.join(cache, name, 'ok')):
            found.append((int(m.group(2)), os.path.join(cache, name), m.group(1)))
    return sorted(found)


class Kernel:
    def __init__(self, root, kver):
        self.root = root
        self.kver = kver
        self.vmlinuz = os.path.join(root, 'boot', 'vmlinuz-' + kver)
        self.moddir = os.path.join(root, 'lib', 'modules', kver)
        self._index = None

    def _module_index(self):
        if self._index is None:
            self._index = {}
            for dirpath, _, files in os.walk(os.path.join(self.moddir, 'kernel')):
                for f in files:
                    if f.endswith('.ko'):
                        self._index[f[:-3].replace('-', '_')] = os.path.join(dirpath, f)
        return self._index

    def builtin(self, name):
        path = os.path.join(self.moddir, 'modules.builtin')
        with open(path) as f:
            return any(os.path.basename(l.strip())[:-3].replace('-', '_') == name
                       for l in f)

    @staticmethod
    def _depends(path):
        with open(path, 'rb') as f:
            data = f.read()
        m = re.search(rb'(?:^|\0)depends=([^\0]*)\0', data)
        if not m or not m.group(1):
            return []
        return [d.decode().replace('-', '_') for d in m.group(1).split(b',') if d]

    def resolve(self, names):
        """Module files for names and their dependencies, in load order."""
        index = self._module_index()
        order, seen = [], set()

        def visit(name, chain):
            name = name.replace('-', '_')
            if name in seen:
                return
            if name in chain:
                raise RuntimeError('module dependency loop: ' + ' -> '.join(chain + [name]))
            if name not in index:
                if self.builtin(name):
                    seen.add(name)
                    return
                raise RuntimeError(f'module {name} not found in {self.moddir}')
            for dep in self._depends(index[name]):
                visit(dep, chain + [name])
            seen.add(name)
            order.append((name, index[name]))

        for n in names:
            visit(n, [])
        return order


def get_kernel(offline=False):
    """Return the newest Debian standard kernel, downloading it if needed."""
    cache = cache_dir()
    lock = open(os.path.join(cache, '.lock'), 'w')
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        have = cached_kernels(cache)
        want = None if offline else newest_kernel_package()
        if want and (not have or want[1] > have[-1][0]):
            try:
                return _download_kernel(cache, want)
            except (OSError, subprocess.CalledProcessError) as e:
                if not have:
                    raise Skip(f'cannot download {want[0]} ({e}) and the cache '
                               f'{cache} holds no kernel')
                log(f'download of {want[0]} failed ({e}); using the cached kernel')
        if have:
            _, root, kver = have[-1]
            return Kernel(root, kver)
        raise Skip('no Debian kernel package linux-image-6.1.0-N-amd64-unsigned is '
                   'known to apt (run apt-get update, or tests/system/install-deps.sh) '
                   f'and the cache {cache} is empty')
    finally:
        lock.close()


def _download_kernel(cache, want):
    pkg, _, kver = want
    log(f'downloading {pkg} into {cache} (once; later runs use the cache)')
    tmp = tempfile.mkdtemp(dir=cache, prefix='dl-')
    try:
        subprocess.run(['apt-get', 'download', '-q', '-o', 'APT::Sandbox::User=root', pkg], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        debs = [f for f in os.listdir(tmp) if f.endswith('.deb')]
        if len(debs) != 1:
            raise OSError(f'apt-get download left {debs} in {tmp}')
        root = os.path.join(tmp, 'root')
        subprocess.run(['dpkg-deb', '-x', os.path.join(tmp, debs[0]), root], check=True)
        k = Kernel(root, kver)
        if not os.path.exists(k.vmlinuz) or not os.path.isdir(k.moddir):
            raise OSError(f'{debs[0]} has no {k.vmlinuz} or modules')
        with open(os.path.join(root, 'ok'), 'w') as f:
            f.write(debs[0] + '\n')
        final = os.path.join(cache, 'kernel-' + kver)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(root, final)
        return Kernel(final, kver)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# initramfs: a newc cpio written directly (no root needed for device nodes).

class Cpio:
    def __init__(self):
        self.entries = {}  # path -> (mode, data, rdev)

    def _parents(self, path):
        parts = path.strip('/').split('/')[:-1]
        for i in range(1, len(parts) + 1):
            d = '/'.join(parts[:i])
            if d not in self.entries:
                self.entries[d] = (stat.S_IFDIR | 0o755, b'', (0, 0))

    def dir(self, path):
        self._parents(path + '/x')

    def data(self, path, data, mode=0o644):
        path = path.strip('/')
        self._parents(path)
        if isinstance(data, str):
            data = data.encode()
        self.entries[path] = (stat.S_IFREG | mode, data, (0, 0))

    def file(self, path, src, mode=None):
        with open(src, 'rb') as f:
            data = f.read()
        if mode is None:
            mode = 0o755 if os.stat(src).st_mode & 0o111 else 0o644
        self.data(path, data, mode)

    def symlink(self, path, target):
        path = path.strip('/')
        self._parents(path)
        self.entries[path] = (stat.S_IFLNK | 0o777, target.encode(), (0, 0))

    def chardev(self, path, major, minor, mode=0o600):
        path = path.strip('/')
        self._parents(path)
        self.entries[path] = (stat.S_IFCHR | mode, b'', (major, minor))

    def binary(self, path, src):
        """An ELF program plus every shared library ldd names for it."""
        self.file(path, src, 0o755)
        out = subprocess.run(['ldd', src], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if '=> not found' in line:
                raise RuntimeError(f'{src} needs {line.split()[0]}, which ldd cannot find')
            # "libx.so.1 => /path (0x...)" and the interpreter "/path (0x...)"
            m = re.match(r'\s*(?:\S+ => )?(/\S+) \(0x', line)
            if m and m.group(1).strip('/') not in self.entries:
                self.file(m.group(1), os.path.realpath(m.group(1)), 0o755)

    def tree(self, dst, src):
        for dirpath, _, files in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            for f in files:
                self.file(os.path.normpath(os.path.join(dst, rel, f)),
                          os.path.join(dirpath, f))

    def pack(self):
        out = io.BytesIO()
        ino = 1
        for path in sorted(self.entries):
            mode, data, (rmaj, rmin) = self.entries[path]
            self._entry(out, ino, path, mode, data, rmaj, rmin)
            ino += 1
        self._entry(out, 0, 'TRAILER!!!', 0, b'', 0, 0)
        return gzip.compress(out.getvalue(), compresslevel=6, mtime=0)

    @staticmethod
    def _entry(out, ino, name, mode, data, rmaj, rmin):
        nameb = name.encode() + b'\0'
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rmaj, rmin, len(nameb), 0]
        hdr = b'070701' + b''.join(b'%08X' % v for v in fields)
        out.write(hdr + nameb)
        out.write(b'\0' * (-(len(hdr) + len(nameb)) % 4))
        out.write(data)
        out.write(b'\0' * (-len(data) % 4))


def is_static_elf(path):
    """True if the ELF file has no PT_INTERP (no dynamic loader needed)."""
    import struct
    with open(path, 'rb') as f:
        hdr = f.read(64)
        if hdr[:4] != b'\x7fELF' or hdr[4] != 2:
            return False
        phoff, = struct.unpack_from('<Q', hdr, 0x20)
        phentsize, phnum = struct.unpack_from('<HH', hdr, 0x36)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            if struct.unpack('<I', f.read(4))[0] == 3:  # PT_INTERP
                return False
    return True


def find_busybox():
    for p in ('/bin/busybox', '/usr/bin/busybox'):
        if os.path.exists(p) and is_static_elf(p):
            return p
    raise Skip('no static busybox (package busybox-static; run tests/system/install-deps.sh)')


def add_libvirt(c):
    """libvirtd with its network driver, dnsmasq, iptables-nft, virsh."""
    missing = [b for b in LIBVIRT_BINARIES if not os.path.exists(b)]
    if missing:
        # like a missing QEMU: this machine lacks what install-deps.sh adds
        raise Skip(f'the libvirt scenario needs {", ".join(missing)}: run '
                   f'tests/system/install-deps.sh (Debian: {LIBVIRT_PACKAGES})')
    for b in LIBVIRT_BINARIES:
        c.binary(b.lstrip('/'), b)
    for l in LIBVIRT_XTABLES_LINKS:
        c.symlink('usr/sbin/' + l, 'xtables-nft-multi')
    # iptables loads its matches and targets with dlopen; their libraries
    # are those of xtables-nft-multi.
    c.tree(LIBDIR.lstrip('/') + '/xtables', LIBDIR + '/xtables')
    c.data('usr/share/libvirt/networks/default.xml', LIBVIRT_DEFAULT_NET)
    c.data('etc/libvirt/libvirtd.conf', LIBVIRTD_CONF)
    c.data('etc/libvirt/libvirt.conf', '')
    for d in ('var/lib/libvirt/dnsmasq', 'var/lib/libvirt/network', 'var/lib/misc',
              'var/cache/libvirt', 'var/log/libvirt', 'etc/libvirt/qemu/networks'):
        c.dir(d)
    c.symlink('var/run', '../run')
    c.data('etc/protocols', 'ip 0 IP\nicmp 1 ICMP\ntcp 6 TCP\nudp 17 UDP\n')
    c.data('etc/services', 'domain 53/udp\nbootps 67/udp\nbootpc 68/udp\n')


def base_initramfs(kernel, modules, busybox):
    c = Cpio()
    for d in ('bin', 'sbin', 'usr/bin', 'usr/sbin', 'proc', 'sys', 'dev', 'tmp',
              'run', 'etc', 'root', 'mnt'):
        c.dir(d)
    c.chardev('dev/console', 5, 1)
    c.chardev('dev/null', 1, 3, 0o666)
    c.file('bin/busybox', busybox, 0o755)
    c.symlink('bin/sh', 'busybox')
    names = []
    for name, path in kernel.resolve(modules):
        c.file(f'lib/modules/hwsim/{name}.ko', path, 0o644)
        names.append(name)
    c.data('etc/hwsim/modules', '\n'.join(names) + '\n')
    c.data('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n')
    c.data('etc/group', 'root:x:0:\n')
    return c


def optional_modules(kernel, names):
    """The names this kernel has (as a module or built in); logs the others."""
    have = []
    for n in names:
        try:
            kernel.resolve([n])
            have.append(n)
        except RuntimeError as e:
            log(f'not loading {n}: {e}')
    return have


def build_domu(kernel, busybox, plugin=None, ctx=None):
    extra = plugin.get('DOMU_MODULES', []) if plugin else []
    c = base_initramfs(kernel, DOMU_MODULES + list(extra), busybox)
    c.file('init', os.path.join(HERE, 'domu', 'init'), 0o755)
    if plugin:
        plugin.call('domu_files', c, ctx)
    return c.pack()


def add_prepared_kernel(c, vmm, vmlinuz):
    """Warm atoll-vmm's kernel cache in dom0, as atolld does for a defined
    domain: `atoll-vmm --prepare-kernel` decompresses the domU kernel here
    (native speed, not under TCG), so every domU boot in dom0 enters its
    vmlinux directly (docs/hwsim.md)."""
    cache = tempfile.mkdtemp(prefix='hwsim-kcache-')
    try:
        r = subprocess.run([vmm, '--prepare-kernel', vmlinuz], capture_output=True,
                           text=True, env=dict(os.environ, ATOLL_KERNEL_CACHE=cache))
        if r.returncode != 0:
            raise RuntimeError(f'atoll-vmm --prepare-kernel failed: {r.stderr.strip()}')
        c.tree('var/cache/atoll/kernels', cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def build_dom0(kernel, busybox, vmm, with_qemu, extra_files=(), toolstack=None,
               libvirt=False, plugin=None, ctx=None):
    modules = DOM0_MODULES + (optional_modules(kernel, LIBVIRT_MODULES) if libvirt else [])
    if plugin:
        modules += list(plugin.get('DOM0_MODULES', []))
    c = base_initramfs(kernel, modules, busybox)
    c.file('init', os.path.join(HERE, 'dom0', 'init'), 0o755)
    c.file('hwsim/lib.sh', os.path.join(HERE, 'dom0', 'lib.sh'), 0o644)
    c.file('hwsim/toolstack.sh', os.path.join(HERE, 'dom0', 'toolstack.sh'), 0o644)
    c.file('hwsim/spice-client.sh', os.path.join(HERE, 'dom0', 'spice-client.sh'), 0o644)
    for name, path in (toolstack or {}).items():
        c.binary('usr/local/bin/' + name, path)
    if libvirt:
        add_libvirt(c)
        c.data('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n' + DOM0_EXTRA_USERS)
        c.data('etc/group', 'root:x:0:\n' + DOM0_EXTRA_GROUPS)
    c.file('hwsim/qemu-atoll', os.path.join(HERE, 'dom0', 'qemu-atoll'), 0o755)
    c.tree('hwsim/scenarios', os.path.join(HERE, 'scenarios'))
    bench = os.path.join(BENCH_DIR, 'bench-dom0.sh')
    if os.path.exists(bench):
        c.file('hwsim/bench.sh', bench, 0o755)
    c.file('boot/vmlinuz', kernel.vmlinuz, 0o644)
    c.data('boot/domu.cpio.gz', build_domu(kernel, busybox, plugin, ctx))
    if vmm:
        c.binary('usr/local/bin/atoll-vmm', vmm)
        add_prepared_kernel(c, vmm, kernel.vmlinuz)
    if with_qemu:
        qemu = shutil.which('qemu-system-x86_64')
        c.binary('usr/bin/qemu-system-x86_64', qemu)
        for fw in QEMU_FIRMWARE:
            if os.path.exists(fw):
                c.file(fw, os.path.realpath(fw), 0o644)
    for dst, data in extra_files:
        c.data(dst, data)
    if plugin:
        plugin.call('dom0_files', c, ctx)
    return c.pack()


# --------------------------------------------------------------------------
# Running the outer machine.

def outer_qemu():
    q = shutil.which('qemu-system-x86_64')
    if not q:
        raise Skip('qemu-system-x86_64 is not installed (run tests/system/install-deps.sh)')
    return q


def qemu_argv(kernel_path, initrd_path, append, smp, mem=2048, extra=(), machine='pc'):
    return [outer_qemu(), '-accel', 'tcg', '-cpu', 'EPYC', '-smp', str(smp),
            '-m', str(mem), '-M', machine, '-nodefaults', '-no-user-config',
            '-display', 'none', '-no-reboot',
            '-kernel', kernel_path, '-initrd', initrd_path,
            '-append', append] + list(extra)


FEATURE_WARN = re.compile(r"TCG doesn't support requested feature")


def _pump(proc, lf, lines, start, timeout, on_line, silence=None):
    """Copy the outer serial to logfile and stdout line by line; True on
    timeout, 'silent' when no line came for `silence` seconds."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b''
    last = time.monotonic()
    while True:
        left = timeout - (time.monotonic() - start)
        if left <= 0:
            return True
        if silence and time.monotonic() - last > silence:
            return 'silent'
        if not sel.select(min(left, 1.0)):
            continue
        last = time.monotonic()
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            return False
        buf += chunk
        while b'\n' in buf:
            raw, buf = buf.split(b'\n', 1)
            line = raw.decode('utf-8', 'replace').rstrip('\r')
            if FEATURE_WARN.search(line):
                continue
            stamp = f'[{time.monotonic() - start:7.2f}] '
            lf.write(stamp + line + '\n')
            lf.flush()
            print(stamp + line, flush=True)
            lines.append(line)
            if on_line:
                on_line(line)


def run_outer(argv, logfile, timeout, on_line=None, serial=True, silence=None):
    """Run the outer QEMU with its serial on a pipe, tee to logfile+stdout
    (serial=False: argv already has '-serial stdio' where it wants it).

    Returns (exit status, None on timeout or 'silent' when the serial said
    nothing for `silence` seconds; list of serial lines)."""
    lines = []
    start = time.monotonic()
    with open(logfile, 'w') as lf:
        lf.write('# ' + ' '.join(argv) + '\n')
        proc = subprocess.Popen(argv + (['-serial', 'stdio'] if serial else []),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            timed_out = _pump(proc, lf, lines, start, timeout, on_line, silence)
            if not timed_out:
                try:
                    proc.wait(timeout=10)  # serial closed: QEMU is exiting
                except subprocess.TimeoutExpired:
                    pass
        finally:
            # also on SIGTERM (meson's timeout) or Ctrl-C: never leave an
            # outer QEMU spinning
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if timed_out == 'silent':
            lf.write(f'# SILENT: no serial output for {silence} s; outer QEMU killed\n')
            return 'silent', lines
        if timed_out:
            lf.write(f'# TIMEOUT after {timeout} s\n')
            return None, lines
        rc = proc.wait()
        lf.write(f'# outer QEMU exited {rc} after {time.monotonic() - start:.1f} s\n')
        return rc, lines


def default_logdir():
    # Meson runs tests with the build dir as cwd; keep logs there.
    return os.environ.get('ATOLL_HWSIM_LOGDIR',
                          os.path.join(os.getcwd(), 'hwsim-logs'))


def toolstack_binaries(args):
    """atolld, atoll, atoll-vmmctl: from --atolld/--atoll/--vmmctl, else from
    the build directory that holds --vmm (BUILD/hv/atoll-vmm)."""
    build = None
    if args.vmm and args.vmm != 'qemu':
        build = os.path.dirname(os.path.dirname(os.path.abspath(args.vmm)))
    found = {}
    for name, (opt, rel) in TOOLSTACK_BINARIES.items():
        path = getattr(args, opt, None) or (build and os.path.join(build, rel))
        if not path or not os.access(path, os.X_OK):
            raise RuntimeError(f'this scenario runs {name} in dom0 and it was not found '
                               f'({path or "no --vmm build directory"}): build it or '
                               f'pass --{opt} PATH')
        found[name] = os.path.abspath(path)
    return found


def prepare(args, with_qemu, extra_files=(), scenario=None, plugin=None):
    """Build dom0's initramfs into a temp dir; returns (kernel, initrd path,
    tmpdir, plug-in context)."""
    vmm = None
    if args.vmm and args.vmm != 'qemu':
        vmm = os.path.abspath(args.vmm)
        if not os.access(vmm, os.X_OK):
            raise RuntimeError(f'atoll-vmm binary {vmm} does not exist or is not executable')
    wants_toolstack = scenario in TOOLSTACK_SCENARIOS or (plugin and plugin.get('TOOLSTACK'))
    toolstack = toolstack_binaries(args) if wants_toolstack else None
    outer_qemu()
    busybox = find_busybox()
    kernel = get_kernel(offline=args.offline)
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix='hwsim-')
    initrd = os.path.join(tmp, 'dom0.cpio.gz')
    ctx = Context(args, kernel, tmp)
    try:
        with open(initrd, 'wb') as f:
            f.write(build_dom0(kernel, busybox, vmm, with_qemu, extra_files,
                               toolstack=toolstack, libvirt=scenario == 'libvirt',
                               plugin=plugin, ctx=ctx))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f'kernel {kernel.kver}; dom0 initramfs {os.path.getsize(initrd) >> 20} MiB '
        f'built in {time.monotonic() - t0:.1f} s')
    return kernel, initrd, tmp, ctx


def dom0_append(scenario, args, extra=''):
    vmm = 'qemu' if args.vmm == 'qemu' else 'atoll'
    if args.domu_append:
        if any(' ' in a or ',' in a for a in args.domu_append):
            raise RuntimeError('--domu-append takes one argument without spaces or commas')
        extra += ' hwsim.domu_append=' + ','.join(args.domu_append)
    return (f'console=ttyS0 panic=-1 quiet hwsim.scenario={scenario} '
            f'hwsim.vmm={vmm} {extra}').strip()


def _machine_lock():
    """ATOLL_HWSIM_LOCK=PATH: wait for an exclusive lock on PATH first, so
    that runs from several builds on one machine take turns (each outer
    QEMU wants a whole core under TCG).  Held until this process exits."""
    path = os.environ.get('ATOLL_HWSIM_LOCK')
    if not path:
        return None
    f = open(path, 'a')
    t0 = time.monotonic()
    fcntl.flock(f, fcntl.LOCK_EX)
    if time.monotonic() - t0 > 1:
        log(f'waited {time.monotonic() - t0:.0f} s for the machine lock {path}')
    return f


def cmd_run(args):
    plugin = Plugin(args.scenario)
    if not plugin.known():
        raise RuntimeError(f'unknown scenario {args.scenario}; known: {", ".join(SCENARIOS)} '
                           f'and those with a tests/system/scenarios/NAME.py')
    smp, timeout = SCENARIOS.get(args.scenario, (1, 600))
    smp = plugin.get('SMP', smp)
    timeout = args.timeout or plugin.get('TIMEOUT', timeout)
    lock = _machine_lock()
    kernel, initrd, tmp, ctx = prepare(args, with_qemu=args.vmm == 'qemu',
                                       scenario=args.scenario, plugin=plugin)
    try:
        logdir = args.logdir or default_logdir()
        os.makedirs(logdir, exist_ok=True)
        ctx.logdir = logdir
        logfile = os.path.join(logdir, f'{args.scenario}.log')
        log(f'scenario {args.scenario}: booting dom0 (TCG, {smp} vCPU), '
            f'timeout {timeout} s, log {logfile}')
        extra = ['-qmp', f'unix:{ctx.qmp_path},server=on,wait=off']
        # ttyS1: the host's answers to dom0's host_request (lib.sh)
        extra += ['-chardev', f'socket,id=hostreq,path={ctx.host_path},server=on,wait=off',
                  '-serial', 'chardev:hostreq']
        extra += list(plugin.call('qemu_args', ctx) or [])
        append = dom0_append(args.scenario, args, plugin.get('DOM0_APPEND', ''))
        # ttyS0 must stay the console: run_outer adds '-serial stdio' last,
        # so put ours first by building the list with it in front.
        argv = qemu_argv(kernel.vmlinuz, initrd, append, smp,
                         mem=plugin.get('MEMORY', 2048), machine=plugin.get('MACHINE', 'pc'))
        argv += ['-serial', 'stdio'] + extra

        def on_line(line):
            if plugin.get('on_line') is None:
                return
            try:
                plugin.call('on_line', line, ctx)
            except Exception as e:  # a broken host-side check is a failure, not a hang
                ctx.fail(f'host-side step for "{line.strip()}" raised {type(e).__name__}: {e}')
                try:
                    ctx.reply('ERROR ' + str(e).replace('\n', ' '))
                except OSError:
                    pass
        # The emulated machine itself now and then stops dead (dom0's own
        # watchdogs fall silent too; docs/hwsim.md, Known limits).  A run
        # whose serial says nothing for `silence` seconds is killed and run
        # once more, reported as a retry; its log is kept as NAME.stalled.log.
        silence = int(os.environ.get('ATOLL_HWSIM_SILENCE', plugin.get('SILENCE', 150)))
        t0 = time.monotonic()
        for attempt in (1, 2):
            rc, lines = run_outer(argv, logfile, timeout, on_line, serial=False,
                                  silence=silence)
            if rc != 'silent' or attempt == 2:
                break
            stalled = logfile[:-len('.log')] + '.stalled.log'
            os.replace(logfile, stalled)
            retry = (f'the outer machine printed nothing for {silence} s and was killed '
                     f'(emulator stall; log kept as {stalled}); running the scenario once more')
            log(f'scenario {args.scenario}: RETRY: {retry}')
            ctx.close()
            ctx.fails = []
            ctx.retries.append(retry)
        if rc == 'silent':
            rc = 'stalled twice'
            lines.append(f'HWSIM: FAIL: the outer machine printed nothing for {silence} s, '
                         f'twice (see {logfile} and its .stalled.log)')
        took = time.monotonic() - t0
    finally:
        ctx.close()
        shutil.rmtree(tmp, ignore_errors=True)
    fails = [l.split('HWSIM: FAIL:', 1)[1].strip() for l in lines if 'HWSIM: FAIL:' in l]
    fails += ctx.fails
    passed = any(l.strip().endswith('HWSIM: RESULT PASS') for l in lines)
    if rc is None:
        fails.append(f'timed out after {timeout} s (see {logfile})')
    elif not passed and not fails:
        fails.append(f'dom0 stopped (outer QEMU exit {rc}) without a result; see {logfile}')
    retries = [l.split('HWSIM: RETRY', 1)[1].strip() for l in lines if 'HWSIM: RETRY' in l]
    for r in ctx.retries + retries:
        log(f'scenario {args.scenario}: RETRIED {r}')
    if fails or not passed:
        log(f'scenario {args.scenario}: FAIL after {took:.0f} s')
        for f in fails:
            log('  FAIL: ' + f)
        return 1
    log(f'scenario {args.scenario}: PASS in {took:.0f} s')
    return 0


def cmd_demo(args):
    print('*** hwsim demo: atoll-vmm runs inside an emulated machine (QEMU TCG with\n'
          '*** nested SVM), because this host\'s /dev/kvm cannot run a full Linux guest.\n'
          '*** Expect it to be slow.  The demo domU\'s serial console follows; in it,\n'
          '*** `poweroff` ends the domU and the demo.  Ctrl-A x quits QEMU at any time.\n',
          flush=True)
    kernel, initrd, tmp, _ = prepare(args, with_qemu=args.vmm == 'qemu')
    try:
        argv = qemu_argv(kernel.vmlinuz, initrd,
                         dom0_append('demo', args, f'hwsim.vcpus={args.vcpus}'), 1)
        argv += ['-serial', 'mon:stdio']
        proc = subprocess.Popen(argv, stderr=subprocess.PIPE)
        # QEMU's stderr, minus the harmless EPYC-under-TCG feature warnings
        for line in proc.stderr:
            line = line.decode('utf-8', 'replace')
            if not FEATURE_WARN.search(line):
                sys.stderr.write(line)
        return proc.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cmd_domu_check(args):
    """Boot the domU initramfs directly under TCG with QEMU's virtio devices:
    checks the domU side of a step without any nested VMM."""
    outer_qemu()
    kernel = get_kernel(offline=args.offline)
    tmp = tempfile.mkdtemp(prefix='hwsim-domu-')
    try:
        initrd = os.path.join(tmp, 'domu.cpio.gz')
        with open(initrd, 'wb') as f:
            f.write(build_domu(kernel, find_busybox()))
        extra = []
        for i, spec in enumerate(args.disk or []):
            ro = ',readonly=on' if spec.endswith(':ro') else ''
            spec = spec[:-3] if ro else spec
            extra += ['-drive', f'file={spec},if=none,id=d{i},format=raw{ro}',
                      '-device', f'virtio-blk-pci,drive=d{i},serial=hwsim{i}']
        if args.rng:
            extra += ['-device', 'virtio-rng-pci']
        mon = os.path.join(tmp, 'mon.sock')
        extra += ['-monitor', f'unix:{mon},server=on,wait=off']
        argv = qemu_argv(kernel.vmlinuz, initrd,
                         f'console=ttyS0 quiet atoll.step={args.step}', args.vcpus,
                         mem=256, extra=extra)

        def on_line(line):
            # --powerdown-on REGEX: press the ACPI power button when the
            # domU prints REGEX (checks the domU's power-button handling).
            if args.powerdown_on and re.search(args.powerdown_on, line):
                import socket
                s = socket.socket(socket.AF_UNIX)
                s.connect(mon)
                s.sendall(b'system_powerdown\n')
                time.sleep(0.2)
                s.close()
                log('pressed the ACPI power button (system_powerdown)')
        rc, lines = run_outer(argv, os.path.join(tmp, 'serial.log'),
                              args.timeout or 120, on_line)
        return 0 if rc == 0 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cmd_bench(args):
    sys.path.insert(0, BENCH_DIR)
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    import bench  # tests/bench/bench.py
    return bench.main(args, sys.modules[__name__])


def _terminate(signum, frame):
    raise SystemExit(f'hwsim: stopped by signal {signum}')


def main():
    signal.signal(signal.SIGTERM, _terminate)
    p = argparse.ArgumentParser(description='atoll hwsim: system tests under QEMU TCG')
    p.add_argument('--vmm', help='path to atoll-vmm, or "qemu" to run the '
                   'scenarios with QEMU as the nested VMM (harness self-check)')
    p.add_argument('--offline', action='store_true',
                   help='do not ask apt for a newer kernel; use the cache')
    p.add_argument('--logdir', help='where serial logs go (default ./hwsim-logs)')
    p.add_argument('--timeout', type=int, help='override the run timeout, seconds')
    p.add_argument('--domu-append', action='append', metavar='ARG',
                   help='extra domU kernel argument (repeatable), e.g. atoll.dmesg=1 '
                   'to dump the domU kernel log after its init marker')
    p.add_argument('--atolld', help='atolld binary for the toolstack scenarios '
                   '(default: beside --vmm in its build directory)')
    p.add_argument('--atoll', help='atoll CLI binary (same default)')
    p.add_argument('--vmmctl', help='atoll-vmmctl binary (same default)')
    sub = p.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run', help='run one scenario')
    r.add_argument('scenario', help='|'.join(SCENARIOS))
    d = sub.add_parser('demo', help='interactive demo domU')
    d.add_argument('--vcpus', type=int, default=1)
    c = sub.add_parser('domu-check', help='boot the domU initramfs directly (no nested VMM)')
    c.add_argument('step')
    c.add_argument('--disk', action='append')
    c.add_argument('--vcpus', type=int, default=1)
    c.add_argument('--rng', action='store_true')
    c.add_argument('--powerdown-on', metavar='REGEX',
                   help='send the ACPI power button when a line matches')
    b = sub.add_parser('bench', help='boot time and memory overhead, atoll-vmm vs QEMU')
    b.add_argument('--runs', type=int, default=3, help='domU boots per VMM')
    b.add_argument('--only', help='comma list of: atoll,microvm,q35')
    sub.add_parser('kernel', help='fetch/cached kernel; print its path')
    args = p.parse_args()
    try:
        if args.cmd == 'run':
            if not args.vmm:
                raise RuntimeError('--vmm PATH (or --vmm qemu) is required')
            return cmd_run(args)
        if args.cmd == 'demo':
            if not args.vmm:
                raise RuntimeError('--vmm PATH is required')
            return cmd_demo(args)
        if args.cmd == 'domu-check':
            return cmd_domu_check(args)
        if args.cmd == 'bench':
            return cmd_bench(args)
        if args.cmd == 'kernel':
            k = get_kernel(offline=args.offline)
            print(k.vmlinuz)
            return 0
    except Skip as e:
        print(f'hwsim: SKIP: {e}', flush=True)
        return SKIP
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        print(f'hwsim: ERROR: {e}', flush=True)
        return 1
    return 1


if __name__ == '__main__':
    sys.exit(main())
