/* Recording the per-block sums of the deterministic reduction (common.c), for
   lossk's streaming adapters (lossk.dask, `lossk eval`): a chunk of rows that
   covers whole blocks hands out its blocks' float64 sums, and adding every
   chunk's blocks left to right repeats the in-memory call's additions exactly.
   Internal to the Python bridge (not in lossk.h); state is per calling thread. */
#ifndef LOSSK_BLOCK_SUMS_H
#define LOSSK_BLOCK_SUMS_H
#include <stdint.h>

/* on != 0: from now on, each lossk__run_blocks call of one accumulator made
   by this thread records its block sums (the last call's replace the
   previous); on == 0: stop and free the record. */
void lossk__block_sums_record(int on);
/* The number of block sums recorded (-1: none since recording began) and, up
   to `cap` of them, a copy into `out`. */
int64_t lossk__block_sums(double *out, int64_t cap);

#endif
