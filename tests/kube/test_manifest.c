/*
 * The manifest parser (kube/manifest.c), byte by byte: documents and their positions, scalars typed
 * as kubectl types them, anchors, aliases and merge keys, every error path with its exact
 * "file:line:col: Kind ns/name: what" message, the limits, and robustness sweeps (every truncation
 * of a golden buffer keeps the documents before the cut; single-byte mutations never break the
 * result's invariants).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>

#include "kube/manifest.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers.
 * ------------------------------------------------------------------------------------------- */
static void parse_lim(kube_manifest_t *m, const char *s, size_t len,
                      const kube_manifest_limits_t *lim)
{
    kube_manifest_init(m);
    assert_int_equal(kube_manifest_parse(m, "t.yaml", s, len, lim), KUBE_OK);
}

static void parse(kube_manifest_t *m, const char *s)
{
    parse_lim(m, s, strlen(s), NULL);
}

/* Checks the result's invariants M1-M3 and the shape of every message. */
static void check_manifest(const kube_manifest_t *m, const char *file)
{
    assert_int_equal(kube_manifest_check(m), KUBE_OK);
    assert_true(m->nitems <= m->cap_items);
    assert_true(m->nerrors <= m->cap_errors);
    for (size_t i = 0; i < m->nitems; i++) {
        json_t *o = m->items[i].object;
        assert_true(json_is_object(o));
        const char *av = json_string_value(json_object_get(o, "apiVersion"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        json_t *md = json_object_get(o, "metadata");
        const char *name = json_string_value(json_object_get(md, "name"));
        json_t *ns = json_object_get(md, "namespace");
        assert_true(av && *av && kind && *kind && name && *name);
        assert_null(strchr(name, '/'));
        assert_true(!ns || (json_is_string(ns) && !strchr(json_string_value(ns), '/')));
        assert_true(m->items[i].line >= 1 && m->items[i].column >= 1);
        for (size_t j = 0; j < i; j++)
            assert_true(m->items[j].object != o); /* M3 */
        char *dump = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        assert_non_null(dump); /* every value is representable */
        free(dump);
    }
    size_t flen = strlen(file);
    for (size_t i = 0; i < m->nerrors; i++) {
        const char *msg = m->errors[i].message;
        assert_non_null(msg);
        assert_memory_equal(msg, file, flen);
        assert_int_equal(msg[flen], ':');
        if (m->errors[i].line) {
            char want[64];
            snprintf(want, sizeof want, ":%u:%u: ", m->errors[i].line, m->errors[i].column);
            assert_memory_equal(msg + flen, want, strlen(want));
        }
    }
}

static const char *item_name(const kube_manifest_t *m, size_t i)
{
    return json_string_value(
        json_object_get(json_object_get(m->items[i].object, "metadata"), "name"));
}

static void expect_errors(const kube_manifest_t *m, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        if (i >= m->nerrors)
            fail_msg("missing error %zu: %s", i, want);
        assert_string_equal(m->errors[i].message, want);
    }
    va_end(ap);
    if (m->nerrors != n) {
        for (size_t i = 0; i < m->nerrors; i++)
            print_message("error[%zu]: %s\n", i, m->errors[i].message);
        fail_msg("%zu errors, expected %zu", m->nerrors, n);
    }
}

#define CM(body) "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n" body

/* The JSON (compact) of data.v in a one-ConfigMap document. */
static char *value_of(const char *yaml_value)
{
    char doc[512];
    snprintf(doc, sizeof doc, CM("  v: %s\n"), yaml_value);
    kube_manifest_t m;
    parse(&m, doc);
    if (m.nitems != 1) {
        for (size_t i = 0; i < m.nerrors; i++)
            print_message("%s\n", m.errors[i].message);
        kube_manifest_dispose(&m);
        return strdup("<error>");
    }
    json_t *v = json_object_get(json_object_get(m.items[0].object, "data"), "v");
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    kube_manifest_dispose(&m);
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * Documents.
 * ------------------------------------------------------------------------------------------- */
static void test_documents_become_objects_with_their_lines(void **state)
{
    (void)state;
    const char *s = "# leading comment\n"
                    "apiVersion: v1\n" /* 2 */
                    "kind: Service\n"
                    "metadata: {name: a, namespace: ns1}\n"
                    "---\n" /* 5 */
                    "# only a comment\n"
                    "---\n" /* 7: empty */
                    "---\n" /* 8 */
                    "\n"
                    "apiVersion: gateway.networking.k8s.io/v1\n" /* 10 */
                    "kind: HTTPRoute\n"
                    "metadata:\n"
                    "  name: b\n"
                    "...\n" /* 14 */
                    "---\n"
                    "~\n" /* 16: a null document */
                    "--- {apiVersion: v1, kind: Namespace, metadata: {name: c}}\n"; /* 17 */
    kube_manifest_t m;
    parse(&m, s);
    check_manifest(&m, "t.yaml");
    expect_errors(&m, 0);
    assert_int_equal(m.nitems, 3);
    assert_int_equal(m.documents, 3);
    assert_string_equal(item_name(&m, 0), "a");
    assert_int_equal(m.items[0].line, 2);
    assert_int_equal(m.items[0].column, 1);
    assert_string_equal(item_name(&m, 1), "b");
    assert_int_equal(m.items[1].line, 10);
    assert_string_equal(item_name(&m, 2), "c");
    assert_int_equal(m.items[2].line, 17);
    assert_int_equal(m.items[2].column, 5);
    kube_manifest_dispose(&m);
}

static void test_empty_and_comment_only_buffers_have_no_objects(void **state)
{
    (void)state;
    const char *cases[] = {"",    "\n\n", "# nothing\n",     "---\n", "---\n---\n...\n",
                           "~\n", "null", "%YAML 1.1\n---\n"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kube_manifest_t m;
        parse(&m, cases[i]);
        check_manifest(&m, "t.yaml");
        expect_errors(&m, 0);
        assert_int_equal(m.nitems, 0);
        assert_int_equal(m.documents, 0);
        kube_manifest_dispose(&m);
    }
}

static void test_crlf_directives_and_end_markers_keep_lines_right(void **state)
{
    (void)state;
    const char *s = "%YAML 1.1\r\n"
                    "---\r\n"
                    "apiVersion: v1\r\n" /* 3 */
                    "kind: Secret\r\n"
                    "metadata:\r\n"
                    "  name: s1\r\n"
                    "...\r\n" /* 7 */
                    "%YAML 1.1\r\n"
                    "---\r\n"
                    "apiVersion: v1\r\n" /* 10 */
                    "kind: Secret\r\n"
                    "metadata:\r\n"
                    "  name: [\r\n"; /* 13: unterminated flow sequence */
    kube_manifest_t m;
    parse(&m, s);
    check_manifest(&m, "t.yaml");
    assert_int_equal(m.nitems, 1);
    assert_int_equal(m.items[0].line, 3);
    expect_errors(&m, 1,
                  "t.yaml:14:1: Secret: did not find expected node content (while parsing a flow "
                  "node at line 14)");
    kube_manifest_dispose(&m);
}

static void test_parse_appends_to_the_result(void **state)
{
    (void)state;
    kube_manifest_t m;
    kube_manifest_init(&m);
    const char *a = "{apiVersion: v1, kind: Pod, metadata: {name: a}}";
    const char *b = "{apiVersion: v1, kind: Pod, metadata: {name: b}}\n---\nkind: Pod\n";
    assert_int_equal(kube_manifest_parse(&m, "a.yaml", a, strlen(a), NULL), KUBE_OK);
    assert_int_equal(kube_manifest_parse(&m, "b.yaml", b, strlen(b), NULL), KUBE_OK);
    assert_int_equal(m.nitems, 2);
    assert_string_equal(item_name(&m, 1), "b");
    expect_errors(&m, 1, "b.yaml:3:1: Pod: apiVersion is missing");
    assert_int_equal(kube_manifest_parse(NULL, "x", a, 1, NULL), KUBE_EINVAL);
    assert_int_equal(kube_manifest_parse(&m, NULL, a, 1, NULL), KUBE_EINVAL);
    assert_int_equal(kube_manifest_parse(&m, "x", NULL, 1, NULL), KUBE_EINVAL);
    assert_int_equal(kube_manifest_parse(&m, "x", NULL, 0, NULL), KUBE_OK);
    kube_manifest_dispose(&m);
    kube_manifest_dispose(&m); /* idempotent */
}

static void test_json_files_parse_as_yaml(void **state)
{
    (void)state;
    const char *s = "{\n"
                    "\t\"apiVersion\": \"v1\",\n"
                    "\t\"kind\": \"Service\",\n"
                    "\t\"metadata\": {\"name\": \"web\", \"labels\": {\"app\": \"web\"}},\n"
                    "\t\"spec\": {\"ports\": [{\"port\": 80, \"name\": \"http\"}], "
                    "\"x\": 1.5e3, \"y\": null, \"z\": true, \"s\": \"yes\"}\n"
                    "}\n";
    kube_manifest_t m;
    parse(&m, s);
    check_manifest(&m, "t.yaml");
    expect_errors(&m, 0);
    assert_int_equal(m.nitems, 1);
    json_t *spec = json_object_get(m.items[0].object, "spec");
    char *d = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(d, "{\"ports\":[{\"name\":\"http\",\"port\":80}],\"s\":\"yes\",\"x\":1500,"
                           "\"y\":null,\"z\":true}");
    free(d);
    kube_manifest_dispose(&m);
}

/* ---------------------------------------------------------------------------------------------
 * Scalars.
 * ------------------------------------------------------------------------------------------- */
static void test_scalars_are_typed_as_kubectl_types_them(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *json;
    } cases[] = {
        /* null */
        {"", "null"},
        {"~", "null"},
        {"null", "null"},
        {"Null", "null"},
        {"NULL", "null"},
        {"nULL", "\"nULL\""},
        /* booleans: YAML 1.1 as go-yaml v2 reads them */
        {"true", "true"},
        {"True", "true"},
        {"TRUE", "true"},
        {"false", "false"},
        {"yes", "true"},
        {"Yes", "true"},
        {"no", "false"},
        {"NO", "false"},
        {"on", "true"},
        {"Off", "false"},
        {"y", "true"},
        {"N", "false"},
        {"tRUE", "\"tRUE\""},
        {"yes please", "\"yes please\""},
        /* integers */
        {"0", "0"},
        {"-12", "-12"},
        {"+7", "7"},
        {"1_000", "1000"},
        {"0x1F", "31"},
        {"0X1f", "31"},
        {"-0x10", "-16"},
        {"0o17", "15"},
        {"0755", "493"},
        {"0b101", "5"},
        {"-0b11", "-3"},
        {"9223372036854775807", "9223372036854775807"},
        {"-9223372036854775808", "-9223372036854775808"},
        {"0x", "\"0x\""},
        {"+", "\"+\""},
        {"-a", "\"-a\""},
        {"-", "<error>"} /* a sequence entry */,
        {"_1", "\"_1\""},
        {"1_", "1"},
        {"0b102", "\"0b102\""},
        /* floats; integral ones become integers, as after kubectl's JSON step */
        {"1.5", "1.5"},
        {"-0.25", "-0.25"},
        {"80.0", "80"},
        {".5", "0.5"},
        {"+.5", "0.5"},
        {"1.5e+3", "1500"},
        {"2.5E-1", "0.25"},
        {"08", "8"},
        {".5e1", "5"},
        {"1e3", "\"1e3\""}, /* go-yaml v2 needs a signed exponent */
        {"1.", "\"1.\""},
        {"1e+999", "\"1e+999\""}, /* overflow stays text */
        {"9223372036854775808", "9.2233720368547758e18"},
        {"99999999999999999999999", "9.9999999999999992e22"},
        /* strings */
        {"abc", "\"abc\""},
        {"2001-12-14", "\"2001-12-14\""},
        {"1.2.3", "\"1.2.3\""},
        {"10.0.0.1", "\"10.0.0.1\""},
        {"'true'", "\"true\""},
        {"\"123\"", "\"123\""},
        {"'~'", "\"~\""},
        {"\"\"", "\"\""},
        {"''", "\"\""},
        {"\"a\\tb\\u00e9\"", "\"a\\tb\xc3\xa9\""},
        {"http://x:80/y", "\"http://x:80/y\""},
        {"*.example.com", "<error>"},
        {"'*.example.com'", "\"*.example.com\""},
        /* tags */
        {"!!str 123", "\"123\""},
        {"!!str true", "\"true\""},
        {"!!int \"42\"", "42"},
        {"!!float 1", "1"},
        {"!!float '2.5'", "2.5"},
        {"!!bool yes", "true"},
        {"!!null ''", "null"},
        {"! 12", "\"12\""},
        {"!custom 12", "\"12\""},
        {"!!timestamp 2001-12-14", "\"2001-12-14\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = value_of(cases[i].yaml);
        if (strcmp(got, cases[i].json) != 0)
            fail_msg("%s: got %s, want %s", cases[i].yaml, got, cases[i].json);
        free(got);
    }
}

static void test_block_scalars_stay_strings(void **state)
{
    (void)state;
    kube_manifest_t m;
    parse(&m, CM("  lit: |\n    a: 1\n    true\n  fold: >-\n    x\n    y\n  num: |\n    42\n"));
    expect_errors(&m, 0);
    json_t *data = json_object_get(m.items[0].object, "data");
    assert_string_equal(json_string_value(json_object_get(data, "lit")), "a: 1\ntrue\n");
    assert_string_equal(json_string_value(json_object_get(data, "fold")), "x y");
    assert_string_equal(json_string_value(json_object_get(data, "num")), "42\n");
    kube_manifest_dispose(&m);
}

static void test_keys_are_rendered_as_kubectl_renders_them(void **state)
{
    (void)state;
    kube_manifest_t m;
    parse(&m, CM("  1: a\n  true: b\n  0x10: c\n  1.5: d\n  \"quoted\": e\n  yes: f\n"));
    expect_errors(&m, 1, "t.yaml:11:3: ConfigMap x: duplicate mapping key \"true\"");
    kube_manifest_dispose(&m);

    parse(&m, CM("  1: a\n  false: b\n  0x10: c\n  1.5: d\n  \"quoted\": e\n  2.0: f\n"));
    expect_errors(&m, 0);
    char *d = json_dumps(json_object_get(m.items[0].object, "data"), JSON_COMPACT);
    assert_string_equal(d, "{\"1\":\"a\",\"false\":\"b\",\"16\":\"c\",\"1.5\":\"d\","
                           "\"quoted\":\"e\",\"2\":\"f\"}");
    free(d);
    kube_manifest_dispose(&m);
}

/* ---------------------------------------------------------------------------------------------
 * Anchors, aliases, merges.
 * ------------------------------------------------------------------------------------------- */
static void test_aliases_are_independent_copies(void **state)
{
    (void)state;
    const char *s = "apiVersion: v1\n"
                    "kind: Service\n"
                    "metadata:\n"
                    "  name: web\n"
                    "  labels: &l {app: web, tier: &t front}\n"
                    "spec:\n"
                    "  selector: *l\n"
                    "  tier: *t\n"
                    "  ports: &p [{port: 80}]\n"
                    "  more: [*p, *p]\n";
    kube_manifest_t m;
    parse(&m, s);
    check_manifest(&m, "t.yaml");
    expect_errors(&m, 0);
    json_t *o = m.items[0].object;
    json_t *labels = json_object_get(json_object_get(o, "metadata"), "labels");
    json_t *spec = json_object_get(o, "spec");
    json_t *sel = json_object_get(spec, "selector");
    assert_true(json_equal(labels, sel));
    assert_ptr_not_equal(labels, sel);
    assert_string_equal(json_string_value(json_object_get(spec, "tier")), "front");
    json_t *more = json_object_get(spec, "more");
    assert_int_equal(json_array_size(more), 2);
    assert_ptr_not_equal(json_array_get(more, 0), json_array_get(more, 1));
    assert_true(json_equal(json_array_get(more, 0), json_object_get(spec, "ports")));
    kube_manifest_dispose(&m);
}

static void test_merge_keys_follow_yaml_precedence(void **state)
{
    (void)state;
    const char *s = "base: &b {a: 1, b: 1, c: 1}\n"
                    "over: &o {b: 2, d: 2}\n"
                    "apiVersion: v1\n"
                    "kind: ConfigMap\n"
                    "metadata: {name: x}\n"
                    "data:\n"
                    "  c: own\n"
                    "  <<: [*o, *b]\n"
                    "one:\n"
                    "  <<: *b\n"
                    "  a: mine\n"
                    "quoted:\n"
                    "  '<<': not a merge\n";
    kube_manifest_t m;
    parse(&m, s);
    expect_errors(&m, 0);
    json_t *o = m.items[0].object;
    char *d = json_dumps(json_object_get(o, "data"), JSON_COMPACT | JSON_SORT_KEYS);
    /* Explicit keys win, then the earlier merge source. */
    assert_string_equal(d, "{\"a\":1,\"b\":2,\"c\":\"own\",\"d\":2}");
    free(d);
    d = json_dumps(json_object_get(o, "one"), JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(d, "{\"a\":\"mine\",\"b\":1,\"c\":1}");
    free(d);
    d = json_dumps(json_object_get(o, "quoted"), JSON_COMPACT);
    assert_string_equal(d, "{\"<<\":\"not a merge\"}");
    free(d);
    kube_manifest_dispose(&m);

    parse(&m, CM("  <<: [1, 2]\n"));
    expect_errors(&m, 1,
                  "t.yaml:6:3: ConfigMap x: the merge key << needs a mapping or a sequence "
                  "of mappings, not a sequence");
    kube_manifest_dispose(&m);
}

static void test_billion_laughs_is_bounded_and_costs_one_document(void **state)
{
    (void)state;
    const char *s = "apiVersion: v1\n"
                    "kind: ConfigMap\n"
                    "metadata: {name: lol}\n"
                    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                    "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                    "---\n"
                    "{apiVersion: v1, kind: ConfigMap, metadata: {name: fine}}\n";
    kube_manifest_t m;
    parse(&m, s);
    check_manifest(&m, "t.yaml");
    assert_int_equal(m.nitems, 1);
    assert_string_equal(item_name(&m, 0), "fine");
    /* b..e copy 123,440 nodes; f's first *e (111,111 more) fits, its second does not. */
    expect_errors(&m, 1,
                  "t.yaml:9:12: ConfigMap lol: aliases copy more than 262144 nodes (alias "
                  "*e has 111111)");
    kube_manifest_dispose(&m);

    /* The per-buffer alias budget: many small documents that each copy a lot. */
    kube_manifest_limits_t lim = kube_manifest_default_limits;
    lim.max_alias_nodes = 100;
    const char *t =
        "{apiVersion: v1, kind: ConfigMap, metadata: {name: a}, x: &x [1,2,3,4,5,6,7,8,9],"
        " y: [*x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x]}\n";
    parse_lim(&m, t, strlen(t), &lim);
    expect_errors(&m, 1,
                  "t.yaml:1:127: ConfigMap a: aliases copy more than 100 nodes (alias *x "
                  "has 10)");
    kube_manifest_dispose(&m);
}

static void test_alias_errors(void **state)
{
    (void)state;
    kube_manifest_t m;
    /* An alias to its own enclosing node is unknown until that node ends. */
    parse(&m, CM("  a: &a [1, *a]\n  b: *nope\n"));
    expect_errors(&m, 2, "t.yaml:6:13: ConfigMap x: unknown anchor *a",
                  "t.yaml:7:6: ConfigMap x: unknown anchor *nope");
    kube_manifest_dispose(&m);
    /* Anchors do not cross documents. */
    parse(&m, "a: &a 1\n---\n" CM("  v: *a\n"));
    expect_errors(&m, 2, "t.yaml:1:1: kind is missing",
                  "t.yaml:8:6: ConfigMap x: unknown anchor *a");
    kube_manifest_dispose(&m);
    /* Redefinition: later aliases see the latest. */
    parse(&m, CM("  a: &a one\n  b: &a two\n  c: *a\n"));
    expect_errors(&m, 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(m.items[0].object, "data"), "c")), "two");
    kube_manifest_dispose(&m);
}

/* ---------------------------------------------------------------------------------------------
 * Errors.
 * ------------------------------------------------------------------------------------------- */
static void test_duplicate_keys_are_errors_naming_the_object(void **state)
{
    (void)state;
    const char *s = "apiVersion: v1\n"
                    "kind: Service\n"
                    "spec:\n"
                    "  ports: []\n"
                    "  ports: [1]\n" /* 5 */
                    "metadata:\n"
                    "  namespace: ns\n"
                    "  name: web\n"
                    "---\n"
                    "{apiVersion: v1, kind: Service, metadata: {name: ok}}\n";
    kube_manifest_t m;
    parse(&m, s);
    assert_int_equal(m.nitems, 1);
    assert_string_equal(item_name(&m, 0), "ok");
    expect_errors(&m, 1, "t.yaml:5:3: Service ns/web: duplicate mapping key \"ports\"");
    kube_manifest_dispose(&m);
}

static void test_syntax_error_costs_only_its_document(void **state)
{
    (void)state;
    const char *s = "apiVersion: v1\n"
                    "kind: Pod\n"
                    "metadata: {name: one}\n"
                    "---\n"
                    "apiVersion: v1\n" /* 5 */
                    "kind: Pod\n"
                    "metadata:\n"
                    "  name: two\n"
                    "spec:\n"
                    "  a: b\n"
                    " c: d\n" /* 11: bad indentation */
                    "---\n"
                    "apiVersion: v1\n"
                    "kind: Pod\n"
                    "metadata: {name: three}\n";
    kube_manifest_t m;
    parse(&m, s);
    check_manifest(&m, "t.yaml");
    assert_int_equal(m.nitems, 2);
    assert_string_equal(item_name(&m, 0), "one");
    assert_string_equal(item_name(&m, 1), "three");
    assert_int_equal(m.items[1].line, 13);
    expect_errors(&m, 1,
                  "t.yaml:11:2: Pod two: did not find expected key (while parsing a block mapping "
                  "at line 5)");
    kube_manifest_dispose(&m);

    /* Errors before the object names itself carry no name. */
    parse(&m, "a: [b\n---\nkey: 'unterminated\n---\n\t- tab\n");
    check_manifest(&m, "t.yaml");
    expect_errors(&m, 3,
                  "t.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence at "
                  "line 1)",
                  "t.yaml:4:1: found unexpected end of stream (while scanning a quoted scalar at "
                  "line 3)",
                  "t.yaml:5:1: found character that cannot start any token (while scanning for "
                  "the next token at line 5)");
    kube_manifest_dispose(&m);
}

static void test_object_errors_name_what_and_where(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *error;
    } cases[] = {
        {"- a\n", "t.yaml:1:1: an object must be a mapping, not a sequence"},
        {"just text\n", "t.yaml:1:1: an object must be a mapping, not a string"},
        {"apiVersion: v1\nmetadata: {name: a}\n", "t.yaml:1:1: kind is missing"},
        {"kind: [Pod]\n", "t.yaml:1:1: kind must be a non-empty string without '/', not a "
                          "sequence"},
        {"kind: ''\n", "t.yaml:1:1: kind must be a non-empty string without '/', not a string "
                       "like that"},
        {"kind: Pod\nmetadata: {name: a}\n", "t.yaml:1:1: Pod a: apiVersion is missing"},
        {"kind: Pod\napiVersion: 1\n", "t.yaml:1:1: Pod: apiVersion must be a non-empty string"},
        {"kind: Pod\napiVersion: v1\n", "t.yaml:1:1: Pod: metadata is missing"},
        {"kind: Pod\napiVersion: v1\nmetadata: a\n",
         "t.yaml:1:1: Pod: metadata must be a mapping, not a string"},
        {"kind: Pod\napiVersion: v1\nmetadata: {}\n", "t.yaml:1:1: Pod: metadata.name is missing"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: ~, namespace: n}\n",
         "t.yaml:1:1: Pod: metadata.name is missing"},
        {"kind: Pod\napiVersion: v1\nmetadata: {generateName: p-}\n",
         "t.yaml:1:1: Pod: metadata.name is missing (metadata.generateName needs an API server: "
         "a manifest must name its objects)"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: 12}\n",
         "t.yaml:1:1: Pod: metadata.name must be a non-empty string, not integer"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: ''}\n",
         "t.yaml:1:1: Pod: metadata.name must be a non-empty string, not empty"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: a/b}\n",
         "t.yaml:1:1: Pod a/b: metadata.name must not contain '/' or NUL"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: \"a\\0b\"}\n",
         "t.yaml:1:1: Pod a: metadata.name must not contain '/' or NUL"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: a, namespace: 3}\n",
         "t.yaml:1:1: Pod a: metadata.namespace must be a string, not a integer"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: a, namespace: x/y}\n",
         "t.yaml:1:1: Pod x/y/a: metadata.namespace must not contain '/' or NUL"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: a, namespace: "
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}\n",
         "t.yaml:1:1: Pod aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/a: "
         "metadata.namespace is longer than 63 characters"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: a}\nx: .inf\n",
         "t.yaml:4:4: Pod a: .inf cannot be represented in JSON (write it quoted for a string)"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: a}\nx: !!binary aGk=\n",
         "t.yaml:4:4: Pod a: !!binary is not supported: write the base64 text as a plain string"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: a}\nx: !!int abc\n",
         "t.yaml:4:4: Pod a: cannot read \"abc\" as !!int"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: a}\n~: 1\n",
         "t.yaml:4:1: Pod a: a mapping key must not be null"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: a}\n? [k]\n: v\n",
         "t.yaml:4:3: Pod a: a mapping key must be a scalar (complex keys are not supported)"},
        {"kind: Pod\napiVersion: v1\nmetadata: {name: a}\n? &k [1]\n: v\n",
         "t.yaml:4:3: Pod a: a mapping key must be a scalar (complex keys are not supported)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kube_manifest_t m;
        parse(&m, cases[i].yaml);
        check_manifest(&m, "t.yaml");
        assert_int_equal(m.nitems, 0);
        if (m.nerrors != 1 || strcmp(m.errors[0].message, cases[i].error) != 0)
            fail_msg("case %zu: got %s, want %s", i, m.nerrors ? m.errors[0].message : "(none)",
                     cases[i].error);
        kube_manifest_dispose(&m);
    }
}

static void test_null_namespace_means_none(void **state)
{
    (void)state;
    kube_manifest_t m;
    parse(&m, "kind: Pod\napiVersion: v1\nmetadata: {name: a, namespace: ~}\n---\n"
              "kind: Pod\napiVersion: v1\nmetadata: {name: b, namespace: ''}\n");
    expect_errors(&m, 0);
    assert_int_equal(m.nitems, 2);
    assert_null(json_object_get(json_object_get(m.items[0].object, "metadata"), "namespace"));
    assert_null(json_object_get(json_object_get(m.items[1].object, "metadata"), "namespace"));
    kube_manifest_dispose(&m);
}

static void test_invalid_utf8_and_control_bytes_are_reported_with_position(void **state)
{
    (void)state;
    const char s[] = "{apiVersion: v1, kind: Pod, metadata: {name: a}}\n---\nx: ab\xff\n---\n"
                     "y: \x01\n---\n{apiVersion: v1, kind: Pod, metadata: {name: b}}\n";
    kube_manifest_t m;
    parse_lim(&m, s, sizeof s - 1, NULL);
    check_manifest(&m, "t.yaml");
    assert_int_equal(m.nitems, 2);
    expect_errors(&m, 2, "t.yaml:3:6: invalid leading UTF-8 octet",
                  "t.yaml:5:4: control characters are not allowed");
    kube_manifest_dispose(&m);

    const char z[] = "kind: Pod\napiVersion: v1\nmetadata:\n  name: a\x00z\n";
    parse_lim(&m, z, sizeof z - 1, NULL);
    assert_int_equal(m.nitems, 0);
    expect_errors(&m, 1, "t.yaml:4:10: control characters are not allowed");
    kube_manifest_dispose(&m);
}

/* ---------------------------------------------------------------------------------------------
 * Lists.
 * ------------------------------------------------------------------------------------------- */
static void test_lists_are_flattened_with_item_lines(void **state)
{
    (void)state;
    const char *s = "apiVersion: v1\n"
                    "kind: List\n"
                    "metadata: {}\n"
                    "items:\n"
                    "- apiVersion: v1\n" /* 5 */
                    "  kind: Service\n"
                    "  metadata: {name: a}\n"
                    "- {apiVersion: v1, kind: Service, metadata: {}}\n" /* 8: bad */
                    "-   apiVersion: v1\n"                              /* 9 */
                    "    kind: ServiceList\n"
                    "    items:\n"
                    "    - {apiVersion: v1, kind: Pod, metadata: {name: nested}}\n"
                    "- apiVersion: v1\n" /* 13 */
                    "  kind: Pod\n"
                    "  metadata: {name: b}\n"
                    "---\n"
                    "{apiVersion: v1, kind: PodList, items: null}\n"
                    "---\n"
                    "{apiVersion: v1, kind: PodList, items: 3}\n"
                    "---\n"
                    "{apiVersion: v1, kind: BlockList, metadata: {name: not-a-list}}\n";
    kube_manifest_t m;
    parse(&m, s);
    check_manifest(&m, "t.yaml");
    assert_int_equal(m.nitems, 4);
    assert_string_equal(item_name(&m, 0), "a");
    assert_int_equal(m.items[0].line, 5);
    assert_int_equal(m.items[0].column, 3);
    assert_string_equal(item_name(&m, 1), "nested");
    assert_int_equal(m.items[1].line, 9);
    assert_int_equal(m.items[1].column, 5);
    assert_string_equal(item_name(&m, 2), "b");
    assert_int_equal(m.items[2].line, 13);
    assert_string_equal(item_name(&m, 3), "not-a-list");
    expect_errors(&m, 2, "t.yaml:8:3: Service: metadata.name is missing",
                  "t.yaml:19:1: PodList: items must be a sequence, not a integer");
    assert_int_equal(m.documents, 4);
    kube_manifest_dispose(&m);
}

/* ---------------------------------------------------------------------------------------------
 * Limits.
 * ------------------------------------------------------------------------------------------- */
static void test_limits_are_enforced_with_messages(void **state)
{
    (void)state;
    kube_manifest_t m;
    kube_manifest_limits_t lim = kube_manifest_default_limits;

    lim.max_input = 10;
    parse_lim(&m, "kind: Pod\n---\n", 14, &lim);
    expect_errors(&m, 1, "t.yaml: 14 bytes is more than the limit of 10");
    assert_int_equal(m.errors[0].line, 0);
    kube_manifest_dispose(&m);

    lim = kube_manifest_default_limits;
    lim.max_doc = 60;
    const char *s = "{apiVersion: v1, kind: Pod, metadata: {name: small}}\n"
                    "---\n"
                    "{apiVersion: v1, kind: Pod, metadata: {name: big}, spec: {x: 1234567890}}\n";
    parse_lim(&m, s, strlen(s), &lim);
    assert_int_equal(m.nitems, 1);
    expect_errors(&m, 1, "t.yaml:2:1: document is larger than 60 bytes");
    kube_manifest_dispose(&m);

    lim = kube_manifest_default_limits;
    lim.max_depth = 4;
    s = "{apiVersion: v1, kind: Pod, metadata: {name: d}, a: {b: [c]}}\n---\n"
        "{apiVersion: v1, kind: Pod, metadata: {name: e}, a: {b: [{c: [1]}]}}\n---\n"
        "{apiVersion: v1, kind: Pod, metadata: {name: f}, x: &x [[1]], a: {b: {c: *x}}}\n";
    parse_lim(&m, s, strlen(s), &lim);
    assert_int_equal(m.nitems, 1);
    assert_string_equal(item_name(&m, 0), "d");
    expect_errors(&m, 2, "t.yaml:3:62: Pod e: nesting deeper than 4 levels",
                  "t.yaml:5:74: Pod f: alias *x nests deeper than 4 levels");
    kube_manifest_dispose(&m);

    lim = kube_manifest_default_limits;
    lim.max_nodes = 13; /* keys are nodes too: document a has exactly 13 */
    s = "{apiVersion: v1, kind: Pod, metadata: {name: a}, x: [1, 2]}\n---\n"
        "{apiVersion: v1, kind: Pod, metadata: {name: b}, x: [1, 2, 3]}\n";
    parse_lim(&m, s, strlen(s), &lim);
    assert_int_equal(m.nitems, 1);
    expect_errors(&m, 1,
                  "t.yaml:3:60: Pod b: document has more than 13 nodes (aliases count each "
                  "time they are used)");
    kube_manifest_dispose(&m);

    lim = kube_manifest_default_limits;
    lim.max_errors = 2;
    s = "kind: A\n---\nkind: B\n---\nkind: C\n---\nkind: D\n";
    parse_lim(&m, s, strlen(s), &lim);
    expect_errors(&m, 2, "t.yaml:1:1: A: apiVersion is missing",
                  "t.yaml:3:1: B: apiVersion is missing");
    assert_int_equal(m.errors_dropped, 2);
    kube_manifest_dispose(&m);
}

static void test_default_limits_are_the_documented_ones(void **state)
{
    (void)state;
    assert_int_equal(kube_manifest_default_limits.max_input, 16u << 20);
    assert_int_equal(kube_manifest_default_limits.max_doc, 3u << 20);
    assert_int_equal(kube_manifest_default_limits.max_depth, 100);
    assert_int_equal(kube_manifest_default_limits.max_nodes, 262144);
    assert_int_equal(kube_manifest_default_limits.max_alias_nodes, 262144);
    assert_int_equal(kube_manifest_default_limits.max_errors, 100);
}

static void test_soft_errors_per_document_are_capped(void **state)
{
    (void)state;
    char doc[1024];
    size_t n = (size_t)snprintf(doc, sizeof doc, "{apiVersion: v1, kind: Pod, metadata: {name: a}");
    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, ", k: %d", i);
    snprintf(doc + n, sizeof doc - n, "}\n");
    kube_manifest_t m;
    parse(&m, doc);
    assert_int_equal(m.nitems, 0);
    assert_int_equal(m.nerrors, 9); /* 8 kept per document + one summary */
    assert_string_equal(m.errors[8].message, "t.yaml:1:1: Pod a: 1 more problems in this document");
    kube_manifest_dispose(&m);
}

/* ---------------------------------------------------------------------------------------------
 * Describe.
 * ------------------------------------------------------------------------------------------- */
static void test_describe_names_what_it_can(void **state)
{
    (void)state;
    char buf[64];
    json_t *o = json_pack("{s:s, s:{s:s, s:s}}", "kind", "Gateway", "metadata", "name", "gw",
                          "namespace", "infra");
    assert_int_equal(kube_object_describe(o, buf, sizeof buf), strlen("Gateway infra/gw"));
    assert_string_equal(buf, "Gateway infra/gw");
    json_object_del(json_object_get(o, "metadata"), "namespace");
    kube_object_describe(o, buf, sizeof buf);
    assert_string_equal(buf, "Gateway gw");
    json_object_del(o, "metadata");
    kube_object_describe(o, buf, sizeof buf);
    assert_string_equal(buf, "Gateway");
    assert_int_equal(kube_object_describe(o, buf, 4), 3);
    assert_string_equal(buf, "Gat");
    json_decref(o);
    assert_int_equal(kube_object_describe(NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
}

/* ---------------------------------------------------------------------------------------------
 * Robustness sweeps.
 * ------------------------------------------------------------------------------------------- */
static const char golden[] = "# three documents\n"
                             "apiVersion: gateway.networking.k8s.io/v1\n"
                             "kind: Gateway\n"
                             "metadata:\n"
                             "  name: gw\n"
                             "  namespace: infra\n"
                             "spec:\n"
                             "  gatewayClassName: agentgateway\n"
                             "  listeners: &ls\n"
                             "  - name: http\n"
                             "    port: 80\n"
                             "    protocol: HTTP\n"
                             "    allowedRoutes: {namespaces: {from: All}}\n"
                             "---\n"
                             "apiVersion: gateway.networking.k8s.io/v1\n"
                             "kind: HTTPRoute\n"
                             "metadata: {name: route, namespace: app, labels: {\"a\": 'b'}}\n"
                             "spec:\n"
                             "  parentRefs: [{name: gw, namespace: infra}]\n"
                             "  hostnames: [\"example.com\"]\n"
                             "  rules:\n"
                             "  - matches:\n"
                             "    - path: {type: PathPrefix, value: /}\n"
                             "    backendRefs:\n"
                             "    - name: web\n"
                             "      port: 8080\n"
                             "      weight: 1_0\n"
                             "---\n"
                             "apiVersion: v1\n"
                             "kind: List\n"
                             "items:\n"
                             "- apiVersion: v1\n"
                             "  kind: Service\n"
                             "  metadata: {name: web, namespace: app}\n"
                             "  spec:\n"
                             "    ports:\n"
                             "    - port: 8080\n"
                             "      targetPort: 80\n"
                             "    selector: {app: web}\n";

static void test_every_truncation_keeps_the_documents_before_the_cut(void **state)
{
    (void)state;
    kube_manifest_t full;
    parse(&full, golden);
    expect_errors(&full, 0);
    assert_int_equal(full.nitems, 3);
    /* Byte offsets where documents 2 and 3 begin (their "---" lines). */
    const char *d2 = strstr(golden, "---\n");
    const char *d3 = strstr(d2 + 4, "---\n");
    size_t cut2 = (size_t)(d2 - golden), cut3 = (size_t)(d3 - golden);
    for (size_t len = 0; len <= sizeof golden - 1; len++) {
        kube_manifest_t m;
        parse_lim(&m, golden, len, NULL);
        check_manifest(&m, "t.yaml");
        /* A document is intact once the next "---" line is whole (or not begun): a cut inside
         * the marker ("-", "--") leaves text that belongs to the document before it. */
        size_t intact = (len == cut3 || len >= cut3 + 3) ? 2 : (len == cut2 || len >= cut2 + 3);
        if (m.nitems < intact) {
            for (size_t i = 0; i < m.nerrors; i++)
                print_message("len %zu: %s\n", len, m.errors[i].message);
            fail_msg("len %zu: %zu objects, %zu intact documents", len, m.nitems, intact);
        }
        for (size_t i = 0; i < intact; i++) {
            assert_true(json_equal(m.items[i].object, full.items[i].object));
            assert_int_equal(m.items[i].line, full.items[i].line);
        }
        kube_manifest_dispose(&m);
    }
    kube_manifest_dispose(&full);
}

static void test_single_byte_mutations_keep_the_invariants(void **state)
{
    (void)state;
    /* A control byte, structure, a line break, a quote and an alias: each position, each byte
     * (kept to five so the sweep stays quick under valgrind). */
    static const char repl[] = {'\0', ':', '\n', '"', '*'};
    size_t n = sizeof golden - 1;
    char *buf = malloc(n);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        for (size_t r = 0; r < sizeof repl; r++) {
            memcpy(buf, golden, n);
            buf[i] = repl[r];
            kube_manifest_t m;
            parse_lim(&m, buf, n, NULL);
            check_manifest(&m, "t.yaml");
            assert_true(m.nitems <= 4);
            kube_manifest_dispose(&m);
        }
    }
    free(buf);
}

/* The fuzz seeds (Gateway API conformance manifests and our own) all parse cleanly. */
static void test_conformance_seeds_parse_cleanly(void **state)
{
    (void)state;
    const char *dir = KRT_SOURCE_DIR "/tests/fuzz/corpus/manifest";
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    struct dirent *de;
    size_t files = 0, objects = 0;
    while ((de = readdir(dh))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0 ||
            strncmp(de->d_name, "conformance-", 12) != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char data[1 << 16];
        size_t n = fread(data, 1, sizeof data, f);
        fclose(f);
        kube_manifest_t m;
        kube_manifest_init(&m);
        assert_int_equal(kube_manifest_parse(&m, de->d_name, data, n, NULL), KUBE_OK);
        check_manifest(&m, de->d_name);
        for (size_t i = 0; i < m.nerrors; i++)
            print_message("%s\n", m.errors[i].message);
        assert_int_equal(m.nerrors, 0);
        assert_true(m.nitems >= 1);
        objects += m.nitems;
        files++;
        kube_manifest_dispose(&m);
    }
    closedir(dh);
    assert_true(files >= 3);
    assert_true(objects >= files);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documents_become_objects_with_their_lines),
        cmocka_unit_test(test_empty_and_comment_only_buffers_have_no_objects),
        cmocka_unit_test(test_crlf_directives_and_end_markers_keep_lines_right),
        cmocka_unit_test(test_parse_appends_to_the_result),
        cmocka_unit_test(test_json_files_parse_as_yaml),
        cmocka_unit_test(test_scalars_are_typed_as_kubectl_types_them),
        cmocka_unit_test(test_block_scalars_stay_strings),
        cmocka_unit_test(test_keys_are_rendered_as_kubectl_renders_them),
        cmocka_unit_test(test_aliases_are_independent_copies),
        cmocka_unit_test(test_merge_keys_follow_yaml_precedence),
        cmocka_unit_test(test_billion_laughs_is_bounded_and_costs_one_document),
        cmocka_unit_test(test_alias_errors),
        cmocka_unit_test(test_duplicate_keys_are_errors_naming_the_object),
        cmocka_unit_test(test_syntax_error_costs_only_its_document),
        cmocka_unit_test(test_object_errors_name_what_and_where),
        cmocka_unit_test(test_null_namespace_means_none),
        cmocka_unit_test(test_invalid_utf8_and_control_bytes_are_reported_with_position),
        cmocka_unit_test(test_lists_are_flattened_with_item_lines),
        cmocka_unit_test(test_limits_are_enforced_with_messages),
        cmocka_unit_test(test_default_limits_are_the_documented_ones),
        cmocka_unit_test(test_soft_errors_per_document_are_capped),
        cmocka_unit_test(test_describe_names_what_it_can),
        cmocka_unit_test(test_every_truncation_keeps_the_documents_before_the_cut),
        cmocka_unit_test(test_single_byte_mutations_keep_the_invariants),
        cmocka_unit_test(test_conformance_seeds_parse_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
