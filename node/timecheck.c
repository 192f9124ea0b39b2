/* timecheck.c: the node's clock checks (see timecheck.h).
 *
 * The reference is wall - CLOCK_BOOTTIME, which stays constant while the wall clock only
 * runs (NTP's slewing moves it slowly, and the reference follows it while the clock is
 * trusted); a step moves it at once. The state file holds the last trusted reading (wall,
 * boottime, boot id), so a restart in the same boot sees a step made while the node was
 * stopped; after a reboot only a clock behind the last trusted reading can be told.
 *
 * Trust: with peers, a live peer must agree within the tolerance and the agreeing side
 * (this node included) must not be outnumbered by the live peers that disagree; a step
 * then counts as corrected (the reference moves). Without peers, the clock is trusted
 * unless it stepped (until it steps back). */
#define _GNU_SOURCE
#include "node/timecheck.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SAVE_EVERY_MS 10000.0

static int64_t boot_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void read_boot_id(char out[40])
{
    out[0] = 0;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f) return;
    if (fgets(out, 40, f)) out[strcspn(out, "\r\n")] = 0;
    fclose(f);
}

static void save(timecheck *tc, int64_t wall_ms)
{
    char tmp[sizeof tc->path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", tc->path);
    FILE *f = fopen(tmp, "w");
    if (!f) return; /* the check still works in memory; only a restart loses the reference */
    fprintf(f, "%" PRId64 " %" PRId64 " %s\n", wall_ms, boot_ms(), tc->boot_id);
    bool ok = fclose(f) == 0;
    if (ok) (void)rename(tmp, tc->path);
    else unlink(tmp);
}

static int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

void timecheck_init(timecheck *tc, const char *data_dir, int64_t tolerance_ms, bool has_peers,
                    int64_t wall_ms)
{
    memset(tc, 0, sizeof *tc);
    tc->tolerance_ms = tolerance_ms;
    tc->has_peers = has_peers;
    snprintf(tc->path, sizeof tc->path, "%s/clock", data_dir);
    read_boot_id(tc->boot_id);
    int64_t now_boot = boot_ms();
    tc->have_ref = true;
    tc->ref_ms = wall_ms - now_boot;
    FILE *f = fopen(tc->path, "r");
    if (f) {
        int64_t saved_wall, saved_boot;
        char id[40] = "";
        if (fscanf(f, "%" SCNd64 " %" SCNd64 " %39s", &saved_wall, &saved_boot, id) == 3) {
            if (tc->boot_id[0] && !strcmp(id, tc->boot_id)) {
                /* Same boot: the wall clock should read the saved time plus what the
                 * monotonic clock says has passed. */
                int64_t expected = saved_wall + (now_boot - saved_boot);
                tc->ref_ms = saved_wall - saved_boot;
                if (abs64(wall_ms - expected) > tolerance_ms) {
                    tc->jumped = true;
                    tc->jumps++;
                    tc->last_jump_ms = wall_ms - expected;
                }
            } else if (wall_ms < saved_wall - tolerance_ms) {
                /* Rebooted: only a clock behind the last trusted reading is surely wrong. */
                tc->ref_ms = saved_wall - now_boot;
                tc->jumped = true;
                tc->jumps++;
                tc->last_jump_ms = wall_ms - saved_wall;
            }
        }
        fclose(f);
    }
    tc->state = tc->jumped ? TIMECHECK_JUMPED : has_peers ? TIMECHECK_UNCONFIRMED : TIMECHECK_CONFIRMED;
    tc->trusted = tc->state == TIMECHECK_CONFIRMED;
    tc->was_ahead = tc->jumped && tc->last_jump_ms > 0;
    tc->last_save_mono = -1e18;
}

bool timecheck_update(timecheck *tc, int64_t wall_ms, const int64_t *offsets, int n, double mono_ms)
{
    int64_t cur = wall_ms - boot_ms();
    int64_t step = cur - tc->ref_ms;
    if (abs64(step) > tc->tolerance_ms) {
        if (!tc->jumped) {
            tc->jumped = true;
            tc->jumps++;
            tc->last_jump_ms = step;
        }
    } else {
        tc->jumped = false;
        tc->ref_ms = cur; /* follow slewing */
    }
    tc->peers_agree = tc->peers_disagree = 0;
    tc->peer_offset_ms = 0;
    for (int i = 0; i < n; i++) {
        if (abs64(offsets[i]) > abs64(tc->peer_offset_ms)) tc->peer_offset_ms = offsets[i];
        if (abs64(offsets[i]) <= tc->tolerance_ms) tc->peers_agree++;
        else tc->peers_disagree++;
    }
    enum timecheck_state st;
    if (tc->has_peers) {
        if (tc->peers_agree > 0 && tc->peers_agree + 1 > tc->peers_disagree) st = TIMECHECK_CONFIRMED;
        else if (tc->peers_disagree > 0) st = TIMECHECK_DISAGREES;
        else if (tc->jumped) st = TIMECHECK_JUMPED;
        else st = TIMECHECK_UNCONFIRMED;
    } else {
        st = tc->jumped ? TIMECHECK_JUMPED : TIMECHECK_CONFIRMED;
    }
    if (st == TIMECHECK_CONFIRMED) {
        /* Peers vouch for the clock as it is now: a step was a correction. */
        tc->jumped = false;
        tc->ref_ms = cur;
        if (mono_ms - tc->last_save_mono >= SAVE_EVERY_MS) {
            save(tc, wall_ms);
            tc->last_save_mono = mono_ms;
        }
    } else if ((tc->jumped && tc->last_jump_ms > 0) ||
               (st == TIMECHECK_DISAGREES && tc->peer_offset_ms < 0)) {
        tc->was_ahead = true; /* our clock ahead: expiry may have dropped live clients */
    }
    bool changed = st != tc->state;
    tc->state = st;
    tc->trusted = st == TIMECHECK_CONFIRMED;
    return changed;
}

const char *timecheck_state_name(enum timecheck_state s)
{
    switch (s) {
    case TIMECHECK_CONFIRMED: return "confirmed";
    case TIMECHECK_UNCONFIRMED: return "unconfirmed";
    case TIMECHECK_DISAGREES: return "disagrees";
    case TIMECHECK_JUMPED: return "jumped";
    }
    return "?";
}

void timecheck_describe(const timecheck *tc, char *out, size_t cap)
{
    switch (tc->state) {
    case TIMECHECK_CONFIRMED:
        if (tc->has_peers)
            snprintf(out, cap, "clock confirmed by %d live peer%s (tolerance %" PRId64 " s)", tc->peers_agree,
                     tc->peers_agree == 1 ? "" : "s", tc->tolerance_ms / 1000);
        else
            snprintf(out, cap, "clock trusted (no step beyond %" PRId64 " s)", tc->tolerance_ms / 1000);
        break;
    case TIMECHECK_UNCONFIRMED:
        snprintf(out, cap, "clock not yet confirmed: no live peer heard; not pruning records or log until one confirms it");
        break;
    case TIMECHECK_DISAGREES:
        snprintf(out, cap, "clock disagrees with %d of %d live peers (by up to %.1f s: this node is %s); "
                 "not pruning records or log until a live peer confirms its time",
                 tc->peers_disagree, tc->peers_agree + tc->peers_disagree, (double)abs64(tc->peer_offset_ms) / 1000,
                 tc->peer_offset_ms < 0 ? "ahead" : "behind");
        break;
    case TIMECHECK_JUMPED:
        snprintf(out, cap, "clock stepped %s by %.1f s against the monotonic clock; not pruning records or log "
                 "until %s", tc->last_jump_ms > 0 ? "forward" : "back", (double)abs64(tc->last_jump_ms) / 1000,
                 tc->has_peers ? "a live peer confirms its time" : "it steps back");
        break;
    }
}
