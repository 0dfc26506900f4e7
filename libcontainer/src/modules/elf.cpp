#include "modules/elf.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "cocoon/error.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

namespace {

constexpr size_t max_program_headers = 256;
constexpr size_t max_dynamic_entries = 4096;
constexpr size_t max_string = 4096;
constexpr size_t max_string_table = 16 << 20;
constexpr size_t max_section_headers = 4096;
constexpr size_t max_symbol_table = 16 << 20;

class ElfReader {
public:
    explicit ElfReader(const std::string& path)
        : path_(path)
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

    // The NUL-terminated string at `offset`, at most `limit` bytes; empty when there is
    // no terminator in reach.
    std::string read_bounded_string(uint64_t offset, size_t limit) const
    {
        std::string buffer(std::min(limit, max_string), '\0');
        ssize_t n = pread(fd_.get(), buffer.data(), buffer.size(), static_cast<off_t>(offset));
        if (n <= 0)
            return {};
        size_t length = strnlen(buffer.data(), static_cast<size_t>(n));
        return length == static_cast<size_t>(n) ? std::string() : buffer.substr(0, length);
    }

    void read_exact(uint64_t offset, void* buffer, size_t size) const
    {
        ssize_t n = pread(fd_.get(), buffer, size, static_cast<off_t>(offset));
        if (n != static_cast<ssize_t>(size))
            fail("{} is not a valid ELF file (truncated)", path_);
    }

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

std::vector<Elf64_Phdr> program_headers(const ElfReader& reader, const Elf64_Ehdr& header,
                                        const std::string& path)
{
    if (header.e_phnum > max_program_headers || header.e_phentsize != sizeof(Elf64_Phdr))
        fail("{} is not a valid ELF file (program headers)", path);
    std::vector<Elf64_Phdr> headers(header.e_phnum);
    for (size_t i = 0; i < headers.size(); ++i)
        reader.read_at(header.e_phoff + i * sizeof(Elf64_Phdr), headers[i]);
    return headers;
}

} // namespace

std::map<std::string, std::string> read_elf_string_symbols(const std::string& path,
                                                           const std::set<std::string>& names)
{
    ElfReader reader(path);
    std::map<std::string, std::string> values;
    Elf64_Ehdr header{};
    if (!reader.read_at(0, header, false) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
        return values;
    if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB)
        fail("{}: only 64-bit little-endian ELF files are supported", path);
    if (header.e_shnum == 0)
        return values;
    if (header.e_shnum > max_section_headers || header.e_shentsize != sizeof(Elf64_Shdr))
        fail("{} is not a valid ELF file (section headers)", path);
    auto segments = program_headers(reader, header, path);
    std::vector<Elf64_Shdr> sections(header.e_shnum);
    for (size_t i = 0; i < sections.size(); ++i)
        reader.read_at(header.e_shoff + i * sizeof(Elf64_Shdr), sections[i]);
    for (const auto& section : sections) {
        if (section.sh_type != SHT_DYNSYM)
            continue;
        if (section.sh_entsize != sizeof(Elf64_Sym) || section.sh_size > max_symbol_table ||
            section.sh_link >= sections.size())
            fail("{} is not a valid ELF file (dynamic symbol table)", path);
        const Elf64_Shdr& strings = sections[section.sh_link];
        std::vector<Elf64_Sym> symbols(section.sh_size / sizeof(Elf64_Sym));
        reader.read_exact(section.sh_offset, symbols.data(), symbols.size() * sizeof(Elf64_Sym));
        for (const auto& symbol : symbols) {
            if (symbol.st_shndx == SHN_UNDEF || ELF64_ST_TYPE(symbol.st_info) != STT_OBJECT ||
                symbol.st_name >= strings.sh_size)
                continue;
            std::string name = reader.read_bounded_string(strings.sh_offset + symbol.st_name,
                                                          strings.sh_size - symbol.st_name);
            if (!names.contains(name))
                continue;
            std::string value = reader.read_bounded_string(
                file_offset(segments, symbol.st_value, path), symbol.st_size);
            if (!value.empty())
                values[name] = value;
        }
    }
    return values;
}

ElfInfo read_elf(const std::string& path)
{
    ElfReader reader(path);
    ElfInfo info;
    Elf64_Ehdr header{};
    if (!reader.read_at(0, header, false) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
        return info;
    if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB)
        fail("{}: only 64-bit little-endian ELF files are supported", path);
    info.is_elf = true;
    std::vector<Elf64_Phdr> headers = program_headers(reader, header, path);

    const Elf64_Phdr* dynamic = nullptr;
    for (const auto& program_header : headers) {
        if (program_header.p_type == PT_INTERP)
            info.interpreter = reader.read_string(program_header.p_offset);
        else if (program_header.p_type == PT_DYNAMIC)
            dynamic = &program_header;
    }
    if (!dynamic)
        return info;
    // The dynamic section and its string table, one read each.
    size_t count = std::min<size_t>(dynamic->p_filesz / sizeof(Elf64_Dyn), max_dynamic_entries);
    std::vector<Elf64_Dyn> entries(count);
    reader.read_exact(dynamic->p_offset, entries.data(), count * sizeof(Elf64_Dyn));
    uint64_t string_address = 0;
    uint64_t string_size = 0;
    for (const auto& entry : entries) {
        if (entry.d_tag == DT_NULL)
            break;
        if (entry.d_tag == DT_STRTAB)
            string_address = entry.d_un.d_ptr;
        else if (entry.d_tag == DT_STRSZ)
            string_size = entry.d_un.d_val;
    }
    if (string_address == 0 || string_size == 0 || string_size > max_string_table)
        fail("{} is not a valid ELF file (dynamic string table)", path);
    std::string strings(string_size, '\0');
    reader.read_exact(file_offset(headers, string_address, path), strings.data(), string_size);
    auto string_at = [&](uint64_t offset) {
        if (offset >= strings.size())
            fail("{} is not a valid ELF file (bad string offset)", path);
        return std::string(strings.c_str() + offset,
                           strnlen(strings.c_str() + offset, strings.size() - offset));
    };
    std::string runpath, rpath;
    for (const auto& entry : entries) {
        if (entry.d_tag == DT_NULL)
            break;
        if (entry.d_tag == DT_NEEDED)
            info.needed.push_back(string_at(entry.d_un.d_val));
        else if (entry.d_tag == DT_RUNPATH)
            runpath = string_at(entry.d_un.d_val);
        else if (entry.d_tag == DT_RPATH)
            rpath = string_at(entry.d_un.d_val);
    }
    split_path_list(runpath.empty() ? rpath : runpath, info.search_path);
    return info;
}

} // namespace cocoon
