#include <gtest/gtest.h>

#include "cocoon/error.h"
#include "image/digest.h"
#include "image/registry_client.h"

using namespace cocoon;

namespace {

const std::string layer_digest = sha256_digest("layer");
const std::string config_digest = sha256_digest("config");

std::string manifest(const std::string& layer_type)
{
    return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
      "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
           config_digest + R"(","size":10},
      "layers":[{"mediaType":")" +
           layer_type + R"(","digest":")" + layer_digest + R"(","size":20}]})";
}

const char* index_json =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
  "manifests":[
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaa","size":1,
     "platform":{"os":"linux","architecture":"arm64"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbb","size":1,
     "platform":{"os":"linux","architecture":"amd64"}}]})";

} // namespace

TEST(Manifest, ImageManifest)
{
    std::optional<std::string> selected;
    auto parsed = parse_manifest(manifest("application/vnd.oci.image.layer.v1.tar+gzip"),
                                 "sha256:m", "amd64", "img", &selected);
    EXPECT_FALSE(selected);
    EXPECT_EQ(parsed.config.digest, config_digest);
    ASSERT_EQ(parsed.layers.size(), 1u);
    EXPECT_EQ(parsed.layers[0].digest, layer_digest);
    EXPECT_EQ(parsed.layers[0].size, 20u);
}

TEST(Manifest, IndexSelectsThisPlatform)
{
    std::optional<std::string> selected;
    parse_manifest(index_json, "sha256:i", "amd64", "img", &selected);
    EXPECT_EQ(selected, "sha256:bbbb");
    parse_manifest(index_json, "sha256:i", "arm64", "img", &selected);
    EXPECT_EQ(selected, "sha256:aaaa");
}

TEST(Manifest, IndexWithoutThisPlatformNamesTheOthers)
{
    std::optional<std::string> selected;
    try {
        parse_manifest(index_json, "sha256:i", "ppc64le", "reg/img", &selected);
        FAIL() << "no error";
    } catch (const Error& e) {
        std::string message = e.what();
        EXPECT_NE(message.find("linux/ppc64le"), std::string::npos) << message;
        EXPECT_NE(message.find("linux/arm64"), std::string::npos) << message;
    }
}

// Found by tests/fuzz/manifest_fuzz.cpp: a mediaType that is not a string escaped as a
// nlohmann::json exception instead of cocoon::Error.
TEST(Manifest, MediaTypeOfTheWrongTypeIsAMalformedManifest)
{
    std::optional<std::string> selected;
    for (const char* body :
         {R"({"schemaVersion":2,"mediaType":[{"a":1}]})",
          R"({"schemaVersion":2,"mediaType":7,"manifests":[]})", R"({"mediaType":null})"}) {
        SCOPED_TRACE(body);
        try {
            parse_manifest(body, "d", "amd64", "img", &selected);
            ADD_FAILURE() << "accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("img: malformed manifest"), std::string::npos)
                << e.what();
        }
    }
}

TEST(Manifest, BadInputs)
{
    std::optional<std::string> selected;
    EXPECT_THROW(parse_manifest("{", "d", "amd64", "img", &selected), Error);
    EXPECT_THROW(parse_manifest("[]", "d", "amd64", "img", &selected), Error);
    EXPECT_THROW(parse_manifest(R"({"schemaVersion":1})", "d", "amd64", "img", &selected), Error);
    EXPECT_THROW(
        parse_manifest(R"({"schemaVersion":2,"layers":[]})", "d", "amd64", "img", &selected),
        Error); // no config
    EXPECT_THROW(parse_manifest(manifest("application/x-unknown"), "d", "amd64", "img", &selected),
                 Error);
}

TEST(Manifest, ConfigAndLayersMustDeclareTheirSize)
{
    std::string good = manifest("application/vnd.oci.image.layer.v1.tar+gzip");
    std::optional<std::string> selected;
    auto error_with = [&](const std::string& from, const std::string& to) {
        std::string body = good;
        auto at = body.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        body.replace(at, from.size(), to);
        try {
            parse_manifest(body, "sha256:m", "amd64", "reg/img:1", &selected);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    std::string layer = "reg/img:1: layer " + layer_digest + " has no size in the manifest";
    std::string config = "reg/img:1: the config " + config_digest + " has no size in the manifest";
    EXPECT_NE(error_with(R"(,"size":20)", "").find(layer), std::string::npos);
    EXPECT_NE(error_with(R"("size":20)", R"("size":-20)").find(layer), std::string::npos);
    EXPECT_NE(error_with(R"("size":20)", R"("size":"20")").find(layer), std::string::npos);
    EXPECT_NE(error_with(R"("size":20)", R"("size":2.5)").find(layer), std::string::npos);
    EXPECT_NE(error_with(R"(,"size":10)", "").find(config), std::string::npos);
    EXPECT_EQ(error_with(R"("size":20)", R"("size":0)"), "");
}

TEST(Digest, Sha256)
{
    EXPECT_EQ(sha256_digest(""),
              "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(digest_hex(sha256_digest("x")).size(), 64u);
    EXPECT_THROW(digest_hex("sha256:abc"), Error);
    EXPECT_THROW(digest_hex("md5:" + std::string(64, 'a')), Error);
    EXPECT_THROW(digest_hex("sha256:" + std::string(64, 'A')), Error);
}

TEST(Credentials, SentToATokenServiceOnlyOverHttpsUnlessTheRegistryIsInsecure)
{
    EXPECT_TRUE(may_send_credentials("https://auth.example.org/token", false));
    EXPECT_FALSE(may_send_credentials("http://auth.example.org/token", false));
    EXPECT_FALSE(may_send_credentials("HTTP://auth.example.org/token", false));
    EXPECT_FALSE(may_send_credentials("ftp://x/token", false));
    EXPECT_TRUE(may_send_credentials("http://127.0.0.1:5001/token", true));
}
