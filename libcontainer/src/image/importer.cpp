#include "cocoon/importer.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <filesystem>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>

#include "archive_ptr.h"
#include "cache.h"
#include "cache_lookup.h"
#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "credentials.h"
#include "digest.h"
#include "layer_downloads.h"
#include "oci_layout.h"
#include "platform.h"
#include "registry_client.h"
#include "squashfs_writer.h"
#include "util/json_limits.h"
#include "util/sys.h"

namespace cocoon {

namespace {

using json = nlohmann::json;

// Unpacks the members of an image archive (small JSON files and layer tars, all regular
// files) into `dir`. Names are checked: the archive is as untrusted as a layer.
void unpack_archive(const std::string& archive_path, const std::string& dir)
{
    ReadArchive reader(archive_read_new());
    if (!reader)
        throw std::bad_alloc();
    archive_read_support_format_tar(reader.get());
    // Built-in decompressors only: filter_all could run external programs.
    archive_read_support_filter_gzip(reader.get());
    archive_read_support_filter_zstd(reader.get());
    archive_read_support_filter_xz(reader.get());
    archive_read_support_filter_bzip2(reader.get());
    if (archive_read_open_filename(reader.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
        fail("cannot read the image archive {}: {}", archive_path, archive_error(reader.get()));
    archive_entry* entry;
    while (archive_read_next_header(reader.get(), &entry) == ARCHIVE_OK) {
        std::string name = archive_entry_pathname(entry);
        while (name.starts_with("./"))
            name.erase(0, 2);
        auto path = std::filesystem::path(name).lexically_normal();
        if (name.empty() || path.is_absolute() || name.find("..") != std::string::npos)
            fail("image archive {}: member '{}' is outside the archive", archive_path, name);
        std::string target = dir + "/" + path.string();
        if (archive_entry_filetype(entry) == AE_IFDIR) {
            std::filesystem::create_directories(target);
            continue;
        }
        if (archive_entry_filetype(entry) != AE_IFREG)
            continue;
        std::filesystem::create_directories(std::filesystem::path(target).parent_path());
        UniqueFd out(open(target.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
        if (!out.valid())
            throw_errno(fmt::format("cannot unpack {}", target));
        if (archive_read_data_into_fd(reader.get(), out.get()) != ARCHIVE_OK)
            fail("cannot unpack {} from {}: {}", name, archive_path, archive_error(reader.get()));
    }
}

LocalImage read_docker_archive(const std::string& dir, const std::string& what)
{
    json manifest;
    try {
        manifest = parse_untrusted_json(read_text(dir + "/manifest.json", max_image_json_size),
                                        fmt::format("{}: manifest.json", what));
        if (!manifest.is_array() || manifest.size() != 1)
            fail("{}: manifest.json must describe exactly one image", what);
        LocalImage image;
        std::string config_path = dir + "/" + manifest[0].at("Config").get<std::string>();
        image.config = read_text(config_path, max_image_json_size);
        // A docker-archive has no manifest digest. The cache key covers the configuration
        // and every layer's content: two archives that share a configuration but not their
        // layers are two images.
        std::string key = "docker-archive\n" + sha256_digest(image.config) + "\n";
        for (const auto& layer : manifest[0].at("Layers")) {
            std::string name = layer.get<std::string>();
            if (name.find("..") != std::string::npos || name.starts_with('/'))
                fail("{}: layer '{}' is outside the archive", what, name);
            image.layers.push_back({dir + "/" + name, name});
            key += hash_file(dir + "/" + name) + "\n";
        }
        image.digest = sha256_digest(key);
        return image;
    } catch (const json::exception& e) {
        fail("{}: malformed manifest.json ({})", what, e.what());
    }
}

// Refuses a configuration beyond the JSON caps before any layer is read or downloaded
// (the cache parses it again when it stores it).
void check_image_config(const std::string& config)
{
    parse_untrusted_json(config, "the image configuration");
}

ImportedImage import_local(const ImageReference& reference, const Config& config, Caches& caches,
                           const ImportProgress& progress)
{
    ImageCache& cache = caches.own;
    std::string what = reference.canonical();
    report(progress, {ImportEvent::Phase::Resolving, what});
    auto convert = [&](const LocalImage& image) {
        // The image keeps every name it was used by (cocoon images, cocoon rmi NAME).
        if (auto cached = caches.find(image.digest))
            return use_cached(caches, *cached, what, what, progress);
        auto imported = cache.import(image.digest, what, [&](const std::string& work) {
            check_image_config(image.config);
            check_layers(image);
            report(progress, {ImportEvent::Phase::Converting, what, 0, image.layers.size()});
            write_squashfs(image.layers, work + "/image.sqsh", config);
            return image.config;
        });
        report(progress, {ImportEvent::Phase::Done, what});
        cache.remember_ref(what, image.digest, what);
        return to_imported(imported);
    };
    if (reference.kind == ImageReference::Kind::OciLayout)
        return convert(read_oci_layout(reference.path, reference.tag));

    // Archives are unpacked next to the cache, then read like a layout.
    std::string work = cache.make_scratch("unpack");
    try {
        unpack_archive(reference.path, work);
        ImportedImage result = reference.kind == ImageReference::Kind::OciArchive
                                   ? convert(read_oci_layout(work, reference.tag))
                                   : convert(read_docker_archive(work, what));
        cache.remove_scratch(work);
        return result;
    } catch (...) {
        cache.remove_scratch(work);
        throw;
    }
}

ImportedImage import_registry(const ImageReference& reference, const Config& config, Caches& caches,
                              const std::string& home, const ImportProgress& progress)
{
    ImageCache& cache = caches.own;
    std::string name = reference.canonical();
    std::string wanted = reference.digest.empty() ? reference.tag : reference.digest;
    // A cached pinned digest: no request at all.
    if (auto image = find_without_request(reference, caches, 0, progress))
        return std::move(*image);
    report(progress, {ImportEvent::Phase::Resolving, name});
    auto hit = [&](const CachedImage& image) {
        return use_cached(caches, image, name, registry_key(name), progress);
    };
    RegistryClient client(reference.registry, reference.repository, config,
                          load_credentials(home, reference.registry));
    if (UniqueFd tokens = cache.open_tokens_dir(); tokens.valid())
        client.use_tokens(std::make_shared<const TokenStore>(std::move(tokens)));
    // One cheap HEAD request: a tag may have moved since it was cached. srun's answer for
    // the step, when it has one, stands in for it, and every node fetches that digest.
    RegistryClient::Head head;
    if (!reference.resolved_digest.empty()) {
        head.reachable = true;
        head.digest = reference.resolved_digest;
        wanted = reference.resolved_digest;
    } else {
        head = client.head_manifest(wanted);
    }
    std::optional<std::string> current = head.digest;
    if (current) {
        if (auto image = caches.find_digest(*current)) {
            ImportedImage result = hit(*image);
            cache.mark_resolved(registry_key(name)); // for tag_check_interval
            return result;
        }
    } else if (!head.reachable) {
        if (auto image = caches.find_ref(registry_key(name)))
            return hit(*image); // registry unreachable: use what this tag was last time
    }
    // Otherwise (not cached, or the registry refused the HEAD) the GET below reports why.

    ImageManifest manifest = client.get_manifest(wanted);
    auto image = cache.import(manifest.digest, name, [&](const std::string& work) {
        std::string config_json = client.get_small_blob(manifest.config);
        check_image_config(config_json);
        // The merge starts on the top layer while the layers below it download (in threads
        // with copies of `client`, which this thread leaves alone meanwhile).
        LayerDownloads downloads(client, manifest.layers, work, name, progress);
        try {
            write_squashfs(downloads.layers(), work + "/image.sqsh", config, &downloads.arrivals());
        } catch (...) {
            downloads.arrivals().cancel();
            downloads.finish(); // a failed download says more than the merge it stopped
            throw;
        }
        downloads.finish();
        for (const auto& layer : downloads.layers())
            unlink(layer.path.c_str());
        return config_json;
    });
    cache.remember_ref(registry_key(name), image.digest, name);
    cache.mark_resolved(registry_key(name));
    // The HEAD answer's digest becomes a key only when the manifest (or index) fetched
    // has that digest: a registry cannot make one digest stand for another image.
    if (current && (*current == manifest.digest || *current == manifest.index_digest))
        cache.remember_ref(registry_key(*current), image.digest);
    if (!reference.digest.empty())
        cache.remember_ref(registry_key(reference.digest), image.digest);
    report(progress, {ImportEvent::Phase::Done, name});
    return to_imported(image);
}

} // namespace

std::string resolve_registry_digest(const ImageReference& reference, const Config& config,
                                    const std::string& cache_dir, const std::string& home)
{
    if (reference.kind != ImageReference::Kind::Registry)
        fail("not a registry image; only a registry resolves tags");
    if (!reference.digest.empty())
        return reference.digest;
    RegistryClient client(reference.registry, reference.repository, config,
                          load_credentials(home, reference.registry));
    if (!cache_dir.empty()) {
        try {
            if (UniqueFd tokens = ImageCache(cache_dir).open_tokens_dir(); tokens.valid())
                client.use_tokens(std::make_shared<const TokenStore>(std::move(tokens)));
        } catch (const Error&) {
            // A cache that cannot be used only means no kept token: the request still goes.
        }
    }
    if (auto digest = client.head_manifest(reference.tag).digest) {
        digest_hex(*digest); // the registry's header, checked like any digest it sends
        return *digest;
    }
    // The GET says why the HEAD failed, or gives the manifest that a registry without
    // Docker-Content-Digest headers did not name.
    ImageManifest manifest = client.get_manifest(reference.tag);
    return manifest.index_digest.empty() ? manifest.digest : manifest.index_digest;
}

ImportedImage ensure_image(const ImageReference& reference, const Config& config,
                           const std::string& cache_dir, const std::string& home,
                           const ImportProgress& progress)
{
    if (reference.kind == ImageReference::Kind::Path)
        fail("{} is a file or directory, not an image to import", reference.text);
    Caches caches(config, cache_dir);
    ImportedImage image = reference.kind == ImageReference::Kind::Registry
                              ? import_registry(reference, config, caches, home, progress)
                              : import_local(reference, config, caches, progress);
    // The image is about to be mounted from this descriptor: keep it out of any eviction,
    // ours or another's.
    image = hold_for_mount(caches, std::move(image), config);
    return image;
}

} // namespace cocoon

extern "C" void cocoon_import_ensure_image(const cocoon::ImageReference& reference,
                                           const cocoon::Config& config,
                                           const std::string& cache_dir, const std::string& home,
                                           const cocoon::ImportProgress& progress,
                                           cocoon::ImportedImage* result)
{
    *result = cocoon::ensure_image(reference, config, cache_dir, home, progress);
}

namespace cocoon {

std::vector<CacheEntry> list_cache(const std::string& cache_dir)
{
    ImageCache cache(cache_dir);
    std::vector<CacheEntry> entries;
    auto names = cache.names();
    for (const auto& image : cache.list()) {
        auto entry = [&](const std::string& name) {
            entries.push_back(
                {image.digest, name, image.size, static_cast<long long>(image.last_used)});
        };
        size_t before = entries.size();
        for (const auto& name : names)
            if (name.digest == image.digest)
                entry(name.name);
        if (entries.size() == before)
            entry(""); // imported, then its names went another way (a damaged record)
    }
    return entries;
}

size_t remove_from_cache(const std::string& cache_dir, const std::string& what)
{
    ImageCache cache(cache_dir);
    if (size_t removed = cache.remove_name(what))
        return removed;
    // A digest, or a prefix of its hex long enough to be unambiguous in practice.
    bool digest_prefix =
        what.size() >= 12 && what.find_first_not_of("0123456789abcdef") == std::string::npos;
    size_t removed = 0;
    for (const auto& image : cache.list())
        if (image.digest == what ||
            (digest_prefix && image.digest.compare(7, what.size(), what) == 0))
            removed += cache.remove(image.digest) ? 1U : 0U;
    return removed;
}

} // namespace cocoon
