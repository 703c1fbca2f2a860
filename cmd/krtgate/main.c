/*
 * krtgate: entry point and subcommand dispatch.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "krt/json.h"
#include "net/busy_poll.h"
#ifdef KRTGATE_HAVE_BENCH
#include "scale.h"
#endif

#ifndef KRTGATE_VERSION
#define KRTGATE_VERSION "0.1.0"
#endif

typedef struct duration_unit {
    const char *name;
    uint64_t scale; /* in the result's unit */
} duration_unit_t;

/* Digits then one of |units| ("0" alone needs none), at most |max| in the result's unit. */
static int parse_duration(const char *s, const duration_unit_t *units, size_t nunits, uint64_t max,
                          uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (!s || *p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max)
            return -1;
    }
    if (!*p && v == 0) {
        *out = 0;
        return 0;
    }
    for (size_t i = 0; i < nunits; i++)
        if (!strcmp(p, units[i].name)) {
            if (v > max / units[i].scale)
                return -1;
            *out = v * units[i].scale;
            return 0;
        }
    return -1;
}

int cli_duration_ms(const char *s, uint64_t *ms)
{
    static const duration_unit_t units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    return parse_duration(s, units, sizeof units / sizeof *units, 366ull * 24 * 3600 * 1000, ms);
}

int cli_busy_poll_arg(const char *cmd, int argc, char **argv, int *i, uint64_t *us)
{
    static const duration_unit_t units[] = {{"us", 1}, {"ms", 1000}, {"s", 1000000}};
    if (*i + 1 >= argc || parse_duration(argv[*i + 1], units, sizeof units / sizeof *units,
                                         NET_BUSY_POLL_MAX_US, us) != 0) {
        fprintf(stderr,
                "krtgate %s: --busy-poll wants a duration up to 100ms such as 50us or 1ms "
                "(0: off)\n",
                cmd);
        return CLI_USAGE;
    }
    ++*i;
    return CLI_OK;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: krtgate <command> [options]\n"
                 "\n"
                 "commands:\n"
                 "  translate [--watch] [--diff] [-o json|yaml] PATH...\n"
                 "            translate Gateway API manifests into agentgateway resources and\n"
                 "            status, one per line (docs/translate.md)\n"
                 "  run [--xds-listen ADDR] [--admin-listen ADDR] PATH...\n"
                 "            serve the manifests' resources as delta xDS, following edits;\n"
                 "            admin endpoint with /healthz, /readyz, /debug/* (docs/cli.md)\n"
                 "  controller [--kubeconfig F] [--leader-elect] [--xds-listen ADDR] ...\n"
                 "            watch the Kubernetes API server and serve its Gateway API objects\n"
                 "            as delta xDS; /healthz, /readyz, /metrics, /debug/* (docs/cli.md)\n"
                 "  proxy --xds HOST:PORT --gateway NS/NAME [--token-file F] | --config FILE\n"
                 "            the data plane: fed by a control plane over xDS, or by a local\n"
                 "            config file in agentgateway's format (docs/cli.md)\n"
                 "  bench [--scale small|agw-5k|large] [--scenario NAME] [--json] [--smoke]\n"
                 "            incremental recompute at cluster scale, beside full recompute\n"
                 "            (docs/bench.md)\n"
                 "  version   print the version\n"
                 "  help      print this text\n");
}

int main(int argc, char **argv)
{
    /* A peer closing while we write must cost that connection, not the process (the proxy and the
     * control plane share it): writes then fail with EPIPE, which net/ handles per connection. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    /* Parsed trees in pages of their own, so dropping them gives memory back (krt/json.h). The
     * bench installs it itself, after its counting allocators. */
    if (strcmp(cmd, "bench") != 0)
        krt_json_heap_install_default();
    if (strcmp(cmd, "translate") == 0)
        return cli_translate(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return cli_run(argc - 1, argv + 1);
    if (strcmp(cmd, "controller") == 0)
        return cli_controller(argc - 1, argv + 1);
    if (strcmp(cmd, "proxy") == 0)
        return cli_proxy(argc - 1, argv + 1);
#ifdef KRTGATE_HAVE_BENCH
    /* Before anything creates an engine: the bench installs its counting allocators. */
    if (strcmp(cmd, "bench") == 0)
        return bs_cli_main(argc - 1, argv + 1);
#endif
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("krtgate %s\n", KRTGATE_VERSION);
        return CLI_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    fprintf(stderr, "krtgate: unknown command '%s'\n", cmd);
    usage(stderr);
    return CLI_USAGE;
}
