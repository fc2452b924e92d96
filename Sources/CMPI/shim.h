// Open MPI's C API (Debian: libopenmpi-dev, pkg-config ompi-c). Its handles
// (MPI_COMM_WORLD, MPI_FLOAT, ...) are macros Swift cannot import, so they are
// returned by these functions.
#include <mpi.h>

static inline MPI_Comm hf_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype hf_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype hf_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Op hf_mpi_sum(void) { return MPI_SUM; }
static inline void *hf_mpi_in_place(void) { return MPI_IN_PLACE; }
