// A directory of one's own for a test, under $TMPDIR (or /tmp), removed with everything
// in it when the object goes: no test leaves files behind, whether it passes or not.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace cocoon::test {

class TempDir {
public:
    // NAME starts the directory's name; MODE is its mode (mkdtemp makes it 0700).
    explicit TempDir(const std::string& name = "cocoon-test", mode_t mode = 0700)
    {
        std::string pattern = std::filesystem::temp_directory_path() / (name + ".XXXXXX");
        if (!mkdtemp(pattern.data()))
            throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
        path_ = pattern;
        if (mode != 0700 && chmod(path_.c_str(), mode) != 0)
            throw std::runtime_error("chmod " + path_ + ": " + std::strerror(errno));
    }
    ~TempDir()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }

    // Writes CONTENT to RELATIVE (below the directory even with a leading '/', parents
    // created); returns its path.
    std::string file(const std::string& relative, const std::string& content = "") const
    {
        std::filesystem::path full =
            std::filesystem::path(path_) / relative.substr(relative.find_first_not_of('/'));
        std::filesystem::create_directories(full.parent_path());
        std::ofstream(full) << content;
        return full;
    }

private:
    std::string path_;
};

} // namespace cocoon::test
