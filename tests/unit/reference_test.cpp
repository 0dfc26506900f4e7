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
