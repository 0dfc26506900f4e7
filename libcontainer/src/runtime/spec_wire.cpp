#include "runtime/spec_wire.h"

#include <nlohmann/json.hpp>

#include "cocoon/error.h"
#include "config/config_wire.h"
#include "util/text.h"

namespace cocoon {

namespace {

using json = nlohmann::json;

json encode_reference(const ImageReference& image)
{
    return {{"kind", static_cast<int>(image.kind)},
            {"text", image.text},
            {"path", image.path},
            {"registry", image.registry},
            {"repository", image.repository},
            {"tag", image.tag},
            {"digest", image.digest},
            {"resolved_digest", image.resolved_digest}};
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
    image.resolved_digest = in.at("resolved_digest");
    return image;
}

json encode_identity(const Identity& identity)
{
    json group_names = json::array();
    for (const auto& [gid, name] : identity.group_names)
        group_names.push_back({{"gid", gid}, {"name", name}});
    return {{"uid", identity.uid},       {"gid", identity.gid},
            {"groups", identity.groups}, {"user_name", identity.user_name},
            {"gecos", identity.gecos},   {"home", identity.home},
            {"shell", identity.shell},   {"group_names", group_names}};
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

// The job's environment travels as JSON strings, which must be UTF-8. Without
// --container-entrypoint only modules read it (names and values they know are UTF-8):
// a variable that is not, say a Latin-1 value of the user's, is left out rather than
// failing the step. The entrypoint needs every variable, so there it stays an error.
std::vector<std::string> environment_to_send(const ContainerSpec& spec)
{
    if (spec.run_entrypoint)
        return spec.environment;
    std::vector<std::string> environment;
    for (const auto& entry : spec.environment)
        if (valid_utf8(entry))
            environment.push_back(entry);
    return environment;
}

json encode_options(const ContainerOptions& options)
{
    json mounts = json::array();
    for (const auto& mount : options.mounts)
        mounts.push_back({{"source", mount.source},
                          {"target", mount.target},
                          {"read_only", mount.read_only},
                          {"recursive", mount.recursive},
                          {"propagation", mount.propagation},
                          {"noexec", mount.noexec}});
    json mount_home = options.mount_home ? json(*options.mount_home) : json(nullptr);
    return {{"mounts", mounts},
            {"unmounts", options.unmounts},
            {"workdir", options.workdir},
            {"mount_home", mount_home},
            {"remap_root", options.remap_root},
            {"writable", options.writable},
            {"unshare_net", options.unshare.net},
            {"unshare_ipc", options.unshare.ipc},
            {"unshare_uts", options.unshare.uts},
            {"entrypoint_log", options.entrypoint_log}};
}

ContainerOptions decode_options(const json& in)
{
    ContainerOptions options;
    for (const auto& item : in.at("mounts")) {
        MountRequest mount;
        mount.source = item.at("source");
        mount.target = item.at("target");
        mount.read_only = item.at("read_only");
        mount.recursive = item.at("recursive");
        mount.propagation = item.at("propagation");
        mount.noexec = item.at("noexec");
        options.mounts.push_back(std::move(mount));
    }
    options.unmounts = in.at("unmounts").get<std::vector<std::string>>();
    options.workdir = in.at("workdir");
    if (!in.at("mount_home").is_null())
        options.mount_home = in.at("mount_home").get<bool>();
    options.remap_root = in.at("remap_root");
    options.writable = in.at("writable");
    options.unshare.net = in.at("unshare_net");
    options.unshare.ipc = in.at("unshare_ipc");
    options.unshare.uts = in.at("unshare_uts");
    options.entrypoint_log = in.at("entrypoint_log");
    return options;
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
                    {"environment", environment_to_send(spec)},
                    {"keep_environment", spec.keep_environment},
                    {"modules_enable", spec.modules.enable},
                    {"modules_disable", spec.modules.disable},
                    {"modules_disable_all", spec.modules.disable_all},
                    {"cocoon_plugin", spec.cocoon_plugin},
                    {"options", encode_options(spec.options)},
                    {"config", config_to_json(config)}};
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
        spec.modules.enable = request.at("modules_enable").get<std::vector<std::string>>();
        spec.modules.disable = request.at("modules_disable").get<std::vector<std::string>>();
        spec.modules.disable_all = request.at("modules_disable_all");
        spec.cocoon_plugin = request.at("cocoon_plugin");
        spec.options = decode_options(request.at("options"));
        config = config_from_json(request.at("config"));
    } catch (const json::exception& e) {
        fail("the holder program received a malformed request ({})", e.what());
    }
}

} // namespace cocoon
