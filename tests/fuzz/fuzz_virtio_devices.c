/* libFuzzer target: a hostile guest driving whole virtio devices the way a
 * guest does — config cycles, BAR register writes (common config, queue
 * setup, MSI-X table, notifications) and ring memory — through the real
 * PCI host, virtio-pci transport and device models (blk on a memfd, rng,
 * console on a file, gpu, input).  No KVM: ioeventfd and irqfd calls fail
 * and the trapped paths run.
 *
 * The input is a sequence of 12-byte operations:
 *   0  u8  op: 0 config write, 1 config read, 2 BAR0 write, 3 BAR0 read,
 *          4 BAR1 (MSI-X) write, 5 guest RAM write, 6 run the event loop,
 *          7 kick every queue of the device
 *   1  u8  device index (mod the number of devices)
 *   2  u16 offset
 *   4  u8  access size selector (1, 2, 4, 8)
 *   5  u8  unused
 *   6  u32 value low, then u16 value high bits (8 bytes for RAM writes)
 * Guest RAM writes land in the first 1 MiB, where the seeds put rings. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../unit/testvm.h"
#include "config.h"
#include "log.h"

#define OP_SIZE 12
#define RAM_BYTES (16u << 20)

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void setup(struct vm *vm, struct vm_config *cfg, int diskfd, char *conpath)
{
	static struct disk_config disk;
	static struct chardev_config con;
	char path[64];

	testvm_init(vm, RAM_BYTES);
	vm_config_init(cfg);
	vm->cfg = cfg;
	display_init(&vm->display);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", diskfd);
	disk = (struct disk_config){ .path = path, .serial = (char *)"FUZZ" };
	con = (struct chardev_config){ .kind = CHARDEV_FILE, .path = conpath };
	virtio_blk_create(vm, &disk, 0);
	virtio_rng_create(vm);
	virtio_console_create(vm, &con);
	virtio_gpu_create(vm);
	virtio_input_create(vm);
}

static void op_config(struct vm *vm, struct virtio_device *dev, const uint8_t *o, bool wr)
{
	uint32_t len = 1u << (o[4] & 3);
	uint64_t a = PCI_ECAM_BASE + ((uint64_t)dev->pci.devfn << 12) + (rd32(o + 2) & 0xfff);
	if (len == 8)
		len = 4;
	if (wr)
		testvm_mmio_write(vm, a, len, rd32(o + 6));
	else
		(void)testvm_mmio_read(vm, a, len);
}

static void op_bar(struct vm *vm, struct virtio_device *dev, int bar, const uint8_t *o, bool wr)
{
	uint32_t len = 1u << (o[4] & 3);
	uint64_t a = dev->pci.bars[bar].addr + (rd32(o + 2) & 0xffff);
	uint64_t v = rd32(o + 6) | (uint64_t)(o[10] | o[11] << 8) << 32;
	if (wr)
		testvm_mmio_write(vm, a, len, v);
	else
		(void)testvm_mmio_read(vm, a, len);
}

static void op_kick(struct vm *vm, struct virtio_device *dev)
{
	for (uint16_t q = 0; q < dev->n_queues; q++)
		testvm_dev_write(vm, dev, 0x3000 + 4u * q, 2, q);
	evloop_run_once(&vm->loop, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int diskfd = -1;
	static char conpath[64];
	struct vm vm;
	struct vm_config cfg;

	if (diskfd < 0) {
		log_set_level(LOG_SILENT);   /* keep libFuzzer's output readable */
		diskfd = memfd_create("fuzzdisk", 0);
		if (diskfd < 0 || ftruncate(diskfd, 1 << 20) < 0)
			abort();
		snprintf(conpath, sizeof(conpath), "/tmp/atoll-fuzz-console-%d", (int)getpid());
	}
	setup(&vm, &cfg, diskfd, conpath);
	for (size_t i = 0; vm.n_virtio && i + OP_SIZE <= size; i += OP_SIZE) {
		const uint8_t *o = data + i;
		struct virtio_device *dev = vm.virtio_devs[o[1] % vm.n_virtio];
		switch (o[0] & 7) {
		case 0: op_config(&vm, dev, o, true); break;
		case 1: op_config(&vm, dev, o, false); break;
		case 2: op_bar(&vm, dev, 0, o, true); break;
		case 3: op_bar(&vm, dev, 0, o, false); break;
		case 4: op_bar(&vm, dev, 1, o, true); break;
		case 5: {
			uint64_t gpa = rd32(o + 2) % ((1u << 20) - 8);
			guest_write(&vm.mem, gpa, o + 4, 8);
			break;
		}
		case 6: evloop_run_once(&vm.loop, 0); break;
		case 7: op_kick(&vm, dev); break;
		}
	}
	testvm_destroy(&vm);
	vm_config_free(&cfg);
	return 0;
}
