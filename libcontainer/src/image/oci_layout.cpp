#include "oci_layout.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "digest.h"
#include "manifest.h"
#include "platform.h"
#include "util/json_limits.h"
#include "util/sys.h"

namespace cocoon {

namespace {

using json = nlohmann::json;

std::string blob_path(const std::string& layout, const std::string& digest)
{
    return layout + "/blobs/sha256/" + digest_hex(digest);
}

// A blob of an OCI layout, checked against its digest before use.
std::string verified_blob(const std::string& layout, const std::string& digest)
{
    std::string path = blob_path(layout, digest);
    std::string actual = hash_file(path);
    if (actual != digest)
        fail("{}: blob {} has the digest {}: refusing it", layout, digest, actual);
    return path;
}

} // namespace

std::string read_text(const std::string& path, size_t limit)
{
    auto text = sys::read_regular_file(path, limit);
    if (!text)
        fail("{} does not exist", path);
    return *text;
}

std::string hash_file(const std::string& path)
{
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        throw_errno(fmt::format("cannot read {}", path));
    Sha256 hash;
    char buffer[1 << 16];
    for (;;) {
        ssize_t n = read(fd.get(), buffer, sizeof(buffer));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno(fmt::format("cannot read {}", path));
        if (n == 0)
            return hash.digest();
        hash.update(buffer, static_cast<size_t>(n));
    }
}

LocalImage read_oci_layout(const std::string& layout, const std::string& tag)
{
    std::string what = "oci:" + layout + (tag.empty() ? "" : ":" + tag);
    std::string index_text;
    try {
        index_text = read_text(layout + "/index.json", max_image_json_size);
    } catch (const Error& e) {
        throw e.wrap(fmt::format("{} is not an OCI image layout", what));
    }
    json index = parse_untrusted_json(index_text, fmt::format("{}: index.json", what));
    std::string digest;
    try {
        const json manifests = index.value("manifests", json::array());
        for (const auto& entry : manifests) {
            std::string name = entry.value("annotations", json::object())
                                   .value("org.opencontainers.image.ref.name", "");
            if (tag.empty() ? manifests.size() == 1 : name == tag)
                digest = entry.value("digest", "");
        }
    } catch (const json::exception& e) {
        fail("{}: malformed index.json ({})", what, e.what());
    }
    if (digest.empty())
        fail("{}: no image {} in index.json", what,
             tag.empty() ? "(give a tag: the layout holds several)" : "tagged " + tag);

    std::optional<std::string> selected;
    std::string body = read_text(verified_blob(layout, digest), max_image_json_size);
    ImageManifest manifest = parse_manifest(body, digest, node_architecture(), what, &selected);
    if (selected) {
        digest = *selected;
        body = read_text(verified_blob(layout, digest), max_image_json_size);
        std::optional<std::string> nested;
        manifest = parse_manifest(body, digest, node_architecture(), what, &nested);
        if (nested)
            fail("{}: an image index points to another index", what);
    }
    LocalImage image;
    image.digest = manifest.digest;
    image.config = read_text(verified_blob(layout, manifest.config.digest), max_image_json_size);
    for (const auto& layer : manifest.layers)
        image.layers.push_back({blob_path(layout, layer.digest), layer.digest});
    image.unchecked_layout = layout;
    return image;
}

void check_layers(const LocalImage& image)
{
    if (!image.unchecked_layout.empty())
        for (const auto& layer : image.layers)
            verified_blob(image.unchecked_layout, layer.digest);
}

} // namespace cocoon
