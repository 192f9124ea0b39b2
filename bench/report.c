/* report.c: kmsbench's outputs: the text summary, the JSON summary with its per-second
 * series, and a self-contained HTML page (inline SVG charts drawn here, no script, no
 * external resource) that an administrator can hand to others. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "ops/kmsctl/jsonfile.h"
#include "proto/errors.h"
#include "proto/products.h"

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static double throughput(const bench_result *r)
{
    return r->elapsed_s > 0 ? (double)r->ok / r->elapsed_s : 0.0;
}

static const char *protocol_text(int p)
{
    switch (p) {
    case 0: return "product default";
    case -1: return "mix";
    case 4: return "4";
    case 5: return "5";
    case 6: return "6";
    default: return "?";
    }
}

static void mode_text(const bench_config *cfg, char *out, size_t cap)
{
    char stop[96];
    if (cfg->duration_s > 0 && cfg->requests)
        snprintf(stop, sizeof stop, "%.3g s or %" PRIu64 " requests", cfg->duration_s,
                 cfg->requests);
    else if (cfg->requests)
        snprintf(stop, sizeof stop, "%" PRIu64 " requests", cfg->requests);
    else
        snprintf(stop, sizeof stop, "%.3g s", cfg->duration_s);
    if (cfg->rate > 0)
        snprintf(out, cap, "open loop, %.6g/s (max %u outstanding), %s", cfg->rate,
                 cfg->max_outstanding, stop);
    else
        snprintf(out, cap, "closed loop, concurrency %u, %s", cfg->concurrency, stop);
}

static void targets_text(const bench_config *cfg, char *out, size_t cap)
{
    size_t off = 0;
    out[0] = 0;
    for (int i = 0; i < cfg->n_targets && off + 1 < cap; i++) {
        int n = snprintf(out + off, cap - off, "%s%s", i ? ", " : "", cfg->targets[i].text);
        if (n < 0) break;
        off += (size_t)n;
    }
}

static void products_text(const bench_config *cfg, char *out, size_t cap)
{
    size_t off = 0;
    out[0] = 0;
    for (int i = 0; i < cfg->n_products && off + 1 < cap; i++) {
        const bench_product *p = &cfg->products[i];
        int n = snprintf(out + off, cap - off, "%s%s:%u", i ? "," : "", p->slug, p->weight);
        if (n < 0) break;
        off += (size_t)n;
    }
}

static void tally_text(const bench_tally *t, bool hex, bool kms_err, char *out, size_t cap)
{
    size_t off = 0;
    out[0] = 0;
    for (int i = 0; i < t->n && off + 1 < cap; i++) {
        int n;
        if (kms_err)
            n = snprintf(out + off, cap - off, "%s%s x%" PRIu64, i ? ", " : "",
                         kms_strerror((int)t->key[i]), t->count[i]);
        else if (hex)
            n = snprintf(out + off, cap - off, "%s0x%08" PRIX32 " x%" PRIu64, i ? ", " : "",
                         (uint32_t)t->key[i], t->count[i]);
        else
            n = snprintf(out + off, cap - off, "%s%s x%" PRIu64, i ? ", " : "",
                         strerror((int)t->key[i]), t->count[i]);
        if (n < 0) break;
        off += (size_t)n;
    }
    if (t->other && off + 1 < cap)
        snprintf(out + off, cap - off, ", others x%" PRIu64, t->other);
}

/* The detail string for a failure cause ("" when none). */
static void cause_detail(const bench_result *r, int c, char *out, size_t cap)
{
    out[0] = 0;
    if (c == CAUSE_HRESULT) tally_text(&r->hresults, true, false, out, cap);
    else if (c == CAUSE_RPC_FAULT) tally_text(&r->faults, true, false, out, cap);
    else if (c == CAUSE_VERIFICATION || c == CAUSE_PROTOCOL)
        tally_text(&r->verify_errors, false, true, out, cap);
    else if (c == CAUSE_LOCAL) tally_text(&r->local_errors, false, false, out, cap);
}

/* ------------------------------------------------------------------ text */

void report_text(FILE *out, const bench_config *cfg, const bench_result *r)
{
    char mode[256], targets[2048], products[1024];
    mode_text(cfg, mode, sizeof mode);
    targets_text(cfg, targets, sizeof targets);
    products_text(cfg, products, sizeof products);
    fprintf(out, "kmsbench: %s\n", targets);
    fprintf(out, "  load         %s%s\n", mode, r->interrupted ? " (interrupted)" : "");
    fprintf(out, "  clients      %" PRIu64 " (seed %" PRIu64 "), products %s, protocol %s%s\n",
            cfg->clients, cfg->seed, products, protocol_text(cfg->protocol),
            cfg->verify ? "" : ", NOT VERIFIED (--no-verify)");
    fprintf(out, "  generator    %u thread%s, bind offers %s, close with %s%s%s\n", cfg->threads,
            cfg->threads == 1 ? "" : "s", cfg->ndr64 ? "NDR32+NDR64+BTFN" : "NDR32+BTFN",
            cfg->reset_close ? "RST (SO_LINGER 0: no TIME_WAIT; --graceful-close for FIN)"
                             : "FIN (--graceful-close)",
            cfg->n_sources ? ", sources " : "", cfg->n_sources ? cfg->sources_text : "");
    fprintf(out, "activations    %" PRIu64 " ok, %" PRIu64 " failed (%" PRIu64
                 " attempted) in %.3f s\n",
            r->ok, r->failed, r->attempted, r->elapsed_s);
    fprintf(out, "throughput     %.1f activations/s\n", throughput(r));
    const hist *h = r->latency;
    if (h && h->count)
        fprintf(out, "latency (ms)   p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  "
                     "mean %.3f\n",
                ms(hist_quantile(h, 0.50)), ms(hist_quantile(h, 0.90)),
                ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)), ms(h->max),
                h->sum / (double)h->count / 1000.0);
    else
        fprintf(out, "latency (ms)   no successful activation\n");
    if (r->failed == 0) {
        fprintf(out, "failures       none\n");
    } else {
        fprintf(out, "failures       %" PRIu64 "\n", r->failed);
        for (int c = 0; c < CAUSE_COUNT_; c++) {
            if (!r->by_cause[c]) continue;
            char detail[1024];
            cause_detail(r, c, detail, sizeof detail);
            fprintf(out, "  %-18s %" PRIu64 "%s%s%s\n", bench_cause_name((bench_cause)c),
                    r->by_cause[c], detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
        }
    }
    if (cfg->verify) {
        fprintf(out, "count below N  %" PRIu64 "%s\n", r->count_below_n,
                cfg->require_count ? " (failures: --require-count)"
                                   : " (normal while a fresh host counts its first clients; "
                                     "not a failure)");
        if (r->ok) fprintf(out, "counts seen    %" PRIu64 " .. %" PRIu64 "\n", r->min_count,
                           r->max_count);
    }
    fprintf(out, "failovers      %" PRIu64, r->failovers);
    for (int c = 0; c < CAUSE_COUNT_; c++)
        if (r->failovers_by_cause[c])
            fprintf(out, "  %s %" PRIu64, bench_cause_name((bench_cause)c), r->failovers_by_cause[c]);
    fputc('\n', out);
    if (r->run_s > 0)
        fprintf(out, "kmsbench CPU   %.2f s user + %.2f s system in %.2f s (%.0f%% of one core)\n",
                r->cpu_user_s, r->cpu_sys_s, r->run_s,
                100.0 * (r->cpu_user_s + r->cpu_sys_s) / r->run_s);
    bool per_target = cfg->n_targets > 1;
    for (int i = 0; i < cfg->n_targets; i++) {
        const bench_target *t = &cfg->targets[i];
        if (t->refused || t->dropped || t->closed || t->timeouts) per_target = true;
    }
    if (per_target) {
        fprintf(out, "per target     (refused: connection refused; dropped: accepted and closed "
                     "unanswered, how a host refuses a client over its connection limits)\n");
        for (int i = 0; i < cfg->n_targets; i++) {
            const bench_target *t = &cfg->targets[i];
            fprintf(out, "  %-30s attempts %" PRIu64 ", ok %" PRIu64 ", refused %" PRIu64
                         ", dropped %" PRIu64 ", closed %" PRIu64 ", timeouts %" PRIu64 "\n",
                    t->text, t->attempts, t->ok, t->refused, t->dropped, t->closed, t->timeouts);
        }
    }
}

/* ------------------------------------------------------------------ JSON */

/* Closes a file written with stdio: 0, or -1 with errno from the first failed write or
 * from fclose. */
static int finish_file(FILE *f)
{
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        errno = e ? e : EIO;
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* Finite numbers only: JSON has no NaN. */
static void json_num(FILE *f, double v)
{
    if (!isfinite(v)) v = 0;
    fprintf(f, "%.6g", v);
}

static void json_tally(FILE *f, const bench_tally *t, bool hex)
{
    fputc('{', f);
    for (int i = 0; i < t->n; i++) {
        char key[64];
        if (hex) snprintf(key, sizeof key, "0x%08" PRIX32, (uint32_t)t->key[i]);
        else snprintf(key, sizeof key, "%s", kms_strerror((int)t->key[i]));
        fprintf(f, "%s", i ? ", " : "");
        jsonfile_str(f, key);
        fprintf(f, ": %" PRIu64, t->count[i]);
    }
    if (t->other) fprintf(f, "%s\"other\": %" PRIu64, t->n ? ", " : "", t->other);
    fputc('}', f);
}

int report_json(const char *path, const bench_config *cfg, const bench_result *r)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const hist *h = r->latency;
    bool any = h && h->count;
    fprintf(f, "{\n  \"tool\": \"kmsbench\",\n");
    fprintf(f, "  \"config\": {\"targets\": [");
    for (int i = 0; i < cfg->n_targets; i++) {
        fprintf(f, "%s", i ? ", " : "");
        jsonfile_str(f, cfg->targets[i].text);
    }
    fprintf(f, "], \"mode\": \"%s\", ", cfg->rate > 0 ? "open" : "closed");
    if (cfg->rate > 0) {
        fprintf(f, "\"rate\": ");
        json_num(f, cfg->rate);
        fprintf(f, ", \"max_outstanding\": %u, ", cfg->max_outstanding);
    } else {
        fprintf(f, "\"concurrency\": %u, ", cfg->concurrency);
    }
    fprintf(f, "\"duration_s\": ");
    json_num(f, cfg->duration_s);
    fprintf(f, ", \"requests\": %" PRIu64 ", \"warmup_s\": ", cfg->requests);
    json_num(f, cfg->warmup_s);
    fprintf(f, ", \"timeout_ms\": %d, \"clients\": %" PRIu64 ", \"seed\": %" PRIu64
               ", \"protocol\": \"%s\", \"products\": [",
            cfg->timeout_ms, cfg->clients, cfg->seed,
            cfg->protocol == 0 ? "default" : protocol_text(cfg->protocol));
    for (int i = 0; i < cfg->n_products; i++) {
        const bench_product *p = &cfg->products[i];
        fprintf(f, "%s{\"product\": ", i ? ", " : "");
        jsonfile_str(f, p->slug);
        fprintf(f, ", \"weight\": %u, \"application\": \"%s\", \"n_policy\": %u, "
                   "\"protocol\": %d}",
                p->weight, products_app_slug((kms_app)p->app), p->n_policy, p->protocol);
    }
    fprintf(f, "], \"verify\": %s, \"require_count\": %s, \"sticky\": %s, \"threads\": %u"
               ", \"ndr64\": %s, \"close\": \"%s\", \"sources\": ",
            cfg->verify ? "true" : "false", cfg->require_count ? "true" : "false",
            cfg->sticky ? "true" : "false", cfg->threads, cfg->ndr64 ? "true" : "false",
            cfg->reset_close ? "rst" : "fin");
    jsonfile_str(f, cfg->sources_text);
    fprintf(f, ", \"command\": ");
    jsonfile_str(f, cfg->command_line);
    fprintf(f, "},\n");

    fprintf(f, "  \"started_unix\": %.3f,\n  \"elapsed_s\": ", r->started_unix);
    json_num(f, r->elapsed_s);
    fprintf(f, ",\n  \"interrupted\": %s,\n", r->interrupted ? "true" : "false");
    fprintf(f, "  \"attempted\": %" PRIu64 ",\n  \"activations\": %" PRIu64
               ",\n  \"failed\": %" PRIu64 ",\n  \"activations_per_s\": ",
            r->attempted, r->ok, r->failed);
    json_num(f, throughput(r));
    fprintf(f, ",\n  \"latency_ms\": {\"p50\": ");
    json_num(f, any ? ms(hist_quantile(h, 0.50)) : 0);
    fprintf(f, ", \"p90\": ");
    json_num(f, any ? ms(hist_quantile(h, 0.90)) : 0);
    fprintf(f, ", \"p99\": ");
    json_num(f, any ? ms(hist_quantile(h, 0.99)) : 0);
    fprintf(f, ", \"p999\": ");
    json_num(f, any ? ms(hist_quantile(h, 0.999)) : 0);
    fprintf(f, ", \"max\": ");
    json_num(f, any ? ms(h->max) : 0);
    fprintf(f, ", \"min\": ");
    json_num(f, any ? ms(h->min) : 0);
    fprintf(f, ", \"mean\": ");
    json_num(f, any ? h->sum / (double)h->count / 1000.0 : 0);
    fprintf(f, "},\n  \"failures\": {\"total\": %" PRIu64, r->failed);
    for (int c = 0; c < CAUSE_COUNT_; c++)
        fprintf(f, ", \"%s\": %" PRIu64, bench_cause_name((bench_cause)c), r->by_cause[c]);
    fprintf(f, ", \"hresult_values\": ");
    json_tally(f, &r->hresults, true);
    fprintf(f, ", \"rpc_fault_statuses\": ");
    json_tally(f, &r->faults, true);
    fprintf(f, ", \"verification_errors\": ");
    json_tally(f, &r->verify_errors, false);
    fprintf(f, ", \"local_errors\": {");
    for (int i = 0; i < r->local_errors.n; i++) {
        fprintf(f, "%s", i ? ", " : "");
        jsonfile_str(f, strerror((int)r->local_errors.key[i]));
        fprintf(f, ": %" PRIu64, r->local_errors.count[i]);
    }
    fprintf(f, "}},\n");
    fprintf(f, "  \"count_below_n\": %" PRIu64 ",\n  \"count_min\": %" PRIu64
               ",\n  \"count_max\": %" PRIu64 ",\n  \"failovers\": %" PRIu64 ",\n",
            r->count_below_n, r->min_count, r->max_count, r->failovers);
    fprintf(f, "  \"failovers_by_cause\": {");
    for (int c = 0; c < CAUSE_COUNT_; c++)
        fprintf(f, "%s\"%s\": %" PRIu64, c ? ", " : "", bench_cause_name((bench_cause)c),
                r->failovers_by_cause[c]);
    fprintf(f, "},\n");
    fprintf(f, "  \"kmsbench_cpu\": {\"user_s\": ");
    json_num(f, r->cpu_user_s);
    fprintf(f, ", \"sys_s\": ");
    json_num(f, r->cpu_sys_s);
    fprintf(f, ", \"run_s\": ");
    json_num(f, r->run_s);
    fprintf(f, "},\n");
    fprintf(f, "  \"clients_by_app\": {\"windows\": %" PRIu64 ", \"office2010\": %" PRIu64
               ", \"office2013\": %" PRIu64 "},\n",
            r->clients_by_app[0], r->clients_by_app[1], r->clients_by_app[2]);
    fprintf(f, "  \"targets\": [");
    for (int i = 0; i < cfg->n_targets; i++) {
        const bench_target *t = &cfg->targets[i];
        fprintf(f, "%s{\"target\": ", i ? ", " : "");
        jsonfile_str(f, t->text);
        fprintf(f, ", \"attempts\": %" PRIu64 ", \"ok\": %" PRIu64 ", \"refused\": %" PRIu64
                   ", \"dropped\": %" PRIu64 ", \"closed\": %" PRIu64 ", \"timeouts\": %" PRIu64 "}",
                t->attempts, t->ok, t->refused, t->dropped, t->closed, t->timeouts);
    }
    fprintf(f, "],\n  \"series\": [");
    for (size_t i = 0; i < r->n_series; i++) {
        const bench_second *s = &r->series[i];
        fprintf(f, "%s\n    {\"t\": %zu, \"activations\": %" PRIu64 ", \"failures\": %" PRIu64
                   ", \"p50_ms\": ",
                i ? "," : "", i + 1, s->ok, s->failed);
        json_num(f, ms(s->p50_us));
        fprintf(f, ", \"p99_ms\": ");
        json_num(f, ms(s->p99_us));
        fputc('}', f);
    }
    fprintf(f, "%s]\n}\n", r->n_series ? "\n  " : "");
    return finish_file(f);
}

/* ------------------------------------------------------------------ HTML */

static void html_str(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A "nice" axis maximum (1, 2, 2.5, 5 x 10^k) at or above v, and its tick step. */
static double nice_max(double v, double *step)
{
    if (!(v > 0)) {
        *step = 0.25;
        return 1;
    }
    double p = pow(10, floor(log10(v)));
    static const double m[] = {1, 2, 2.5, 5, 10};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (v <= m[i] * p) {
            *step = m[i] * p / 5;
            return m[i] * p;
        }
    }
    *step = 2 * p;
    return 10 * p;
}

typedef struct chart_line {
    const char *name;
    const char *color;
    double (*value)(const bench_second *s);
    bool bars;
} chart_line;

static double v_ok(const bench_second *s) { return (double)s->ok; }
static double v_failed(const bench_second *s) { return (double)s->failed; }
static double v_p50(const bench_second *s) { return s->ok ? ms(s->p50_us) : NAN; }
static double v_p99(const bench_second *s) { return s->ok ? ms(s->p99_us) : NAN; }

#define CW 1040
#define CH 260
#define ML 70
#define MR 20
#define MT 30
#define MB 40

static void svg_chart(FILE *f, const bench_result *r, const char *title, const char *unit,
                      const chart_line *lines, int n_lines)
{
    size_t n = r->n_series;
    double vmax = 0;
    for (int l = 0; l < n_lines; l++)
        for (size_t i = 0; i < n; i++) {
            double v = lines[l].value(&r->series[i]);
            if (isfinite(v) && v > vmax) vmax = v;
        }
    double step;
    double ymax = nice_max(vmax * 1.05, &step);
    double pw = CW - ML - MR, ph = CH - MT - MB;
    double xn = n > 1 ? (double)n : 1;
    fprintf(f, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
               "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n",
            CW, CH, CW, CH);
    fprintf(f, "<text x=\"%d\" y=\"18\" class=\"ct\">", ML);
    html_str(f, title);
    fprintf(f, "</text>\n");
    /* horizontal grid and y labels */
    for (double y = 0; y <= ymax + step / 2; y += step) {
        double py = MT + ph - y / ymax * ph;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", ML, py,
                ML + pw, py);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%.6g</text>\n", ML - 6, py + 4, y);
    }
    fprintf(f, "<text x=\"14\" y=\"%.1f\" class=\"yl\" transform=\"rotate(-90 14 %.1f)\" "
               "text-anchor=\"middle\">",
            MT + ph / 2, MT + ph / 2);
    html_str(f, unit);
    fprintf(f, "</text>\n");
    /* x ticks: about 10 */
    size_t xstep = n > 10 ? (n + 9) / 10 : 1;
    for (size_t t = 0; t <= n; t += xstep) {
        double px = ML + (double)t / xn * pw;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", px,
                MT + ph, px, MT + ph + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">%zu</text>\n", px, MT + ph + 18, t);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"xl\">seconds</text>\n", ML + pw / 2, CH - 4);
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>\n", ML,
            MT + ph, ML + pw, MT + ph);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\" class=\"axis\"/>\n", ML, MT, ML,
            MT + ph);
    /* data: second i covers [i, i+1) */
    for (int l = 0; l < n_lines; l++) {
        const chart_line *cl = &lines[l];
        if (cl->bars) {
            double bw = pw / xn * 0.8;
            for (size_t i = 0; i < n; i++) {
                double v = cl->value(&r->series[i]);
                if (!isfinite(v) || v <= 0) continue;
                double px = ML + ((double)i + 0.1) / xn * pw, hh = v / ymax * ph;
                fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                           "fill=\"%s\"><title>t=%zu s: %.6g</title></rect>\n",
                        px, MT + ph - hh, bw < 1 ? 1 : bw, hh, cl->color, i + 1, v);
            }
            continue;
        }
        bool open = false;
        for (size_t i = 0; i < n; i++) {
            double v = cl->value(&r->series[i]);
            if (!isfinite(v)) {
                if (open) fprintf(f, "\"/>\n");
                open = false;
                continue;
            }
            double px = ML + ((double)i + 0.5) / xn * pw, py = MT + ph - v / ymax * ph;
            if (!open)
                fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                        cl->color);
            fprintf(f, "%.1f,%.1f ", px, py);
            open = true;
        }
        if (open) fprintf(f, "\"/>\n");
        if (n == 1) { /* a single point: draw it */
            double v = cl->value(&r->series[0]);
            if (isfinite(v))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                        ML + pw / 2, MT + ph - v / ymax * ph, cl->color);
        }
    }
    /* legend */
    for (int l = 0; l < n_lines; l++) {
        double lx = ML + pw - 140.0 * (n_lines - l);
        fprintf(f, "<rect x=\"%.1f\" y=\"8\" width=\"14\" height=\"10\" fill=\"%s\"/>", lx,
                lines[l].color);
        fprintf(f, "<text x=\"%.1f\" y=\"17\" class=\"lg\">", lx + 20);
        html_str(f, lines[l].name);
        fprintf(f, "</text>\n");
    }
    if (n == 0)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">no data</text>\n", ML + pw / 2,
                MT + ph / 2);
    fprintf(f, "</svg>\n");
}

static void row(FILE *f, const char *k, const char *v)
{
    fprintf(f, "<tr><th>");
    html_str(f, k);
    fprintf(f, "</th><td>");
    html_str(f, v);
    fprintf(f, "</td></tr>\n");
}

int report_html(const char *path, const bench_config *cfg, const bench_result *r)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    char buf[2048], mode[256];
    time_t started = (time_t)r->started_unix;
    struct tm tm;
    char when[64] = "";
    if (localtime_r(&started, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", &tm);
    struct utsname un;
    char machine[512] = "";
    if (uname(&un) == 0)
        snprintf(machine, sizeof machine, "%s (%s %s, %s), %ld CPUs online", un.nodename,
                 un.sysname, un.release, un.machine, sysconf(_SC_NPROCESSORS_ONLN));

    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
               "<title>kmsbench report</title>\n<style>\n"
               "body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;"
               "margin:24px;color:#222;max-width:1100px}\n"
               "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}\n"
               ".sub{color:#666;margin-bottom:16px}\n"
               "table{border-collapse:collapse;margin:6px 0}th,td{text-align:left;"
               "padding:4px 14px 4px 0;border-bottom:1px solid #e4e4e4;vertical-align:top}\n"
               "th{font-weight:600;color:#444;white-space:nowrap}\n"
               ".big{display:flex;gap:18px;flex-wrap:wrap;margin:12px 0}\n"
               ".card{border:1px solid #ddd;border-radius:6px;padding:10px 16px;min-width:150px}\n"
               ".card .v{font-size:24px;font-weight:600}.card .k{color:#666;font-size:13px}\n"
               ".ok{color:#1a7f37}.bad{color:#c62828}\n"
               "svg.chart{display:block;margin:8px 0 4px;max-width:100%%;height:auto}\n"
               ".ct{font-size:14px;font-weight:600;fill:#333}.grid{stroke:#eee}"
               ".axis{stroke:#888}\n"
               ".yl{font-size:11px;fill:#555;text-anchor:end}.xl{font-size:11px;fill:#555;"
               "text-anchor:middle}.lg{font-size:12px;fill:#333}\n"
               "code{background:#f4f4f4;padding:1px 4px;border-radius:3px;font-size:12px;"
               "word-break:break-all}\n"
               "</style></head><body>\n");
    fprintf(f, "<h1>kmsbench report</h1>\n<div class=\"sub\">");
    html_str(f, when);
    fprintf(f, " &middot; ");
    html_str(f, machine);
    fprintf(f, "</div>\n");

    const hist *h = r->latency;
    bool any = h && h->count;
    fprintf(f, "<div class=\"big\">\n");
    fprintf(f, "<div class=\"card\"><div class=\"v\">%.0f</div><div class=\"k\">activations/s"
               "</div></div>\n", throughput(r));
    fprintf(f, "<div class=\"card\"><div class=\"v\">%" PRIu64 "</div><div class=\"k\">"
               "%s</div></div>\n", r->ok,
            cfg->verify ? "verified activations" : "activations (not verified)");
    fprintf(f, "<div class=\"card\"><div class=\"v %s\">%" PRIu64 "</div><div class=\"k\">"
               "failed</div></div>\n", r->failed ? "bad" : "ok", r->failed);
    fprintf(f, "<div class=\"card\"><div class=\"v\">%.2f ms</div><div class=\"k\">p50 latency"
               "</div></div>\n", any ? ms(hist_quantile(h, 0.5)) : 0.0);
    fprintf(f, "<div class=\"card\"><div class=\"v\">%.2f ms</div><div class=\"k\">p99 latency"
               "</div></div>\n", any ? ms(hist_quantile(h, 0.99)) : 0.0);
    fprintf(f, "</div>\n");

    fprintf(f, "<h2>Over time</h2>\n");
    chart_line thr[] = {{"activations/s", "#1f77b4", v_ok, false}};
    svg_chart(f, r,
              cfg->verify ? "Throughput (verified activations per second)"
                          : "Throughput (activations per second, responses not verified)",
              "activations/s", thr, 1);
    chart_line lat[] = {{"p50", "#2ca02c", v_p50, false}, {"p99", "#d62728", v_p99, false}};
    svg_chart(f, r, "Latency of the activations completed in each second", "ms", lat, 2);
    chart_line fl[] = {{"failures", "#c62828", v_failed, true}};
    svg_chart(f, r, "Failed activations per second", "failures/s", fl, 1);

    fprintf(f, "<h2>Summary</h2>\n<table>\n");
    snprintf(buf, sizeof buf, "%" PRIu64 " verified, %" PRIu64 " failed, %" PRIu64
                              " attempted in %.3f s",
             r->ok, r->failed, r->attempted, r->elapsed_s);
    row(f, "Activations", buf);
    snprintf(buf, sizeof buf, "%.1f activations/s", throughput(r));
    row(f, "Throughput", buf);
    if (any)
        snprintf(buf, sizeof buf, "p50 %.3f, p90 %.3f, p99 %.3f, p99.9 %.3f, max %.3f, "
                                  "mean %.3f",
                 ms(hist_quantile(h, 0.5)), ms(hist_quantile(h, 0.9)),
                 ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)), ms(h->max),
                 h->sum / (double)h->count / 1000.0);
    else
        snprintf(buf, sizeof buf, "no successful activation");
    row(f, "Latency (ms)", buf);
    snprintf(buf, sizeof buf, "%" PRIu64 "%s", r->failed, r->failed ? ", by cause:" : "");
    row(f, "Failures", buf);
    for (int c = 0; c < CAUSE_COUNT_; c++) {
        char detail[1024], name[64];
        if (!r->by_cause[c]) continue;
        cause_detail(r, c, detail, sizeof detail);
        snprintf(name, sizeof name, "\u2003%s", bench_cause_name((bench_cause)c));
        snprintf(buf, sizeof buf, "%" PRIu64 "%s%s%s", r->by_cause[c], detail[0] ? " (" : "",
                 detail, detail[0] ? ")" : "");
        row(f, name, buf);
    }
    if (cfg->verify) {
        snprintf(buf, sizeof buf, "%" PRIu64 "%s", r->count_below_n,
                 cfg->require_count ? " (counted as failures)"
                                    : " (not failures: a fresh host's first clients see "
                                      "count < N)");
        row(f, "Responses with count < N", buf);
    }
    if (cfg->verify && r->ok) {
        snprintf(buf, sizeof buf, "%" PRIu64 " .. %" PRIu64, r->min_count, r->max_count);
        row(f, "Counts returned", buf);
    }
    snprintf(buf, sizeof buf, "%" PRIu64, r->failovers);
    row(f, "Failovers to the next host", buf);
    snprintf(buf, sizeof buf, "Windows %" PRIu64 ", Office 2010 %" PRIu64 ", Office 2013+ %" PRIu64,
             r->clients_by_app[0], r->clients_by_app[1], r->clients_by_app[2]);
    row(f, "Distinct clients that took part", buf);
    if (r->run_s > 0) {
        snprintf(buf, sizeof buf, "%.2f s user + %.2f s system in %.2f s (%.0f%% of one core)",
                 r->cpu_user_s, r->cpu_sys_s, r->run_s,
                 100.0 * (r->cpu_user_s + r->cpu_sys_s) / r->run_s);
        row(f, "Load generator CPU", buf);
    }
    fprintf(f, "</table>\n");

    fprintf(f, "<h2>Parameters</h2>\n<table>\n");
    targets_text(cfg, buf, sizeof buf);
    row(f, "Targets", buf);
    mode_text(cfg, mode, sizeof mode);
    row(f, "Load", mode);
    snprintf(buf, sizeof buf, "%.3g s", cfg->warmup_s);
    row(f, "Warm-up (not measured)", buf);
    snprintf(buf, sizeof buf, "%d ms per step", cfg->timeout_ms);
    row(f, "Timeout", buf);
    snprintf(buf, sizeof buf, "%" PRIu64 " (seed %" PRIu64 ")", cfg->clients, cfg->seed);
    row(f, "Distinct clients", buf);
    products_text(cfg, buf, sizeof buf);
    row(f, "Products (weights)", buf);
    row(f, "Protocol", protocol_text(cfg->protocol));
    row(f, "Verification", cfg->verify ? "full (MAC/HMAC, echoes, count)"
                                       : "off (--no-verify: floor measurement only)");
    row(f, "Host choice", cfg->sticky ? "each client starts at the host that answered it last"
                                      : "always the first host first");
    fprintf(f, "<tr><th>Command</th><td><code>");
    html_str(f, cfg->command_line);
    fprintf(f, "</code></td></tr>\n</table>\n");
    fprintf(f, "<p class=\"sub\">Each activation is a new TCP connection, bind, alter_context "
               "when needed, one KMS request and its %s response, as a Windows client "
               "does. Latency is measured from the activation's %s start to that response.%s"
               "</p>\n",
            cfg->verify ? "verified" : "(unverified)", cfg->rate > 0 ? "scheduled" : "actual",
            cfg->rate > 0 ? " Starts follow a fixed timetable whatever the answers do, so a "
                            "stall shows in the latency instead of lowering the load."
                          : "");
    fprintf(f, "</body></html>\n");
    return finish_file(f);
}
