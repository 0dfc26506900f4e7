#include <sys/stat.h>

#include <filesystem>

#include "cocoon/error.h"
#include "cocoon/image.h"

namespace cocoon {

namespace {

constexpr size_t max_reference_length = 4096;

const char* const accepted_forms =
    "give a squashfs file (/path/img.sqsh, ./img.sqsh, img.sqsh) or a root filesystem "
    "directory (/path/rootfs, ./rootfs)";

bool has_control_character(std::string_view text)
{
    for (unsigned char c : text)
        if (c < 0x20 || c == 0x7f)
            return true;
    return false;
}

bool ends_with_squashfs_suffix(std::string_view text)
{
    for (std::string_view suffix : {".sqsh", ".squashfs", ".sqfs", ".sqshfs"})
        if (text.ends_with(suffix))
            return true;
    return false;
}

bool looks_like_path(std::string_view text)
{
    return text.starts_with('/') || text.starts_with("./") || text.starts_with("../") ||
           text == "." || text == ".." || ends_with_squashfs_suffix(text);
}

// The characters of a Docker-style name[:tag][@digest], with an optional docker:// prefix.
bool is_registry_name(std::string_view text)
{
    if (text.starts_with("docker://"))
        text.remove_prefix(9);
    if (text.empty())
        return false;
    for (unsigned char c : text)
        if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/' || c == ':' ||
              c == '@' || c == '#'))
            return false;
    return std::isalnum(static_cast<unsigned char>(text.front()));
}

} // namespace

ImageReference parse_image_reference(std::string_view text, const std::string& base_dir)
{
    if (text.empty())
        fail("the image is empty; {}", accepted_forms);
    if (text.size() > max_reference_length)
        fail("the image reference is longer than {} characters", max_reference_length);
    if (has_control_character(text))
        fail("the image reference contains a control character; {}", accepted_forms);

    ImageReference reference;
    reference.text = std::string(text);
    if (looks_like_path(text)) {
        std::filesystem::path path(text);
        if (path.is_relative())
            path = std::filesystem::path(base_dir) / path;
        reference.kind = ImageReference::Kind::Path;
        reference.path = path.lexically_normal().string();
        if (reference.path.size() > 1 && reference.path.ends_with('/'))
            reference.path.pop_back();
        return reference;
    }
    if (is_registry_name(text)) {
        reference.kind = ImageReference::Kind::Registry;
        return reference;
    }
    fail("'{}' is neither a path nor an image name; {}", text, accepted_forms);
}

bool is_oci_bundle(const std::string& path)
{
    struct stat config {};
    struct stat rootfs {};
    return stat((path + "/config.json").c_str(), &config) == 0 && S_ISREG(config.st_mode) &&
           stat((path + "/rootfs").c_str(), &rootfs) == 0 && S_ISDIR(rootfs.st_mode);
}

} // namespace cocoon
