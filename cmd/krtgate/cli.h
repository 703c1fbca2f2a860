/*
 * The krtgate command: one binary, one subcommand per job (translate, run, proxy, controller,
 * bench as they land). This header is what the subcommand files share.
 */
#ifndef KRTGATE_CLI_H
#define KRTGATE_CLI_H

#include <stdio.h>

#include <jansson.h>

/* Exit codes: 0 success, 1 the job found problems (bad manifests, failed translation), 2 usage. */
enum { CLI_OK = 0, CLI_PROBLEMS = 1, CLI_USAGE = 2 };

int cli_translate(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_controller(int argc, char **argv);
int cli_proxy(int argc, char **argv);

/* Writes |doc| to |out| as one YAML document (starting with "---"). Borrows doc.
 * Returns: 0, or -1 when the emitter failed. */
int cli_yaml_write(FILE *out, const json_t *doc);

#endif /* KRTGATE_CLI_H */
