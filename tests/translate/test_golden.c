/*
 * Golden tests: for each folder tests/translate/golden/<case>/, the manifests in in.yaml go
 * through kube's parser and source into a fresh translation graph; after one flush, every output
 * resource and every status (tr_graph_dump_lines: one JSON line each, sorted) must equal
 * out.json byte for byte. TR_GOLDEN_UPDATE=1 rewrites out.json instead (review the diff by hand).
 *
 * Each case is also checked for what a golden file cannot show: no transformation failed, no
 * output key was produced twice, every output is a valid IR object (ir_obj_check) with the right
 * scope, and the engine's invariants hold. A case may feed its manifests in two halves (the
 * objects in the second half put after a first flush): the result must be the same, which is a
 * small oracle of its own (order independence).
 */
#include "tr_test.h"

#include <dirent.h>
#include <sys/stat.h>

#define GOLDEN_DIR KRT_SOURCE_DIR "/tests/translate/golden"

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Case folders, sorted. */
static size_t list_cases(char ***out)
{
    DIR *d = opendir(GOLDEN_DIR);
    assert_non_null(d);
    char **names = NULL;
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/in.yaml", GOLDEN_DIR, ent->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        assert_non_null(names);
        names[n++] = strdup(ent->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    *out = names;
    return n;
}

/* Translates |m|'s objects (all at once, or in two flushes) and returns the dump. */
static char *translate(const kube_manifest_t *m, bool halves)
{
    trt_t t;
    trt_init(&t);
    if (halves) {
        kube_manifest_t first = *m, second = *m;
        first.nitems = m->nitems / 2;
        second.items = m->items + first.nitems;
        second.nitems = m->nitems - first.nitems;
        /* the second half first: routes before their Gateways, Gateways before their class */
        trt_apply_manifest(&t, &second);
        trt_flush(&t);
        trt_apply_manifest(&t, &first);
    } else {
        trt_apply_manifest(&t, m);
    }
    trt_mark_synced(&t);
    trt_flush(&t);
    trt_check_outputs(&t);
    /* no failed transformation, no duplicate key, anywhere */
    json_t *dump = krt_engine_dump(t.e);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(dump, "collections"), i, c)
    {
        json_t *stats = json_object_get(c, "stats");
        const char *name = json_string_value(json_object_get(c, "name"));
        if (json_integer_value(json_object_get(stats, "errors")) != 0 ||
            json_integer_value(json_object_get(stats, "dup_keys")) != 0)
            fail_msg("collection %s: errors or duplicate keys", name);
    }
    json_decref(dump);
    char *lines = tr_graph_dump_lines(t.g);
    assert_non_null(lines);
    trt_dispose(&t);
    return lines;
}

/* Prints the first differing line of |want| and |got|. */
static void show_diff(const char *name, const char *want, const char *got)
{
    int line = 1;
    const char *a = want, *b = got;
    while (*a && *b) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        if (la != lb || memcmp(a, b, la) != 0)
            break;
        a += la + (ea != NULL);
        b += lb + (eb != NULL);
        line++;
    }
    fprintf(stderr, "golden %s: out.json differs at line %d\n  want: %.400s\n  got:  %.400s\n",
            name, line, *a ? a : "(end)", *b ? b : "(end)");
}

static void test_golden_cases_match_out_json(void **state)
{
    (void)state;
    const char *update = getenv("TR_GOLDEN_UPDATE");
    bool rewrite = update && strcmp(update, "1") == 0;
    char **cases;
    size_t n = list_cases(&cases);
    assert_true(n >= 10);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/in.yaml", GOLDEN_DIR, cases[i]);
        kube_manifest_t m;
        kube_manifest_init(&m);
        trt_parse_file(&m, path);
        char *got = translate(&m, false);
        char *got_halves = translate(&m, true);
        if (strcmp(got, got_halves) != 0) {
            show_diff(cases[i], got, got_halves);
            fprintf(stderr, "golden %s: feeding in two flushes gives another result\n", cases[i]);
            failures++;
        }
        snprintf(path, sizeof path, "%s/%s/out.json", GOLDEN_DIR, cases[i]);
        if (rewrite) {
            FILE *f = fopen(path, "wb");
            assert_non_null(f);
            fputs(got, f);
            fclose(f);
        } else {
            char *want = trt_read_file(path, NULL);
            if (!want) {
                fprintf(stderr, "golden %s: no out.json (run with TR_GOLDEN_UPDATE=1)\n", cases[i]);
                failures++;
            } else if (strcmp(want, got) != 0) {
                show_diff(cases[i], want, got);
                failures++;
            }
            free(want);
        }
        free(got);
        free(got_halves);
        kube_manifest_dispose(&m);
        free(cases[i]);
    }
    free(cases);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_cases_match_out_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
