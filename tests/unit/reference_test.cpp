#include <gtest/gtest.h>

#include "cocoon/error.h"
#include "cocoon/image.h"

using cocoon::Error;
using cocoon::ImageReference;
using cocoon::parse_image_reference;

TEST(ImageReference, AbsolutePathIsKept)
{
    auto ref = parse_image_reference("/images/busybox.sqsh", "/home/u");
    EXPECT_EQ(ref.kind, ImageReference::Kind::Path);
    EXPECT_EQ(ref.path, "/images/busybox.sqsh");
    EXPECT_EQ(ref.text, "/images/busybox.sqsh");
}

TEST(ImageReference, RelativePathsResolveAgainstTheWorkingDirectory)
{
    EXPECT_EQ(parse_image_reference("busybox.sqsh", "/home/u").path, "/home/u/busybox.sqsh");
    EXPECT_EQ(parse_image_reference("./rootfs/", "/home/u").path, "/home/u/rootfs");
    EXPECT_EQ(parse_image_reference("../x/img.squashfs", "/home/u/w").path,
              "/home/u/x/img.squashfs");
    EXPECT_EQ(parse_image_reference(".", "/data").path, "/data");
}

TEST(ImageReference, RegistryNamesAreRecognised)
{
    for (const char* name : {"ubuntu", "ubuntu:24.04", "library/ubuntu", "ghcr.io/org/app:1.2",
                             "docker://ubuntu", "nvcr.io#nvidia/pytorch:24.01-py3"}) {
        auto ref = parse_image_reference(name, "/");
        EXPECT_EQ(ref.kind, ImageReference::Kind::Registry) << name;
        EXPECT_TRUE(ref.path.empty()) << name;
    }
}

TEST(ImageReference, EmptyIsRejected)
{
    try {
        parse_image_reference("", "/");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
    }
}

TEST(ImageReference, ControlCharactersAreRejected)
{
    for (const char* bad : {"bad\nvalue", "img\t.sqsh", "x\x7f"})
        EXPECT_THROW(parse_image_reference(bad, "/"), Error) << bad;
}

TEST(ImageReference, OverlongIsRejected)
{
    EXPECT_THROW(parse_image_reference(std::string(5000, 'a'), "/"), Error);
}

TEST(ImageReference, GarbageNamesTheAcceptedForms)
{
    try {
        parse_image_reference("what is this?", "/");
        FAIL() << "no error";
    } catch (const Error& e) {
        std::string message = e.what();
        EXPECT_NE(message.find("what is this?"), std::string::npos) << message;
        EXPECT_NE(message.find("squashfs"), std::string::npos) << message;
    }
}

namespace {

const std::string hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// The message of the Error that `text` raises; a test failure when none is raised.
std::string error_of(const std::string& text, const std::string& default_registry = "docker.io")
{
    try {
        parse_image_reference(text, "/home/u", default_registry);
    } catch (const Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no error for '" << text << "'";
    return {};
}

struct Expected {
    std::string text;
    std::string registry;
    std::string repository;
    std::string tag;
    std::string digest;
};

void expect_registry(const Expected& expected, const std::string& default_registry = "docker.io")
{
    auto ref = parse_image_reference(expected.text, "/home/u", default_registry);
    EXPECT_EQ(ref.kind, ImageReference::Kind::Registry) << expected.text;
    EXPECT_EQ(ref.text, expected.text);
    EXPECT_EQ(ref.registry, expected.registry) << expected.text;
    EXPECT_EQ(ref.repository, expected.repository) << expected.text;
    EXPECT_EQ(ref.tag, expected.tag) << expected.text;
    EXPECT_EQ(ref.digest, expected.digest) << expected.text;
    EXPECT_TRUE(ref.path.empty()) << expected.text;
}

void expect_rejected(const std::string& text, const std::string& reason)
{
    std::string message = error_of(text);
    EXPECT_NE(message.find("'" + text + "'"), std::string::npos) << message;
    EXPECT_NE(message.find(reason), std::string::npos) << text << ": " << message;
}

} // namespace

TEST(ImageReference, DockerHubNamesAreNormalized)
{
    expect_registry({"ubuntu", "docker.io", "library/ubuntu", "latest", ""});
    expect_registry({"ubuntu:24.04", "docker.io", "library/ubuntu", "24.04", ""});
    expect_registry({"library/ubuntu", "docker.io", "library/ubuntu", "latest", ""});
    expect_registry({"docker://ubuntu", "docker.io", "library/ubuntu", "latest", ""});
    expect_registry({"nvidia/cuda:12.4.1-base", "docker.io", "nvidia/cuda", "12.4.1-base", ""});
    expect_registry({"docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", ""});
    expect_registry({"index.docker.io/u/app", "docker.io", "u/app", "latest", ""});
    // Docker's rule: without a '/', "localhost:5000" is the image localhost, tag 5000.
    expect_registry({"localhost:5000", "docker.io", "library/localhost", "5000", ""});
}

TEST(ImageReference, RegistryHostsAreRecognised)
{
    expect_registry({"ghcr.io/org/app:1.2", "ghcr.io", "org/app", "1.2", ""});
    expect_registry({"ghcr.io/app", "ghcr.io", "app", "latest", ""});
    expect_registry(
        {"127.0.0.1:5000/test/busybox", "127.0.0.1:5000", "test/busybox", "latest", ""});
    expect_registry({"localhost/app", "localhost", "app", "latest", ""});
    expect_registry({"localhost:5000/a/b/c:v1", "localhost:5000", "a/b/c", "v1", ""});
    expect_registry({"[::1]:5000/app", "[::1]:5000", "app", "latest", ""});
    expect_registry({"Registry.Example.COM/app", "registry.example.com", "app", "latest", ""});
    expect_registry({"docker://quay.io/org/app:_x", "quay.io", "org/app", "_x", ""});
}

TEST(ImageReference, PyxisRegistrySeparator)
{
    expect_registry(
        {"nvcr.io#nvidia/pytorch:24.01-py3", "nvcr.io", "nvidia/pytorch", "24.01-py3", ""});
    expect_registry({"docker://nvcr.io#nvidia/pytorch", "nvcr.io", "nvidia/pytorch", "latest", ""});
    expect_registry({"docker.io#ubuntu", "docker.io", "library/ubuntu", "latest", ""});
    expect_registry({"localhost:5000#app", "localhost:5000", "app", "latest", ""});
    // After '#' everything is the repository, even a first part that looks like a host.
    expect_registry({"nvcr.io#a.b/c", "nvcr.io", "a.b/c", "latest", ""});
}

TEST(ImageReference, DigestsPinTheImage)
{
    expect_registry(
        {"host:5000/ns/app@sha256:" + hex64, "host:5000", "ns/app", "", "sha256:" + hex64});
    expect_registry(
        {"ghcr.io/org/app:1.2@sha256:" + hex64, "ghcr.io", "org/app", "1.2", "sha256:" + hex64});
    expect_registry(
        {"ubuntu@sha256:" + hex64, "docker.io", "library/ubuntu", "", "sha256:" + hex64});
}

TEST(ImageReference, NameComponentSeparators)
{
    expect_registry(
        {"r.io/a__b/c--d/e.f_g/h---i:T.1-x", "r.io", "a__b/c--d/e.f_g/h---i", "T.1-x", ""});
    std::string longest_tag = "v" + std::string(127, 'x');
    expect_registry({"app:" + longest_tag, "docker.io", "library/app", longest_tag, ""});
}

TEST(ImageReference, CanonicalNames)
{
    EXPECT_EQ(parse_image_reference("ubuntu:24.04", "/").canonical(),
              "docker.io/library/ubuntu:24.04");
    EXPECT_EQ(parse_image_reference("127.0.0.1:5000/test/busybox", "/").canonical(),
              "127.0.0.1:5000/test/busybox:latest");
    EXPECT_EQ(parse_image_reference("ghcr.io/org/app@sha256:" + hex64, "/").canonical(),
              "ghcr.io/org/app@sha256:" + hex64);
    EXPECT_EQ(parse_image_reference("ghcr.io/org/app:1@sha256:" + hex64, "/").canonical(),
              "ghcr.io/org/app:1@sha256:" + hex64);
    EXPECT_EQ(parse_image_reference("nvcr.io#nvidia/app:1", "/").canonical(),
              "nvcr.io/nvidia/app:1");
}

// Found by tests/fuzz/reference_fuzz.cpp: "registry#app" with a registry that has no '.' or
// ':' (a host on the site's network) printed as "registry/app", which names Docker Hub's
// docker.io/registry/app. The canonical name keeps the '#' then, and names the same image.
TEST(ImageReference, CanonicalNameOfAPlainHostParsesToTheSameImage)
{
    for (const std::string& text :
         {std::string("registry#app:1"), std::string("nv#cr.io/nvidia/pytorch:24.01-py3"),
          "docker://mirror#team/app@sha256:" + hex64}) {
        SCOPED_TRACE(text);
        ImageReference reference = parse_image_reference(text, "/");
        ImageReference again = parse_image_reference(reference.canonical(), "/");
        EXPECT_EQ(again.registry, reference.registry);
        EXPECT_EQ(again.repository, reference.repository);
        EXPECT_EQ(again.canonical(), reference.canonical());
    }
    EXPECT_EQ(parse_image_reference("registry#app:1", "/").canonical(), "registry#app:1");
    EXPECT_EQ(parse_image_reference("localhost#app", "/").canonical(), "localhost/app:latest");
}

// Found by tests/fuzz/reference_fuzz.cpp: the registry host "oCi" with a port printed as
// "oci:99/t:latest", which reads as an OCI layout directory; a tag ending in ".sqsh" made
// the name read as a squashfs file. Such names keep "docker://".
TEST(ImageReference, CanonicalNameThatReadsAsALocalImageKeepsDockerPrefix)
{
    for (const std::string& text :
         {std::string("oCi:99/t"), std::string("docker://oci:5000/app"),
          std::string("docker://OCI-ARCHIVE:1/a"), std::string("docker://reg.io/app:v1.sqsh")}) {
        SCOPED_TRACE(text);
        ImageReference reference = parse_image_reference(text, "/");
        ASSERT_EQ(reference.kind, ImageReference::Kind::Registry);
        EXPECT_TRUE(reference.canonical().starts_with("docker://")) << reference.canonical();
        ImageReference again = parse_image_reference(reference.canonical(), "/");
        EXPECT_EQ(again.kind, ImageReference::Kind::Registry);
        EXPECT_EQ(again.canonical(), reference.canonical());
    }
    EXPECT_EQ(parse_image_reference("oCi:99/t", "/").canonical(), "docker://oci:99/t:latest");
    EXPECT_EQ(parse_image_reference("ubuntu", "/").canonical(), "docker.io/library/ubuntu:latest");
}

TEST(ImageReference, DefaultRegistryCanBeChanged)
{
    expect_registry({"ubuntu", "registry.example.com", "ubuntu", "latest", ""},
                    "registry.example.com");
    expect_registry({"ns/app:2", "10.0.0.1:5000", "ns/app", "2", ""}, "10.0.0.1:5000");
    expect_registry({"ghcr.io/org/app", "ghcr.io", "org/app", "latest", ""},
                    "registry.example.com");
    expect_registry({"ubuntu", "docker.io", "library/ubuntu", "latest", ""}, "index.docker.io");
    std::string message = error_of("ubuntu", "bad registry!");
    EXPECT_NE(message.find("default registry 'bad registry!'"), std::string::npos) << message;
}

TEST(ImageReference, LocalImageLayouts)
{
    auto layout = parse_image_reference("oci:/data/layout", "/home/u");
    EXPECT_EQ(layout.kind, ImageReference::Kind::OciLayout);
    EXPECT_EQ(layout.path, "/data/layout");
    EXPECT_EQ(layout.tag, "");
    EXPECT_TRUE(layout.registry.empty());
    EXPECT_TRUE(layout.repository.empty());

    layout = parse_image_reference("oci:./layout/:v1.0", "/home/u");
    EXPECT_EQ(layout.kind, ImageReference::Kind::OciLayout);
    EXPECT_EQ(layout.path, "/home/u/layout");
    EXPECT_EQ(layout.tag, "v1.0");
    EXPECT_EQ(parse_image_reference("oci:../x/./l", "/home/u").path, "/home/x/l");
    EXPECT_EQ(parse_image_reference("oci:.", "/home/u").path, "/home/u");
    // An OCI layout's ref name may itself hold ':' and '/'.
    EXPECT_EQ(parse_image_reference("oci:l:org/app:1", "/").tag, "org/app:1");

    auto archive = parse_image_reference("oci-archive:img.tar", "/home/u");
    EXPECT_EQ(archive.kind, ImageReference::Kind::OciArchive);
    EXPECT_EQ(archive.path, "/home/u/img.tar");
    auto saved = parse_image_reference("docker-archive:/tmp/../srv/save.tar", "/home/u");
    EXPECT_EQ(saved.kind, ImageReference::Kind::DockerArchive);
    EXPECT_EQ(saved.path, "/srv/save.tar");
    EXPECT_EQ(saved.text, "docker-archive:/tmp/../srv/save.tar");
}

TEST(ImageReference, PrefixDecidesBeforeShape)
{
    EXPECT_EQ(parse_image_reference("oci:img.sqsh", "/").kind, ImageReference::Kind::OciLayout);
    EXPECT_EQ(parse_image_reference("docker://img.sqsh", "/").canonical(),
              "docker.io/library/img.sqsh:latest");
    EXPECT_EQ(parse_image_reference("rootfs", "/").kind, ImageReference::Kind::Registry);
}

TEST(ImageReference, BadRepositoryNames)
{
    expect_rejected("Ubuntu", "repository names must be lowercase");
    expect_rejected("ghcr.io/Org/app", "repository names must be lowercase");
    expect_rejected("nvcr.io#NVIDIA/app", "repository names must be lowercase");
    expect_rejected("library/../etc", "'..' is not a name component");
    expect_rejected("ghcr.io/a/./b", "'.' is not a name component");
    expect_rejected("a..b", "'a..b' is not a name component");
    expect_rejected("-ubuntu", "'-ubuntu' is not a name component");
    expect_rejected("ubuntu-", "is not a name component");
    expect_rejected("a___b", "is not a name component");
    expect_rejected("a//b", "empty component");
    expect_rejected("ghcr.io/app/", "empty component");
    expect_rejected("ghcr.io/", "there is no image name");
    expect_rejected(":latest", "there is no image name");
    expect_rejected("ghcr.io/" + std::string(250, 'a'), "longer than 255");
}

TEST(ImageReference, BadTagsAndDigests)
{
    expect_rejected("ubuntu:", "nothing follows ':'");
    expect_rejected("ubuntu:-x", "'-x' is not a tag");
    expect_rejected("ubuntu:.x", "'.x' is not a tag");
    expect_rejected("ghcr.io/app:1:2", "'1:2' is not a tag");
    expect_rejected("ubuntu:v" + std::string(128, 'x'), "longer than 128");
    expect_rejected("ubuntu@", "nothing follows '@'");
    expect_rejected("ubuntu@sha256:abc", "64 lowercase hexadecimal");
    expect_rejected("ubuntu@sha256:" + hex64 + "0", "64 lowercase hexadecimal");
    expect_rejected("ubuntu@sha256:" + std::string(64, 'A'), "64 lowercase hexadecimal");
    expect_rejected("ubuntu@sha512:" + hex64 + hex64, "'sha512' is not supported");
    expect_rejected("ubuntu@" + hex64, "is not sha256:");
    expect_rejected("ubuntu@sha256:" + hex64 + "@x", "64 lowercase hexadecimal");
}

TEST(ImageReference, BadRegistries)
{
    expect_rejected("docker://", "nothing follows 'docker://'");
    expect_rejected("#ubuntu", "nothing precedes '#'");
    expect_rejected("a#b#c", "more than one '#'");
    expect_rejected("user@nvcr.io#nvidia/app", "credentials");
    expect_rejected("host:99999/app", "':99999' is not a registry port");
    expect_rejected("host:/app", "is not a registry port");
    expect_rejected("-bad.io/app", "'-bad.io' is not a registry host");
    expect_rejected("300.1.1.1/app", "'300.1.1.1' is not a registry host");
    expect_rejected("1.2.3/app", "'1.2.3' is not a registry host");
    expect_rejected("[zz]:5000/app", "'[zz]' is not a registry host");
    expect_rejected("[::1/app", "is not a registry host");
    expect_rejected("bad_host.io/app", "is not a registry host");
}

TEST(ImageReference, BadLocalImages)
{
    expect_rejected("oci:", "nothing follows 'oci:'");
    expect_rejected("oci::v1", "nothing follows 'oci:'");
    expect_rejected("oci-archive:", "nothing follows 'oci-archive:'");
    expect_rejected("docker-archive:", "nothing follows 'docker-archive:'");
    expect_rejected("oci:/a:b c", "contains ':' is not supported");
    expect_rejected("oci:/a:", "nothing follows ':' after the directory");
    expect_rejected("oci:/a:-x", "'-x' is not a tag");
}

TEST(ImageReference, TextThatIsNoImageListsEveryForm)
{
    for (const std::string bad : {"ubuntu 24.04", " ubuntu", "docker://a b", "app!", "ubuntu:é"}) {
        std::string message = error_of(bad);
        EXPECT_NE(message.find("'" + bad + "'"), std::string::npos) << message;
        for (const char* form :
             {"squashfs", "docker://", "REGISTRY#", "oci:DIR", "oci-archive:", "docker-archive:"})
            EXPECT_NE(message.find(form), std::string::npos) << form << ": " << message;
    }
}
