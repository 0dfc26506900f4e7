// The image configuration JSON (Env, WorkingDir, Entrypoint, Cmd), from the image.
#include <optional>

#include "cocoon/error.h"
#include "cocoon/image_config.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    try {
        cocoon::ImageConfig config = cocoon::parse_image_config(cocoon::fuzz::text_of(data, size));
        auto job_value = [](const std::string& name) -> std::optional<std::string> {
            if (name == "PATH")
                return "/usr/bin";
            return std::nullopt;
        };
        (void)cocoon::image_environment(config, job_value, {"HOME"});
    } catch (const cocoon::Error&) {
    }
    return 0;
}
