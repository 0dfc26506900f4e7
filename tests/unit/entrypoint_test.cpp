#include <gtest/gtest.h>

#include "runtime/entrypoint.h"

using namespace cocoon;

TEST(Entrypoint, InputIsTheJobEnvironmentWithTheImageEnvApplied)
{
    ContainerSpec spec;
    spec.environment = {"PATH=/host/bin", "FOO=job", "SLURM_JOB_ID=7"};
    spec.keep_environment = {"FOO"};
    ImageConfig image;
    image.env = {{"PATH", "/image/bin"}, {"FOO", "image"}, {"LANG", "C.UTF-8"}};
    EXPECT_EQ(
        entrypoint_input(image, spec),
        (std::vector<std::string>{"FOO=job", "LANG=C.UTF-8", "PATH=/image/bin", "SLURM_JOB_ID=7"}));
}

TEST(Entrypoint, ChangesAreNewOrDifferentVariables)
{
    std::vector<std::string> before = {"A=1", "B=2", "C=3"};
    std::vector<std::string> after = {"A=1", "B=changed", "D=new", "E=a=b"};
    EXPECT_EQ(environment_changes(before, after),
              (std::vector<std::pair<std::string, std::string>>{
                  {"B", "changed"}, {"D", "new"}, {"E", "a=b"}}));
}
