/* version.c — library version and one-time initialisation. */
#include "crest/crest.h"

#include "crest/crest_risk.h"

const char *crest_version(void)
{
    return CREST_VERSION_STRING;
}

void crest_init(void)
{
    crest_models_init(); /* GSL's aborting error handler off, once (crest_risk.h) */
}
