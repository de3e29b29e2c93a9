/*
 * test_ranking.c — the replay's ranking quality and period coverage, by hand:
 * ROC AUC with tied and NaN scores, average precision over groups of tied
 * scores, and periods the history covers only in part.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "crest/crest.h"
#include "crest/crest_date.h"
#include "crest/crest_replay.h"

#define NEAR(a, b)                                                                                           \
    cr_assert(fabs((a) - (b)) < 1e-12, "%s = %.17g, expected %.17g", #a, (double)(a), (double)(b))

static const char policy_text[] = "[policy]\nname = t\nseed = 1\n"
                                  "[tiers]\norder = REGULAR\nbase = REGULAR\ndefault = REGULAR\n"
                                  "[tier REGULAR]\nrate = 0.1\n";

Test(ranking, auc_and_average_precision_by_hand)
{
    crest_policy *pol = NULL;
    crest_diag d;
    cr_assert_eq(crest_policy_parse(policy_text, strlen(policy_text), "<test>", &pol, &d), CREST_OK);
    crest_replay_options o = {CREST_REPLAY_PERIOD_WEEK, "illicit", NULL, NULL, NULL, 0};
    crest_replay *r = NULL;
    cr_assert_eq(crest_replay_create(pol, &o, &r, &d), CREST_OK);
    /* Wednesday 2021-01-06 to Monday 2021-01-11: two weeks, both covered in part. */
    int32_t wed;
    cr_assert(crest_date_parse("2021-01-06", 10, &wed));
    const double score[6] = {0.9, 0.8, 0.8, 0.5, 0.3, NAN};
    const int y[6] = {1, 0, 1, 0, 1, 0};
    for (int i = 0; i < 6; i++) {
        crest_decision dec;
        memset(&dec, 0, sizeof dec);
        dec.score = score[i];
        cr_assert_eq(crest_replay_add(r, &dec, wed + i, y[i], 0), CREST_OK);
    }
    double auc, ap;
    cr_assert_eq(crest_replay_ranking_quality(r, &auc, &ap), CREST_ERR_STATE);
    cr_assert_eq(crest_replay_finish(r), CREST_OK);
    cr_assert_eq(crest_replay_ranking_quality(r, &auc, &ap), CREST_OK);
    /* AUC: 0.9 beats the 3 licit rows, the illicit 0.8 ties one (1/2) and beats 2, 0.3 beats
     * the NaN (ranked last): (3 + 2.5 + 1) / 9. */
    NEAR(auc, 6.5 / 9);
    /* AP over the tie groups {0.9}, {0.8, 0.8}, {0.5}, {0.3}, {NaN}: 1/3·1 + 1/3·2/3 + 1/3·3/5. */
    NEAR(ap, 34.0 / 45);
    /* Periods: the week of Monday 2021-01-04 from Wednesday (5 days), the next its Monday only (1). */
    cr_assert_eq(crest_replay_period_count(r), 2);
    unsigned days;
    cr_assert_eq(crest_replay_period_partial(r, 0, &days), 1);
    cr_assert_eq(days, 5);
    cr_assert_eq(crest_replay_period_partial(r, 1, &days), 1);
    cr_assert_eq(days, 1);
    cr_assert_eq(crest_replay_period_partial(r, 2, &days), 0);
    crest_replay_free(r);

    /* One class only: no AUC; no illicit row: no AP either. A full week is not partial. */
    cr_assert_eq(crest_replay_create(pol, &o, &r, &d), CREST_OK);
    int32_t mon;
    cr_assert(crest_date_parse("2021-01-04", 10, &mon));
    for (int i = 0; i < 7; i++) {
        crest_decision dec;
        memset(&dec, 0, sizeof dec);
        dec.score = i;
        cr_assert_eq(crest_replay_add(r, &dec, mon + i, 0, 0), CREST_OK);
    }
    cr_assert_eq(crest_replay_finish(r), CREST_OK);
    cr_assert_eq(crest_replay_ranking_quality(r, &auc, &ap), CREST_OK);
    cr_assert(isnan(auc) && isnan(ap));
    cr_assert_eq(crest_replay_period_partial(r, 0, &days), 0);
    cr_assert_eq(days, 7);
    crest_replay_free(r);
    crest_policy_free(pol);
}
