/*
 * gsl_once.c — GSL's error handler switched off once per process
 * (crest_models_init, crest_risk.h). Nothing else in crest touches it.
 */
#include "crest/crest_risk.h"

#include <gsl/gsl_errno.h>
#include <pthread.h>

static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

static void handler_off(void)
{
    gsl_set_error_handler_off();
}

void crest_models_init(void)
{
    pthread_once(&handler_once, handler_off);
}
