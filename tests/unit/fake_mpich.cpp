// A stand-in for an MPICH library in the library_abi tests: the two version constants
// MPICH exports, with values no real MPICH has.
extern "C" {
extern const char MPII_Version_ABI[];
extern const char MPII_Version_string[];
const char MPII_Version_ABI[] = "13:1:1";
const char MPII_Version_string[] = "3.9.1";
}
