#include "manifest.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string_view>

#include "cocoon/error.h"
#include "digest.h"
#include "util/json_limits.h"

namespace cocoon {

namespace {

using json = nlohmann::json;

const std::vector<std::string> index_types = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
};

const std::vector<std::string> layer_types = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
};

bool contains(const std::vector<std::string>& list, const std::string& value)
{
    return std::find(list.begin(), list.end(), value) != list.end();
}

std::string platform_list(const json& manifests)
{
    std::string text;
    for (const auto& entry : manifests) {
        if (!entry.contains("platform"))
            continue;
        const auto& platform = entry["platform"];
        text += (text.empty() ? "" : ", ") + platform.value("os", "?") + "/" +
                platform.value("architecture", "?");
    }
    return text.empty() ? "none" : text;
}

// A blob's size as a manifest gives it: required, so that a download can be stopped as
// soon as it runs past it.
uint64_t declared_size(const json& descriptor, std::string_view role, const std::string& digest,
                       const std::string& what)
{
    auto size = descriptor.find("size");
    if (size == descriptor.end() || !size->is_number_unsigned())
        fail("{}: {} {} has no size in the manifest (a non-negative integer is required): "
             "refusing the image",
             what, role, digest);
    return size->get<uint64_t>();
}

} // namespace

ImageManifest parse_manifest(const std::string& body, const std::string& digest,
                             const std::string& architecture, const std::string& what,
                             std::optional<std::string>* selected)
{
    json document =
        parse_untrusted_json(body, fmt::format("{}: the manifest", what), max_manifest_size);
    if (!document.is_object())
        fail("{}: the manifest is not a JSON object", what);
    ImageManifest manifest;
    manifest.digest = digest;
    try {
        // Inside the try: a mediaType that is not a string is a malformed manifest too.
        std::string type = document.value("mediaType", "");
        bool is_index =
            contains(index_types, type) ||
            (type.empty() && document.contains("manifests") && !document.contains("layers"));
        if (is_index) {
            const auto& manifests = document.at("manifests");
            for (const auto& entry : manifests) {
                const auto platform = entry.value("platform", json::object());
                if (platform.value("os", "") == "linux" &&
                    platform.value("architecture", "") == architecture) {
                    *selected = entry.at("digest").get<std::string>();
                    return manifest;
                }
            }
            fail("{} has no linux/{} image (it has: {})", what, architecture,
                 platform_list(manifests));
        }
        if (document.value("schemaVersion", 0) != 2)
            fail("{}: unsupported manifest schema version (only version 2 is supported)", what);
        const auto& config = document.at("config");
        manifest.config = {config.at("digest").get<std::string>(), config.value("mediaType", ""),
                           0};
        digest_hex(manifest.config.digest);
        manifest.config.size = declared_size(config, "the config", manifest.config.digest, what);
        for (const auto& layer : document.at("layers")) {
            BlobRef blob{layer.at("digest").get<std::string>(), layer.value("mediaType", ""), 0};
            digest_hex(blob.digest);
            blob.size = declared_size(layer, "layer", blob.digest, what);
            if (!contains(layer_types, blob.media_type))
                fail("{}: layer {} has the unsupported media type '{}'", what, blob.digest,
                     blob.media_type);
            manifest.layers.push_back(blob);
        }
    } catch (const json::exception& e) {
        fail("{}: malformed manifest ({})", what, e.what());
    }
    return manifest;
}

} // namespace cocoon
