#include "platform.h"

#include <sys/utsname.h>

namespace cocoon {

std::string node_architecture()
{
    struct utsname name {};
    uname(&name);
    std::string machine = name.machine;
    if (machine == "x86_64")
        return "amd64";
    if (machine == "aarch64")
        return "arm64";
    if (machine.starts_with("arm"))
        return "arm";
    return machine;
}

} // namespace cocoon
