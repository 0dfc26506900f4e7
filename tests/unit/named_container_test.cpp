#include <gtest/gtest.h>

#include <unistd.h>

#include "cocoon/container_options.h"
#include "cocoon/error.h"
#include "cocoon/named_container.h"

using namespace cocoon;

namespace {

std::string name_error(const std::string& text)
{
    try {
        parse_container_name(text);
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST(ContainerName, NameAndFlag)
{
    auto plain = parse_container_name("dev");
    EXPECT_EQ(plain.name, "dev");
    EXPECT_EQ(plain.mode, ContainerName::Mode::Auto);
    EXPECT_EQ(parse_container_name("a.b_c-1:create").mode, ContainerName::Mode::Create);
    EXPECT_EQ(parse_container_name("dev:exec").mode, ContainerName::Mode::Exec);
    EXPECT_EQ(parse_container_name("dev:no_exec").mode, ContainerName::Mode::NoExec);
    EXPECT_EQ(parse_container_name("dev:auto").mode, ContainerName::Mode::Auto);
    EXPECT_STREQ(container_name_mode(ContainerName::Mode::NoExec), "no_exec");
    EXPECT_EQ(parse_container_name(std::string(max_container_name, 'x')).name.size(),
              max_container_name);
}

TEST(ContainerName, BadNamesSayWhatIsAccepted)
{
    EXPECT_EQ(name_error(""), "the name is empty; give NAME[:auto|create|exec|no_exec]");
    EXPECT_EQ(name_error(":exec"), "the name is empty; give NAME[:auto|create|exec|no_exec]");
    EXPECT_EQ(name_error("a/b"), "'a/b' holds '/'; a name is letters, digits, '.', '_' and '-'");
    EXPECT_EQ(name_error(".."),
              "'..' starts with '.'; a name is letters, digits, '.', '_' and '-', not starting "
              "with '.'");
    EXPECT_EQ(name_error(std::string(max_container_name + 1, 'x')),
              "the name is longer than 64 characters; choose a shorter one");
    EXPECT_EQ(name_error("dev:later"),
              "unknown flag 'later'; the flag is one of auto, create, exec, no_exec");
    EXPECT_EQ(name_error("dev:"),
              "unknown flag ''; the flag is one of auto, create, exec, no_exec");
    EXPECT_EQ(name_error("d\nv"),
              "'d\\x0av' holds '\\x0a'; a name is letters, digits, '.', '_' and '-'");
}

TEST(ContainerName, FromTheOptionsAndTheEnvironment)
{
    auto none = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    auto typed = resolve_container_options({{"container-name", "dev:exec"}}, none, "/", false);
    ASSERT_TRUE(typed.name);
    EXPECT_EQ(typed.name->name, "dev");
    EXPECT_EQ(typed.name_source, "--container-name=dev:exec");
    auto pyxis = [](const std::string& name) -> std::optional<std::string> {
        if (name == "PYXIS_CONTAINER_NAME")
            return "a/b";
        return std::nullopt;
    };
    try {
        resolve_container_options({}, pyxis, "/", false);
        FAIL() << "a bad PYXIS_CONTAINER_NAME was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "PYXIS_CONTAINER_NAME=a/b: 'a/b' holds '/'; a name is letters, digits, '.', "
                  "'_' and '-'");
    }
    EXPECT_FALSE(resolve_container_options({}, none, "/", false).name);
}

TEST(NamedRecord, RoundTrip)
{
    NamedContainerRecord record;
    record.pid = 1234;
    record.start_time = 987654321;
    record.image = "busybox.sqsh";
    record.image_environment = {{"PATH", "/bin"}, {"MULTI", "a\nb=c"}};
    record.image_workdir = "/work";
    record.module_environment = {{"MOD", ""}};
    record.entrypoint_environment = {{"EP", "1"}};
    auto decoded = decode_named_record(encode_named_record(record));
    EXPECT_EQ(decoded.pid, record.pid);
    EXPECT_EQ(decoded.start_time, record.start_time);
    EXPECT_EQ(decoded.image, record.image);
    EXPECT_EQ(decoded.image_environment, record.image_environment);
    EXPECT_EQ(decoded.image_workdir, record.image_workdir);
    EXPECT_EQ(decoded.module_environment, record.module_environment);
    EXPECT_EQ(decoded.entrypoint_environment, record.entrypoint_environment);
}

TEST(NamedRecord, MalformedIsRefused)
{
    EXPECT_THROW(decode_named_record(""), Error);
    EXPECT_THROW(decode_named_record(std::string("magic\0other\0", 12)), Error);
    NamedContainerRecord record;
    record.pid = 1;
    record.start_time = 1;
    auto text = encode_named_record(record);
    EXPECT_THROW(decode_named_record(text + std::string("pid\0x\0", 6)), Error);
    EXPECT_THROW(decode_named_record(text + std::string("image-env\0NOEQUALS\0", 19)), Error);
    EXPECT_THROW(decode_named_record(text + std::string("unknown\0v\0", 10)), Error);
    EXPECT_THROW(decode_named_record(text.substr(0, text.size() - 1)), Error);
    NamedContainerRecord no_holder;
    EXPECT_THROW(decode_named_record(encode_named_record(no_holder)), Error);
}

TEST(NamedRecord, HolderLiveness)
{
    NamedContainerRecord self;
    self.pid = getpid();
    self.start_time = process_start_time(self.pid);
    EXPECT_NE(self.start_time, 0u);
    EXPECT_TRUE(named_holder_alive(self));
    self.start_time += 1; // the same pid, another process
    EXPECT_FALSE(named_holder_alive(self));
    EXPECT_EQ(process_start_time(0), 0u);
}
