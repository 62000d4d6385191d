/* atoll: the xl-style command line for atolld (docs/cli.md). */
#include <locale.h>
#include <unistd.h>

#include "commands.h"

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	AtollCliIO io = {
		.out = stdout, .err = stderr,
		.in_fd = STDIN_FILENO, .out_fd = STDOUT_FILENO,
	};
	return atoll_cli_main(&io, argc, argv);
}
