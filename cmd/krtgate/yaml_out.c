/*
 * JSON values to YAML text with libyaml's emitter, for `-o yaml`. Strings are always quoted when
 * they would otherwise read back as another type ("true", "80", "null"), so the YAML round-trips
 * to the same JSON.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "cli.h"

static int write_out(void *data, unsigned char *buf, size_t size)
{
    return fwrite(buf, 1, size, data) == size;
}

static int scalar(yaml_emitter_t *em, const char *text, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), 1,
                                      1, style))
        return -1;
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit_value(yaml_emitter_t *em, const json_t *v)
{
    yaml_event_t ev;
    char num[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return -1;
        /* Sorted keys, like the JSON lines. */
        size_t n = json_object_size(v), i = 0;
        const char **keys = n ? malloc(n * sizeof(*keys)) : NULL;
        if (n && !keys)
            return -1;
        const char *k;
        json_t *member;
        json_object_foreach((json_t *)v, k, member) keys[i++] = k;
        for (size_t a = 1; a < n; a++)
            for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
                const char *t = keys[b];
                keys[b] = keys[b - 1];
                keys[b - 1] = t;
            }
        int rc = 0;
        for (i = 0; i < n && rc == 0; i++) {
            rc = scalar(em, keys[i], YAML_ANY_SCALAR_STYLE);
            if (rc == 0)
                rc = emit_value(em, json_object_get(v, keys[i]));
        }
        free(keys);
        if (rc != 0 || !yaml_mapping_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
            return -1;
        return 0;
    }
    case JSON_ARRAY: {
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return -1;
        size_t i;
        json_t *item;
        json_array_foreach((json_t *)v, i, item) if (emit_value(em, item) != 0) return -1;
        if (!yaml_sequence_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
            return -1;
        return 0;
    }
    case JSON_STRING: {
        /* Plain style only when the text cannot be read back as a number, bool or null. */
        const char *s = json_string_value(v);
        json_error_t jerr;
        json_t *probe = json_loads(s, JSON_DECODE_ANY, &jerr);
        bool ambiguous = probe != NULL || !strcmp(s, "yes") || !strcmp(s, "no") ||
                         !strcmp(s, "on") || !strcmp(s, "off") || !strcmp(s, "~") || !*s;
        json_decref(probe);
        return scalar(em, s, ambiguous ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
    }
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return scalar(em, num, YAML_PLAIN_SCALAR_STYLE);
    case JSON_REAL:
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        return scalar(em, num, YAML_PLAIN_SCALAR_STYLE);
    case JSON_TRUE:
        return scalar(em, "true", YAML_PLAIN_SCALAR_STYLE);
    case JSON_FALSE:
        return scalar(em, "false", YAML_PLAIN_SCALAR_STYLE);
    default:
        return scalar(em, "null", YAML_PLAIN_SCALAR_STYLE);
    }
}

int cli_yaml_write(FILE *out, const json_t *doc)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&em))
        return -1;
    yaml_emitter_set_output(&em, write_out, out);
    yaml_emitter_set_unicode(&em, 1);
    int rc = -1;
    if (yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
        yaml_emitter_emit(&em, &ev) &&
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0) &&
        yaml_emitter_emit(&em, &ev) && emit_value(&em, doc) == 0 &&
        yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&em, &ev) &&
        yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&em, &ev))
        rc = 0;
    yaml_emitter_delete(&em);
    return rc;
}
