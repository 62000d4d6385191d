/* The `atoll` CLI (docs/cli.md).  Everything but main() lives in the
 * atoll_cli library so that tests can run commands in-process. */
#ifndef ATOLL_CLI_COMMANDS_H
#define ATOLL_CLI_COMMANDS_H

#include <stdio.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "atoll-client.h"

/* Exit codes scripts can rely on (docs/cli.md). */
enum {
	ATOLL_EXIT_OK = 0,
	ATOLL_EXIT_ERROR = 1,        /* atolld (or the input file) said no */
	ATOLL_EXIT_USAGE = 2,        /* bad command line */
	ATOLL_EXIT_UNREACHABLE = 3,  /* cannot talk to atolld */
	ATOLL_EXIT_NOT_FOUND = 4,    /* no such domain (or other object) */
	ATOLL_EXIT_CONFLICT = 5,     /* exists already, running, not running */
};

/* Where a command reads and writes.  in_fd feeds `console` and the `q` key
 * of `top`; out_fd receives the raw console output. */
typedef struct {
	FILE *out, *err;
	int in_fd, out_fd;
} AtollCliIO;

/* `console --graphical` runs this program instead of looking for
 * atoll-viewer and remote-viewer (docs/cli.md). */
#define ATOLL_VIEWER_ENV "ATOLL_VIEWER"

/* argv[0] is the program name.  Returns the exit code. */
int atoll_cli_main(const AtollCliIO *io, int argc, char **argv);

/* The exit code for an error from the client library or xlcfg. */
int atoll_cli_exit_code(const GError *error);

/* xl's 6-letter state field ("r-----") for an Atoll state name. */
const char *atoll_cli_state_letters(const char *state);

/* ---- shared between the command files ---- */

typedef struct {
	const AtollCliIO *io;
	AtollClient *client;
	gboolean json;
	const char *command;
	GPtrArray *args;        /* positional arguments (char*) */
	GHashTable *flags;      /* given flag -> value ("" for switches) */
} AtollCli;

/* Prints "atoll: MESSAGE" (plus hints) and returns the exit code. */
int atoll_cli_fail(AtollCli *cli, const GError *error);
int atoll_cli_usage_error(AtollCli *cli, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void atoll_cli_print_json(AtollCli *cli, JsonNode *node);
const char *atoll_cli_arg(AtollCli *cli, guint i);
const char *atoll_cli_flag(AtollCli *cli, const char *flag);

/* JSON member helpers that tolerate missing/mistyped members. */
const char *atoll_json_str(JsonObject *o, const char *member);
gint64 atoll_json_int(JsonObject *o, const char *member, gint64 dflt);
double atoll_json_double(JsonObject *o, const char *member, double dflt);
gboolean atoll_json_bool(JsonObject *o, const char *member, gboolean dflt);

int atoll_cmd_console(AtollCli *cli);
int atoll_cmd_shutdown(AtollCli *cli);
int atoll_cmd_top(AtollCli *cli);

/* Read FILE (Atoll JSON or xl.cfg) into a definition; notes about the
 * xl.cfg mapping go to the error stream. */
JsonNode *atoll_cli_load_definition(AtollCli *cli, const char *path, GError **error);

#endif
