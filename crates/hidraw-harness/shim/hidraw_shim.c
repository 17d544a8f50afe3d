/*
 * hidraw_shim.c: an LD_PRELOAD library that makes a fake /dev/hidrawN node (a regular
 * file written by the hidraw-harness runner) behave like a Linux hidraw device whose
 * other end is the harness's software authenticator.
 *
 * Built by the runner with the system C compiler (cc -shared -fPIC ... -ldl) into
 * target/; never shipped. What it does, for a file descriptor of a fake node only:
 *
 *   open/open64/openat/...  The real open runs first, so the node's permissions decide
 *                           (EACCES as for a real node). If the file starts with the
 *                           node magic, the descriptor is swapped for a SOCK_SEQPACKET
 *                           socket connected to the key's server (one packet = one
 *                           report, the record boundaries of hidraw reads).
 *   write                   As the kernel (usbhid_output_report): a leading report-ID
 *                           byte 0 is stripped, the return value counts it; fewer than 2
 *                           bytes is EINVAL; a vanished key is ENODEV (never SIGPIPE).
 *   read                    End of stream (the key unplugged) is EIO, as hidraw_read.
 *                           poll() is not wrapped: a closed peer gives POLLHUP, as an
 *                           unplugged hidraw node does.
 *   ioctl                   HIDIOCGRDESCSIZE, HIDIOCGRDESC, HIDIOCGRAWINFO,
 *                           HIDIOCGRAWNAME, HIDIOCGRAWPHYS, HIDIOCGRAWUNIQ from the node
 *                           file; the feature/input/output report ioctls fail with EPIPE
 *                           (a FIDO key has no such reports: the USB request stalls);
 *                           other ioctls go to the socket (mostly ENOTTY).
 *   fstat/fstat64           A character device with the node's major:minor, so hidapi
 *                           finds /sys/dev/char/M:m and libfido2's S_ISCHR check passes.
 *   close/dup2/dup3         Forget the descriptor.
 *
 * Limits (documented in the crate README): descriptors copied with dup/F_DUPFD are not
 * faked; only absolute paths starting with /dev/hidraw are looked at; statx and
 * fstatat(AT_EMPTY_PATH) are not wrapped; calls made inside glibc itself (not through
 * the PLT) are not seen; HIDIOCGFEATURE and friends always fail.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define NODE_MAGIC "hidraw-harness node v1\n"
#define NODE_PREFIX "/dev/hidraw"
#define MAX_FDS 4096
#define MAX_DESCRIPTOR 4096
/* HID_MAX_BUFFER_SIZE in the kernel: longer writes are EINVAL. */
#define MAX_WRITE 16384

/* _IOC fields of the hidraw ioctls (linux/hidraw.h), matched by number so that the
 * variable-length ones (NAME, PHYS, UNIQ) match whatever length the caller passes. */
#define HID_IOC_TYPE 'H'
#define NR_GRDESCSIZE 0x01
#define NR_GRDESC 0x02
#define NR_GRAWINFO 0x03
#define NR_GRAWNAME 0x04
#define NR_GRAWPHYS 0x05
#define NR_SFEATURE 0x06
#define NR_GFEATURE 0x07
#define NR_GRAWUNIQ 0x08
#define NR_SINPUT 0x09
#define NR_GINPUT 0x0A
#define NR_SOUTPUT 0x0B
#define NR_GOUTPUT 0x0C

struct node {
    ino_t socket_ino;         /* the socket this entry belongs to (stale-fd check) */
    struct stat file;         /* the node file's stat (mode, owner, times) */
    unsigned int major, minor;
    unsigned int bus;
    uint16_t vendor, product;
    char name[128], phys[64], uniq[64];
    char socket_path[108];
    unsigned char descriptor[MAX_DESCRIPTOR];
    size_t descriptor_len;
};

/* fd -> node, or NULL. Written with atomic stores; entries are freed only on close. */
static struct node *table[MAX_FDS];

/* The next definition of `name` after this library (glibc's). */
static void *next(const char *name) {
    void *fn = dlsym(RTLD_NEXT, name);
    if (fn == NULL) {
        fprintf(stderr, "hidraw_shim: no %s after the shim\n", name);
        abort();
    }
    return fn;
}

/* Looked up once per call site; a race only looks it up twice. */
#define REAL(type, name)                                                                 \
    ({                                                                                   \
        static type cached_;                                                             \
        type fn_ = __atomic_load_n(&cached_, __ATOMIC_ACQUIRE);                          \
        if (fn_ == NULL) {                                                               \
            fn_ = (type)next(#name);                                                     \
            __atomic_store_n(&cached_, fn_, __ATOMIC_RELEASE);                           \
        }                                                                                \
        fn_;                                                                             \
    })

typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*close_fn)(int);
typedef int (*fstat_fn)(int, struct stat *);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef int (*dup2_fn)(int, int);
typedef int (*dup3_fn)(int, int, int);

static int real_fstat(int fd, struct stat *st) { return REAL(fstat_fn, fstat)(fd, st); }
static int real_close(int fd) { return REAL(close_fn, close)(fd); }

/* The entry of `fd` if it is (still) one of our sockets. */
static struct node *lookup(int fd) {
    if (fd < 0 || fd >= MAX_FDS)
        return NULL;
    struct node *node = __atomic_load_n(&table[fd], __ATOMIC_ACQUIRE);
    if (node == NULL)
        return NULL;
    struct stat st;
    if (real_fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_ino != node->socket_ino)
        return NULL; /* closed behind our back (close_range, a raw syscall): not ours */
    return node;
}

static void forget(int fd) {
    if (fd < 0 || fd >= MAX_FDS)
        return;
    struct node *old = __atomic_exchange_n(&table[fd], NULL, __ATOMIC_ACQ_REL);
    free(old);
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void copy_field(char *to, size_t size, const char *from) {
    snprintf(to, size, "%s", from);
}

/* Parses the node file: the magic line, then key=value lines. 0 on success. */
static int parse_node(char *text, struct node *node) {
    int have_socket = 0, have_dev = 0, have_info = 0;
    char *line = text + strlen(NODE_MAGIC);
    while (line != NULL && *line != '\0') {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        char *eq = strchr(line, '=');
        if (eq != NULL) {
            *eq = '\0';
            const char *key = line, *value = eq + 1;
            if (strcmp(key, "socket") == 0) {
                copy_field(node->socket_path, sizeof node->socket_path, value);
                have_socket = 1;
            } else if (strcmp(key, "dev") == 0) {
                have_dev = sscanf(value, "%u:%u", &node->major, &node->minor) == 2;
            } else if (strcmp(key, "info") == 0) {
                unsigned int vendor, product;
                have_info = sscanf(value, "%x:%x:%x", &node->bus, &vendor, &product) == 3;
                node->vendor = (uint16_t)vendor;
                node->product = (uint16_t)product;
            } else if (strcmp(key, "name") == 0) {
                copy_field(node->name, sizeof node->name, value);
            } else if (strcmp(key, "phys") == 0) {
                copy_field(node->phys, sizeof node->phys, value);
            } else if (strcmp(key, "uniq") == 0) {
                copy_field(node->uniq, sizeof node->uniq, value);
            } else if (strcmp(key, "rdesc") == 0) {
                size_t len = strlen(value) / 2;
                if (len > MAX_DESCRIPTOR)
                    return -1;
                for (size_t i = 0; i < len; i++) {
                    int hi = hex_value(value[2 * i]), lo = hex_value(value[2 * i + 1]);
                    if (hi < 0 || lo < 0)
                        return -1;
                    node->descriptor[i] = (unsigned char)(hi * 16 + lo);
                }
                node->descriptor_len = len;
            }
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return have_socket && have_dev && have_info ? 0 : -1;
}

/*
 * Called after the real open of `path` succeeded with `fd`. Returns `fd` untouched when
 * it is not a fake node, else a connected socket in its place (or -1 with errno).
 */
static int swap_for_socket(int fd, const char *path, int flags) {
    struct stat st;
    if (real_fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return fd;
    /* The caller may have opened write-only: read the node through its own descriptor. */
    int rfd = REAL(openat_fn, openat)(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (rfd < 0)
        return fd;
    char text[16384];
    ssize_t len = REAL(read_fn, read)(rfd, text, sizeof text - 1);
    real_close(rfd);
    if (len < (ssize_t)strlen(NODE_MAGIC) || memcmp(text, NODE_MAGIC, strlen(NODE_MAGIC)) != 0)
        return fd;
    text[len] = '\0';

    struct node *node = calloc(1, sizeof *node);
    if (node == NULL) {
        real_close(fd);
        errno = ENOMEM;
        return -1;
    }
    node->file = st;
    if (parse_node(text, node) != 0) {
        free(node);
        real_close(fd);
        errno = EIO;
        return -1;
    }
    int type = SOCK_SEQPACKET | ((flags & O_CLOEXEC) ? SOCK_CLOEXEC : 0);
    int sock = socket(AF_UNIX, type, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    copy_field(addr.sun_path, sizeof addr.sun_path, node->socket_path);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) {
        /* The key went away between the listing and the open: as a vanished node. */
        if (sock >= 0)
            real_close(sock);
        free(node);
        real_close(fd);
        errno = ENODEV;
        return -1;
    }
    /* Connect blocking (a full backlog would be EAGAIN), then honour O_NONBLOCK. */
    if (flags & O_NONBLOCK)
        fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
    struct stat sock_st;
    if (sock >= MAX_FDS || real_fstat(sock, &sock_st) != 0) {
        real_close(sock);
        free(node);
        real_close(fd);
        errno = EMFILE;
        return -1;
    }
    node->socket_ino = sock_st.st_ino;
    real_close(fd);
    forget(sock);
    __atomic_store_n(&table[sock], node, __ATOMIC_RELEASE);
    return sock;
}

static int is_candidate(int dirfd, const char *path) {
    (void)dirfd; /* only absolute paths, so the directory does not matter */
    return path != NULL && strncmp(path, NODE_PREFIX, strlen(NODE_PREFIX)) == 0;
}

static int open_common(int dirfd, const char *path, int flags, mode_t mode) {
    int fd = REAL(openat_fn, openat)(dirfd, path, flags, mode);
    if (fd < 0 || !is_candidate(dirfd, path))
        return fd;
    int saved = errno;
    int result = swap_for_socket(fd, path, flags);
    if (result >= 0)
        errno = saved;
    return result;
}

/* The mode argument exists only with O_CREAT or O_TMPFILE. */
#define MODE_ARG(flags, mode)                                                            \
    do {                                                                                 \
        if ((flags) & (O_CREAT | __O_TMPFILE)) {                                         \
            va_list ap;                                                                  \
            va_start(ap, flags);                                                         \
            mode = (mode_t)va_arg(ap, int);                                              \
            va_end(ap);                                                                  \
        }                                                                                \
    } while (0)

int open(const char *path, int flags, ...) {
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    return open_common(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    return open_common(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    return open_common(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    return open_common(dirfd, path, flags, mode);
}

/* _FORTIFY_SOURCE variants. */
int __open_2(const char *path, int flags) { return open_common(AT_FDCWD, path, flags, 0); }
int __open64_2(const char *path, int flags) { return open_common(AT_FDCWD, path, flags, 0); }
int __openat_2(int dirfd, const char *path, int flags) { return open_common(dirfd, path, flags, 0); }
int __openat64_2(int dirfd, const char *path, int flags) { return open_common(dirfd, path, flags, 0); }

int close(int fd) {
    forget(fd);
    return real_close(fd);
}

int dup2(int oldfd, int newfd) {
    if (oldfd != newfd)
        forget(newfd);
    return REAL(dup2_fn, dup2)(oldfd, newfd);
}

int dup3(int oldfd, int newfd, int flags) {
    forget(newfd);
    return REAL(dup3_fn, dup3)(oldfd, newfd, flags);
}

ssize_t write(int fd, const void *buf, size_t count) {
    if (lookup(fd) == NULL) {
        typedef ssize_t (*write_fn)(int, const void *, size_t);
        return REAL(write_fn, write)(fd, buf, count);
    }
    if (count < 2 || count > MAX_WRITE) {
        errno = EINVAL;
        return -1;
    }
    const unsigned char *bytes = buf;
    /* Report ID 0 means "unnumbered reports": the kernel sends what follows it. */
    size_t skip = bytes[0] == 0 ? 1 : 0;
    ssize_t sent = send(fd, bytes + skip, count - skip, MSG_NOSIGNAL);
    if (sent < 0) {
        if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
            errno = ENODEV;
        return -1;
    }
    return sent + (ssize_t)skip;
}

ssize_t read(int fd, void *buf, size_t count) {
    ssize_t got = REAL(read_fn, read)(fd, buf, count);
    if (got == 0 && count > 0 && lookup(fd) != NULL) {
        errno = EIO; /* the server closed: the key is gone */
        return -1;
    }
    return got;
}

/* Copies a string attribute as HIDIOCGRAWNAME does: at most `size` bytes with its NUL,
 * returning the count. */
static int copy_string(void *arg, size_t size, const char *value) {
    size_t len = strlen(value) + 1;
    if (len > size)
        len = size;
    memcpy(arg, value, len);
    return (int)len;
}

int ioctl(int fd, unsigned long request, ...) {
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    struct node *node = lookup(fd);
    if (node == NULL || _IOC_TYPE(request) != HID_IOC_TYPE)
        return REAL(ioctl_fn, ioctl)(fd, request, arg);
    if (arg == NULL) {
        errno = EFAULT;
        return -1;
    }
    size_t size = _IOC_SIZE(request);
    switch (_IOC_NR(request)) {
    case NR_GRDESCSIZE:
        *(int *)arg = (int)node->descriptor_len;
        return 0;
    case NR_GRDESC: {
        /* struct hidraw_report_descriptor { __u32 size; __u8 value[4096]; } */
        uint32_t want;
        memcpy(&want, arg, sizeof want);
        if (want > MAX_DESCRIPTOR - 1) {
            errno = EINVAL;
            return -1;
        }
        size_t len = want < node->descriptor_len ? want : node->descriptor_len;
        memcpy((unsigned char *)arg + sizeof want, node->descriptor, len);
        return 0;
    }
    case NR_GRAWINFO: {
        /* struct hidraw_devinfo { __u32 bustype; __s16 vendor; __s16 product; } */
        uint32_t bus = node->bus;
        memcpy(arg, &bus, 4);
        memcpy((unsigned char *)arg + 4, &node->vendor, 2);
        memcpy((unsigned char *)arg + 6, &node->product, 2);
        return 0;
    }
    case NR_GRAWNAME:
        return copy_string(arg, size, node->name);
    case NR_GRAWPHYS:
        return copy_string(arg, size, node->phys);
    case NR_GRAWUNIQ:
        return copy_string(arg, size, node->uniq);
    case NR_SFEATURE:
    case NR_GFEATURE:
    case NR_SINPUT:
    case NR_GINPUT:
    case NR_SOUTPUT:
    case NR_GOUTPUT:
        errno = EPIPE;
        return -1;
    default:
        errno = EINVAL; /* hidraw_ioctl's answer to an unknown 'H' request */
        return -1;
    }
}

static void fake_stat(const struct node *node, struct stat *st) {
    *st = node->file;
    st->st_mode = S_IFCHR | (node->file.st_mode & 07777);
    st->st_rdev = makedev(node->major, node->minor);
    st->st_size = 0;
}

int fstat(int fd, struct stat *st) {
    struct node *node = lookup(fd);
    if (node == NULL)
        return real_fstat(fd, st);
    fake_stat(node, st);
    return 0;
}

int fstat64(int fd, struct stat64 *st) {
    struct node *node = lookup(fd);
    if (node == NULL) {
        typedef int (*fstat64_fn)(int, struct stat64 *);
        return REAL(fstat64_fn, fstat64)(fd, st);
    }
    /* struct stat and struct stat64 are one layout on 64-bit Linux. */
    _Static_assert(sizeof(struct stat) == sizeof(struct stat64), "64-bit Linux only");
    fake_stat(node, (struct stat *)st);
    return 0;
}
