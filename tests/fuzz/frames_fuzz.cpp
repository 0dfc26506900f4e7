// The frame reader of the holder protocol: what the holder (which parsed image data as the
// job user) sends back to slurmstepd. Reads frames until the end of the stream or a refusal.
#include <sys/mman.h>
#include <unistd.h>

#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "fuzz.h"
#include "util/frames.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    cocoon::UniqueFd fd(memfd_create("frames", MFD_CLOEXEC));
    if (!fd.valid() || write(fd.get(), data, size) != static_cast<ssize_t>(size) ||
        lseek(fd.get(), 0, SEEK_SET) != 0)
        __builtin_trap();
    try {
        for (;;) {
            cocoon::sys::Frame frame = cocoon::sys::read_frame(fd.get(), 4096);
            if (frame.type.empty())
                break;
            if (frame.payload.size() > 4096)
                __builtin_trap(); // the limit the reader promises
            (void)cocoon::sys::escape_control(frame.payload);
        }
    } catch (const cocoon::Error&) {
    }
    return 0;
}
