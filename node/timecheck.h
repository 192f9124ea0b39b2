/* timecheck.h: whether this node may trust its own wall clock. Time is checked, never
 * trusted: the clock must agree with the live peers' (their heartbeats carry their time)
 * and must not step (the wall clock against the monotonic time since boot, also across a
 * restart: the last trusted reading is kept in DATA_DIR/clock). A node whose clock is not
 * trusted must not prune records or log (a clock 45 days ahead would delete everything).
 * Owned by the event loop; no I/O besides the small state file. */
#ifndef KMSHA_TIMECHECK_H
#define KMSHA_TIMECHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum timecheck_state {
    TIMECHECK_CONFIRMED = 0,  /* a live peer agrees (or, without peers, no step) */
    TIMECHECK_UNCONFIRMED,    /* peers configured but none heard yet */
    TIMECHECK_DISAGREES,      /* the live peers' clocks differ by more than the tolerance */
    TIMECHECK_JUMPED,         /* stepped against the monotonic clock, no peer confirms it */
};

typedef struct timecheck {
    int64_t tolerance_ms;
    bool has_peers;
    char path[4200];          /* DATA_DIR/clock */
    char boot_id[40];
    bool have_ref;
    int64_t ref_ms;           /* wall - boottime while the clock was last trusted */
    bool jumped;
    int64_t last_jump_ms;     /* signed size of the last step (+ = forward) */
    uint64_t jumps;
    int peers_agree, peers_disagree;
    int64_t peer_offset_ms;   /* the largest live peer offset in magnitude (theirs - ours) */
    enum timecheck_state state;
    bool trusted;
    bool was_ahead;           /* while untrusted the clock was seen ahead (the count index may
                                 have expired records it should keep) */
    double last_save_mono;
} timecheck;

/* Starts the check: reads DATA_DIR/clock (written by earlier runs while their clock was
 * trusted) and compares with wall_ms (the node's clock) and the time since boot, so a step
 * while the node was stopped is seen at start. */
void timecheck_init(timecheck *tc, const char *data_dir, int64_t tolerance_ms, bool has_peers,
                    int64_t wall_ms);

/* One check (about once a second): wall_ms is the node's clock; offsets[0..n) are the live
 * peers' clock offsets (theirs - ours). Returns true when the state changed (the caller logs
 * timecheck_describe). Saves the state file now and then while the clock is trusted. */
bool timecheck_update(timecheck *tc, int64_t wall_ms, const int64_t *offsets, int n, double mono_ms);

const char *timecheck_state_name(enum timecheck_state s);
/* One line saying what the state is and why, for the log and /status. */
void timecheck_describe(const timecheck *tc, char *out, size_t cap);

#endif
