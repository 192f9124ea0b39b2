/* jsonfile.h: JSON text written to stdio streams (kmsctl's backup manifest, kmsbench's
 * --json and --report files). */
#ifndef KMSHA_JSONFILE_H
#define KMSHA_JSONFILE_H

#include <stdio.h>

/* Writes s as a JSON string literal (proto/json.h's rules). */
void jsonfile_str(FILE *f, const char *s);

#endif
