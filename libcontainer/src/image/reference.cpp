#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <string>
#include <vector>

#include "cocoon/error.h"
#include "cocoon/image.h"
#include "cocoon/log.h"
#include "cocoon/reference.h"

namespace cocoon {

namespace {

constexpr size_t max_reference_length = 4096;
// Docker's limits (distribution/reference): registry/repository together, and a tag.
constexpr size_t max_name_length = 255;
constexpr size_t max_tag_length = 128;
constexpr std::string_view docker_prefix = "docker://";
constexpr std::string_view docker_hub = "docker.io";

const char* const accepted_forms =
    "accepted forms: a squashfs file (/path/img.sqsh, ./img.sqsh, img.sqsh), a root "
    "filesystem directory (/path/rootfs, ./rootfs), a registry image "
    "([docker://][REGISTRY/]NAME[:TAG][@sha256:HEX] or REGISTRY#NAME[:TAG]), oci:DIR[:TAG], "
    "oci-archive:FILE or docker-archive:FILE";

const char* const registry_form =
    "expected [docker://][REGISTRY/]NAME[:TAG][@sha256:HEX] or REGISTRY#NAME[:TAG], e.g. "
    "ubuntu:24.04 or ghcr.io/org/app:1.2";

// Local image layouts named by a transport prefix, as skopeo and podman spell them.
struct Transport {
    std::string_view prefix;
    ImageReference::Kind kind;
    const char* form;
};

constexpr Transport transports[] = {
    {"oci:", ImageReference::Kind::OciLayout,
     "expected oci:DIR[:TAG] (a ':' after DIR starts TAG: a DIR whose name contains ':' is "
     "not supported)"},
    {"oci-archive:", ImageReference::Kind::OciArchive, "expected oci-archive:FILE"},
    {"docker-archive:", ImageReference::Kind::DockerArchive, "expected docker-archive:FILE"},
};

[[noreturn]] void reject(std::string_view text, std::string_view problem,
                         std::string_view form = registry_form)
{
    fail("invalid image '{}': {}; {}", text, problem, form);
}

// Character classes by hand: <cctype> answers by locale, image names are ASCII.
bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}
bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}
bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}
bool is_lower_alnum(char c)
{
    return is_lower(c) || is_digit(c);
}
bool is_alnum(char c)
{
    return is_lower_alnum(c) || is_upper(c);
}
bool is_hex_lower(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

bool all_of(std::string_view text, bool (*predicate)(char))
{
    return std::all_of(text.begin(), text.end(), predicate);
}

std::string to_lower(std::string_view text)
{
    std::string lower(text);
    for (char& c : lower)
        if (is_upper(c))
            c = static_cast<char>(c - 'A' + 'a');
    return lower;
}

bool has_control_character(std::string_view text)
{
    for (char c : text)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
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

std::string absolute_path(std::string_view text, const std::string& base_dir)
{
    std::filesystem::path path(text);
    if (path.is_relative())
        path = std::filesystem::path(base_dir) / path;
    std::string normal = path.lexically_normal().string();
    if (normal.size() > 1 && normal.ends_with('/'))
        normal.pop_back();
    return normal;
}

// Every character a registry reference may hold; anything else is not an image name at
// all, and gets the full list of forms rather than a registry-specific complaint.
bool has_only_registry_characters(std::string_view text)
{
    return all_of(text, [](char c) {
        return is_alnum(c) || std::string_view("._-/:@#[]").find(c) != std::string_view::npos;
    });
}

// A run of separators between two alphanumeric runs of a repository component: "." "_"
// "__" or any number of '-'.
bool is_name_separator(std::string_view separator)
{
    return separator == "." || separator == "_" || separator == "__" ||
           (!separator.empty() && separator.find_first_not_of('-') == std::string_view::npos);
}

// The OCI image layout's org.opencontainers.image.ref.name separators.
bool is_oci_ref_separator(std::string_view separator)
{
    return separator == "--" ||
           (separator.size() == 1 &&
            std::string_view("-._:@+").find(separator[0]) != std::string_view::npos);
}

// alnum+ (separator alnum+)*: the shape of one '/'-separated part of a name.
bool is_joined(std::string_view component, bool (*alnum)(char), bool (*separator)(std::string_view))
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < component.size() && alnum(component[i]))
            ++i;
        if (i == start)
            return false;
        if (i == component.size())
            return true;
        start = i;
        while (i < component.size() && !alnum(component[i]))
            ++i;
        if (!separator(component.substr(start, i - start)))
            return false;
    }
}

std::vector<std::string_view> split(std::string_view text, char delimiter)
{
    std::vector<std::string_view> parts;
    for (size_t start = 0;;) {
        size_t end = text.find(delimiter, start);
        parts.push_back(text.substr(start, end - start));
        if (end == std::string_view::npos)
            return parts;
        start = end + 1;
    }
}

bool is_tag(std::string_view tag)
{
    auto tag_character = [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; };
    return !tag.empty() && tag.size() <= max_tag_length && (is_alnum(tag[0]) || tag[0] == '_') &&
           std::all_of(tag.begin(), tag.end(), tag_character);
}

// An OCI layout's ref name: components of alphanumerics joined by "-._:@+" or "--",
// separated by '/'.
bool is_oci_ref_name(std::string_view name)
{
    if (name.empty() || name.size() > max_name_length)
        return false;
    auto components = split(name, '/');
    return std::all_of(components.begin(), components.end(), [](std::string_view component) {
        return is_joined(component, is_alnum, is_oci_ref_separator);
    });
}

bool is_port(std::string_view port)
{
    unsigned value = 0;
    auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
    return !port.empty() && port.size() <= 5 && all_of(port, is_digit) && error == std::errc() &&
           end == port.data() + port.size() && value >= 1 && value <= 65535;
}

bool is_dns_label(std::string_view label)
{
    return !label.empty() && label.size() <= 63 && is_alnum(label.front()) &&
           is_alnum(label.back()) && all_of(label, [](char c) { return is_alnum(c) || c == '-'; });
}

bool is_ipv4_part(std::string_view part)
{
    unsigned value = 0;
    return part.size() <= 3 && all_of(part, is_digit) &&
           std::from_chars(part.data(), part.data() + part.size(), value).ec == std::errc() &&
           value <= 255;
}

// A DNS name or a dotted IPv4 address. No top-level domain is numeric, so a numeric last
// label means the whole host must be an IPv4 address.
bool is_hostname(std::string_view host)
{
    if (host.empty() || host.size() > 253)
        return false;
    auto labels = split(host, '.');
    if (!std::all_of(labels.begin(), labels.end(), is_dns_label))
        return false;
    if (!all_of(labels.back(), is_digit))
        return true;
    return labels.size() == 4 && std::all_of(labels.begin(), labels.end(), is_ipv4_part);
}

bool is_bracketed_ipv6(std::string_view host)
{
    if (host.size() < 4 || host.front() != '[' || host.back() != ']')
        return false;
    std::string_view inside = host.substr(1, host.size() - 2);
    return inside.find(':') != std::string_view::npos && all_of(inside, [](char c) {
               return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
                      c == '.';
           });
}

// What is wrong with a registry written as host[:port]; empty when nothing is.
std::string registry_problem(std::string_view registry)
{
    size_t host_end = registry.starts_with('[') ? registry.find(']') : registry.find(':');
    if (registry.starts_with('[') && host_end != std::string_view::npos)
        ++host_end;
    std::string_view host = registry.substr(0, host_end);
    bool ipv6 = host.starts_with('[');
    if (ipv6 ? !is_bracketed_ipv6(host) : !is_hostname(host))
        return fmt::format("'{}' is not a registry host name, IPv4 address or [IPv6] address",
                           host);
    if (host_end >= registry.size())
        return {};
    std::string_view port = registry.substr(host_end);
    if (port.front() != ':' || !is_port(port.substr(1)))
        return fmt::format("'{}' is not a registry port (':' and a number from 1 to 65535)", port);
    return {};
}

// Host names are case-insensitive, and Docker keeps its legacy index name as an alias:
// one spelling per registry keeps the image cache from holding the same image twice.
std::string normalize_registry(std::string_view registry)
{
    std::string lower = to_lower(registry);
    return lower == "index.docker.io" ? std::string(docker_hub) : lower;
}

// Docker's rule: the first component names a registry only when it looks like a host.
bool looks_like_registry(std::string_view component)
{
    return component.find_first_of(".:") != std::string_view::npos || component == "localhost";
}

void check_digest(std::string_view text, std::string_view digest)
{
    if (digest.empty())
        reject(text, "nothing follows '@'");
    size_t colon = digest.find(':');
    if (colon == std::string_view::npos)
        reject(text, fmt::format("digest '{}' is not sha256:<64 hex digits>", digest));
    std::string_view algorithm = digest.substr(0, colon);
    std::string_view hex = digest.substr(colon + 1);
    if (algorithm != "sha256")
        reject(text, fmt::format("digest algorithm '{}' is not supported, only sha256", algorithm));
    if (hex.size() != 64 || !all_of(hex, is_hex_lower))
        reject(text, "a sha256 digest has exactly 64 lowercase hexadecimal digits");
}

void check_tag(std::string_view text, std::string_view tag)
{
    if (tag.empty())
        reject(text, "nothing follows ':'; give a tag or leave out ':' to mean 'latest'");
    if (tag.size() > max_tag_length)
        reject(text, fmt::format("the tag is longer than {} characters", max_tag_length));
    if (!is_tag(tag))
        reject(text, fmt::format("'{}' is not a tag (letters, digits, '_', '.', '-'; not "
                                 "starting with '.' or '-')",
                                 tag));
}

void check_repository(std::string_view text, std::string_view repository)
{
    if (repository.empty())
        reject(text, "there is no image name");
    if (std::any_of(repository.begin(), repository.end(), is_upper))
        reject(text, "repository names must be lowercase");
    for (std::string_view component : split(repository, '/')) {
        if (component.empty())
            reject(text, "the name has an empty component ('//', or '/' at either end)");
        if (!is_joined(component, is_lower_alnum, is_name_separator))
            reject(text, fmt::format("'{}' is not a name component (lowercase letters and "
                                     "digits, joined by '.', '_', '__' or dashes)",
                                     component));
    }
}

std::string registry_of(std::string_view text, std::string_view written,
                        const std::string& default_registry)
{
    if (written.empty()) {
        if (std::string problem = registry_problem(default_registry); !problem.empty())
            fail("the default registry '{}' is invalid: {}", default_registry, problem);
        return normalize_registry(default_registry);
    }
    if (std::string problem = registry_problem(written); !problem.empty())
        reject(text, problem);
    return normalize_registry(written);
}

// Splits off the registry part: "REGISTRY#rest" (pyxis/enroot) or a first component that
// looks like a host (Docker). Returns the rest; `registry` gets the part as written.
std::string_view split_registry(std::string_view text, std::string_view name,
                                std::string_view& registry)
{
    size_t hash = name.find('#');
    if (hash != std::string_view::npos) {
        registry = name.substr(0, hash);
        if (registry.find('@') != std::string_view::npos)
            reject(text, "credentials in the image name are not supported; put them in "
                         "~/.config/cocoon/auth.json or ~/.docker/config.json");
        if (registry.empty())
            reject(text, "nothing precedes '#'");
        name.remove_prefix(hash + 1);
        if (name.find('#') != std::string_view::npos)
            reject(text, "there is more than one '#'");
        return name;
    }
    size_t slash = name.find('/');
    if (slash != std::string_view::npos && looks_like_registry(name.substr(0, slash))) {
        registry = name.substr(0, slash);
        name.remove_prefix(slash + 1);
    }
    return name;
}

ImageReference parse_registry_reference(std::string_view text, const std::string& default_registry)
{
    std::string_view name = text;
    if (name.starts_with(docker_prefix)) {
        name.remove_prefix(docker_prefix.size());
        if (name.empty())
            reject(text, "nothing follows 'docker://'");
    }
    if (!has_only_registry_characters(name))
        fail("'{}' is neither a path nor an image name; {}", text, accepted_forms);

    ImageReference reference;
    reference.kind = ImageReference::Kind::Registry;
    reference.text = std::string(text);
    std::string_view written_registry;
    name = split_registry(text, name, written_registry);
    if (size_t at = name.find('@'); at != std::string_view::npos) {
        check_digest(text, name.substr(at + 1));
        reference.digest = std::string(name.substr(at + 1));
        name = name.substr(0, at);
    }
    if (size_t colon = name.find(':'); colon != std::string_view::npos) {
        check_tag(text, name.substr(colon + 1));
        reference.tag = std::string(name.substr(colon + 1));
        name = name.substr(0, colon);
    }
    check_repository(text, name);
    reference.registry = registry_of(text, written_registry, default_registry);
    reference.repository = std::string(name);
    // Docker Hub keeps its official images under library/.
    if (reference.registry == docker_hub && name.find('/') == std::string_view::npos)
        reference.repository = "library/" + reference.repository;
    if (reference.registry.size() + 1 + reference.repository.size() > max_name_length)
        reject(text, fmt::format("the name is longer than {} characters", max_name_length));
    if (reference.tag.empty() && reference.digest.empty())
        reference.tag = "latest";
    return reference;
}

ImageReference parse_local_image(std::string_view text, const Transport& transport,
                                 const std::string& base_dir)
{
    std::string_view location = text.substr(transport.prefix.size());
    ImageReference reference;
    reference.kind = transport.kind;
    reference.text = std::string(text);
    if (transport.kind == ImageReference::Kind::OciLayout) {
        if (size_t colon = location.find(':'); colon != std::string_view::npos) {
            std::string_view tag = location.substr(colon + 1);
            if (tag.empty())
                reject(text, "nothing follows ':' after the directory", transport.form);
            if (!is_tag(tag) && !is_oci_ref_name(tag))
                reject(text, fmt::format("'{}' is not a tag", tag), transport.form);
            reference.tag = std::string(tag);
            location = location.substr(0, colon);
        }
    }
    if (location.empty())
        reject(text, fmt::format("nothing follows '{}'", transport.prefix), transport.form);
    reference.path = absolute_path(location, base_dir);
    return reference;
}

const Transport* find_transport(std::string_view text)
{
    for (const Transport& transport : transports)
        if (text.starts_with(transport.prefix))
            return &transport;
    return nullptr;
}

} // namespace

namespace {

ImageReference parse_reference_text(std::string_view text, const std::string& base_dir,
                                    const std::string& default_registry)
{
    if (text.empty())
        fail("the image is empty; {}", accepted_forms);
    if (text.size() > max_reference_length)
        fail("the image reference is longer than {} characters", max_reference_length);
    if (has_control_character(text))
        fail("the image reference contains a control character; {}", accepted_forms);

    // A transport prefix settles the kind before any guess from the shape of the text.
    if (text.starts_with(docker_prefix))
        return parse_registry_reference(text, default_registry);
    if (const Transport* transport = find_transport(text))
        return parse_local_image(text, *transport, base_dir);
    if (looks_like_path(text)) {
        ImageReference reference;
        reference.text = std::string(text);
        reference.kind = ImageReference::Kind::Path;
        reference.path = absolute_path(text, base_dir);
        return reference;
    }
    return parse_registry_reference(text, default_registry);
}

const char* kind_name(ImageReference::Kind kind)
{
    switch (kind) {
    case ImageReference::Kind::Path: return "a squashfs file or directory";
    case ImageReference::Kind::Registry: return "a registry image";
    case ImageReference::Kind::OciLayout: return "an OCI layout";
    case ImageReference::Kind::OciArchive: return "an OCI archive";
    case ImageReference::Kind::DockerArchive: return "a docker archive";
    }
    return "an image";
}

} // namespace

ImageReference parse_image_reference(std::string_view text, const std::string& base_dir,
                                     const std::string& default_registry)
{
    ImageReference reference = parse_reference_text(text, base_dir, default_registry);
    // How a name was read is the first question when an image is not the one expected.
    log(LogLevel::Verbose, "image '{}' is {}: {}", text, kind_name(reference.kind),
        reference.canonical());
    return reference;
}

std::string ImageReference::canonical() const
{
    switch (kind) {
    case Kind::Path: return path;
    case Kind::OciLayout: return "oci:" + path + (tag.empty() ? "" : ":" + tag);
    case Kind::OciArchive: return "oci-archive:" + path;
    case Kind::DockerArchive: return "docker-archive:" + path;
    case Kind::Registry: break;
    }
    // A registry that Docker's rule would not take for a host ("registry#app") keeps its
    // '#': "registry/app" would name docker.io/registry/app.
    std::string name = registry + (looks_like_registry(registry) ? "/" : "#") + repository;
    if (!tag.empty())
        name += ":" + tag;
    if (!digest.empty())
        name += "@" + digest;
    // A name that would read as a local image (the registry host "oci" with a port reads
    // as the oci: transport, a tag ending in ".sqsh" as a squashfs file) keeps the prefix
    // that says it is a registry image.
    if (find_transport(name) || looks_like_path(name))
        name.insert(0, docker_prefix);
    return name;
}

bool is_oci_bundle(const std::string& path)
{
    struct stat config {};
    struct stat rootfs {};
    return stat((path + "/config.json").c_str(), &config) == 0 && S_ISREG(config.st_mode) &&
           stat((path + "/rootfs").c_str(), &rootfs) == 0 && S_ISDIR(rootfs.st_mode);
}

} // namespace cocoon
