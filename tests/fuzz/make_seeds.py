#!/usr/bin/env python3
"""Write the hand-made seed inputs in corpus/<target>/.

fuzz_virtqueue: valid ring states in the layout fuzz_virtqueue.c documents,
a 17-byte header (queue size, start index, ring addresses, flags) followed
by the guest RAM image.
fuzz_linux_boot: minimal bzImages that linux_load() accepts, behind the
4-byte prefix fuzz_linux_boot.c documents (RAM size choice, initrd and
command line lengths).  Run from anywhere; it rewrites the seeds."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
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


def bzimage(version, relocatable, pref, init_size, align=0x200000, setup_sects=1, payload=512):
    k = bytearray((setup_sects + 1) * 512 + payload)
    k[0x1f1] = setup_sects
    k[0x200:0x202] = b"\xeb\x6a"        # jmp over a header ending at 0x26c
    k[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", k, 0x206, version)
    k[0x211] = 0x01                       # LOADED_HIGH
    struct.pack_into("<I", k, 0x22c, 0x7fffffff)   # initrd_addr_max
    struct.pack_into("<I", k, 0x230, align)
    k[0x234] = 1 if relocatable else 0
    struct.pack_into("<H", k, 0x236, 0x0003)       # KERNEL_64 | CAN_BE_LOADED_ABOVE_4G
    struct.pack_into("<I", k, 0x238, 2047)         # cmdline_size
    struct.pack_into("<Q", k, 0x258, pref)
    struct.pack_into("<I", k, 0x260, init_size)
    k[(setup_sects + 1) * 512:] = bytes(range(256)) * (payload // 256)
    return bytes(k)


def boot_seeds():
    # prefix: RAM choice (0: 1 MiB + 4 KiB, 1: 2 MiB, 2: 16 MiB, 3: 40 MiB),
    # initrd length / 16 (u16), command line length / 16
    yield "reloc-initrd-cmdline", struct.pack("<BHB", 2, 0x100, 4) + \
        bzimage(0x020f, True, 0x1000000, 0x100000)
    yield "reloc-pref-used", struct.pack("<BHB", 3, 0, 1) + \
        bzimage(0x020f, True, 0x1000000, 0x200000)
    yield "fixed-2.12", struct.pack("<BHB", 1, 0, 0) + \
        bzimage(0x020c, False, 0x100000, 0x80000, setup_sects=4)


def write(target, items):
    out = os.path.join(CORPUS, target)
    os.makedirs(out, exist_ok=True)
    for name, data in items:
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def main():
    write("fuzz_virtqueue", ((n, r.bytes()) for n, r in seeds()))
    write("fuzz_linux_boot", boot_seeds())


if __name__ == "__main__":
    main()
