// Image references: what the user typed after --container= or --container-image=, parsed
// without touching any file or the network.
//
// Accepted forms:
//   /path/img.sqsh  ./img.sqsh  img.sqsh  /path/rootfs  ./rootfs   a file or directory
//   ubuntu  ubuntu:24.04  library/ubuntu  ghcr.io/org/app:1.2        registry (Docker rules)
//   host:5000/ns/app@sha256:<hex>  docker://ubuntu  nvcr.io#nvidia/app:1  registry
//   oci:DIR[:TAG]  oci-archive:FILE.tar  docker-archive:FILE.tar     local OCI/Docker images
#pragma once

#include <string>
#include <string_view>

namespace cocoon {

struct ImageReference {
    enum class Kind {
        Path, // a squashfs file or a root filesystem directory on the node
        Registry, // an image in an OCI distribution registry
        OciLayout, // oci:DIR[:TAG], an OCI image layout directory
        OciArchive, // oci-archive:FILE, a tar of an OCI image layout
        DockerArchive, // docker-archive:FILE, the output of `docker save`
    };
    Kind kind = Kind::Path;
    std::string text; // exactly what the user typed

    // Path, OciLayout, OciArchive, DockerArchive: absolute path (relative ones resolved
    // against the base directory given to the parser).
    std::string path;

    // Registry: the registry as written or defaulted ("docker.io", "ghcr.io",
    // "127.0.0.1:5000"), the repository ("library/ubuntu"), the tag ("latest" when neither
    // tag nor digest was given) and the digest when pinned ("sha256:<64 hex>").
    // OciLayout: tag holds the optional TAG.
    std::string registry;
    std::string repository;
    std::string tag;
    std::string digest;
    // Registry, by tag only: the digest a registry gave for the tag when srun launched the
    // step (srun asks once for all of the step's nodes, so that they run one image). The
    // node uses it in place of asking again; empty: the node asks. Not part of the name.
    std::string resolved_digest;

    // The normalized name used in messages, `cocoon images` and the cache. Registry:
    // "registry/repository[:tag][@digest]"; local images: "oci:/abs/dir[:tag]",
    // "oci-archive:/abs/file", "docker-archive:/abs/file"; a path: the absolute path.
    std::string canonical() const;
};

// Parses and checks the syntax of an image reference. Relative paths are resolved against
// `base_dir` (the step's working directory); registry names without a registry part use
// `default_registry`. Throws Error with a message that shows the accepted forms.
ImageReference parse_image_reference(std::string_view text, const std::string& base_dir,
                                     const std::string& default_registry = "docker.io");

} // namespace cocoon
