/*
 * base.c — status names/messages, diagnostics and canonical field names
 * declared in crest_base.h. No I/O, no allocation.
 */
#include "crest/crest_base.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *crest_status_name(crest_status status)
{
    switch (status) {
#define CREST_STATUS_NAME(name, value, msg)                                     \
    case name:                                                                 \
        return #name;
        CREST_STATUS_LIST(CREST_STATUS_NAME)
#undef CREST_STATUS_NAME
    }
    return "CREST_ERR_UNKNOWN";
}

const char *crest_status_message(crest_status status)
{
    switch (status) {
#define CREST_STATUS_MSG(name, value, msg)                                      \
    case name:                                                                 \
        return msg;
        CREST_STATUS_LIST(CREST_STATUS_MSG)
#undef CREST_STATUS_MSG
    }
    return "unknown status";
}

void crest_diag_clear(crest_diag *diag)
{
    if (!diag)
        return;
    memset(diag, 0, sizeof *diag);
    diag->status = CREST_OK;
}

crest_status crest_diag_set(crest_diag *diag, crest_status status, const char *file,
                            unsigned long line, unsigned long column, const char *fmt, ...)
{
    if (!diag)
        return status;
    diag->status = status;
    snprintf(diag->file, sizeof diag->file, "%s", file ? file : "");
    diag->line = line;
    diag->column = column;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag->message, sizeof diag->message, fmt, ap);
    va_end(ap);
    return status;
}

static const char *const field_names[CREST_FIELD_COUNT] = {
#define CREST_FIELD_STR(name, str) str,
    CREST_FIELD_LIST(CREST_FIELD_STR)
#undef CREST_FIELD_STR
};

const char *crest_field_name(crest_field field)
{
    if ((int)field < 0 || field >= CREST_FIELD_COUNT)
        return NULL;
    return field_names[field];
}

int crest_field_from_name(const char *name, size_t name_len)
{
    for (int i = 0; i < CREST_FIELD_COUNT; i++) {
        if (strlen(field_names[i]) == name_len && memcmp(field_names[i], name, name_len) == 0)
            return i;
    }
    return -1;
}
