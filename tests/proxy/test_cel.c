/*
 * proxy/cel.c: the CEL subset for authorization rules. Tables of expressions and the value each
 * gives against one fixed request (literals, operators, access, functions, comprehensions),
 * CEL's error absorption for && and ||, errors that name what is missing, compile errors with
 * their column, the length and nesting limits, and unsupported functions compiling to rules
 * that always fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/cel.h"

static const net_h2_header_t HEADERS[] = {
    {"X-User", 6, "alice", 5},
    {"accept", 6, "text/html", 9},
    {"x-multi", 7, "a", 1},
    {"x-multi", 7, "b", 1},
};

static json_t *claims;

static proxy_cel_activation_t activation(void)
{
    proxy_cel_activation_t a = {0};
    a.has_request = true;
    a.method = "GET";
    a.path = "/admin/users";
    a.query = "page=2";
    a.host = "example.com:8080";
    a.scheme = "http";
    a.headers = HEADERS;
    a.nheaders = sizeof HEADERS / sizeof HEADERS[0];
    a.source_address = "10.1.2.3";
    a.source_port = 40000;
    a.jwt = claims;
    a.basic_user = "bob";
    a.source_port = 40000;
    return a;
}

static int setup(void **state)
{
    (void)state;
    json_error_t je;
    claims = json_loads("{\"sub\":\"alice\",\"groups\":[\"dev\",\"ops\"],\"exp\":1700000000,"
                        "\"nested\":{\"level\":2.5,\"ok\":true,\"none\":null}}",
                        0, &je);
    return claims ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(claims);
    return 0;
}

/* The text the expression evaluates to (or "compile: <error>"). */
static const char *eval_text(const char *src)
{
    static char out[512];
    char err[200];
    proxy_cel_t *e = NULL;
    if (proxy_cel_compile(src, strlen(src), &e, err, sizeof err) != 0) {
        snprintf(out, sizeof out, "compile: %s", err);
        return out;
    }
    proxy_cel_activation_t a = activation();
    proxy_cel_eval_text(e, &a, out, sizeof out);
    proxy_cel_free(e);
    return out;
}

typedef struct row {
    const char *src, *want;
} row_t;

static void check_rows(const row_t *rows, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *got = eval_text(rows[i].src);
        if (strcmp(got, rows[i].want) != 0) {
            print_error("%s\n  want %s\n  got  %s\n", rows[i].src, rows[i].want, got);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

#define ROWS(...)                               \
    do {                                        \
        static const row_t r[] = {__VA_ARGS__}; \
        check_rows(r, sizeof r / sizeof r[0]);  \
    } while (0)

static void test_literals(void **state)
{
    (void)state;
    ROWS({"null", "null"}, {"true", "true"}, {"false", "false"}, {"42", "42"}, {"-7", "-7"},
         {"0x1F", "31"}, {"12u", "12u"}, {"1.5", "1.5"}, {"1e3", "1000"}, {"-2.5", "-2.5"},
         {"-9223372036854775808", "-9223372036854775808"}, {"\"a\\tb\"", "\"a\\x09b\""},
         {"'single'", "\"single\""},
         {"\"\\x41\\u00e9\\101\"", "\"A\xc3\xa9"
                                   "A\""},
         {"r\"a\\nb\"", "\"a\\\\nb\""}, {"\"\"\"tri\"ple\"\"\"", "\"tri\\\"ple\""},
         {"b\"bytes\"", "\"bytes\""}, {"[1, 'a', true,]", "[1, \"a\", true]"}, {"[]", "[]"},
         {"{'k': 1, 2: 'v'}", "{\"k\": 1, 2: \"v\"}"}, {"{}", "{}"},
         {"// comment\n 1 // trailing", "1"});
}

static void test_operators(void **state)
{
    (void)state;
    ROWS({"1 + 2 * 3", "7"}, {"(1 + 2) * 3", "9"}, {"7 / 2", "3"}, {"7 % 3", "1"}, {"-7 / 2", "-3"},
         {"2u * 3u", "6u"}, {"1.5 * 2.0", "3"}, {"'a' + 'b'", "\"ab\""},
         {"[1] + [2, 3]", "[1, 2, 3]"}, {"1 == 1", "true"}, {"1 == 1u", "true"},
         {"1 == 1.0", "true"}, {"'1' == 1", "false"}, {"[1, 'a'] == [1, 'a']", "true"},
         {"{'a': 1} == {'a': 1}", "true"}, {"{'a': 1} != {'a': 2}", "true"}, {"2 < 10", "true"},
         {"-1 < 1u", "true"}, {"'abc' < 'abd'", "true"}, {"'b' >= 'a'", "true"},
         {"false < true", "true"}, {"2 in [1, 2]", "true"}, {"'z' in ['a']", "false"},
         {"'k' in {'k': 1}", "true"}, {"!true", "false"}, {"!!true", "true"}, {"-(-3)", "3"},
         {"true ? 'y' : 'n'", "\"y\""}, {"1 > 2 ? 'y' : 2 > 1 ? 'z' : 'n'", "\"z\""},
         {"true && true && false", "false"}, {"false || false || true", "true"});
}

static void test_request_variables(void **state)
{
    (void)state;
    ROWS({"request.method", "\"GET\""}, {"request.path", "\"/admin/users\""},
         {"request.host", "\"example.com:8080\""}, {"request.scheme", "\"http\""},
         {"request.uri", "\"http://example.com:8080/admin/users?page=2\""},
         {"request.pathAndQuery", "\"/admin/users?page=2\""},
         {"request.headers['x-user']", "\"alice\""}, {"request.headers['X-USER']", "\"alice\""},
         {"request.headers.accept", "\"text/html\""}, {"request.headers['x-multi']", "\"a, b\""},
         {"size(request.headers)", "3"}, {"'accept' in request.headers", "true"},
         {"'nope' in request.headers", "false"}, {"has(request.headers.accept)", "true"},
         {"has(request.headers.nope)", "false"}, {"source.address", "\"10.1.2.3\""},
         {"source.port", "40000"}, {"source.port > 1024", "true"}, {"jwt.sub", "\"alice\""},
         {"jwt.groups[1]", "\"ops\""}, {"'dev' in jwt.groups", "true"},
         {"jwt.exp > 1600000000", "true"}, {"jwt.nested.level", "2.5"}, {"jwt.nested.ok", "true"},
         {"jwt.nested.none == null", "true"}, {"has(jwt.nested)", "true"},
         {"has(jwt.missing)", "false"}, {"basicAuth.username", "\"bob\""});
}

static void test_functions(void **state)
{
    (void)state;
    ROWS({"size('héllo')", "5"}, {"'abc'.size()", "3"}, {"size([1, 2])", "2"},
         {"size({'a': 1})", "1"}, {"size(jwt.groups)", "2"},
         {"request.path.startsWith('/admin')", "true"}, {"request.path.endsWith('users')", "true"},
         {"request.path.contains('min/u')", "true"}, {"'abc'.contains('')", "true"},
         {"request.path.matches('^/admin/[a-z]+$')", "true"}, {"matches('abc', 'b')", "true"},
         {"'abc'.matches('^b')", "false"}, {"'MiXeD'.lowerAscii()", "\"mixed\""},
         {"'MiXeD'.upperAscii()", "\"MIXED\""}, {"string(42)", "\"42\""}, {"string(7u)", "\"7\""},
         {"string(1.25)", "\"1.25\""}, {"string(true)", "\"true\""}, {"int('-12')", "-12"},
         {"int(3.9)", "3"}, {"int(5u)", "5"}, {"uint(5)", "5u"}, {"double(2)", "2"},
         {"double('1.5')", "1.5"}, {"jwt.groups.exists(g, g == 'ops')", "true"},
         {"jwt.groups.all(g, size(g) == 3)", "true"}, {"[1, 2, 3].exists_one(n, n > 2)", "true"},
         {"[1, 2, 3].all(n, n > 1)", "false"}, {"{'a': 1, 'b': 2}.exists(k, k == 'b')", "true"},
         {"jwt.nested.exists(k, k == 'ok')", "true"},
         {"[[1, 2], [3]].exists(l, l.exists(n, n == 3))", "true"});
}

/* && / || are commutative: a deciding operand wins over an error on either side. */
static void test_error_absorption(void **state)
{
    (void)state;
    ROWS({"false && request.headers['missing'] == 'x'", "false"},
         {"request.headers['missing'] == 'x' && false", "false"},
         {"true || request.headers['missing'] == 'x'", "true"},
         {"request.headers['missing'] == 'x' || true", "true"},
         {"true && request.headers['missing'] == 'x'", "error: no such key 'missing'"},
         {"request.headers['missing'] == 'x' || false", "error: no such key 'missing'"},
         {"1 / 0 == 1 || 2 == 2", "true"},
         {"[1, 1 / 0].exists(n, n == 1)", "error: division by zero"},
         {"[1, 0].exists(n, 1 / n == 1)", "true"}, {"[0, 1].exists(n, 1 / n == 1)", "true"},
         {"[0, 2].exists(n, 1 / n == 1)", "error: division by zero"},
         {"[0, 2].all(n, n > 5 && 1 / n == 1)", "false"});
}

static void test_evaluation_errors(void **state)
{
    (void)state;
    ROWS({"request.headers['x-none']", "error: no such key 'x-none'"},
         {"jwt.nope", "error: no such key 'nope'"},
         {"nosuch.thing", "error: no such variable 'nosuch'"},
         {"apiKey.key", "error: no such variable 'apiKey'"},
         {"1 + 'a'", "error: no such overload: int + string"},
         {"9223372036854775807 + 1", "error: integer overflow"},
         {"-9223372036854775808 - 1", "error: integer overflow"},
         {"1 / 0", "error: division by zero"}, {"5 % 0", "error: modulus by zero"},
         {"0u - 1u", "error: unsigned integer overflow"}, {"[1][3]", "error: index 3 out of range"},
         {"1 < 'a'", "error: no such overload: int < string"},
         {"!1", "error: no such overload: !(int)"},
         {"1 ? 2 : 3", "error: no such overload: ?:(int)"},
         {"int('12x')", "error: int(): \"12x\" is not a number"},
         {"uint(-1)", "error: uint(): -1 out of range"},
         {"int(1e300)", "error: int(): 1e+300 out of range"},
         {"1.foo", "error: a int has no field 'foo'"},
         {"json('{}')", "error: function 'json' is not supported by this proxy"},
         {"{[1]: 2}", "error: a map key must be a string, int, uint or bool, not a list"},
         {"source.port.exists(x, true)", "error: cannot iterate over a int"});
}

static void test_eval_bool_reports_errors(void **state)
{
    (void)state;
    char err[128], why[128];
    proxy_cel_t *e;
    proxy_cel_activation_t a = activation();
    assert_int_equal(proxy_cel_compile("request.method == 'GET'", 23, &e, err, sizeof err), 0);
    assert_int_equal(proxy_cel_eval_bool(e, &a, why, sizeof why), PROXY_CEL_TRUE);
    a.method = "POST";
    assert_int_equal(proxy_cel_eval_bool(e, &a, why, sizeof why), PROXY_CEL_FALSE);
    a.has_request = false; /* network authorization: no request */
    assert_int_equal(proxy_cel_eval_bool(e, &a, why, sizeof why), PROXY_CEL_ERROR);
    assert_string_equal(why, "no such variable 'request'");
    proxy_cel_free(e);
    assert_int_equal(proxy_cel_compile("request.path", 12, &e, err, sizeof err), 0);
    a = activation();
    assert_int_equal(proxy_cel_eval_bool(e, &a, why, sizeof why), PROXY_CEL_ERROR);
    assert_string_equal(why, "the expression gives a string, not a bool");
    proxy_cel_free(e);
    /* a JWT without claims, a request without the variable */
    a.jwt = NULL;
    assert_int_equal(proxy_cel_compile("jwt.sub == 'x'", 14, &e, err, sizeof err), 0);
    assert_int_equal(proxy_cel_eval_bool(e, &a, why, sizeof why), PROXY_CEL_ERROR);
    assert_string_equal(why, "no such variable 'jwt'");
    proxy_cel_free(e);
}

static void test_compile_errors_name_the_column(void **state)
{
    (void)state;
    ROWS({"request.method == (", "compile: col 20: unexpected end of expression"},
         {"(1 + 2", "compile: col 7: expected ')'"},
         {"1 +", "compile: col 4: unexpected end of expression"},
         {"a b", "compile: col 3: unexpected token after the expression"},
         {"'open", "compile: col 1: unterminated string"},
         {"\"a\\qb\"", "compile: col 3: invalid escape '\\q'"},
         {"\"\\u12\"", "compile: col 2: invalid \\u escape"},
         {"\"\\uD800\"", "compile: col 2: invalid code point in \\u escape"},
         {"1 @ 2", "compile: col 3: unexpected character '@'"},
         {"9223372036854775808", "compile: col 1: integer literal out of range"},
         {"99999999999999999999", "compile: col 1: integer literal out of range"},
         {"12abc", "compile: col 3: unexpected 'a' after a number"},
         {"has(a)", "compile: col 1: has() takes one field selection, as in has(a.b)"},
         {"size(1, 2)", "compile: col 1: size() takes 1 argument"},
         {"'a'.startsWith()", "compile: col 5: startsWith() takes 1 argument"},
         {"startsWith('a', 'b')", "compile: col 1: startsWith() is a method (x.startsWith(...))"},
         {"1.string()", "compile: col 3: string() is not a method"},
         {"[1].exists(1, true)", "compile: col 12: exists() needs a variable name first"},
         {"'a'.matches(request.path)", "compile: col 21: matches() needs a string literal pattern"},
         {"'a'.matches('(')",
          "compile: col 13: regex does not compile at offset 1: missing closing "
          "parenthesis"},
         {"a.", "compile: col 3: expected a field name after '.'"},
         {"", "compile: col 1: unexpected end of expression"},
         {"[1, 2", "compile: col 6: expected ']'"}, {"{'a' 1}", "compile: col 6: expected ':'"},
         {"x in", "compile: col 5: unexpected end of expression"},
         {"in", "compile: col 1: unexpected 'in'"},
         {"\"a\nb\"", "compile: col 1: newline in string"});
}

static void test_limits(void **state)
{
    (void)state;
    char src[PROXY_CEL_MAX_LEN + 2], err[128];
    proxy_cel_t *e = NULL;
    /* the length limit */
    memset(src, ' ', sizeof src);
    src[0] = '1';
    assert_int_equal(proxy_cel_compile(src, PROXY_CEL_MAX_LEN, &e, err, sizeof err), 0);
    proxy_cel_free(e);
    assert_int_equal(proxy_cel_compile(src, PROXY_CEL_MAX_LEN + 1, &e, err, sizeof err), -1);
    assert_string_equal(err, "col 4097: expression longer than 4096 bytes");
    assert_null(e);
    /* nesting: 63 parentheses are fine, 64 are not (the whole expression counts as one) */
    size_t n = 0;
    for (int i = 0; i < 63; i++)
        src[n++] = '(';
    src[n++] = '1';
    for (int i = 0; i < 63; i++)
        src[n++] = ')';
    assert_int_equal(proxy_cel_compile(src, n, &e, err, sizeof err), 0);
    proxy_cel_free(e);
    n = 0; /* 64 nested lists are 64 levels; 65 are one too many */
    for (int i = 0; i < 64; i++)
        src[n++] = '[';
    for (int i = 0; i < 64; i++)
        src[n++] = ']';
    assert_int_equal(proxy_cel_compile(src, n, &e, err, sizeof err), 0);
    proxy_cel_free(e);
    n = 0;
    for (int i = 0; i < 65; i++)
        src[n++] = '[';
    for (int i = 0; i < 65; i++)
        src[n++] = ']';
    assert_int_equal(proxy_cel_compile(src, n, &e, err, sizeof err), -1);
    assert_string_equal(err, "col 65: expression nested deeper than 64");
    /* a long chain of + is a deep tree: refused; a long chain of || is one node: fine */
    n = 0;
    for (int i = 0; i < 80; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "%s1", i ? "+" : "");
    assert_int_equal(proxy_cel_compile(src, n, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "nested deeper than 64"));
    n = 0;
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "%sfalse", i ? "||" : "");
    n += (size_t)snprintf(src + n, sizeof src - n, "||true");
    assert_int_equal(proxy_cel_compile(src, n, &e, err, sizeof err), 0);
    proxy_cel_activation_t a = activation();
    assert_int_equal(proxy_cel_eval_bool(e, &a, NULL, 0), PROXY_CEL_TRUE);
    proxy_cel_free(e);
    /* 4000 unary minus signs */
    memset(src, '-', 4000);
    src[4000] = '1';
    assert_int_equal(proxy_cel_compile(src, 4001, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "nested deeper than 64"));
    /* scratch space: a list too large for it is an evaluation error, not an allocation */
    n = (size_t)snprintf(src, sizeof src, "size([");
    for (int i = 0; i < 600; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "%s1", i ? "," : "");
    n += (size_t)snprintf(src + n, sizeof src - n, "]) > 0");
    assert_int_equal(proxy_cel_compile(src, n, &e, err, sizeof err), 0);
    char why[128];
    assert_int_equal(proxy_cel_eval_bool(e, &a, why, sizeof why), PROXY_CEL_ERROR);
    assert_string_equal(why, "list too long");
    proxy_cel_free(e);
}

static void test_unsupported_function_compiles_and_always_errors(void **state)
{
    (void)state;
    char err[128], why[128];
    proxy_cel_t *e = NULL;
    const char *src = "cidr('10.0.0.0/8').containsIP(source.address) || true";
    assert_int_equal(proxy_cel_compile(src, strlen(src), &e, err, sizeof err), 0);
    assert_string_equal(proxy_cel_unsupported(e), "cidr");
    proxy_cel_activation_t a = activation();
    /* || true absorbs the error: the rule itself decides what an error means */
    assert_int_equal(proxy_cel_eval_bool(e, &a, why, sizeof why), PROXY_CEL_TRUE);
    proxy_cel_free(e);
    src = "cidr('10.0.0.0/8').containsIP(source.address)";
    assert_int_equal(proxy_cel_compile(src, strlen(src), &e, err, sizeof err), 0);
    assert_int_equal(proxy_cel_eval_bool(e, &a, why, sizeof why), PROXY_CEL_ERROR);
    assert_string_equal(why, "function 'cidr' is not supported by this proxy");
    proxy_cel_free(e);
    assert_int_equal(proxy_cel_compile("1 == 1", 6, &e, err, sizeof err), 0);
    assert_null(proxy_cel_unsupported(e));
    proxy_cel_free(e);
    proxy_cel_free(NULL);
}

/* Every prefix of a valid expression compiles or is refused with a column; never crashes. */
static void test_every_prefix_is_handled(void **state)
{
    (void)state;
    const char *src = "request.headers['x-user'].startsWith(\"al\\u00e9\") && "
                      "jwt.groups.exists(g, g in ['dev', 'ops']) || {'a': [1, 2u, 3.0]}['a'][0] "
                      "== -1 ? size(r'x') > 0 : !has(source.port)";
    char err[200];
    for (size_t n = 0; n <= strlen(src); n++) {
        proxy_cel_t *e = NULL;
        int rc = proxy_cel_compile(src, n, &e, err, sizeof err);
        if (rc == 0) {
            proxy_cel_activation_t a = activation();
            char out[256];
            proxy_cel_eval_text(e, &a, out, sizeof out);
            proxy_cel_free(e);
        } else {
            assert_int_equal(rc, -1);
            assert_true(strncmp(err, "col ", 4) == 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_request_variables),
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_error_absorption),
        cmocka_unit_test(test_evaluation_errors),
        cmocka_unit_test(test_eval_bool_reports_errors),
        cmocka_unit_test(test_compile_errors_name_the_column),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_unsupported_function_compiles_and_always_errors),
        cmocka_unit_test(test_every_prefix_is_handled),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
