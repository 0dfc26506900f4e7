#include "cocoon/trust.h"

#include "image/cache.h"
#include "util/safe_dir.h"

namespace cocoon {

void verify_trusted_program(const std::string& path, const std::string& what)
{
    sys::open_trusted_program(path, what.c_str());
}

void verify_trusted_directory(const std::string& path, uid_t owner, bool root_may_own,
                              const std::string& what)
{
    sys::DirRule rule;
    rule.owner = owner;
    rule.root_may_own = root_may_own;
    rule.what = what.c_str();
    sys::open_trusted_dir(path, rule);
}

void verify_shared_cache(const std::string& path, uid_t owner)
{
    ImageCache cache(path, ImageCache::Access::ReadOnly, owner);
}

} // namespace cocoon
