/*
 * The command line of `krtgate bench` (bs_cli_main), shared by the krtgate-bench program (main.c)
 * and, once wired, the krtgate command's `bench` subcommand.
 *
 *   krtgate-bench [--scale NAME] [--scenario NAME] [--seed N] [--iterations N] [--burst N]
 *                 [--proxies N] [--no-xds] [--json] [--markdown] [--smoke] [--dump] [--list]
 *
 * With xds/ built, one xDS client per Gateway (or --proxies N) follows the outputs over loopback
 * and latencies run to the moment every client holds the change; --no-xds stops at the flush.
 * With no --scale, the standard set (small and agw-5k); with no --scenario, every scenario.
 * --smoke runs every scenario at the tiny scale with a few iterations and checks the engine
 * invariants after each step (what ctest runs; it asserts correctness only, never time).
 * --markdown prints one table row per scenario (after a header) instead of the human table; the
 * machine line follows each row either way. On a terminal, a progress line goes to stderr.
 * --dump writes the generated objects of the scale (YAML stream of JSON documents) and exits:
 * `krtgate-bench --dump --scale small > dir/cluster.yaml; krtgate translate dir` shows the input.
 * Exit status: 0, 1 when a scenario failed its correctness checks, 2 on bad usage.
 * The measuring is in the library (scale.h); this file only parses arguments.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scale.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: krtgate-bench [--scale NAME] [--scenario NAME] [--seed N] [--iterations N]\n"
            "                     [--burst N] [--proxies N] [--no-xds] [--json-trees-mib N] [--json]\n"
            "                     [--markdown] [--smoke] [--dump] [--list]\n"
            "  scales:");
    for (size_t i = 0; i < bs_scales_len; i++)
        fprintf(f, " %s", bs_scales[i].name);
    fprintf(f, "\n  scenarios:");
    for (int i = 0; i < BS_SC_COUNT; i++)
        fprintf(f, " %s", bs_scenario_name((bs_scenario_t)i));
    fprintf(f, "\n");
}

static int parse_size(const char *s, size_t *out)
{
    char *end = NULL;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || !*s || *end)
        return -1;
    *out = (size_t)v;
    return 0;
}

int bs_cli_main(int argc, char **argv)
{
    const char *scale_name = NULL, *scenario_name = NULL;
    size_t seed = 1;
    bs_options_t opt = {0};
    bool dump = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--scale") == 0 && v) {
            scale_name = v;
            i++;
        } else if (strcmp(a, "--scenario") == 0 && v) {
            scenario_name = v;
            i++;
        } else if (strcmp(a, "--seed") == 0 && parse_size(v, &seed) == 0) {
            i++;
        } else if (strcmp(a, "--iterations") == 0 && parse_size(v, &opt.iterations) == 0) {
            i++;
        } else if (strcmp(a, "--burst") == 0 && parse_size(v, &opt.burst) == 0) {
            i++;
        } else if (strcmp(a, "--proxies") == 0 && parse_size(v, &opt.proxies) == 0) {
            i++;
        } else if (strcmp(a, "--json-trees-mib") == 0 && parse_size(v, &opt.json_trees_mib) == 0) {
            opt.json_trees_set = true;
            i++;
        } else if (strcmp(a, "--no-xds") == 0) {
            opt.no_xds = true;
        } else if (strcmp(a, "--markdown") == 0) {
            opt.markdown = true;
        } else if (strcmp(a, "--json") == 0) {
            opt.json = true;
        } else if (strcmp(a, "--dump") == 0) {
            dump = true;
        } else if (strcmp(a, "--smoke") == 0) {
            opt.smoke = true;
        } else if (strcmp(a, "--list") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "krtgate-bench: bad argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }

    const bs_scale_t *scales[8];
    size_t nscales = 0;
    if (opt.smoke) { /* a few steps, a small burst, invariants checked after each */
        if (!opt.iterations)
            opt.iterations = 4;
        if (!opt.burst)
            opt.burst = 200;
    }
    if (opt.smoke && !scale_name) {
        scales[nscales++] = bs_scale_find("tiny");
    } else if (scale_name) {
        if (!(scales[nscales++] = bs_scale_find(scale_name))) {
            fprintf(stderr, "krtgate-bench: unknown scale '%s'\n", scale_name);
            usage(stderr);
            return 2;
        }
    } else {
        scales[nscales++] = bs_scale_find("small");
        scales[nscales++] = bs_scale_find("agw-5k");
    }
    int only = -1;
    if (scenario_name && (only = bs_scenario_find(scenario_name)) < 0) {
        fprintf(stderr, "krtgate-bench: unknown scenario '%s'\n", scenario_name);
        usage(stderr);
        return 2;
    }

    if (dump) { /* the generated objects of the first scale, as YAML (JSON documents) */
        bs_cluster_t *c = bs_cluster_new(scales[0], (uint64_t)seed);
        int rc = c ? bs_cluster_write(c, stdout) : -1;
        bs_cluster_free(c);
        return rc ? 1 : 0;
    }
    bs_alloc_install();
    int failed = 0;
    for (size_t s = 0; s < nscales; s++)
        for (int sc = 0; sc < BS_SC_COUNT; sc++) {
            if (only >= 0 && sc != only)
                continue;
            bs_result_t r;
            if (bs_run_scenario(scales[s], (uint64_t)seed, (bs_scenario_t)sc, &opt, &r) != 0)
                failed = 1;
        }
    return failed;
}
