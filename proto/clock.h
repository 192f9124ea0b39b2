/* clock.h: the one place that reads the system clocks. The codecs of proto/ never call it
 * (they take the time as an argument); the layers above use it for "now" (wall clock, unix
 * milliseconds) and for timers and latencies (monotonic clock). No state. */
#ifndef KMSHA_CLOCK_H
#define KMSHA_CLOCK_H

#include <stdint.h>

/* Wall-clock time in unix milliseconds (CLOCK_REALTIME: steps when the clock is set). */
int64_t clock_wall_ms(void);
/* Monotonic milliseconds (CLOCK_MONOTONIC), with sub-millisecond fraction: for timers,
 * deadlines and latencies; meaningless across processes. */
double clock_mono_ms(void);
/* Monotonic microseconds, for latency histograms that want integers. */
uint64_t clock_mono_us(void);
/* The wall clock as a Windows FILETIME (100 ns ticks since 1601), shifted by offset_s
 * seconds (a KMS client's idea of "now"). */
uint64_t clock_filetime(int64_t offset_s);

#endif
