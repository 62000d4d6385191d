"""hwsim benchmark: atoll-vmm against QEMU (-M microvm, -M q35), each in a
fresh dom0 (a second guest in the same dom0 runs up to 2x slower, whichever
VMM goes second), same domU kernel, initramfs, memory and vCPUs.

Run through hwsim.py: `tests/system/hwsim.py --vmm build/hv/atoll-vmm bench`.
Prints figures and ratios; it asserts nothing about time.  Absolute times
under TCG mean little; the ratios are the point.
"""

import os
import re
import shutil
import statistics
import time

KINDS = ['atoll', 'microvm', 'q35']
LINE = re.compile(r'HWSIM-BENCH vmm=(\S+) run=(\d+) boot_s=(\S+) guest_uptime_s=(\S+) '
                  r'rss_kb=(\d+) guest_kb=(\d+) overhead_kb=(-?\d+)')


def main(args, hwsim):
    kinds = args.only.split(',') if args.only else list(KINDS)
    for k in kinds:
        if k not in KINDS:
            raise RuntimeError(f'unknown VMM kind {k}; known: {",".join(KINDS)}')
    if 'atoll' in kinds and (not args.vmm or args.vmm == 'qemu'):
        raise RuntimeError('--vmm PATH to atoll-vmm is required (or --only microvm,q35)')
    if args.vmm == 'qemu':
        args.vmm = None
    kernel, initrd, tmp, _ = hwsim.prepare(args, with_qemu=True)
    logdir = args.logdir or hwsim.default_logdir()
    os.makedirs(logdir, exist_ok=True)
    results = {}
    failed = []
    try:
        for kind in kinds:
            logfile = os.path.join(logdir, f'bench-{kind}.log')
            hwsim.log(f'bench: fresh dom0 for {kind}, {args.runs} domU boot(s); log {logfile}')
            append = hwsim.dom0_append('bench', args,
                                       f'hwsim.bench={kind} hwsim.runs={args.runs}')
            append = append.replace('hwsim.vmm=atoll', f'hwsim.vmm={kind}')
            argv = hwsim.qemu_argv(kernel.vmlinuz, initrd, append, 1)
            t0 = time.monotonic()
            rc, lines = hwsim.run_outer(argv, logfile, args.timeout or 300 + 120 * args.runs)
            rows = [m.groups() for m in map(LINE.search, lines) if m]
            results[kind] = rows
            if rc is None or not rows or not any('HWSIM: RESULT PASS' in l for l in lines):
                failed.append(kind)
            hwsim.log(f'bench: {kind} done in {time.monotonic() - t0:.0f} s')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, kinds)
    if failed:
        hwsim.log('bench: no complete figures for ' + ', '.join(failed) + ' (see the logs)')
        return 1
    return 0


def report(results, kinds):
    med = {}
    for kind in kinds:
        rows = results.get(kind) or []
        if not rows:
            continue
        col = list(zip(*rows))
        med[kind] = {
            'boot': statistics.median(float(x) for x in col[2]),
            'uptime': statistics.median(float(x) for x in col[3]),
            'rss': statistics.median(int(x) for x in col[4]) / 1024,
            'guest': statistics.median(int(x) for x in col[5]) / 1024,
            'over': statistics.median(int(x) for x in col[6]) / 1024,
            'n': len(rows),
        }
    base = med.get('atoll')
    print()
    print('domU: Debian kernel + busybox initramfs, 256 MiB, 1 vCPU; medians of n boots;')
    print('inside hwsim (nested KVM under QEMU TCG): compare ratios, not absolute times.')
    hdr = (f'{"VMM":<14}{"n":>3}{"boot->init s":>14}{"guest uptime s":>16}'
           f'{"RSS MiB":>9}{"guest MiB":>11}{"VMM overhead MiB":>18}')
    if base:
        hdr += f'{"boot x":>8}{"overhead x":>12}'
    print(hdr)
    names = {'atoll': 'atoll-vmm', 'microvm': 'qemu microvm', 'q35': 'qemu q35'}
    for kind in kinds:
        m = med.get(kind)
        if not m:
            print(f'{names[kind]:<14}  (no figures)')
            continue
        line = (f'{names[kind]:<14}{m["n"]:>3}{m["boot"]:>14.2f}{m["uptime"]:>16.2f}'
                f'{m["rss"]:>9.1f}{m["guest"]:>11.1f}{m["over"]:>18.1f}')
        if base:
            bo = m['boot'] / base['boot'] if base['boot'] else float('nan')
            ov = m['over'] / base['over'] if base['over'] else float('nan')
            line += f'{bo:>8.2f}{ov:>12.2f}'
        print(line)
    if base:
        print('ratios are relative to atoll-vmm (x > 1: the peer is slower / bigger)')
