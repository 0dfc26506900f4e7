#include "modules/elf.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "cocoon/error.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

namespace {

constexpr size_t max_program_headers = 256;
constexpr size_t max_dynamic_entries = 4096;
constexpr size_t max_string = 4096;

class ElfReader {
public:
    explicit ElfReader(const std::string& path) : path_(path)
    {
        fd_ = UniqueFd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd_.valid())
            throw_errno(fmt::format("cannot read {}", path));
    }

    template <typename T>
    bool read_at(uint64_t offset, T& value, bool required = true) const
    {
        ssize_t n = pread(fd_.get(), &value, sizeof(T), static_cast<off_t>(offset));
        if (n == static_cast<ssize_t>(sizeof(T)))
            return true;
        if (required)
            fail("{} is not a valid ELF file (truncated)", path_);
        return false;
    }

    std::string read_string(uint64_t offset) const
    {
        char buffer[max_string];
        ssize_t n = pread(fd_.get(), buffer, sizeof(buffer), static_cast<off_t>(offset));
        if (n <= 0)
            fail("{} is not a valid ELF file (bad string offset)", path_);
        size_t length = strnlen(buffer, static_cast<size_t>(n));
        if (length == static_cast<size_t>(n))
            fail("{} is not a valid ELF file (unterminated string)", path_);
        return std::string(buffer, length);
    }

    const std::string& path() const { return path_; }

private:
    std::string path_;
    UniqueFd fd_;
};

// File offset of virtual address `address`, through the PT_LOAD segments.
uint64_t file_offset(const std::vector<Elf64_Phdr>& headers, uint64_t address,
                     const std::string& path)
{
    for (const auto& header : headers)
        if (header.p_type == PT_LOAD && address >= header.p_vaddr &&
            address < header.p_vaddr + header.p_filesz)
            return address - header.p_vaddr + header.p_offset;
    fail("{} is not a valid ELF file (address outside its segments)", path);
}

void split_path_list(const std::string& text, std::vector<std::string>& out)
{
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(':', start);
        if (end == std::string::npos)
            end = text.size();
        if (end > start)
            out.push_back(text.substr(start, end - start));
        start = end + 1;
    }
}

} // namespace

ElfInfo read_elf(const std::string& path)
{
    ElfReader reader(path);
    ElfInfo info;
    Elf64_Ehdr header {};
    if (!reader.read_at(0, header, false) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
        return info;
    if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB)
        fail("{}: only 64-bit little-endian ELF files are supported", path);
    if (header.e_phnum > max_program_headers || header.e_phentsize != sizeof(Elf64_Phdr))
        fail("{} is not a valid ELF file (program headers)", path);
    info.is_elf = true;
    std::vector<Elf64_Phdr> headers(header.e_phnum);
    for (size_t i = 0; i < headers.size(); ++i)
        reader.read_at(header.e_phoff + i * sizeof(Elf64_Phdr), headers[i]);

    const Elf64_Phdr* dynamic = nullptr;
    for (const auto& program_header : headers) {
        if (program_header.p_type == PT_INTERP)
            info.interpreter = reader.read_string(program_header.p_offset);
        else if (program_header.p_type == PT_DYNAMIC)
            dynamic = &program_header;
    }
    if (!dynamic)
        return info;
    std::vector<Elf64_Dyn> entries;
    uint64_t string_table = 0;
    for (size_t i = 0; i < max_dynamic_entries; ++i) {
        Elf64_Dyn entry {};
        reader.read_at(dynamic->p_offset + i * sizeof(Elf64_Dyn), entry);
        if (entry.d_tag == DT_NULL)
            break;
        if (entry.d_tag == DT_STRTAB)
            string_table = file_offset(headers, entry.d_un.d_ptr, path);
        entries.push_back(entry);
    }
    std::string runpath, rpath;
    for (const auto& entry : entries) {
        if (entry.d_tag != DT_NEEDED && entry.d_tag != DT_RUNPATH && entry.d_tag != DT_RPATH)
            continue;
        if (string_table == 0)
            fail("{} is not a valid ELF file (no string table)", path);
        std::string value = reader.read_string(string_table + entry.d_un.d_val);
        if (entry.d_tag == DT_NEEDED)
            info.needed.push_back(value);
        else if (entry.d_tag == DT_RUNPATH)
            runpath = value;
        else
            rpath = value;
    }
    split_path_list(runpath.empty() ? rpath : runpath, info.search_path);
    return info;
}

} // namespace cocoon
