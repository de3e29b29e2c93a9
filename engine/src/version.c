/* version.c — library version and one-time initialisation. */
#include "crest/crest.h"

#include <gsl/gsl_errno.h>

const char *crest_version(void)
{
    return CREST_VERSION_STRING;
}

void crest_init(void)
{
    /* GSL aborts on domain errors by default; crest checks return values instead. */
    gsl_set_error_handler_off();
}
