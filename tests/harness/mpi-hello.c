// The MPI program of the MPI test images (tests/harness/make-mpi-image.sh). One line per
// rank, so a test can tell which library each rank really loaded and that ranks talk:
//
//   mpi-hello rank=R size=S node=NODE sum=N libmpi=PATH libmpi_dev=D exe_dev=D version=TEXT
//
// sum: the ranks summed over MPI_Allreduce (S*(S-1)/2 when communication works).
// libmpi: the file mapped into this process whose name starts with "libmpi" (from
// /proc/self/maps), libmpi_dev and exe_dev: st_dev of that file and of this program (equal
// when the library comes from the image this program is in, not from a bind of the host's).
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static void loaded_libmpi(char* path, size_t size)
{
    FILE* maps = fopen("/proc/self/maps", "r");
    char line[4096];
    path[0] = '\0';
    if (!maps)
        return;
    while (fgets(line, sizeof line, maps)) {
        char* file = strchr(line, '/');
        if (!file)
            continue;
        file[strcspn(file, "\n")] = '\0';
        const char* base = strrchr(file, '/') + 1;
        if (strncmp(base, "libmpi", 6) == 0 && strstr(base, ".so")) {
            snprintf(path, size, "%s", file);
            break;
        }
    }
    fclose(maps);
}

static const char* device_of(const char* path, char* text, size_t size)
{
    struct stat st;
    if (stat(path, &st) != 0)
        snprintf(text, size, "none");
    else
        snprintf(text, size, "%u:%u", major(st.st_dev), minor(st.st_dev));
    return text;
}

int main(int argc, char** argv)
{
    int rank = 0, size = 0, sum = 0, length = 0;
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    char lib[4096], lib_dev[32], exe_dev[32];
    const char* node = getenv("SLURMD_NODENAME");

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Get_library_version(version, &length);
    version[strcspn(version, "\n,")] = '\0';
    for (char* c = version; *c; ++c)
        if (*c == '\t')
            *c = ' ';
    loaded_libmpi(lib, sizeof lib);
    printf("mpi-hello rank=%d size=%d node=%s sum=%d libmpi=%s libmpi_dev=%s exe_dev=%s "
           "version=%s\n",
           rank, size, node ? node : "unknown", sum, lib[0] ? lib : "none",
           device_of(lib, lib_dev, sizeof lib_dev),
           device_of("/proc/self/exe", exe_dev, sizeof exe_dev),
           version);
    fflush(stdout);
    MPI_Finalize();
    return 0;
}
