// cocoon-squashfuse: the FUSE server for squashfs images, as `squashfuse_ll -f IMAGE
// MOUNTPOINT` is, with libsquashfuse_ll's own operations (the same code reads the image),
// and two differences: the kernel keeps what it was told, and is told more at once.
//
// squashfuse_ll answers every open, opendir and readdir itself, so on a mount whose lookups
// and attributes the kernel has long cached, every directory a walk enters still costs five
// round trips to this process, and every file a program opens again two (docs/performance.md:
// a warm walk 5x the host's). An image never changes while it is mounted, so here:
//   - where the kernel can open files and directories without asking (Linux 5.1), open and
//     opendir answer ENOSYS once: the kernel then stops sending them (and their releases),
//     keeps file pages across opens and keeps every directory listing (FOPEN_KEEP_CACHE,
//     and FOPEN_CACHE_DIR for directories, by default);
//   - elsewhere opendir asks for the same (cache_readdir, keep_cache: Linux 4.20);
//   - symbolic links' targets are kept too;
//   - an image without extended attributes says so once (below), not once per file.
// A second walk of the same tree then asks this process nothing at all, a second import of
// the same Python modules one ioctl per file (isatty, which FUSE always forwards) instead of
// an open, an ioctl and a release. And on a fresh mount, READDIRPLUS gives the kernel each
// directory's entries with their attributes in one request, where squashfuse_ll answers a
// LOOKUP per entry: a first walk costs what it costs on the kernel's own squashfs.
//
//   cocoon-squashfuse [-f] [-o OPTIONS] IMAGE MOUNTPOINT
//
// It always stays in the foreground (-f is accepted for squashfuse_ll's command line);
// OPTIONS go to libfuse (ro, for a mount of its own). cocoon passes MOUNTPOINT as
// /dev/fd/N, a /dev/fuse it has mounted already (read-only), and starts it without
// privileges (secure bits set, no capabilities); it reads the image and nothing else.
// Single-threaded, as squashfuse_ll 0.1 is: libsquashfuse's caches take no locks.
//
// It uses nothing of libstdc++ (no containers, no exceptions: built with -fno-exceptions),
// so it does not load it: a fresh mount in every step waits for this process to start,
// and libstdc++'s loading and relocations were most of that start.
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

extern "C" {
#include <squashfuse/ll.h>
}

namespace {

// Memory from malloc, freed when it goes out of scope.
struct MallocBuffer {
    explicit MallocBuffer(void* memory)
        : data(static_cast<char*>(memory))
    {}
    MallocBuffer(const MallocBuffer&) = delete;
    MallocBuffer& operator=(const MallocBuffer&) = delete;
    ~MallocBuffer() { std::free(data); }
    char* data;
};

// Whether the kernel opens directories and files itself when opendir and open answer ENOSYS
// (it says so at init, before the first request).
bool kernel_opens_directories = false;
bool kernel_opens_files = false;

void init(void*, struct fuse_conn_info* connection)
{
    kernel_opens_directories = (connection->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
    kernel_opens_files = (connection->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
    // Symbolic links alike: the kernel keeps their targets (Linux 4.20).
    if ((connection->capable & FUSE_CAP_CACHE_SYMLINKS) != 0)
        connection->want |= FUSE_CAP_CACHE_SYMLINKS;
}

// Files alike: once the kernel opens them itself it keeps their pages across opens, and a
// program that opens a file it read before (Python importing a module) asks nothing. A
// write is refused first: the mount is read-only anyway (cocoon mounts it so), and the
// kernel stops asking only at the first ENOSYS.
void open_file(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info* file)
{
    if (kernel_opens_files && (file->flags & O_ACCMODE) == O_RDONLY) {
        fuse_reply_err(request, ENOSYS);
        return;
    }
    sqfs_ll_op_open(request, inode, file);
}

void open_directory(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info* file)
{
    if (kernel_opens_directories) {
        fuse_reply_err(request, ENOSYS);
        return;
    }
    file->cache_readdir = 1;
    file->keep_cache = 1;
    sqfs_ll_op_opendir(request, inode, file);
}

using Read = void (*)(fuse_req_t, fuse_ino_t, size_t, off_t, struct fuse_file_info*);
using Release = void (*)(fuse_req_t, fuse_ino_t, struct fuse_file_info*);

// A file or directory the kernel opened without asking has no handle, and libsquashfuse's
// read and readdir take the inode from the handle its open would have made (a file's: the
// inode; a directory's: the inode with the filesystem). Made here, per request.
template <Read read_operation, bool directory>
void read_with_handle(fuse_req_t request, fuse_ino_t inode, size_t size, off_t offset,
                      struct fuse_file_info* file)
{
    if (file->fh != 0) {
        read_operation(request, inode, size, offset, file);
        return;
    }
    sqfs_ll_i found;
    if (sqfs_ll_iget(request, &found, inode) != SQFS_OK)
        return; // answered (ENOENT)
    struct fuse_file_info with_handle = *file;
    with_handle.fh =
        directory ? reinterpret_cast<uintptr_t>(&found) : reinterpret_cast<uintptr_t>(&found.inode);
    read_operation(request, inode, size, offset, &with_handle);
}

// Without a handle there is nothing to free (the kernel sends no release then anyway).
template <Release release_operation>
void release_handle(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info* file)
{
    if (file->fh != 0)
        release_operation(request, inode, file);
    else
        fuse_reply_err(request, 0);
}

// libsquashfuse's attributes of an inode, as its lookup and getattr answer them: exported by
// the library, declared in a header it does not install (stat.h).
extern "C" sqfs_err sqfs_stat(sqfs* fs, sqfs_inode* inode, struct stat* st);

// READDIRPLUS: a directory's entries with their attributes, which the kernel takes as a
// lookup of each (it asks for them when a listing is followed by lookups, as a walk's or
// Python's module search is). A first walk of a fresh mount then costs a request per
// directory rather than one more per entry. Each entry returned is registered as
// libsquashfuse's lookup registers it: the kernel forgets it the same way.
void read_directory_plus(fuse_req_t request, fuse_ino_t inode, size_t size, off_t offset,
                         struct fuse_file_info*)
{
    // The directory's inode, found here whether or not opendir made a handle.
    sqfs_ll_i directory;
    if (sqfs_ll_iget(request, &directory, inode) != SQFS_OK)
        return; // answered (ENOENT)
    sqfs_ll* filesystem = directory.ll;
    sqfs_dir listing;
    if (sqfs_dir_open(&filesystem->fs, &directory.inode, &listing, offset) != SQFS_OK) {
        fuse_reply_err(request, EINVAL);
        return;
    }
    MallocBuffer buffer(std::malloc(size));
    if (!buffer.data) {
        fuse_reply_err(request, ENOMEM);
        return;
    }
    size_t used = 0;
    sqfs_name name;
    sqfs_dir_entry entry;
    sqfs_dentry_init(&entry, name);
    sqfs_err error = SQFS_OK;
    while (sqfs_dir_next(&filesystem->fs, &listing, &entry, &error)) {
        sqfs_inode child;
        struct fuse_entry_param attributes {};
        if (sqfs_inode_get(&filesystem->fs, &child, sqfs_dentry_inode(&entry)) != SQFS_OK ||
            sqfs_stat(&filesystem->fs, &child, &attributes.attr) != SQFS_OK) {
            error = SQFS_ERR;
            break;
        }
        // The size of the entry first (nothing is written): one that does not fit is the
        // next request's first, and must not be registered now.
        size_t needed =
            fuse_add_direntry_plus(request, nullptr, 0, sqfs_dentry_name(&entry), &attributes, 0);
        if (needed > size - used)
            break;
        attributes.ino = filesystem->ino_register(filesystem, &entry);
        attributes.attr.st_ino = attributes.ino;
        attributes.attr_timeout = attributes.entry_timeout = std::numeric_limits<double>::max();
        fuse_add_direntry_plus(request, buffer.data + used, size - used, sqfs_dentry_name(&entry),
                               &attributes, sqfs_dentry_next_offset(&entry));
        used += needed;
    }
    if (error != SQFS_OK)
        fuse_reply_err(request, EIO);
    else
        fuse_reply_buf(request, buffer.data, used);
}

// `image_has_xattrs`: without any (the image has no xattr table, as most have), getxattr is
// left out: libfuse answers ENOSYS, and the kernel then answers every later one itself
// (EOPNOTSUPP). Otherwise `ls -l`, which asks for a security label of each file, costs a
// round trip per file on every walk, however warm the mount. listxattr, which only tools
// that copy attributes call, still answers (an empty list).
struct fuse_lowlevel_ops operations(bool image_has_xattrs)
{
    struct fuse_lowlevel_ops ops {};
    ops.init = init;
    ops.lookup = sqfs_ll_op_lookup;
    ops.forget = sqfs_ll_op_forget;
    ops.getattr = sqfs_ll_op_getattr;
    ops.readlink = sqfs_ll_op_readlink;
    ops.open = open_file;
    ops.read = read_with_handle<sqfs_ll_op_read, false>;
    ops.release = release_handle<sqfs_ll_op_release>;
    ops.opendir = open_directory;
    ops.readdir = read_with_handle<sqfs_ll_op_readdir, true>;
    ops.readdirplus = read_directory_plus;
    ops.releasedir = release_handle<sqfs_ll_op_releasedir>;
    ops.statfs = stfs_ll_op_statfs;
    if (image_has_xattrs)
        ops.getxattr = sqfs_ll_op_getxattr;
    ops.listxattr = sqfs_ll_op_listxattr;
    ops.create = sqfs_ll_op_create;
    return ops;
}

// libsquashfuse allocates every block it decompresses and every read's reply anew, 128 KiB
// each by default: at glibc's default thresholds each comes from a fresh mmap, or from heap
// pages glibc has just given back, and the decompressor's first write to each page is a page
// fault (32 per block). Above these thresholds freed blocks stay in the heap and are used
// again: a step on a fresh mount of the 1 MB test image starts 6 to 7 ms sooner, of a
// cached registry image 10 to 11 ms, for 0.3 MiB more resident memory after reading
// 1.2 GiB (docs/performance.md). The heap still shrinks once 16 MiB at its top are free.
void keep_freed_blocks()
{
    mallopt(M_MMAP_THRESHOLD, 2 << 20); // above the largest squashfs block (1 MiB)
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
}

} // namespace

int main(int argc, char** argv)
{
    // squashfuse_ll's command line, as far as cocoon and the benchmarks use it: -f (always
    // so here), -o OPTIONS for libfuse (ro), the image and the mount point. libfuse's
    // arguments are compacted into argv itself: each lands at or before where it was read.
    int fuse_argc = 1;
    const char* positional[2] = {};
    int positional_count = 0;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "-f") == 0)
            continue;
        if (std::strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            argv[fuse_argc++] = argv[i];
            argv[fuse_argc++] = argv[++i];
            continue;
        }
        if (positional_count < 2)
            positional[positional_count] = argv[i];
        ++positional_count;
    }
    if (positional_count != 2) {
        std::fprintf(stderr, "usage: cocoon-squashfuse [-f] [-o OPTIONS] IMAGE MOUNTPOINT\n");
        return 2;
    }
    const char* image = positional[0];
    const char* mountpoint = positional[1];
    keep_freed_blocks();
    // libsquashfuse says what is wrong with the image on stderr.
    sqfs_ll* filesystem = sqfs_ll_open(image, 0);
    if (!filesystem)
        return 1;
    argv[fuse_argc] = nullptr;
    struct fuse_args args = FUSE_ARGS_INIT(fuse_argc, argv);
    struct fuse_lowlevel_ops ops = operations(filesystem->fs.xattr_info.xattr_ids != 0);
    sqfs_ll_chan channel{};
    int status = 1;
    if (sqfs_ll_mount(&channel, mountpoint, &args, &ops, sizeof(ops), filesystem) != SQFS_OK) {
        std::fprintf(stderr, "cocoon-squashfuse: cannot serve %s on %s\n", image, mountpoint);
    } else {
        if (fuse_set_signal_handlers(channel.session) == 0) {
            status = fuse_session_loop(channel.session) == 0 ? 0 : 1;
            fuse_remove_signal_handlers(channel.session);
        }
        sqfs_ll_unmount(&channel, mountpoint);
    }
    sqfs_ll_destroy(filesystem);
    std::free(filesystem); // sqfs_ll_open's allocation
    return status;
}
