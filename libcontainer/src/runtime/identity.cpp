#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <vector>

#include "cocoon/error.h"
#include "cocoon/spec.h"
#include "util/text.h"

namespace cocoon {

namespace {

std::vector<gid_t> all_gids(const Identity& identity)
{
    std::vector<gid_t> gids{identity.gid};
    for (gid_t g : identity.groups)
        if (std::find(gids.begin(), gids.end(), g) == gids.end())
            gids.push_back(g);
    return gids;
}

// The first field of each line of an /etc/passwd or /etc/group style file, and the third
// (the numeric id).
std::set<std::string> field_values(const std::string& text, size_t field)
{
    std::set<std::string> values;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        size_t start = 0;
        for (size_t i = 0; i < field && start != std::string::npos; ++i) {
            start = line.find(':', start);
            if (start != std::string::npos)
                ++start;
        }
        if (start == std::string::npos)
            continue;
        values.insert(line.substr(start, line.find(':', start) - start));
    }
    return values;
}

std::string with_final_newline(std::string text)
{
    if (!text.empty() && text.back() != '\n')
        text.push_back('\n');
    return text;
}

} // namespace

Identity lookup_identity(uid_t uid, gid_t gid, std::vector<gid_t> groups)
{
    Identity identity;
    identity.uid = uid;
    identity.gid = gid;
    identity.groups = std::move(groups);

    std::vector<char> buffer(1 << 16);
    struct passwd pw {};
    struct passwd* found = nullptr;
    if (getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found) != 0 || !found)
        fail("user id {} has no entry in the user database of this node", uid);
    identity.user_name = pw.pw_name;
    identity.gecos = pw.pw_gecos ? pw.pw_gecos : "";
    identity.home = pw.pw_dir ? pw.pw_dir : "/";
    identity.shell = pw.pw_shell && *pw.pw_shell ? pw.pw_shell : "/bin/sh";

    for (gid_t g : all_gids(identity)) {
        struct group gr {};
        struct group* group_found = nullptr;
        if (getgrgid_r(g, &gr, buffer.data(), buffer.size(), &group_found) == 0 && group_found)
            identity.group_names.emplace_back(g, gr.gr_name);
    }
    return identity;
}

std::string passwd_with_user(const std::string& image_passwd, const Identity& identity)
{
    std::string result = with_final_newline(image_passwd);
    auto uids = field_values(image_passwd, 2);
    if (uids.contains(std::to_string(identity.uid)))
        return result;
    result += fmt::format("{}:x:{}:{}:{}:{}:{}\n", identity.user_name, identity.uid, identity.gid,
                          identity.gecos, identity.home, identity.shell);
    return result;
}

std::string group_with_user(const std::string& image_group, const Identity& identity)
{
    std::string result = with_final_newline(image_group);
    auto gids = field_values(image_group, 2);
    auto names = field_values(image_group, 0);
    for (const auto& [gid, name] : identity.group_names) {
        if (gids.contains(std::to_string(gid)) || names.contains(name))
            continue;
        result += fmt::format("{}:x:{}:{}\n", name, gid, identity.user_name);
    }
    return result;
}

std::string uid_map_text(const Identity& identity)
{
    return fmt::format("{} {} 1\n", identity.uid, identity.uid);
}

std::string gid_map_text(const Identity& identity, bool with_supplementary_groups)
{
    if (!with_supplementary_groups)
        return fmt::format("{} {} 1\n", identity.gid, identity.gid);
    auto gids = all_gids(identity);
    std::sort(gids.begin(), gids.end());
    std::string text;
    for (gid_t g : gids)
        text += fmt::format("{} {} 1\n", g, g);
    return text;
}

std::string remapped_uid_map_text(const Identity& identity)
{
    return fmt::format("0 {} 1\n", identity.uid);
}

std::string remapped_gid_map_text(const Identity& identity, bool with_supplementary_groups)
{
    std::string text = fmt::format("0 {} 1\n", identity.gid);
    if (!with_supplementary_groups)
        return text;
    auto gids = all_gids(identity);
    std::sort(gids.begin(), gids.end());
    for (gid_t g : gids)
        if (g != identity.gid && g != 0) // 0 is the user's own group inside
            text += fmt::format("{} {} 1\n", g, g);
    return text;
}

std::string inner_id_map_text(const std::string& outer_map, unsigned id)
{
    std::istringstream in(outer_map);
    std::string text;
    unsigned long first = 0, lower = 0, count = 0;
    while (in >> first >> lower >> count) {
        if (first == 0 && count == 1)
            text += fmt::format("{} 0 1\n", id);
        else if (first != id)
            text += fmt::format("{} {} {}\n", first, first, count);
    }
    return text;
}

std::string resolve_cache_dir(const Config& config, const Identity& identity,
                              const std::string& override)
{
    std::string dir = override.empty() ? config.cache_dir : override;
    dir = replace_all(dir, "{uid}", std::to_string(identity.uid));
    dir = replace_all(dir, "{user}", identity.user_name);
    dir = replace_all(dir, "{home}", identity.home);
    if (!dir.starts_with('/'))
        fail("the image cache directory '{}' is not an absolute path", dir);
    return std::filesystem::path(dir).lexically_normal().string();
}

} // namespace cocoon
