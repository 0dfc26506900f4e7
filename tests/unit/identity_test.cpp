#include <gtest/gtest.h>

#include "cocoon/spec.h"

using cocoon::Identity;

namespace {

Identity alice()
{
    Identity identity;
    identity.uid = 1001;
    identity.gid = 1002;
    identity.groups = {1002, 1001, 27};
    identity.user_name = "alice";
    identity.home = "/home/alice";
    identity.shell = "/bin/bash";
    identity.group_names = {{1002, "alice"}, {1001, "project"}, {27, "sudo"}};
    return identity;
}

} // namespace

TEST(Identity, PasswdGetsTheUserAppended)
{
    EXPECT_EQ(cocoon::passwd_with_user("root:x:0:0:root:/root:/bin/sh", alice()),
              "root:x:0:0:root:/root:/bin/sh\n"
              "alice:x:1001:1002::/home/alice:/bin/bash\n");
}

TEST(Identity, PasswdKeepsAnExistingEntryForTheUid)
{
    std::string image = "root:x:0:0::/root:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n";
    EXPECT_EQ(cocoon::passwd_with_user(image, alice()), image);
}

TEST(Identity, PasswdFromAnImageWithoutOne)
{
    EXPECT_EQ(cocoon::passwd_with_user("", alice()), "alice:x:1001:1002::/home/alice:/bin/bash\n");
}

TEST(Identity, GroupAddsOnlyMissingGroups)
{
    std::string image = "root:x:0:\nsudo:x:27:\n";
    EXPECT_EQ(cocoon::group_with_user(image, alice()),
              "root:x:0:\nsudo:x:27:\nalice:x:1002:alice\nproject:x:1001:alice\n");
}

TEST(Identity, UidMapIsIdentity)
{
    EXPECT_EQ(cocoon::uid_map_text(alice()), "1001 1001 1\n");
}

TEST(Identity, GidMapWithSupplementaryGroupsIsSortedAndUnique)
{
    EXPECT_EQ(cocoon::gid_map_text(alice(), true), "27 27 1\n1001 1001 1\n1002 1002 1\n");
    EXPECT_EQ(cocoon::gid_map_text(alice(), false), "1002 1002 1\n");
}

TEST(Identity, RemappedMapsMakeTheUserRoot)
{
    Identity identity;
    identity.uid = 1001;
    identity.gid = 1002;
    identity.groups = {1002, 27, 0};
    EXPECT_EQ(remapped_uid_map_text(identity), "0 1001 1\n");
    EXPECT_EQ(remapped_gid_map_text(identity, false), "0 1002 1\n");
    EXPECT_EQ(remapped_gid_map_text(identity, true), "0 1002 1\n27 27 1\n");
}

TEST(Identity, InnerMapsTurnRootBackIntoTheUser)
{
    EXPECT_EQ(cocoon::inner_id_map_text("         0       1001          1\n", 1001), "1001 0 1\n");
    EXPECT_EQ(cocoon::inner_id_map_text("0 1002 1\n27 27 1\n1001 1001 1\n", 1002),
              "1002 0 1\n27 27 1\n1001 1001 1\n");
    // An id equal to the user's own cannot be mapped twice.
    EXPECT_EQ(cocoon::inner_id_map_text("0 1002 1\n1002 5 1\n", 1002), "1002 0 1\n");
}
