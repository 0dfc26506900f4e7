// JSON from images, registries and users is capped in size and depth before nlohmann::json
// sees it: a document nested 100,000 levels deep would overflow the stack of its recursive
// parser (and of the copy and destructor) and kill the process.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "cocoon/error.h"
#include "cocoon/image_config.h"
#include "image/credentials.h"
#include "image/registry_client.h"
#include "util/json_limits.h"

using cocoon::Error;
using cocoon::max_json_depth;
using cocoon::parse_untrusted_json;

namespace {

std::string nested(size_t depth, char open = '[', char close = ']')
{
    return std::string(depth, open) + std::string(depth, close);
}

// The message of the Error `parse` throws; "" when it throws none.
template <typename Parse>
std::string error_of(Parse parse)
{
    try {
        parse();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

#define EXPECT_CONTAINS(text, part)                                                                \
    EXPECT_NE(std::string(text).find(part), std::string::npos)                                     \
        << "expected '" << (part) << "' in: " << (text)

} // namespace

TEST(JsonLimits, DepthBombIsRefusedWithoutCrashing)
{
    for (std::string bomb : {std::string(100000, '['), nested(100000), nested(100000, '{', '}'),
                             R"({"config":)" + nested(100000) + "}"}) {
        auto error = error_of([&] { parse_untrusted_json(bomb, "the image configuration of x"); });
        EXPECT_CONTAINS(error, "the image configuration of x nests arrays and objects deeper "
                               "than 64 levels");
    }
}

TEST(JsonLimits, DepthUpToTheLimitIsAccepted)
{
    EXPECT_EQ(max_json_depth, 64u);
    EXPECT_NO_THROW(parse_untrusted_json(nested(64), "x"));
    EXPECT_CONTAINS(error_of([] { parse_untrusted_json(nested(65), "x"); }), "deeper than 64");
    // Depth is nesting, not the number of brackets.
    std::string wide = "[";
    for (int i = 0; i < 10000; ++i)
        wide += "[],";
    wide += "{}]";
    EXPECT_NO_THROW(parse_untrusted_json(wide, "x"));
}

TEST(JsonLimits, BracketsInStringsDoNotCount)
{
    std::string text = R"({"a":")" + std::string(1000, '[') + R"(\"[[[\\","b":["\"{"]})";
    auto document = parse_untrusted_json(text, "x");
    EXPECT_EQ(document["a"].get<std::string>(), std::string(1000, '[') + "\"[[[\\");
    EXPECT_EQ(document["b"][0].get<std::string>(), "\"{");
}

TEST(JsonLimits, SizeIsCapped)
{
    std::string big = "\"" + std::string(100, 'x') + "\"";
    EXPECT_NO_THROW(parse_untrusted_json(big, "x", big.size()));
    auto error = error_of([&] { parse_untrusted_json(big, "the manifest of y", big.size() - 1); });
    EXPECT_CONTAINS(error, "the manifest of y is larger than the 101 bytes cocoon reads");
    std::string huge(cocoon::max_image_json_size + 1, ' ');
    EXPECT_CONTAINS(error_of([&] { parse_untrusted_json(huge, "x"); }), "larger than");
}

TEST(JsonLimits, InvalidJsonIsNamedWithoutQuotingIt)
{
    auto error = error_of([] { parse_untrusted_json(R"({"password":"hunter2)", "the file"); });
    EXPECT_CONTAINS(error, "the file is not valid JSON (error at byte");
    EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
}

// Each parser of image data goes through the caps.
TEST(JsonLimits, EveryImageParserRefusesADepthBomb)
{
    std::string bomb = R"({"config":{"Env":)" + nested(100000) + "}}";
    EXPECT_CONTAINS(error_of([&] { cocoon::parse_image_config(bomb); }),
                    "the image configuration nests arrays and objects deeper than 64");
    std::optional<std::string> selected;
    EXPECT_CONTAINS(
        error_of([&] { cocoon::parse_manifest(bomb, "sha256:m", "amd64", "reg/img", &selected); }),
        "reg/img: the manifest nests arrays and objects deeper than 64");
    EXPECT_CONTAINS(error_of([&] { cocoon::find_credentials(bomb, "docker.io"); }),
                    "deeper than 64");
}
