/*
 * `krtgate translate [--watch] [--diff] [-o json|yaml] [--controller-name NAME] PATH...`
 *
 * Loads manifests (files or folders) through the manifest source, runs the translation graph and
 * prints every resource and every status, one JSON line each (or one YAML document each). With
 * --watch it keeps following the files and prints again after each settled change; --diff then
 * prints only what the change did, as lines carrying "op": "add", "update" or "delete".
 *
 * The command is a thin composition of kube/ (source), translate/ (graph) and libkrt (flush);
 * everything it prints comes from tr_line_resource / tr_line_status, so its output and the golden
 * tests agree by construction.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cli.h"
#include "krt/krt.h"
#include "kube/manifest_dir.h"
#include "kube/source.h"
#include "translate/translate.h"

typedef struct opts {
    bool watch, diff, yaml;
    const char *controller;
    const char **paths;
    size_t npaths;
} opts_t;

/* One subscription of --diff: which collection it is, to render its lines. */
typedef struct diff_sub {
    struct app *app;
    bool status;
    tr_status_kind_t kind;
} diff_sub_t;

typedef struct app {
    opts_t o;
    krt_engine_t *e;
    kube_source_t *src;
    tr_graph_t *graph;
    kube_manifest_dir_t *dir;
    uv_signal_t sigint, sigterm;
    diff_sub_t subs[IR_KIND_COUNT + TR_STATUS_KIND_COUNT];
    json_t *pending; /* --diff lines of the current flush */
    int status;
} app_t;

static void print_line(app_t *a, json_t *line)
{
    if (a->o.yaml) {
        if (cli_yaml_write(stdout, line) != 0)
            a->status = CLI_PROBLEMS;
        return;
    }
    char *text = tr_line_text(line);
    if (!text) {
        a->status = CLI_PROBLEMS;
        return;
    }
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
}

static void on_batch(const krt_batch_t *b, void *ud)
{
    diff_sub_t *s = ud;
    for (size_t i = 0; i < b->len; i++) {
        const krt_event_t *ev = &b->events[i];
        json_t *line;
        if (ev->op == KRT_DELETE) {
            const krt_obj_t *o = ev->old;
            line = s->status ? json_pack("{ss ss ss}", "kind", "status", "object",
                                         tr_status_kind_name(s->kind), "key", krt_obj_key(o))
                             : tr_line_resource(o);
            /* A deletion needs to say what went, not what it was. */
            if (line && !s->status) {
                json_t *slim = json_pack("{sO sO sO}", "kind", json_object_get(line, "kind"),
                                         "key", json_object_get(line, "key"), "name",
                                         json_object_get(line, "name"));
                json_decref(line);
                line = slim;
            }
        } else {
            line = s->status ? tr_line_status(s->kind, ev->cur) : tr_line_resource(ev->cur);
        }
        if (!line) {
            s->app->status = CLI_PROBLEMS;
            continue;
        }
        json_object_set_new(line, "op",
                            json_string(ev->op == KRT_ADD      ? "add"
                                        : ev->op == KRT_UPDATE ? "update"
                                                               : "delete"));
        json_array_append_new(s->app->pending, line);
    }
}

static void print_all(app_t *a)
{
    for (int k = 1; k <= IR_KIND_COUNT; k++) {
        krt_collection_t *c = tr_graph_output(a->graph, (ir_kind_t)k);
        size_t n = c ? krt_collection_len(c) : 0;
        const krt_obj_t **objs = n ? malloc(n * sizeof(*objs)) : NULL;
        if (n && !objs) {
            a->status = CLI_PROBLEMS;
            return;
        }
        krt_collection_list(c, objs, n);
        for (size_t i = 0; i < n; i++) {
            json_t *line = tr_line_resource(objs[i]);
            if (line)
                print_line(a, line);
            json_decref(line);
        }
        free(objs);
    }
    for (int k = 0; k < TR_STATUS_KIND_COUNT; k++) {
        krt_collection_t *c = tr_graph_status(a->graph, (tr_status_kind_t)k);
        size_t n = c ? krt_collection_len(c) : 0;
        const krt_obj_t **objs = n ? malloc(n * sizeof(*objs)) : NULL;
        if (n && !objs) {
            a->status = CLI_PROBLEMS;
            return;
        }
        krt_collection_list(c, objs, n);
        for (size_t i = 0; i < n; i++) {
            json_t *line = tr_line_status((tr_status_kind_t)k, objs[i]);
            if (line)
                print_line(a, line);
            json_decref(line);
        }
        free(objs);
    }
}

static void on_update(kube_manifest_dir_t *d, const kube_manifest_dir_update_t *u, void *ud)
{
    (void)d;
    app_t *a = ud;
    for (size_t i = 0; i < u->nerrors; i++)
        fprintf(stderr, "krtgate: %s\n", u->errors[i]);
    if (u->nerrors && !a->o.watch)
        a->status = CLI_PROBLEMS;
    json_array_clear(a->pending);
    int rc = krt_engine_flush(a->e);
    if (rc != KRT_OK) {
        fprintf(stderr, "krtgate: translation reported %s (see the messages above)\n",
                krt_strerror(rc));
        if (!a->o.watch)
            a->status = CLI_PROBLEMS;
    }
    if (u->initial || !a->o.diff) {
        if (a->o.watch && !a->o.yaml && !u->initial)
            printf("\n");
        print_all(a);
    } else {
        size_t i;
        json_t *line;
        json_array_foreach(a->pending, i, line) print_line(a, line);
    }
    fflush(stdout);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    app_t *a = s->data;
    if (a->dir) {
        kube_manifest_dir_close(a->dir);
        a->dir = NULL;
    }
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
}

static int parse(int argc, char **argv, opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->paths = calloc((size_t)argc, sizeof(char *));
    if (!o->paths)
        return CLI_PROBLEMS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--watch") || !strcmp(a, "-w")) {
            o->watch = true;
        } else if (!strcmp(a, "--diff")) {
            o->diff = true;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            const char *v = i + 1 < argc ? argv[++i] : "";
            if (!strcmp(v, "yaml"))
                o->yaml = true;
            else if (strcmp(v, "json") != 0) {
                fprintf(stderr, "krtgate translate: -o takes json or yaml, not '%s'\n", v);
                return CLI_USAGE;
            }
        } else if (!strcmp(a, "--controller-name")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "krtgate translate: --controller-name needs a value\n");
                return CLI_USAGE;
            }
            o->controller = argv[++i];
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: krtgate translate [--watch] [--diff] [-o json|yaml] "
                   "[--controller-name NAME] PATH...\n");
            exit(CLI_OK);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "krtgate translate: unknown option '%s'\n", a);
            return CLI_USAGE;
        } else {
            o->paths[o->npaths++] = a;
        }
    }
    if (o->npaths == 0) {
        fprintf(stderr, "krtgate translate: give at least one file or folder\n");
        return CLI_USAGE;
    }
    if (o->diff && !o->watch) {
        fprintf(stderr, "krtgate translate: --diff goes with --watch\n");
        return CLI_USAGE;
    }
    return CLI_OK;
}

int cli_translate(int argc, char **argv)
{
    app_t a = {0};
    int rc = parse(argc, argv, &a.o);
    if (rc != CLI_OK) {
        free(a.o.paths);
        return rc;
    }
    a.status = CLI_OK;
    a.pending = json_array();
    a.e = krt_engine_new();
    a.src = a.e ? kube_source_new(a.e, NULL) : NULL;
    if (!a.pending || !a.src) {
        fprintf(stderr, "krtgate: out of memory\n");
        return CLI_PROBLEMS;
    }
    tr_sources_t in = {0};
    for (size_t i = 0; i < tr_source_kinds_len; i++)
        tr_sources_set(&in, tr_source_kinds[i], kube_source_collection(a.src, tr_source_kinds[i]));
    tr_options_t topt = {.controller_name = a.o.controller};
    int err = 0;
    a.graph = tr_graph_new(a.e, &in, &topt, &err);
    if (!a.graph) {
        fprintf(stderr, "krtgate: cannot build the translation graph: %s\n", tr_strerror(err));
        return CLI_PROBLEMS;
    }
    if (a.o.diff) {
        size_t n = 0;
        for (int k = 1; k <= IR_KIND_COUNT; k++, n++) {
            a.subs[n] = (diff_sub_t){&a, false, 0};
            krt_collection_subscribe(tr_graph_output(a.graph, (ir_kind_t)k), on_batch, &a.subs[n],
                                     false);
        }
        for (int k = 0; k < TR_STATUS_KIND_COUNT; k++, n++) {
            a.subs[n] = (diff_sub_t){&a, true, (tr_status_kind_t)k};
            krt_collection_subscribe(tr_graph_status(a.graph, (tr_status_kind_t)k), on_batch,
                                     &a.subs[n], false);
        }
    }
    uv_loop_t *loop = uv_default_loop();
    kube_manifest_dir_options_t dopt = {.watch = a.o.watch, .on_update = on_update, .ud = &a};
    rc = kube_manifest_dir_new(loop, a.src, a.o.paths, a.o.npaths, &dopt, &a.dir);
    if (rc == KUBE_OK)
        rc = kube_manifest_dir_start(a.dir);
    if (rc != KUBE_OK) {
        fprintf(stderr, "krtgate translate: %s\n", kube_strerror(rc));
        a.status = CLI_PROBLEMS;
        if (a.dir)
            kube_manifest_dir_close(a.dir);
        a.dir = NULL;
    } else if (a.o.watch) {
        uv_signal_init(loop, &a.sigint);
        uv_signal_init(loop, &a.sigterm);
        a.sigint.data = a.sigterm.data = &a;
        uv_signal_start(&a.sigint, on_signal, SIGINT);
        uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    if (a.dir) {
        kube_manifest_dir_close(a.dir);
        uv_run(loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(loop);
    tr_graph_free(a.graph);
    kube_source_free(a.src);
    krt_engine_free(a.e);
    json_decref(a.pending);
    free(a.o.paths);
    return a.status;
}
