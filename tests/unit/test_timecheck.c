/* test_timecheck.c: the node's clock checks: peers confirm or contradict the clock, a step
 * against the monotonic clock is seen while running and across a restart (the state file),
 * and a step back restores trust on a node without peers. */
#include "node/timecheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/testutil.h"

#define TOL 180000LL
#define DAY (86400LL * 1000)

static int64_t wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_peers(const char *dir)
{
    timecheck tc;
    timecheck_init(&tc, dir, TOL, true, wall());
    CHECK(!tc.trusted);
    CHECK_EQ_INT(tc.state, TIMECHECK_UNCONFIRMED);
    /* No peer heard: still unconfirmed. */
    CHECK(!timecheck_update(&tc, wall(), NULL, 0, 0));
    CHECK(!tc.trusted);
    /* One live peer agrees: confirmed. */
    int64_t off[3] = {1500, 0, 0};
    CHECK(timecheck_update(&tc, wall(), off, 1, 1));
    CHECK(tc.trusted);
    CHECK_EQ_INT(tc.state, TIMECHECK_CONFIRMED);
    /* One agrees, one 45 days away: the odd one is the other node. */
    off[1] = 45 * DAY;
    timecheck_update(&tc, wall(), off, 2, 2);
    CHECK(tc.trusted);
    /* Both peers 45 days behind us: this clock is the wrong one. */
    off[0] = off[1] = -45 * DAY;
    CHECK(timecheck_update(&tc, wall(), off, 2, 3));
    CHECK(!tc.trusted);
    CHECK_EQ_INT(tc.state, TIMECHECK_DISAGREES);
    CHECK(tc.was_ahead);
    char why[300];
    timecheck_describe(&tc, why, sizeof why);
    CHECKF(strstr(why, "disagrees with 2 of 2 live peers") && strstr(why, "ahead"), "%s", why);
    /* A two-node cluster that disagrees: neither side trusts itself. */
    off[0] = 45 * DAY;
    timecheck_update(&tc, wall(), off, 1, 4);
    CHECK(!tc.trusted);
}

static void test_steps(const char *dir)
{
    /* A node without peers: trusted unless it steps. */
    timecheck tc;
    int64_t t = wall();
    timecheck_init(&tc, dir, TOL, false, t);
    CHECK(tc.trusted);
    timecheck_update(&tc, wall(), NULL, 0, 0); /* saves the state file */
    /* A 45-day step forward while running. */
    CHECK(timecheck_update(&tc, wall() + 45 * DAY, NULL, 0, 1));
    CHECK(!tc.trusted);
    CHECK_EQ_INT(tc.state, TIMECHECK_JUMPED);
    CHECK_EQ_INT(tc.jumps, 1);
    CHECK(tc.last_jump_ms > 44 * DAY);
    /* It stays untrusted while the clock is off ... */
    CHECK(!timecheck_update(&tc, wall() + 45 * DAY, NULL, 0, 2));
    CHECK(!tc.trusted);
    /* ... and is trusted again once it steps back. */
    CHECK(timecheck_update(&tc, wall(), NULL, 0, 3));
    CHECK(tc.trusted);
    CHECK_EQ_INT(tc.jumps, 1);

    /* A restart 45 days "later" in the same boot is a step made while stopped. */
    timecheck again;
    timecheck_init(&again, dir, TOL, false, wall() + 45 * DAY);
    CHECK(again.jumped);
    CHECK(!again.trusted);
    CHECK_EQ_INT(again.state, TIMECHECK_JUMPED);
    /* With peers that confirm the new time, the step counts as a correction. */
    timecheck_init(&again, dir, TOL, true, wall() + 45 * DAY);
    CHECK(!again.trusted);
    int64_t off[1] = {0};
    timecheck_update(&again, wall() + 45 * DAY, off, 1, 1);
    CHECK(again.trusted);
    CHECK(!again.jumped);
    /* Slewing within the tolerance is no step (a fresh state file: the one above now holds
     * the confirmed +45 days). */
    char path[64];
    snprintf(path, sizeof path, "%s/clock", dir);
    unlink(path);
    timecheck slew;
    timecheck_init(&slew, dir, TOL, false, wall());
    timecheck_update(&slew, wall() + TOL / 2, NULL, 0, 0);
    CHECK(slew.trusted);
}

int main(void)
{
    char dir[] = "/tmp/kmsha-timecheck-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_peers(dir);
    char path[64];
    snprintf(path, sizeof path, "%s/clock", dir);
    unlink(path);
    test_steps(dir);
    unlink(path);
    rmdir(dir);
    return tu_finish();
}
