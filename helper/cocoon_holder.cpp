// cocoon-holder: the program the plugin (and `cocoon run`) executes as the job user to set
// up and own one container. Not meant to be run by hand: it speaks a framed protocol on the
// two descriptors it is given (see libcontainer/src/runtime/holder_program.cpp).
//
//   cocoon-holder --status-fd N --control-fd M [--undumpable] [--named]
//                 [--image-holder KEY]      (warm image mounts: cocoon/warm_mount.h)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cocoon/container.h"

namespace {

int parse_fd(const char* text)
{
    char* end = nullptr;
    long value = std::strtol(text, &end, 10);
    return (end && *end == '\0' && value >= 3 && value < 1 << 20) ? static_cast<int>(value) : -1;
}

} // namespace

int main(int argc, char** argv)
{
    int status_fd = -1;
    int control_fd = -1;
    bool undumpable = false;
    bool named = false;
    std::string image_holder_key;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--status-fd" && i + 1 < argc)
            status_fd = parse_fd(argv[++i]);
        else if (arg == "--control-fd" && i + 1 < argc)
            control_fd = parse_fd(argv[++i]);
        else if (arg == "--undumpable")
            undumpable = true;
        else if (arg == "--named")
            named = true;
        else if (arg == "--image-holder" && i + 1 < argc)
            image_holder_key = argv[++i];
        else
            status_fd = control_fd = -1, i = argc;
    }
    if (status_fd < 0 || control_fd < 0) {
        std::fprintf(stderr, "cocoon-holder: internal program of cocoon, started by the SPANK "
                             "plugin and by 'cocoon run'; not meant to be run by hand\n");
        return 2;
    }
    if (!image_holder_key.empty())
        return cocoon::run_image_holder_program(status_fd, control_fd, undumpable,
                                                image_holder_key);
    return cocoon::run_holder_program(status_fd, control_fd, undumpable, named);
}
