/* Tiny real-mode guests on whatever /dev/kvm the host has: they exercise
 * VM and vCPU creation, the in-kernel irqchip, port I/O dispatch, the
 * UART, and the poweroff / reset / crash paths of the lifecycle. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "config.h"
#include "vcpu.h"
#include "vm.h"

#define CODE_ADDR 0x1000

static const uint8_t prog_poweroff[] = {
	0xba, 0xf8, 0x03,       /* mov dx, 0x3f8 */
	0xb0, 'O', 0xee,        /* mov al, 'O'; out dx, al */
	0xb0, 'K', 0xee,
	0xb0, '\n', 0xee,
	0xba, 0x04, 0x06,       /* mov dx, 0x604 (PM1a control) */
	0xb8, 0x00, 0x34,       /* mov ax, SLP_EN | SLP_TYP(5) */
	0xef,                   /* out dx, ax */
	0xf4, 0xeb, 0xfd,       /* hlt; jmp hlt */
};

static const uint8_t prog_i8042_reset[] = {
	0xb0, 0xfe, 0xe6, 0x64, /* mov al, 0xfe; out 0x64, al */
	0xf4, 0xeb, 0xfd,
};

static const uint8_t prog_triple_fault[] = {
	0x0f, 0x01, 0x1e, 0x00, 0x20,   /* lidt [0x2000] (limit 0) */
	0xcc,                           /* int3: no IDT entry -> triple fault */
	0xf4, 0xeb, 0xfd,
};

struct prog {
	const uint8_t *code;
	size_t len;
};

static int setup_real_mode(struct vcpu *vcpu, void *opaque)
{
	const struct prog *p = opaque;
	struct kvm_sregs s;
	if (guest_write(&vcpu->vm->mem, CODE_ADDR, p->code, p->len))
		return -1;
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0)
		return -1;
	s.cs.base = 0;
	s.cs.selector = 0;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &s) < 0)
		return -1;
	struct kvm_regs r = { .rip = CODE_ADDR, .rflags = 2, .rsp = 0x8000 };
	return ioctl(vcpu->fd, KVM_SET_REGS, &r);
}

static enum vm_exit_reason run_prog(const uint8_t *code, size_t len, char **serial_out)
{
	struct vm_config cfg;
	struct vm vm;
	char err[256] = "";
	char *dir = g_dir_make_tmp("atoll-kvm-XXXXXX", NULL);
	char *log = g_build_filename(dir, "serial.log", NULL);
	struct prog p = { code, len };

	vm_config_init(&cfg);
	cfg.name = g_strdup("tiny");
	cfg.memory_mib = 16;
	cfg.vcpus = 1;
	cfg.serial.kind = CHARDEV_FILE;
	cfg.serial.path = g_strdup(log);
	if (vm_create(&vm, &cfg, err, sizeof(err)) != 0)
		g_error("vm_create: %s", err);
	enum vm_exit_reason r = vm_run_with(&vm, setup_real_mode, &p, err, sizeof(err));
	vm_destroy(&vm);
	vm_config_free(&cfg);
	if (serial_out)
		g_file_get_contents(log, serial_out, NULL, NULL);
	g_unlink(log);
	g_rmdir(dir);
	g_free(log);
	g_free(dir);
	return r;
}

static bool have_kvm(void)
{
	if (access("/dev/kvm", R_OK | W_OK) == 0)
		return true;
	g_test_skip("/dev/kvm is not available");
	return false;
}

static void test_serial_and_poweroff(void)
{
	char *out = NULL;
	if (!have_kvm())
		return;
	g_assert_cmpint(run_prog(prog_poweroff, sizeof(prog_poweroff), &out), ==,
			VM_EXIT_POWEROFF);
	g_assert_nonnull(out);
	g_assert_cmpstr(out, ==, "OK\n");
	g_free(out);
}

static void test_i8042_reset(void)
{
	if (!have_kvm())
		return;
	g_assert_cmpint(run_prog(prog_i8042_reset, sizeof(prog_i8042_reset), NULL), ==,
			VM_EXIT_REBOOT);
}

static void test_triple_fault(void)
{
	if (!have_kvm())
		return;
	g_assert_cmpint(run_prog(prog_triple_fault, sizeof(prog_triple_fault), NULL), ==,
			VM_EXIT_CRASH);
}

int main(int argc, char **argv)
{
	/* A KVM_RUN that never returns must not hang the suite. */
	alarm(60);
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/kvm/serial-and-poweroff", test_serial_and_poweroff);
	g_test_add_func("/kvm/i8042-reset", test_i8042_reset);
	g_test_add_func("/kvm/triple-fault", test_triple_fault);
	return g_test_run();
}
