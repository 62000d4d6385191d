#!/usr/bin/env python3
"""Write the hand-made seeds in corpus/fuzz_xhci/, in the input format
fuzz_xhci.c documents: a header byte (bit 0: the driver prologue runs
first) and 12-byte operations.  Run from anywhere; it rewrites them."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_xhci")
CMD_RING, DATA = 0x11000, 0x100000
DB_BASE, OP_BASE = 0x2000, 0x40


def ep_ring(dci):
    return 0x50000 + dci * 0x1000


def reg(off, val):
    return struct.pack("<BBHI4x", 0, 0, off, val)


def ram(addr, val8):
    assert addr % 8 == 0 and addr < 0x80000
    return struct.pack("<BBH", 2, 0, addr // 8) + val8


def trb(addr, param, status, control):
    return (ram(addr, struct.pack("<Q", param)) +
            ram(addr + 8, struct.pack("<II", status, control)))


def doorbell(slot, target):
    return struct.pack("<BBB9x", 3, slot, target)


def loop():
    return struct.pack("<B11x", 4)


def complete(status, actual):
    return struct.pack("<BBH8x", 5, status, actual)


def plug(attach, dev):
    return struct.pack("<BBB9x", 6, 0 if attach else 1, dev)


C, CH, IOC, ISP, IDT, TC = 1, 1 << 4, 1 << 5, 1 << 2, 1 << 6, 1 << 1


def t(typ):
    return typ << 10


def seeds():
    s = {}
    # GET_DESCRIPTOR(DEVICE) on EP0, completed short, then a stall.
    r = ep_ring(1)
    setup = 0x80 | 6 << 8 | 0x100 << 16 | 64 << 48
    ops = (trb(r, setup, 8, t(2) | IDT | 3 << 16 | C) +
           trb(r + 16, DATA, 64, t(3) | 1 << 16 | ISP | C) +
           trb(r + 32, 0, 0, t(4) | IOC | C) + doorbell(1, 1) + loop() +
           complete(0, 18) + loop() +
           trb(r + 48, setup, 8, t(2) | IDT | 3 << 16 | C) +
           trb(r + 64, DATA, 8, t(3) | 1 << 16 | C) +
           trb(r + 80, 0, 0, t(4) | IOC | C) + doorbell(1, 1) + loop() +
           complete(1, 0) + loop())
    s["control"] = b"\x01" + ops
    # A control OUT whose data stage is longer than wLength (the packet
    # gets wLength bytes; a bounce-buffer overflow once).
    ops = (trb(r, 0x40 | 1 << 8 | 4 << 48, 8, t(2) | IDT | 2 << 16 | C) +
           trb(r + 16, DATA, 64, t(3) | C) +
           trb(r + 32, 0, 0, t(4) | IOC | 1 << 16 | C) + doorbell(1, 1) + loop() +
           complete(0, 4) + loop())
    s["control-out-long"] = b"\x01" + ops
    # Bulk OUT chain with immediate data, bulk IN short with event data.
    o, i = ep_ring(2), ep_ring(5)
    ops = (trb(o, DATA, 512, t(1) | CH | C) +
           trb(o + 16, 0x0102030405060708, 8, t(1) | IDT | CH | C) +
           trb(o + 32, DATA + 0x1000, 100, t(1) | IOC | C) + doorbell(1, 2) +
           trb(i, DATA, 512, t(1) | CH | ISP | C) +
           trb(i + 16, DATA + 512, 512, t(1) | CH | ISP | C) +
           trb(i + 32, 0xfeed, 0, t(7) | IOC | C) + doorbell(1, 5) + loop() +
           complete(0, 612) + complete(0, 700) + loop())
    s["bulk"] = b"\x01" + ops
    # Interrupt IN pending, Stop Endpoint, Set TR Dequeue, restart, unplug.
    n = ep_ring(7)
    ops = (trb(n, DATA, 8, t(1) | IOC | C) + doorbell(1, 7) + loop() +
           trb(CMD_RING + 48, 0, 0, t(15) | 1 << 24 | 7 << 16 | C) + doorbell(0, 0) +
           loop() + complete(0, 8) +
           trb(CMD_RING + 64, n + 16 | 1, 0, t(16) | 1 << 24 | 7 << 16 | C) +
           doorbell(0, 0) + loop() + doorbell(1, 7) + loop() + plug(False, 0) +
           loop() + plug(True, 0) + loop())
    s["stop-unplug"] = b"\x01" + ops
    # Hostile: a link loop on the command ring, then a controller reset
    # and a link out of guest memory on a transfer ring.
    ops = (trb(CMD_RING + 48, CMD_RING + 48, 0, t(6) | C) + doorbell(0, 0) +
           loop() + reg(OP_BASE, 2) + loop() +
           trb(ep_ring(2), 0xfffffffff000, 0, t(6) | TC | C) + doorbell(1, 2) + loop())
    s["hostile"] = b"\x01" + ops
    # From reset, registers only.
    s["registers"] = b"\x00" + reg(OP_BASE + 0x38, 4) + reg(OP_BASE, 1) + doorbell(0, 0) + loop()
    return s


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
