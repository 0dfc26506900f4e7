// A stand-in for an MPICH-ABI library that exports no version constants (the library_abi
// tests read its version from its file name).
extern "C" int MPI_Init(int*, char***)
{
    return 0;
}
