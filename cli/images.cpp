// cocoon pull / images / rmi: the user's image cache; cocoon resolve: a tag's digest.
#include <getopt.h>

#include <cstdio>
#include <ctime>

#include "cocoon/error.h"
#include "cocoon/importer.h"
#include "cocoon/reference.h"
#include "common.h"
#include "progress.h"

namespace cocoon::cli {

namespace {

// Parses "[-c FILE] ARGS..." and returns the config path; optind points at ARGS.
std::string parse_config_option(int argc, char** argv, const char* command)
{
    static const option long_options[] = {
        {"config", required_argument, nullptr, 'c'},
        {nullptr, 0, nullptr, 0},
    };
    std::string config;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+:c:", long_options, nullptr)) != -1) {
        if (c != 'c')
            option_error(command, c, argv);
        config = optarg;
    }
    return config;
}

} // namespace

int pull_command(int argc, char** argv)
{
    Config config = load_cli_config(parse_config_option(argc, argv, "pull"));
    if (optind + 1 != argc)
        usage_error("pull: give one IMAGE");
    std::string text = argv[optind];
    ImageReference reference;
    try {
        reference = parse_image_reference(text, current_directory(), config.default_registry);
    } catch (const Error& e) {
        throw e.wrap(text);
    }
    if (reference.kind == ImageReference::Kind::Path)
        fail("{}: a squashfs file or directory is used in place; there is nothing to pull", text);
    Identity identity = current_identity();
    ProgressDisplay display(stderr, true);
    ImportedImage image;
    try {
        image = ensure_image(reference, config, cache_dir(config, identity), identity.home,
                             [&](const ImportEvent& event) { display(event); });
    } catch (const Error& e) {
        throw e.wrap(text);
    }
    std::printf("%s %s\n", image.digest.c_str(), image.squashfs.c_str());
    return 0;
}

// The registry's digest for IMAGE now, as a pinned name that --container= takes. srun runs
// this for a step whose image is named by tag, so that all of its nodes run one image.
int resolve_command(int argc, char** argv)
{
    Config config = load_cli_config(parse_config_option(argc, argv, "resolve"));
    if (optind + 1 != argc)
        usage_error("resolve: give one IMAGE");
    std::string text = argv[optind];
    try {
        ImageReference reference =
            parse_image_reference(text, current_directory(), config.default_registry);
        Identity identity = current_identity();
        // The cache only lends its kept registry tokens: without one, the request still goes.
        std::string tokens_cache;
        try {
            tokens_cache = cache_dir(config, identity);
        } catch (const Error&) {
        }
        reference.digest = resolve_registry_digest(reference, config, tokens_cache, identity.home);
        std::printf("%s\n", reference.canonical().c_str());
    } catch (const Error& e) {
        throw e.wrap(text);
    }
    return 0;
}

int images_command(int argc, char** argv)
{
    Config config = load_cli_config(parse_config_option(argc, argv, "images"));
    if (optind != argc)
        usage_error("images: takes no arguments");
    std::string dir = cache_dir(config, current_identity());
    std::printf("%-50s %-19s %10s  %s\n", "IMAGE", "DIGEST", "SIZE", "LAST USED");
    for (const auto& entry : list_cache(dir)) {
        char when[32] = "";
        time_t last_used = static_cast<time_t>(entry.last_used);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M", localtime(&last_used));
        std::printf("%-50s %-19s %8.1fMi  %s\n",
                    entry.reference.empty() ? "<none>" : entry.reference.c_str(),
                    entry.digest.substr(0, 19).c_str(), static_cast<double>(entry.size) / (1 << 20),
                    when);
    }
    return 0;
}

int rmi_command(int argc, char** argv)
{
    Config config = load_cli_config(parse_config_option(argc, argv, "rmi"));
    if (optind >= argc)
        usage_error("rmi: give IMAGE or DIGEST");
    std::string dir = cache_dir(config, current_identity());
    int status = 0;
    for (; optind < argc; ++optind) {
        std::string what = argv[optind];
        // A name as typed matches its canonical form too ("ubuntu" -> docker.io/library/...).
        std::string canonical = what;
        try {
            auto reference =
                parse_image_reference(what, current_directory(), config.default_registry);
            if (reference.kind != ImageReference::Kind::Path)
                canonical = reference.canonical();
        } catch (const Error&) {
        }
        size_t removed = remove_from_cache(dir, canonical);
        if (removed == 0 && canonical != what)
            removed = remove_from_cache(dir, what);
        if (removed == 0) {
            std::fprintf(stderr, "cocoon: error: rmi: %s is not in the image cache %s\n",
                         what.c_str(), dir.c_str());
            status = 1;
        } else {
            std::printf("removed %s\n", what.c_str());
        }
    }
    return status;
}

} // namespace cocoon::cli
