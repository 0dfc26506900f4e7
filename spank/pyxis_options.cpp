#include "pyxis_options.h"

#include <string>
#include <vector>

#include "options.h"

namespace cocoon::spank {

namespace {

// Registered by options.cpp with its own callback.
constexpr const char* registered_elsewhere = "container-entrypoint";

TypedOptions typed;

// `val` is the row's index times two, plus one for the negated spelling. Callbacks may run
// more than once (srun, then slurmstepd): recording the same entry twice changes nothing.
int on_option(int val, const char* optarg, int)
{
    const auto& row = container_option_table().at(static_cast<size_t>(val / 2));
    typed.emplace_back(val % 2 ? row.negated : row.name, optarg ? optarg : "");
    return 0;
}

std::vector<struct spank_option> make_options()
{
    std::vector<struct spank_option> options;
    const auto& table = container_option_table();
    for (size_t i = 0; i < table.size(); ++i) {
        const auto& row = table[i];
        int has_arg = row.argument ? 1 : 0;
        if (std::string(row.name) != registered_elsewhere)
            options.push_back({const_cast<char*>(row.name), const_cast<char*>(row.argument),
                               const_cast<char*>(row.help), has_arg, static_cast<int>(2 * i),
                               on_option});
        if (row.negated)
            options.push_back({const_cast<char*>(row.negated), nullptr,
                               const_cast<char*>(row.negated_help), 0, static_cast<int>(2 * i + 1),
                               on_option});
    }
    return options;
}

} // namespace

int register_container_options(spank_t sp)
{
    static std::vector<struct spank_option> options = make_options();
    for (auto& option : options)
        if (spank_option_register(sp, &option) != ESPANK_SUCCESS)
            return -1;
    return 0;
}

TypedOptions typed_container_options()
{
    TypedOptions result = typed;
    if (entrypoint_requested())
        result.emplace_back(registered_elsewhere, "");
    return result;
}

} // namespace cocoon::spank
