// CBLAS over Debian's OpenBLAS (pkg-config name `openblas`, package libopenblas-dev).
#include <cblas.h>
// OpenBLAS extensions used to pin the thread count for reproducible benchmarks.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
