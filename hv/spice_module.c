#include "spice_module.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define SPICE_MODULE "atoll-spice.so"

/* When the SPICE server is linked into the program (its unit test, the
 * benchmark) these resolve and no module is loaded; in atoll-vmm they stay
 * NULL. */
extern int atoll_spice_start(struct vm *, const struct spice_config *, char *, size_t)
	__attribute__((weak));
extern void atoll_spice_stop(struct vm *) __attribute__((weak));
extern const char *atoll_spice_uri(struct vm *) __attribute__((weak));

struct spice_module {
	void *handle;           /* dlopen handle, or (void *)1 when built in */
	int (*start)(struct vm *, const struct spice_config *, char *, size_t);
	void (*stop)(struct vm *);
	const char *(*uri)(struct vm *);
};

static struct spice_module mod;

/* $ATOLL_MODULE_DIR, the install directory, then the build tree next to
 * the binary (build/hv/atoll-vmm -> build/display/). */
static void *open_module(char *err, size_t errlen)
{
	char path[PATH_MAX], exe[PATH_MAX];
	const char *env = getenv("ATOLL_MODULE_DIR");
	const char *dirs[3] = { env, ATOLL_MODULE_DIR, NULL };
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			strncat(exe, "/../display", sizeof(exe) - strlen(exe) - 1);
			dirs[2] = exe;
		}
	}
	const char *why = "not found";
	for (int i = 0; i < 3; i++) {
		if (!dirs[i] || !*dirs[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirs[i], SPICE_MODULE);
		if (access(path, R_OK) != 0)
			continue;
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
		why = dlerror();
	}
	snprintf(err, errlen, "spice: cannot load the SPICE module %s (%s) — install "
		 "Atoll's SPICE support or set ATOLL_MODULE_DIR; without it, run the "
		 "domain with --spice none", SPICE_MODULE, why);
	return NULL;
}

int vm_spice_start(struct vm *vm, const struct spice_config *cfg, char *err, size_t errlen)
{
	if (cfg->kind == SPICE_NONE)
		return 0;
	if (!mod.handle && atoll_spice_start && atoll_spice_stop && atoll_spice_uri) {
		mod = (struct spice_module){ (void *)1, atoll_spice_start, atoll_spice_stop,
					     atoll_spice_uri };
	}
	if (!mod.handle) {
		void *h = open_module(err, errlen);
		if (!h)
			return -1;
		*(void **)&mod.start = dlsym(h, "atoll_spice_start");
		*(void **)&mod.stop = dlsym(h, "atoll_spice_stop");
		*(void **)&mod.uri = dlsym(h, "atoll_spice_uri");
		if (!mod.start || !mod.stop || !mod.uri) {
			snprintf(err, errlen, "spice: %s is not Atoll's SPICE module (%s)",
				 SPICE_MODULE, dlerror());
			dlclose(h);
			memset(&mod, 0, sizeof(mod));
			return -1;
		}
		mod.handle = h;
	}
	return mod.start(vm, cfg, err, errlen);
}

void vm_spice_stop(struct vm *vm)
{
	if (mod.handle)
		mod.stop(vm);
}

const char *vm_spice_uri(struct vm *vm)
{
	if (!mod.handle && atoll_spice_uri)
		return atoll_spice_uri(vm);
	return mod.handle ? mod.uri(vm) : NULL;
}
