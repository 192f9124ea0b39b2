/* store_writer.c: the write queue and its writer thread. The event loop queues writes;
 * one writer thread commits them in group commits, leader/follower style: as soon as it is
 * free and something is queued it takes everything queued into one write transaction, so a
 * lone write is committed at once and what arrives during a commit goes in the next one
 * (under load batches form by themselves, with no wait). commit_delay_ms (default 0) is an
 * optional extra wait: the writer then starts only once the oldest queued write has waited
 * that long. It merges each record with the stored one, commits (fsync unless no_sync),
 * then hands the completions back to the loop through an eventfd, where the callbacks run.
 * When the map is full the writer doubles it (up to STORE_GROW_TRIES times for one batch)
 * and retries; prunes run after the batch's writes, one chunk each, and go back to the
 * queue while chunks remain. */
#include "replication/store_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "proto/clock.h"
#include "proto/errors.h"

#define STORE_GROW_TRIES 4        /* map doublings tried for one batch before it fails */

static int opvec_reserve(opvec *q, size_t want)
{
    if (want <= q->cap) return 0;
    size_t cap = q->cap ? q->cap * 2 : 16;
    while (cap < want) cap *= 2;
    store_op *v = realloc(q->v, cap * sizeof *v);
    if (!v) return KMS_ENOMEM;
    q->v = v;
    q->cap = cap;
    return 0;
}

static void opvec_swap(opvec *a, opvec *b)
{
    opvec t = *a;
    *a = *b;
    *b = t;
}

static void opvec_free(opvec *q)
{
    free(q->v);
    q->v = NULL;
    q->n = q->cap = 0;
}

static void free_snapshots(opvec *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->v[i].snap);
        q->v[i].snap = NULL;
    }
}

static void run_callbacks(opvec *q)
{
    for (size_t i = 0; i < q->n; i++) {
        store_op *op = &q->v[i];
        if (op->kind == OP_PUT_LOGGED || op->kind == OP_APPLY) {
            if (!op->udone) continue;
            store_update u;
            memcpy(u.origin, op->origin, sizeof u.origin);
            u.seq = op->seq;
            u.rec = op->rec;
            op->udone(op->arg, op->status, &u);
        } else if (op->kind == OP_SNAPSHOT) {
            if (op->udone) op->udone(op->arg, op->status, NULL);
        } else if (op->done) {
            op->done(op->arg, op->status);
        }
    }
    q->n = 0;
}

static void process_batch(store *self, opvec *batch)
{
    size_t writes = 0;
    bool logged = false;
    for (size_t i = 0; i < batch->n; i++) {
        if (!store_is_txn_op(batch->v[i].kind)) continue;
        writes++;
        if (batch->v[i].kind != OP_PUT) logged = true;
    }

    uint64_t entries = UINT64_MAX, written = 0, commits = 0, failures = 0;
    double t0 = clock_mono_ms(), dt = -1;
    bool vv_changed = false;
    if (writes) {
        int rc = store_apply_writes(self, batch, logged, &written, &entries);
        for (int g = 0; rc == MDB_MAP_FULL && g < STORE_GROW_TRIES && store_grow_map(self) == 0; g++)
            rc = store_apply_writes(self, batch, logged, &written, &entries);
        if (rc == 0) commits++; else failures++;
        if (rc) written = 0;
        vv_changed = rc == 0 && logged;
        dt = clock_mono_ms() - t0;
        for (size_t i = 0; i < batch->n; i++) {
            store_op *op = &batch->v[i];
            if (rc && store_is_txn_op(op->kind)) op->status = store_cause(rc);
            if (op->kind == OP_PUT_LOGGED && op->status < 0) op->seq = 0; /* none assigned */
        }
        free_snapshots(batch);
    }
    for (size_t i = 0; i < batch->n; i++) {
        store_op *op = &batch->v[i];
        if (op->kind != OP_PRUNE && op->kind != OP_LOG_PRUNE) continue;
        int rc;
        if (op->kind == OP_PRUNE) {
            rc = store_apply_prune(self, op, &commits, &entries);
            for (int g = 0; rc == MDB_MAP_FULL && g < STORE_GROW_TRIES && store_grow_map(self) == 0; g++)
                rc = store_apply_prune(self, op, &commits, &entries);
        } else {
            rc = store_apply_log_prune(self, op, &commits);
            for (int g = 0; rc == MDB_MAP_FULL && g < STORE_GROW_TRIES && store_grow_map(self) == 0; g++)
                rc = store_apply_log_prune(self, op, &commits);
        }
        if (rc) { failures++; op->more = false; }
        op->status = store_cause(rc);
    }
    size_t carry = 0; /* prunes with chunks to go (requeued below) */
    for (size_t i = 0; i < batch->n; i++)
        if ((batch->v[i].kind == OP_PRUNE || batch->v[i].kind == OP_LOG_PRUNE) && batch->v[i].more) carry++;
    if (entries != UINT64_MAX) store_update_sizes(self, entries);

    pthread_mutex_lock(&self->mu);
    if (carry) {
        /* Prunes with chunks to go are not done: they move back to the queue, behind the
         * writes that arrived meanwhile (which the next batch commits first). Without
         * memory for that they end here, as failed. */
        bool requeue = opvec_reserve(&self->pending, self->pending.n + carry) == 0;
        if (requeue && self->pending.n == 0) clock_gettime(CLOCK_MONOTONIC, &self->pending_since);
        size_t kept = 0;
        for (size_t i = 0; i < batch->n; i++) {
            store_op *op = &batch->v[i];
            bool more = (op->kind == OP_PRUNE || op->kind == OP_LOG_PRUNE) && op->more;
            if (more && requeue) {
                self->pending.v[self->pending.n++] = *op;
                continue;
            }
            if (more) op->status = KMS_ESTORE;
            batch->v[kept++] = *op;
        }
        batch->n = kept;
    }
    if (vv_changed) self->vv = self->wvv; /* before any callback of this batch runs */
    self->stats.commits += commits;
    self->stats.records_written += written;
    self->stats.failures += failures;
    if (dt >= 0) {
        self->stats.last_commit_ms = dt;
        self->stats.commit_sum_ms += dt;
        if (dt > self->stats.commit_max_ms) self->stats.commit_max_ms = dt;
        for (int b = 0; b < STORE_COMMIT_BUCKETS; b++)
            if (dt <= store_commit_bounds_ms[b]) { self->stats.commit_bucket[b]++; break; }
    }
    /* Hand the completions to the loop. */
    if (self->done.n == 0) {
        opvec_swap(&self->done, batch);
    } else if (opvec_reserve(&self->done, self->done.n + batch->n) == 0) {
        memcpy(self->done.v + self->done.n, batch->v, batch->n * sizeof *batch->v);
        self->done.n += batch->n;
    } else {
        /* Out of memory for the hand-over: wait for the loop to drain done. */
        while (self->done.n && opvec_reserve(&self->done, self->done.n + batch->n) != 0) {
            pthread_mutex_unlock(&self->mu);
            usleep(1000);
            pthread_mutex_lock(&self->mu);
        }
        if (self->done.n == 0) {
            opvec_swap(&self->done, batch);
        } else {
            memcpy(self->done.v + self->done.n, batch->v, batch->n * sizeof *batch->v);
            self->done.n += batch->n;
        }
    }
    batch->n = 0;
    pthread_mutex_unlock(&self->mu);
    if (self->efd >= 0) {
        uint64_t one = 1;
        ssize_t w;
        do w = write(self->efd, &one, sizeof one); while (w < 0 && errno == EINTR);
        /* EAGAIN means the counter is saturated: the loop is already signalled. */
    }
    /* Do not keep a burst's worth of memory around. */
    if (batch->cap > 4096) opvec_free(batch);
}

static struct timespec timespec_after(struct timespec ts, uint32_t ms)
{
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void *writer_main(void *arg)
{
    store *self = arg;
    opvec batch = {0};
    pthread_mutex_lock(&self->mu);
    for (;;) {
        while (self->pending.n == 0 && !self->stopping)
            pthread_cond_wait(&self->cv, &self->mu);
        if (self->pending.n == 0) break; /* stopping with nothing left */
        if (self->commit_delay_ms && !self->stopping) {
            /* The optional extra wait: gather what arrives until the oldest queued write
             * has waited commit_delay_ms (no wait when it queued up during the previous
             * commit). Counted, so an operator can see the window at work. */
            struct timespec until = timespec_after(self->pending_since, self->commit_delay_ms);
            bool waited = false;
            while (!self->stopping && self->pending.n < STORE_QUEUE_MAX / 2) {
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec > until.tv_sec || (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec))
                    break;
                waited = true;
                if (pthread_cond_timedwait(&self->cv, &self->mu, &until) == ETIMEDOUT) break;
            }
            if (waited) self->stats.window_waits++;
        }
        opvec_swap(&self->pending, &batch);
        pthread_mutex_unlock(&self->mu);
        process_batch(self, &batch);
        pthread_mutex_lock(&self->mu);
    }
    pthread_mutex_unlock(&self->mu);
    opvec_free(&batch);
    return NULL;
}

/* Event loop side: runs the callbacks of finished writes. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    store *self = arg;
    uint64_t cnt;
    while (read(fd, &cnt, sizeof cnt) < 0 && errno == EINTR) {}
    opvec q = {0};
    pthread_mutex_lock(&self->mu);
    opvec_swap(&q, &self->done);
    pthread_mutex_unlock(&self->mu);
    run_callbacks(&q);
    opvec_free(&q);
}

int store_enqueue(store *self, const store_op *op, bool bounded)
{
    pthread_mutex_lock(&self->mu);
    int rc = 0;
    if (self->stopping) rc = KMS_ESTORE;
    else if (bounded && self->pending.n >= STORE_QUEUE_MAX) rc = KMS_ENOMEM;
    else rc = opvec_reserve(&self->pending, self->pending.n + 1);
    if (rc == 0) {
        self->pending.v[self->pending.n++] = *op;
        if (self->pending.n == 1) clock_gettime(CLOCK_MONOTONIC, &self->pending_since);
        if (self->pending.n == 1 || self->pending.n == STORE_QUEUE_MAX / 2)
            pthread_cond_signal(&self->cv);
    }
    pthread_mutex_unlock(&self->mu);
    return rc;
}

int store_writer_start(store *self, const char **what)
{
    if (self->base) {
        self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (self->efd < 0) {
            *what = "eventfd";
            return errno;
        }
        self->ev = event_new(self->base, self->efd, EV_READ | EV_PERSIST, on_done, self);
        if (!self->ev || event_add(self->ev, NULL) != 0) {
            *what = "event_new";
            return ENOMEM;
        }
    }
    int rc = pthread_create(&self->thread, NULL, writer_main, self);
    if (rc) {
        *what = "starting the writer thread";
        return rc;
    }
    self->thread_started = true;
    return 0;
}

void store_writer_stop(store *self)
{
    if (self->thread_started) {
        pthread_mutex_lock(&self->mu);
        self->stopping = true;
        pthread_cond_broadcast(&self->cv);
        pthread_mutex_unlock(&self->mu);
        pthread_join(self->thread, NULL); /* the writer commits what is queued first */
    }
    self->stopping = true;
    /* Owed callbacks run now, so none runs after we return. */
    opvec q = {0};
    opvec_swap(&q, &self->done);
    run_callbacks(&q);
    opvec_free(&q);
    if (self->ev) event_free(self->ev);
    self->ev = NULL;
    if (self->efd >= 0) close(self->efd);
    self->efd = -1;
    free_snapshots(&self->pending); /* none: the writer drained it; defensive */
    opvec_free(&self->pending);
    opvec_free(&self->done);
}
