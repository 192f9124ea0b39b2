/* ctlhealth.h: kmsctl's activation health commands: `report` (the node's GET /report:
 * below threshold, at risk, cloned, forecast, rooms) and `preflight` (the checks to run the
 * week before term, one PASS / WARN / FAIL line each). Each takes the arguments after its
 * name and returns the exit status: 0 success, 1 failure (preflight: a check failed), 2
 * bad usage. */
#ifndef KMSHA_CTLHEALTH_H
#define KMSHA_CTLHEALTH_H

int ctlhealth_report(int argc, char **argv);
int ctlhealth_preflight(int argc, char **argv);

#endif
