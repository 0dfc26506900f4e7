#include <gtest/gtest.h>

#include "cocoon/error.h"
#include "cocoon/plan.h"

using namespace cocoon;

namespace {

ContainerSpec spec_for(const std::string& workdir)
{
    ContainerSpec spec;
    spec.image.path = "/images/app.sqsh";
    spec.identity.uid = 1001;
    spec.identity.home = "/home/alice";
    spec.workdir = workdir;
    return spec;
}

const MountOp* find(const Plan& plan, const std::string& target)
{
    for (const auto& op : plan.ops)
        if (op.target == target)
            return &op;
    return nullptr;
}

} // namespace

TEST(Plan, GoldenDefaultPlan)
{
    auto spec = spec_for("/scratch/alice/run");
    spec.extra_files = {"/var/spool/slurmd/job00042/slurm_script"};
    EXPECT_EQ(format_plan(plan_container(spec, default_config())),
              "root      /images/app.sqsh (writable overlay, 1073741824 bytes in memory, "
              "nosuid, nodev)\n"
              "bind      /proc <- /proc [rec]\n"
              "bind      /sys <- /sys [ro,rec]\n"
              "tmpfs     /dev (mode=0755,size=64k)\n"
              "bind      /dev/null <- /dev/null [dev]\n"
              "bind      /dev/zero <- /dev/zero [dev]\n"
              "bind      /dev/full <- /dev/full [dev]\n"
              "bind      /dev/random <- /dev/random [dev]\n"
              "bind      /dev/urandom <- /dev/urandom [dev]\n"
              "bind      /dev/tty <- /dev/tty [optional,dev]\n"
              "bind      /dev/ptmx <- /dev/ptmx [dev]\n"
              "bind      /dev/pts <- /dev/pts [dev]\n"
              "tmpfs     /dev/shm (mode=1777)\n"
              "symlink   /dev/fd -> /proc/self/fd\n"
              "symlink   /dev/stdin -> /proc/self/fd/0\n"
              "symlink   /dev/stdout -> /proc/self/fd/1\n"
              "symlink   /dev/stderr -> /proc/self/fd/2\n"
              "tmpfs     /tmp (mode=1777)\n"
              "bind      /etc/hosts <- /etc/hosts [ro,optional]\n"
              "bind      /etc/resolv.conf <- /etc/resolv.conf [ro,optional]\n"
              "generate  /etc/passwd (passwd) [ro]\n"
              "generate  /etc/group (group) [ro]\n"
              "bind      /home/alice <- /home/alice [rec,optional]\n"
              "bind      /scratch/alice/run <- /scratch/alice/run [rec]\n"
              "bind      /var/spool/slurmd/job00042/slurm_script <- "
              "/var/spool/slurmd/job00042/slurm_script [ro]\n");
}

TEST(Plan, WorkdirInsideHomeIsCoveredByTheHomeBind)
{
    auto plan = plan_container(spec_for("/home/alice/project"), default_config());
    EXPECT_NE(find(plan, "/home/alice"), nullptr);
    EXPECT_EQ(find(plan, "/home/alice/project"), nullptr);
}

TEST(Plan, WorkdirInSystemDirectoriesIsNotBound)
{
    for (const char* dir : {"/", "/usr/local/src", "/etc", "/tmp"}) {
        auto plan = plan_container(spec_for(dir), default_config());
        for (const auto& op : plan.ops)
            EXPECT_FALSE(op.kind == OpKind::BindHost && op.source == dir) << dir;
    }
}

TEST(Plan, WorkdirUnderTmpIsBoundOnTopOfThePrivateTmp)
{
    auto plan = plan_container(spec_for("/tmp/job"), default_config());
    ASSERT_NE(find(plan, "/tmp/job"), nullptr);
    ASSERT_NE(find(plan, "/tmp"), nullptr);
    EXPECT_LT(find(plan, "/tmp"), find(plan, "/tmp/job")); // the tmpfs comes first
}

TEST(Plan, ConfigSwitchesOffHomeAndWorkdir)
{
    Config config = default_config();
    config.mount_home = false;
    config.mount_workdir = false;
    auto plan = plan_container(spec_for("/scratch/run"), config);
    EXPECT_EQ(find(plan, "/home/alice"), nullptr);
    EXPECT_EQ(find(plan, "/scratch/run"), nullptr);
}

TEST(Plan, StepDirectoriesAreBoundWritableAtTheirPathAfterTmp)
{
    auto spec = spec_for("/scratch/run");
    spec.step_directories = {"/var/spool/slurmd/pmix.42.0", "/tmp/spmix_appdir_1001_42.0"};
    auto plan = plan_container(spec, default_config());
    auto text = format_plan(plan);
    EXPECT_NE(text.find("bind      /var/spool/slurmd/pmix.42.0 <- /var/spool/slurmd/pmix.42.0\n"),
              std::string::npos)
        << text;
    const MountOp* op = find(plan, "/tmp/spmix_appdir_1001_42.0");
    ASSERT_NE(op, nullptr);
    EXPECT_EQ(op->kind, OpKind::BindHost);
    EXPECT_FALSE(op->read_only);
    EXPECT_FALSE(op->optional); // a step without its PMIx directory must fail, not hang
    EXPECT_LT(find(plan, "/tmp"), op); // over the private /tmp, not under it
}

TEST(Plan, SystemPaths)
{
    EXPECT_TRUE(is_system_path("/"));
    EXPECT_TRUE(is_system_path("/usr"));
    EXPECT_TRUE(is_system_path("/usr/lib/x"));
    EXPECT_FALSE(is_system_path("/usrdata"));
    EXPECT_FALSE(is_system_path("/home/u"));
}

TEST(Plan, ReadOnlyRootOnRequest)
{
    auto spec = spec_for("/scratch/alice/run");
    spec.options.writable = false;
    auto plan = plan_container(spec, default_config());
    EXPECT_FALSE(plan.writable);
    EXPECT_TRUE(
        format_plan(plan).starts_with("root      /images/app.sqsh (read-only, nosuid, nodev)\n"));
}

TEST(Plan, RequestedMountsComeLastWithTheirFlags)
{
    auto spec = spec_for("/scratch/alice/run");
    std::vector<std::string> unmounts;
    spec.options.mounts =
        parse_mount_requests("/data:/in:ro+rslave,/scratch/x:/out:bind+noexec", "/", unmounts);
    auto plan = plan_container(spec, default_config());
    auto text = format_plan(plan);
    EXPECT_TRUE(text.ends_with("bind      /in <- /data [ro,rec,rslave]\n"
                               "bind      /out <- /scratch/x [noexec]\n"))
        << text;
}

TEST(Plan, UmountEntriesLeaveOutDefaultMounts)
{
    auto spec = spec_for("/scratch/alice/run");
    spec.options.unmounts = {"/etc/hosts", "/tmp"};
    auto plan = plan_container(spec, default_config());
    EXPECT_EQ(find(plan, "/etc/hosts"), nullptr);
    EXPECT_EQ(find(plan, "/tmp"), nullptr);
    EXPECT_NE(find(plan, "/etc/resolv.conf"), nullptr);
}

TEST(Plan, UmountOfSomethingNotMountedOrNeededIsAnError)
{
    auto spec = spec_for("/scratch/alice/run");
    spec.options.unmounts = {"/nothing/here"};
    try {
        plan_container(spec, default_config());
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_TRUE(std::string(e.what()).starts_with(
            "umount:/nothing/here: the container has no default mount there (it has: /proc,"))
            << e.what();
    }
    spec.options.unmounts = {"/proc"};
    EXPECT_THROW(plan_container(spec, default_config()), Error);
}

TEST(Plan, MountHomeOptionWinsOverTheSiteDefault)
{
    auto spec = spec_for("/scratch/alice/run");
    spec.options.mount_home = false;
    EXPECT_EQ(find(plan_container(spec, default_config()), "/home/alice"), nullptr);
    Config config = default_config();
    config.mount_home = false;
    spec.options.mount_home = true;
    EXPECT_NE(find(plan_container(spec, config), "/home/alice"), nullptr);
}

TEST(Plan, PrivateIpcGetsItsOwnMqueue)
{
    auto spec = spec_for("/scratch/alice/run");
    EXPECT_EQ(find(plan_container(spec, default_config()), "/dev/mqueue"), nullptr);
    spec.options.unshare.ipc = true;
    auto plan = plan_container(spec, default_config());
    const MountOp* op = find(plan, "/dev/mqueue");
    ASSERT_NE(op, nullptr);
    EXPECT_EQ(op->kind, OpKind::Mqueue);
}
