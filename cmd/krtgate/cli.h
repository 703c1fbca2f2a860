/*
 * The krtgate command: one binary, one subcommand per job (translate, run, proxy, controller,
 * bench as they land). This header is what the subcommand files share.
 */
#ifndef KRTGATE_CLI_H
#define KRTGATE_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes: 0 success, 1 the job found problems (bad manifests, failed translation), 2 usage. */
enum { CLI_OK = 0, CLI_PROBLEMS = 1, CLI_USAGE = 2 };

int cli_translate(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_controller(int argc, char **argv);
int cli_proxy(int argc, char **argv);

/* Reads a duration flag: an integer with a unit, "ms", "s", "m" or "h" ("500ms", "90s", "1h"),
 * or "0". Returns: 0 with *ms set, or -1 (malformed or over a year). */
int cli_duration_ms(const char *s, uint64_t *ms);
/* Reads the window of --busy-poll, argv[*i + 1]: "us", "ms" or "s" ("50us", "1ms"), at most
 * NET_BUSY_POLL_MAX_US, or "0" (off), into *us; |cmd| names the command in the message.
 * Returns: CLI_OK with *i advanced past the value, or CLI_USAGE after saying what is wrong. */
int cli_busy_poll_arg(const char *cmd, int argc, char **argv, int *i, uint64_t *us);

/* Writes |doc| to |out| as one YAML document (starting with "---"). Borrows doc.
 * Returns: 0, or -1 when the emitter failed. */
int cli_yaml_write(FILE *out, const json_t *doc);

#endif /* KRTGATE_CLI_H */
