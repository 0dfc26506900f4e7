#include "runtime/spec_wire.h"

#include <nlohmann/json.hpp>

#include "cocoon/error.h"

namespace cocoon {

namespace {

using json = nlohmann::json;

json encode_reference(const ImageReference& image)
{
    return {{"kind", static_cast<int>(image.kind)}, {"text", image.text},
            {"path", image.path},                   {"registry", image.registry},
            {"repository", image.repository},       {"tag", image.tag},
            {"digest", image.digest}};
}

ImageReference decode_reference(const json& in)
{
    ImageReference image;
    image.kind = static_cast<ImageReference::Kind>(in.at("kind").get<int>());
    image.text = in.at("text");
    image.path = in.at("path");
    image.registry = in.at("registry");
    image.repository = in.at("repository");
    image.tag = in.at("tag");
    image.digest = in.at("digest");
    return image;
}

json encode_identity(const Identity& identity)
{
    json group_names = json::array();
    for (const auto& [gid, name] : identity.group_names)
        group_names.push_back({{"gid", gid}, {"name", name}});
    return {{"uid", identity.uid},
            {"gid", identity.gid},
            {"groups", identity.groups},
            {"user_name", identity.user_name},
            {"gecos", identity.gecos},
            {"home", identity.home},
            {"shell", identity.shell},
            {"group_names", group_names}};
}

Identity decode_identity(const json& in)
{
    Identity identity;
    identity.uid = in.at("uid");
    identity.gid = in.at("gid");
    identity.groups = in.at("groups").get<std::vector<gid_t>>();
    identity.user_name = in.at("user_name");
    identity.gecos = in.at("gecos");
    identity.home = in.at("home");
    identity.shell = in.at("shell");
    for (const auto& group : in.at("group_names"))
        identity.group_names.emplace_back(group.at("gid").get<gid_t>(), group.at("name"));
    return identity;
}

} // namespace

std::string encode_holder_request(const ContainerSpec& spec, const Config& config)
{
    json request = {{"image", encode_reference(spec.image)},
                    {"identity", encode_identity(spec.identity)},
                    {"workdir", spec.workdir},
                    {"extra_files", spec.extra_files},
                    {"step_directories", spec.step_directories},
                    {"cache_dir", spec.cache_dir},
                    {"run_entrypoint", spec.run_entrypoint},
                    {"environment", spec.environment},
                    {"keep_environment", spec.keep_environment},
                    {"config", format_config(config)}};
    return request.dump();
}

void decode_holder_request(const std::string& text, ContainerSpec& spec, Config& config)
{
    try {
        json request = json::parse(text);
        spec.image = decode_reference(request.at("image"));
        spec.identity = decode_identity(request.at("identity"));
        spec.workdir = request.at("workdir");
        spec.extra_files = request.at("extra_files").get<std::vector<std::string>>();
        spec.step_directories = request.at("step_directories").get<std::vector<std::string>>();
        spec.cache_dir = request.at("cache_dir");
        spec.run_entrypoint = request.at("run_entrypoint");
        spec.environment = request.at("environment").get<std::vector<std::string>>();
        spec.keep_environment = request.at("keep_environment").get<std::vector<std::string>>();
        config = parse_config(request.at("config").get<std::string>(), "the site configuration");
    } catch (const json::exception& e) {
        fail("the holder program received a malformed request ({})", e.what());
    }
}

} // namespace cocoon
