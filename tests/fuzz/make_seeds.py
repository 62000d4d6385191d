#!/usr/bin/env python3
"""Write the hand-made seed inputs in corpus/fuzz_virtqueue/.

Each seed is a valid ring state in the layout fuzz_virtqueue.c documents:
a 17-byte header (queue size, start index, ring addresses, flags) followed
by the guest RAM image.  Run from anywhere; it rewrites the seeds."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_virtqueue")
NEXT, WRITE = 1, 2
BLK, RO = 1, 2


class Ring:
    def __init__(self, qsize, ram_size, start=0, flags=0):
        self.qsize, self.start, self.flags = qsize, start, flags
        self.desc, self.avail, self.used = 0x100, 0x100 + 16 * qsize, 0
        self.used = (self.avail + 6 + 2 * qsize + 3) & ~3
        self.ram = bytearray(ram_size)
        self.idx = start

    def set_desc(self, i, addr, length, flags, nxt=0):
        struct.pack_into("<QIHH", self.ram, self.desc + 16 * i, addr, length, flags, nxt)

    def offer(self, head):
        struct.pack_into("<H", self.ram, self.avail + 4 + 2 * (self.idx % self.qsize), head)
        self.idx = (self.idx + 1) & 0xffff
        struct.pack_into("<H", self.ram, self.avail + 2, self.idx)

    def blk_hdr(self, addr, typ, sector):
        struct.pack_into("<IIQ", self.ram, addr, typ, 0, sector)

    def bytes(self):
        hdr = struct.pack("<HHIIIB", self.qsize, self.start, self.desc,
                          self.avail, self.used, self.flags)
        return hdr + bytes(self.ram)


def blk_chain(r, d, hdr_addr, typ, sector, data_addr, data_len, data_write):
    """header, optional data, status: descriptors d, d+1, d+2."""
    r.blk_hdr(hdr_addr, typ, sector)
    status = hdr_addr + 16
    if data_len:
        r.set_desc(d, hdr_addr, 16, NEXT, d + 1)
        r.set_desc(d + 1, data_addr, data_len, NEXT | (WRITE if data_write else 0), d + 2)
        r.set_desc(d + 2, status, 1, WRITE)
    else:
        r.set_desc(d, hdr_addr, 16, NEXT, d + 1)
        r.set_desc(d + 1, status, 1, WRITE)
    r.offer(d)


def seeds():
    r = Ring(8, 4096, flags=BLK)
    blk_chain(r, 0, 0x800, 0, 2, 0xA00, 512, True)          # read
    yield "blk-read", r

    r = Ring(16, 8192, flags=BLK)
    blk_chain(r, 0, 0x800, 1, 5, 0x1000, 1024, False)       # write
    blk_chain(r, 3, 0x820, 4, 0, 0, 0, False)               # flush
    blk_chain(r, 5, 0x840, 8, 0, 0x1800, 20, True)          # get id
    yield "blk-write-flush-id", r

    r = Ring(8, 4096, flags=BLK)
    struct.pack_into("<QII", r.ram, 0xA00, 4, 8, 0)         # sectors 4..11
    struct.pack_into("<QII", r.ram, 0xA10, 30, 2, 1)        # unmap
    blk_chain(r, 0, 0x800, 13, 0, 0xA00, 32, False)         # write zeroes
    blk_chain(r, 3, 0x820, 11, 0, 0xA00, 16, False)         # discard
    yield "blk-write-zeroes-discard", r

    r = Ring(8, 4096, flags=BLK | RO)
    blk_chain(r, 0, 0x800, 1, 0, 0xA00, 512, False)         # refused
    yield "blk-readonly-write", r

    r = Ring(4, 2048, start=0xfffe)                         # index wrap
    for i in range(4):
        r.set_desc(i, 0x600 + 64 * i, 64, WRITE)
        r.offer(i)
    yield "wrap-full-ring", r

    r = Ring(256, 16384)                                    # long chain
    for i in range(256):
        r.set_desc(i, 0x3000 + 16 * i, 16, (NEXT if i < 255 else 0) | (WRITE if i >= 128 else 0), i + 1)
    r.offer(0)
    yield "chain-256", r


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, ring in seeds():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(ring.bytes())


if __name__ == "__main__":
    main()
