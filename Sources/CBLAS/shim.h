// CBLAS over Debian's OpenBLAS (pkg-config name `openblas`, package libopenblas-dev).
#include <cblas.h>
// OpenBLAS extensions used to pin the thread count for reproducible benchmarks.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
// LAPACK's symmetric eigensolver (OpenBLAS ships LAPACK in the same library), for PCA checks.
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info);
