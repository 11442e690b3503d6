/*
** sandbox_exec.c - hone.sandbox.exec. See sandbox_exec.h.
**
** hone clones init with the namespace flags; init builds the root (a tmpfs with read-only
** binds, the work dir, /dev, /proc) and forks the program. A SOCK_SEQPACKET pair links hone
** and init: hone sends one byte once the uid/gid maps are written, and init (or the
** program, when exec fails) sends fixed-size records back. hone waits only for its own
** children, through a pidfd when the kernel has them.
**
** run and run_many are one poll loop over a batch of jobs; spawn is one job that lives in
** a userdata across calls, started the same way (start) with its stdin a pipe, and each of
** its methods waits on it with one poll round at a time (pump) over the same handlers.
**
** Between clone() and exec() the children only make system calls on data hone prepared
** before the clone: no allocation, no stdio, no locks, since hone may have threads
** (libcurl's resolver). They end with _exit, so no atexit handler (nor LeakSanitizer)
** runs there.
*/
#define _GNU_SOURCE
#include "sandbox_exec.h"
#include "interrupt.h"

#include <lauxlib.h>
#include <seccomp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <math.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MT        "hone.sandbox.exec.batch"
#define CONTEXT_MT      "hone.sandbox.exec.context"
#define PROCESS_MT      "hone.sandbox.exec.process"
#define DEFAULT_TIME    60.0
#define DEFAULT_MEMORY  2147483648.0
#define DEFAULT_FSIZE   268435456.0
#define DEFAULT_FILES   256.0
#define DEFAULT_PROCS   64.0
#define DEFAULT_OUTPUT  1048576.0
#define DEFAULT_LINE    16777216.0
#define DEFAULT_CLOSE   1.0     /* s a spawned program gets to end by itself at close */
#define DEFAULT_PATH    "/usr/local/bin:/usr/bin:/bin"
#define MAX_JOBS        256
#define STOP_GRACE      2.0     /* s init gets to report after a stop before it is killed */
#define DRAIN_GRACE     1.0     /* s to wait for EOF on the pipes once the child is reaped */
#define NOBODY          65534
#define INIT_FAILED     125
#define FD_SOCK         3       /* the socket to hone, once the children arranged their fds */
#define MESSAGE_CAP     300
#define MAX_POLL_MS     1000    /* a wait looks at the interrupt flag at least this often */

#ifndef ST_VALID
#define ST_VALID 0x0020
#endif

/* Shown read-only when they exist: what programs need to run, nothing of anyone's data. */
static const char *const system_paths[] = {
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", NULL,
};
static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty", NULL};

/* How much isolation a run gets; the context remembers the strongest level that worked. */
enum { LEVEL_USERNS, LEVEL_ROOTNS, LEVEL_NONE, LEVEL_RAW };
enum { STOP_NONE, STOP_TIME, STOP_STDOUT, STOP_STDERR, STOP_LINE, STOP_CLOSE, STOP_INTERRUPT };
/* CAP keeps the first `limit` bytes and stops the run past them (run); TAIL keeps the last
** `limit` bytes (a spawned program's stderr, which may talk for hours); LINES holds what
** receive has not taken yet, at most `limit` bytes (a spawned program's stdout). */
enum { STREAM_CAP, STREAM_TAIL, STREAM_LINES };
enum { JOB_WAITING, JOB_RUNNING, JOB_DONE };
enum { REC_PID = 1, REC_SETUP, REC_NOTE, REC_EXIT };

/* What init and the program tell hone; one record per SOCK_SEQPACKET message. */
typedef struct Record {
    int type;
    int value;              /* REC_PID: the program's pid; SETUP, NOTE: errno; EXIT: wait status */
    struct rusage ru;       /* REC_EXIT */
    char what[112];         /* REC_SETUP, REC_NOTE: the step */
} Record;

/* Everything the children need, filled by hone before the clone. */
typedef struct Plan {
    int level;
    int network;            /* 1: keep the host's network */
    const struct sock_fprog *filter;    /* NULL: none */
    int set_ids;            /* the program switches to uid/gid (root without a user namespace) */
    int init_ids;           /* init switches at once (user namespace: tmpfs needs a mapped fsuid) */
    uid_t uid;
    gid_t gid;
    const char *dir;
    const char *const *ro_src;  /* resolved host paths of `readable`, and where they show */
    const char *const *ro_dst;
    char *const *argv;
    char *const *envp;
    const char *path;       /* the program's PATH, for the lookup of argv[0] */
    rlim_t cpu, memory, file_size, open_files, processes;  /* processes: the program's */
    int fd_in, fd_out, fd_err, fd_sock;
} Plan;

typedef struct Stream {
    int fd;
    int mode;               /* STREAM_* */
    char *buf;
    size_t pos, len, alloc, limit;  /* pos: bytes already taken (LINES) */
    int truncated;
} Stream;

typedef struct Job {
    /* the spec; strings belong to the specs table, which stays on the Lua stack */
    int spec;               /* 1-based index in specs */
    char **argv;            /* owned; the strings are Lua's */
    char **envp;            /* owned, strings too */
    const char **ro_src;    /* owned, strings too */
    const char **ro_dst;    /* owned; the strings are Lua's */
    const char *stdin_text, *given_dir;
    size_t stdin_len;
    double time, cpu;
    double memory, file_size, open_files, processes, output;
    double line;            /* spawn: the longest line of stdout, in bytes */
    int network, seccomp, namespaces, raw, keep;
    int interactive;        /* spawned: stdin is a pipe hone feeds, stdout is read by line */
    int dir_env;            /* HOME (1) and TMPDIR (2) still to be set to the work dir */

    /* the run */
    int state;              /* JOB_* */
    int level;
    int filtered;           /* the program got the seccomp filter */
    char dir[PATH_MAX];
    int fresh;              /* dir was made here: remove it unless keep */
    pid_t pid;              /* init, or the program itself when raw */
    int pidfd, sock;
    int feed;               /* interactive: hone's end of the program's stdin */
    Stream out, err;
    double start, end, deadline, backstop, drain;
    int stop;               /* STOP_*: why hone asked init to end the run */
    int killed, reaped;     /* hone sent SIGKILL; hone has waited for pid */
    int wstatus;
    struct rusage ru;       /* hone's wait4 of pid */
    pid_t program;          /* as init sees it */
    int have_exit, have_setup;
    Record exit_rec, setup_rec;
    char note[128];
    char failure[MESSAGE_CAP];  /* a set-up step hone itself failed at */
} Job;

typedef struct Context {
    int level;              /* the strongest level that worked, or the one to try next */
    char level_reason[128]; /* why the stronger ones did not */
    int seccomp_state;      /* 0 not probed, 1 available, -1 not */
    char seccomp_reason[96];
    struct sock_fprog filter[2];    /* [1] also refuses sockets that could reach a network */
} Context;

typedef struct Batch {
    Context *ctx;
    Job *jobs;
    size_t n;
    struct pollfd *fds;
    size_t *owner;
} Batch;

/* A spawned program: one job that lives across calls. Its user values anchor what the job
** points into: 1 the one-spec list it was read from, 2 the context. */
typedef struct Process {
    Context *ctx;
    Job job;
    int open;               /* 0 once closed: the methods refuse */
} Process;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the children: system calls only ------------------------------------------------ */

static int join(char *buf, size_t size, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 1 > size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, a, la);
    memcpy(buf + la, b, lb + 1);
    return 0;
}

static void send_record(int fd, int type, int value, const struct rusage *ru, const char *a, const char *b) {
    Record r;
    memset(&r, 0, sizeof r);
    r.type = type;
    r.value = value;
    if (ru) r.ru = *ru;
    size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;
    if (la > sizeof r.what - 1) la = sizeof r.what - 1;
    if (lb > sizeof r.what - 1 - la) lb = sizeof r.what - 1 - la;
    if (la) memcpy(r.what, a, la);
    if (lb) memcpy(r.what + la, b, lb);
    while (send(fd, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR) {}
}

/* A set-up step failed: tell hone what and why, and end. */
static _Noreturn void die(const Plan *p, const char *what, const char *arg) {
    (void)p;
    send_record(FD_SOCK, REC_SETUP, errno, NULL, what, arg);
    _exit(INIT_FAILED);
}

static int make_dirs(const char *path) {
    char buf[PATH_MAX];
    if (join(buf, sizeof buf, path, "")) return -1;
    for (char *s = buf + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        if (!c) return 0;
        *s = c;
    }
}

/* The flags a bind remount must keep: the kernel refuses to clear them inside a user
** namespace, and atime flags count among them. */
static unsigned long kept_flags(const char *path) {
    struct statfs s;
    if (statfs(path, &s) != 0 || !(s.f_flags & ST_VALID)) return 0;
    unsigned long f = 0;
    if (s.f_flags & ST_RDONLY) f |= MS_RDONLY;
    if (s.f_flags & ST_NOEXEC) f |= MS_NOEXEC;
    if (s.f_flags & ST_NOATIME) f |= MS_NOATIME;
    if (s.f_flags & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (s.f_flags & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

/* Shows host path src (under /oldroot) at dst (under /newroot). A symlink is recreated, not
** followed: /bin -> usr/bin stays a link into the /usr bind. */
static void show(const Plan *p, const char *src_path, const char *dst_path, int rw, int optional) {
    char src[PATH_MAX], dst[PATH_MAX];
    struct stat st;
    if (join(src, sizeof src, "/oldroot", src_path) || join(dst, sizeof dst, "/newroot", dst_path))
        die(p, "bind ", dst_path);
    if (lstat(src, &st) != 0) {
        if (optional && errno == ENOENT) return;
        die(p, "bind ", dst_path);
    }
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(src, target, sizeof target - 1);
        if (n < 0) die(p, "read link ", src_path);
        target[n] = '\0';
        if (symlink(target, dst) != 0 && errno != EEXIST) die(p, "link ", dst_path);
        return;
    }
    char *slash = strrchr(dst, '/');
    *slash = '\0';
    if (make_dirs(dst) != 0) die(p, "make the folder for ", dst_path);
    *slash = '/';
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(dst, 0755) != 0 && errno != EEXIST) die(p, "make the mount point ", dst_path);
    } else {
        int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) die(p, "make the mount point ", dst_path);
        close(fd);
    }
    if (mount(src, dst, NULL, MS_BIND, NULL) != 0) die(p, "bind ", dst_path);
    if (S_ISCHR(st.st_mode)) return;    /* a device: the host's /dev mount flags are right */
    unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | kept_flags(src);
    if (!rw) flags |= MS_RDONLY;
    if (mount(NULL, dst, NULL, flags, NULL) != 0) die(p, "remount ", dst_path);
}

static void tmpfs(const Plan *p, const char *path, const char *options) {
    if (make_dirs(path) != 0) die(p, "make ", path);
    if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) die(p, "mount a tmpfs on ", path);
}

static void make_dev(const Plan *p) {
    tmpfs(p, "/newroot/dev", "mode=0755,size=65536");
    for (const char *const *d = devices; *d; d++) {
        char path[64];
        join(path, sizeof path, "/dev/", *d);
        show(p, path, path, 1, 1);
    }
    static const char *const links[][2] = {
        {"/proc/self/fd", "/newroot/dev/fd"},     {"/proc/self/fd/0", "/newroot/dev/stdin"},
        {"/proc/self/fd/1", "/newroot/dev/stdout"}, {"/proc/self/fd/2", "/newroot/dev/stderr"},
    };
    for (size_t i = 0; i < sizeof links / sizeof *links; i++)
        if (symlink(links[i][0], links[i][1]) != 0) die(p, "link ", links[i][1]);
    tmpfs(p, "/newroot/dev/shm", "mode=1777,size=67108864");
    /* init's files are the program's uid: read-only, or the program could rearrange /dev */
    if (mount(NULL, "/newroot/dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0755,size=65536") != 0)
        die(p, "remount ", "/dev");
}

/* The root the program sees, as bubblewrap builds it: a tmpfs becomes / with the host's
** root at /oldroot, binds are made from there into /newroot, the host's root is detached
** and /newroot becomes /. */
static void make_root(const Plan *p) {
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die(p, "make the mounts private", NULL);
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1048576") != 0)
        die(p, "mount the staging tmpfs", NULL);
    if (chdir("/tmp") != 0 || mkdir("newroot", 0755) != 0 || mkdir("oldroot", 0755) != 0)
        die(p, "make the staging folders", NULL);
    if (mount("newroot", "newroot", NULL, MS_BIND | MS_REC, NULL) != 0) die(p, "bind the new root", NULL);
    if (syscall(SYS_pivot_root, "/tmp", "oldroot") != 0 || chdir("/") != 0) die(p, "pivot to the staging root", NULL);

    for (const char *const *s = system_paths; *s; s++) show(p, *s, *s, 0, 1);
    /* the private /tmp first: readable paths and the work dir may live below it */
    tmpfs(p, "/newroot/tmp", "mode=1777,size=67108864");
    for (size_t i = 0; p->ro_src[i]; i++) show(p, p->ro_src[i], p->ro_dst[i], 0, 0);
    show(p, p->dir, p->dir, 1, 0);
    make_dev(p);
    if (mkdir("/newroot/proc", 0755) != 0) die(p, "make ", "/proc");
    if (mount("proc", "/newroot/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) != 0)
        send_record(FD_SOCK, REC_NOTE, errno, NULL, "no /proc", NULL);

    if (mount("oldroot", "/oldroot", NULL, MS_REC | MS_PRIVATE, NULL) != 0 || umount2("/oldroot", MNT_DETACH) != 0)
        die(p, "detach the host's root", NULL);
    if (chdir("/newroot") != 0 || syscall(SYS_pivot_root, ".", ".") != 0 || umount2(".", MNT_DETACH) != 0 ||
        chdir("/") != 0)
        die(p, "pivot to the new root", NULL);
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        die(p, "remount / read-only", NULL);
}

/* A fresh network namespace has a loopback that is down; up, the program can talk to
** itself on 127.0.0.1, still without a way out. */
static void loopback_up(const Plan *p) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) die(p, "find the loopback", NULL);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) die(p, "bring the loopback up", NULL);
    close(fd);
}

static void drop_privileges(const Plan *p) {
    for (int cap = 0; cap < 64; cap++)      /* refused unprivileged: then there is nothing to drop */
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break;    /* past the last */
    if (p->set_ids) {
        if (setgroups(0, NULL) != 0) die(p, "drop the supplementary groups", NULL);
        if (setresgid(p->gid, p->gid, p->gid) != 0 || setresuid(p->uid, p->uid, p->uid) != 0)
            die(p, "switch to uid 65534", NULL);
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &head, data) != 0) die(p, "drop the capabilities", NULL);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(p, "set no_new_privs", NULL);
}

static void set_limit(const Plan *p, int resource, rlim_t soft, rlim_t hard, const char *name) {
    struct rlimit r = {soft, hard};
    if (setrlimit(resource, &r) != 0) die(p, "set the limit on ", name);
}

/* execvpe() searches the PATH of the caller's environment; the program's is the one that counts. */
static void exec_program(const Plan *p) {
    const char *file = p->argv[0];
    if (strchr(file, '/')) {
        execve(file, p->argv, p->envp);
        return;
    }
    int err = ENOENT;
    for (const char *d = p->path; *d;) {
        const char *end = strchrnul(d, ':');
        char buf[PATH_MAX];
        size_t n = (size_t)(end - d), lf = strlen(file);
        if (n > 0 && n + 1 + lf + 1 <= sizeof buf) {
            memcpy(buf, d, n);
            buf[n] = '/';
            memcpy(buf + n + 1, file, lf + 1);
            execve(buf, p->argv, p->envp);
            if (errno == EACCES) err = EACCES;
            else if (errno != ENOENT && errno != ENOTDIR) err = errno;
        }
        d = *end ? end + 1 : end;
    }
    errno = err;
}

static _Noreturn void program(const Plan *p) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (p->level != LEVEL_RAW) {
        set_limit(p, RLIMIT_CORE, 0, 0, "core dumps");
        set_limit(p, RLIMIT_CPU, p->cpu, p->cpu + 1, "CPU time");
        set_limit(p, RLIMIT_AS, p->memory, p->memory, "memory");
        set_limit(p, RLIMIT_FSIZE, p->file_size, p->file_size, "file size");
        set_limit(p, RLIMIT_NOFILE, p->open_files, p->open_files, "open files");
        /* in a user namespace init has the program's uid, and counts */
        rlim_t nproc = p->processes + (p->level == LEVEL_USERNS);
        set_limit(p, RLIMIT_NPROC, nproc, nproc, "processes");
        drop_privileges(p);
        if (p->filter && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p->filter) != 0)
            die(p, "install the seccomp filter", NULL);
    }
    exec_program(p);
    die(p, "run ", p->argv[0]);
}

/* Gives the children stdin, stdout, stderr and the socket as 0..3, closing all else. */
static void arrange_fds(const Plan *p) {
    int from[4] = {p->fd_in, p->fd_out, p->fd_err, p->fd_sock}, high[4];
    for (int i = 0; i < 4; i++)
        if ((high[i] = fcntl(from[i], F_DUPFD, 10)) < 0) _exit(INIT_FAILED);
    for (int i = 0; i < 4; i++)
        if (dup2(high[i], i) != i) _exit(INIT_FAILED);
    fcntl(FD_SOCK, F_SETFD, FD_CLOEXEC);
    if (syscall(SYS_close_range, 4u, ~0u, 0u) != 0) {
        struct rlimit r;
        rlim_t top = getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < 65536 ? r.rlim_cur : 65536;
        for (rlim_t fd = 4; fd < top; fd++) close((int)fd);
    }
}

static pid_t fork_raw(unsigned long flags) {
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

/* Without a pid namespace init is a subreaper: everything the program left behind is
** init's child by now, or in the program's group. */
static void sweep(pid_t program) {
    kill(-program, SIGKILL);
    for (;;) {
        int fd = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            char buf[4096];
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            buf[n > 0 ? n : 0] = '\0';
            for (char *s = buf; *s;) {
                long pid = strtol(s, &s, 10);
                if (pid <= 0) break;
                kill((pid_t)-pid, SIGKILL);
                kill((pid_t)pid, SIGKILL);
            }
        }
        pid_t w = waitpid(-1, NULL, WNOHANG);
        if (w < 0 && errno == ECHILD) return;
        if (w == 0) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
    }
}

static void stop_everything(const Plan *p, pid_t program) {
    if (p->level == LEVEL_NONE) {
        kill(-program, SIGKILL);
        kill(program, SIGKILL);
    } else {
        kill(-1, SIGKILL);          /* pid 1 of the namespace: all of it but init */
    }
}

static _Noreturn void init(const Plan *p) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    for (int sig = 1; sig < NSIG; sig++) {  /* ignored signals stay ignored across exec */
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) signal(sig, SIG_DFL);
    }
    arrange_fds(p);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setsid();
    char go;
    if (recv(FD_SOCK, &go, 1, 0) != 1) _exit(INIT_FAILED);   /* hone gave up, or died */
    if (p->init_ids) {
        setgroups(0, NULL);     /* refused when hone is not root: then the groups are its own */
        if (setresgid(p->gid, p->gid, p->gid) != 0 || setresuid(p->uid, p->uid, p->uid) != 0)
            die(p, "switch to uid 65534", NULL);
    }
    if (p->level == LEVEL_NONE) {
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) die(p, "become a subreaper", NULL);
    } else {
        make_root(p);
        if (!p->network) loopback_up(p);
        sethostname("sandbox", 7);
    }
    if (chdir(p->dir) != 0) die(p, "enter the work dir ", p->dir);

    /* vfork: no copy of init's memory (a copy of hone's) to make, nor to tear down at exec;
    ** the program only makes system calls until then */
    pid_t pid = vfork();
    if (pid < 0) die(p, "fork the program", NULL);
    if (pid == 0) program(p);
    setpgid(pid, pid);
    send_record(FD_SOCK, REC_PID, pid, NULL, NULL, NULL);
    close(0);
    close(1);
    close(2);
    int stopped = 0;
    for (;;) {
        int status;
        struct rusage ru;
        pid_t w;
        while ((w = wait4(-1, &status, WNOHANG, &ru)) > 0) {
            if (w != pid) continue;
            if (p->level == LEVEL_NONE) sweep(pid);
            send_record(FD_SOCK, REC_EXIT, status, &ru, NULL, NULL);
            _exit(0);   /* in a pid namespace, the kernel now kills whatever is left */
        }
        if (w < 0 && errno != EINTR) die(p, "wait for the program", NULL);
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGUSR1 && !stopped) {
            stopped = 1;
            stop_everything(p, pid);
        }
    }
}

/* ---- hone's side: the work dir ------------------------------------------------------ */

static void failf(Job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(Job *j, const char *fmt, ...) {
    if (j->failure[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->failure, sizeof j->failure, fmt, ap);
    va_end(ap);
}

/* Removes a tree the program may have made hostile: deep, unreadable, full of links.
** Iterative with one descriptor open, so neither depth nor RLIMIT_NOFILE stops it. */
static int remove_tree(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    char **names = NULL;
    size_t depth = 0, cap = 0;
    int rc = 0;
    for (;;) {
        fchmod(fd, 0700);   /* a folder its maker made read-only */
        int dup_fd = dup(fd);
        DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
        if (!d) {
            if (dup_fd >= 0) close(dup_fd);
            rc = -1;
            break;
        }
        char *sub = NULL;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            if (unlinkat(fd, e->d_name, 0) == 0) continue;
            if (unlinkat(fd, e->d_name, AT_REMOVEDIR) == 0) continue;
            if (errno == ENOTEMPTY || errno == EEXIST || errno == EACCES || errno == EPERM) {
                sub = strdup(e->d_name);
                break;
            }
        }
        closedir(d);
        if (sub) {
            int next = openat(fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (next < 0 || (depth == cap && !(names = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names)))) {
                if (next >= 0) close(next);
                free(sub);
                rc = -1;
                break;
            }
            names[depth++] = sub;
            close(fd);
            fd = next;
            continue;
        }
        if (depth == 0) break;
        int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(fd);
        fd = up;
        char *name = names[--depth];
        int gone = fd >= 0 && unlinkat(fd, name, AT_REMOVEDIR) == 0;
        free(name);
        if (!gone) {
            rc = -1;
            break;
        }
    }
    while (depth > 0) free(names[--depth]);
    free(names);
    if (fd >= 0) close(fd);
    if (rc == 0 && rmdir(path) != 0) rc = -1;
    return rc;
}

/* A hard link may lead out of the work dir (to a file a program linked in a previous
** run, without a mount namespace): never hand such a file over. */
static int chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)flag, (void)ftw;
    if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) return 0;
    return lchown(path, NOBODY, NOBODY) != 0 ? -1 : 0;
}

static int write_all(int fd, const char *s, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Creates file name (relative, checked by bad_file_name) under the work dir, making its
** folders; never follows a symlink, as a kept or given dir may hold a previous program's.
** Returns the descriptor, or -1 with errno. */
static int create_in(const Job *j, const char *name, mode_t mode) {
    int dir = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *s = name, *slash;
    while (dir >= 0 && (slash = strchr(s, '/'))) {
        char part[256];
        size_t n = (size_t)(slash - s);
        if (n >= sizeof part) {
            close(dir);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(part, s, n);
        part[n] = '\0';
        if (mkdirat(dir, part, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            close(dir);
            errno = e;
            return -1;
        }
        int sub = openat(dir, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(dir);
        errno = e;
        dir = sub;
        s = slash + 1;
    }
    if (dir < 0) return -1;
    int fd = openat(dir, s, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    int e = errno;
    close(dir);
    errno = e;
    return fd;
}

static int copy_file(Job *j, const char *name, const char *src) {
    int in = open(src, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (in < 0 || fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = in < 0 ? errno : EINVAL;
        if (in >= 0) close(in);
        failf(j, "cannot copy '%s' from '%s': %s", name, src, e == EINVAL ? "not a regular file" : strerror(e));
        return -1;
    }
    int out = create_in(j, name, (st.st_mode & 0111) ? 0755 : 0644);
    int rc = out < 0 ? -1 : 0;
    char buf[65536];
    while (rc == 0) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = n < 0 ? -1 : 0;
            break;
        }
        rc = write_all(out, buf, (size_t)n);
    }
    int e = errno;
    close(in);
    if (out >= 0 && close(out) != 0 && rc == 0) rc = -1, e = errno;
    if (rc != 0) failf(j, "cannot copy '%s' from '%s': %s", name, src, strerror(e));
    return rc;
}

static int write_text(Job *j, const char *name, const char *text, size_t len, int executable) {
    int fd = create_in(j, name, executable ? 0755 : 0644);
    int rc = fd < 0 ? -1 : write_all(fd, text, len);
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && rc == 0) rc = -1, e = errno;
    if (rc != 0) failf(j, "cannot write '%s' in the work dir: %s", name, strerror(e));
    return rc;
}

/* Makes the work dir and copies the files in; 0, or -1 with j->failure set. */
static int prepare_dir(lua_State *L, int specs, Job *j, int chown_to_nobody) {
    if (j->given_dir) {
        if (mkdir(j->given_dir, 0755) != 0 && errno != EEXIST) {
            failf(j, "cannot make the work dir '%s': %s", j->given_dir, strerror(errno));
            return -1;
        }
        if (!realpath(j->given_dir, j->dir)) {
            failf(j, "cannot resolve the work dir '%s': %s", j->given_dir, strerror(errno));
            return -1;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        char templ[PATH_MAX];
        if (!tmp || !*tmp) tmp = "/tmp";
        if (snprintf(templ, sizeof templ, "%s/hone-sandbox-XXXXXX", tmp) >= (int)sizeof templ || !mkdtemp(templ)) {
            failf(j, "cannot make a work dir under '%s': %s", tmp, strerror(errno));
            return -1;
        }
        j->fresh = 1;
        if (!realpath(templ, j->dir)) {
            snprintf(j->dir, sizeof j->dir, "%s", templ);
            failf(j, "cannot resolve the work dir '%s': %s", templ, strerror(errno));
            return -1;
        }
        chmod(j->dir, 0755);
    }
    lua_rawgeti(L, specs, j->spec);
    lua_getfield(L, -1, "files");
    int rc = 0;
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (rc == 0 && lua_next(L, -2)) {
            const char *name = lua_tostring(L, -2);
            if (lua_type(L, -1) == LUA_TSTRING) {
                rc = copy_file(j, name, lua_tostring(L, -1));
            } else {
                size_t len;
                lua_getfield(L, -1, "text");
                const char *text = lua_tolstring(L, -1, &len);
                lua_getfield(L, -2, "executable");
                rc = write_text(j, name, text, len, lua_toboolean(L, -1));
                lua_pop(L, 2);
            }
            lua_pop(L, 1);
        }
        if (rc != 0) lua_pop(L, 1);     /* the key lua_next left */
    }
    lua_pop(L, 2);
    if (rc == 0 && chown_to_nobody && nftw(j->dir, chown_entry, 16, FTW_PHYS) != 0) {
        failf(j, "cannot hand the work dir to uid 65534: %s", strerror(errno));
        rc = -1;
    }
    return rc;
}

/* ---- hone's side: the seccomp filter ------------------------------------------------ */

static const char *const denied_calls[] = {
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "unshare", "setns", "ptrace", "process_vm_readv",
    "process_vm_writev", "pidfd_getfd", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key",
    "request_key", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "vhangup", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "iopl", "ioperm",
    "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "nfsservctl", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "fanotify_init", NULL,
};

static int add_rules(scmp_filter_ctx f, int deny_net) {
    int rc = 0;
    for (const char *const *name = denied_calls; *name; name++) {
        int nr = seccomp_syscall_resolve_name(*name);
        if (nr != __NR_SCMP_ERROR) rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    static const uint64_t ns_flags[] = {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET,
                                        CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP};
    for (size_t i = 0; i < sizeof ns_flags / sizeof *ns_flags; i++)
        rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                               SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
    int clone3 = seccomp_syscall_resolve_name("clone3");
    if (clone3 != __NR_SCMP_ERROR) rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
    rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(kill), 1,
                           SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, 0xffffffffu));
    if (deny_net)
        for (int family = 2; family < 64; family++)
            if (family != AF_NETLINK)
                rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
                                       SCMP_A0(SCMP_CMP_EQ, (uint64_t)family));
    return rc;
}

/* Compiles the filter to BPF here, so the child only hands it to the kernel. */
static int compile_filter(struct sock_fprog *prog, int deny_net) {
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    if (!f) return -1;
    seccomp_attr_set(f, SCMP_FLTATR_CTL_OPTIMIZE, 2);  /* a binary tree, not a chain of compares */
    int fd = -1, rc = -1;
    if (add_rules(f, deny_net) == 0 && (fd = memfd_create("hone-seccomp", MFD_CLOEXEC)) >= 0 &&
        seccomp_export_bpf(f, fd) == 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size % sizeof(struct sock_filter) == 0) {
            struct sock_filter *code = malloc((size_t)st.st_size);
            if (code && pread(fd, code, (size_t)st.st_size, 0) == st.st_size) {
                prog->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
                prog->filter = code;
                rc = 0;
            } else {
                free(code);
            }
        }
    }
    if (fd >= 0) close(fd);
    seccomp_release(f);
    return rc;
}

/* The filter for a run, or NULL with ctx->seccomp_reason saying why not. */
static const struct sock_fprog *filter_for(Context *ctx, int deny_net) {
    if (ctx->seccomp_state == 0) {
        ctx->seccomp_state = -1;
        unsigned int action = SECCOMP_RET_ERRNO;
        if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
            snprintf(ctx->seccomp_reason, sizeof ctx->seccomp_reason, "the kernel has no seccomp");
        else if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0)
            snprintf(ctx->seccomp_reason, sizeof ctx->seccomp_reason, "the kernel has no seccomp filters");
        else
            ctx->seccomp_state = 1;
    }
    if (ctx->seccomp_state < 0) return NULL;
    struct sock_fprog *prog = &ctx->filter[deny_net ? 1 : 0];
    if (!prog->filter && compile_filter(prog, deny_net) != 0) {
        snprintf(ctx->seccomp_reason, sizeof ctx->seccomp_reason, "libseccomp could not build the filter");
        return NULL;
    }
    return prog;
}

/* ---- hone's side: starting a run ---------------------------------------------------- */

static int write_proc(pid_t pid, const char *file, const char *text) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = write_all(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static int map_ids(pid_t pid, uid_t uid, gid_t gid) {
    char map[64];
    if (geteuid() != 0 && write_proc(pid, "setgroups", "deny") != 0) return -1;
    snprintf(map, sizeof map, "%d %u 1\n", NOBODY, (unsigned)uid);
    if (write_proc(pid, "uid_map", map) != 0) return -1;
    snprintf(map, sizeof map, "%d %u 1\n", NOBODY, (unsigned)gid);
    return write_proc(pid, "gid_map", map);
}

static unsigned long clone_flags(int level, int network) {
    unsigned long f = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
    if (!network) f |= CLONE_NEWNET;
    if (level == LEVEL_USERNS) return f | CLONE_NEWUSER;
    if (level == LEVEL_ROOTNS) return f;
    return 0;
}

/* clone() failed with a namespace flag: errors that mean "not here", not "not now". */
static int not_allowed(int e) {
    return e == EPERM || e == EINVAL || e == ENOSPC || e == EUSERS || e == EACCES || e == ENOSYS;
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}


/* Sets HOME and TMPDIR to the work dir unless the spec set them; read_env left room. */
static int fill_dir_env(Job *j) {
    size_t n = 0;
    while (j->envp[n]) n++;
    static const char *const keys[2] = {"HOME", "TMPDIR"};
    for (int k = 0; k < 2; k++) {
        if (!(j->dir_env & (1 << k))) continue;
        size_t len = strlen(keys[k]) + strlen(j->dir) + 2;
        if (!(j->envp[n] = malloc(len))) return -1;
        snprintf(j->envp[n++], len, "%s=%s", keys[k], j->dir);
    }
    return 0;
}

/* Fills the plan for job j; the level and what depends on it are set in spawn(). */
static void make_plan(const Job *j, Plan *p, int to_nobody) {
    memset(p, 0, sizeof *p);
    p->network = j->network;
    p->uid = to_nobody ? NOBODY : geteuid();
    p->gid = to_nobody ? NOBODY : getegid();
    p->dir = j->dir;
    p->ro_src = j->ro_src;
    p->ro_dst = j->ro_dst;
    p->argv = j->argv;
    p->envp = j->envp;
    p->path = DEFAULT_PATH;
    for (char **e = j->envp; *e; e++)
        if (!strncmp(*e, "PATH=", 5)) p->path = *e + 5;
    p->cpu = (rlim_t)ceil(j->cpu);
    p->memory = (rlim_t)j->memory;      /* options are at most 1e18 */
    p->file_size = (rlim_t)j->file_size;
    p->open_files = (rlim_t)j->open_files;
    p->processes = (rlim_t)j->processes;
}

/* stdin, the stdout and stderr pipes, and the socket to init. fds: in, out[2], err[2],
** sock[2]; 0 or -1 with errno. stdin is a file for run (nothing for hone to feed, no
** SIGPIPE to fear), a pipe for spawn, whose write end goes to *feed. */
static int open_stdio(const Job *j, int *fds, int *feed) {
    if (j->interactive) {
        int in[2];
        if (pipe2(in, O_CLOEXEC) != 0) return -1;
        fds[0] = in[0];
        *feed = in[1];
    } else if (j->stdin_len > 0) {
        fds[0] = memfd_create("stdin", MFD_CLOEXEC);
        if (fds[0] >= 0 && (write_all(fds[0], j->stdin_text, j->stdin_len) != 0 || lseek(fds[0], 0, SEEK_SET) != 0))
            close_fd(&fds[0]);
    } else {
        fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (fds[0] < 0 || pipe2(fds + 1, O_CLOEXEC) != 0 || pipe2(fds + 3, O_CLOEXEC) != 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds + 5) != 0)
        return -1;
    return 0;
}

/* Clones init (or, raw, the program), stepping down to weaker isolation while the machine
** refuses namespaces. Returns the pid, or -1 with j->failure set. */
static pid_t spawn(Context *ctx, Job *j, Plan *p, int to_nobody) {
    for (;;) {
        p->level = j->level;
        p->set_ids = to_nobody && (j->level == LEVEL_ROOTNS || j->level == LEVEL_NONE);
        p->init_ids = j->level == LEVEL_USERNS;
        p->filter = j->seccomp && j->level != LEVEL_RAW ? filter_for(ctx, !j->network && j->level == LEVEL_NONE) : NULL;
        unsigned long flags = clone_flags(j->level, j->network);
        pid_t pid = fork_raw(flags);
        if (pid == 0) {
            if (p->level != LEVEL_RAW) init(p);
            arrange_fds(p);
            if (chdir(p->dir) != 0) die(p, "enter the work dir ", p->dir);
            program(p);
        }
        if (pid > 0) return pid;
        int e = errno;
        if (!flags || !not_allowed(e) || j->level != ctx->level) {
            failf(j, "cannot start the sandbox: clone: %s", strerror(e));
            return -1;
        }
        char *r = ctx->level_reason;
        size_t used = strlen(r);
        snprintf(r + used, sizeof ctx->level_reason - used, "%s%s namespace: %s", used ? "; " : "",
                 j->level == LEVEL_USERNS ? "user" : "pid, mount or network", strerror(e));
        ctx->level = j->level = j->level == LEVEL_USERNS && geteuid() == 0 ? LEVEL_ROOTNS : LEVEL_NONE;
    }
}

/* Starts job j; when it cannot, j is done and j->failure says why. */
static void start(lua_State *L, int specs, Context *ctx, Job *j) {
    j->state = JOB_RUNNING;
    j->start = now();
    j->level = j->raw ? LEVEL_RAW : j->namespaces ? ctx->level : LEVEL_NONE;
    int to_nobody = geteuid() == 0 && j->level != LEVEL_RAW;
    if (prepare_dir(L, specs, j, to_nobody) != 0) {
        j->state = JOB_DONE;
        return;
    }
    if (fill_dir_env(j) != 0) {
        failf(j, "out of memory");
        j->state = JOB_DONE;
        return;
    }
    Plan p;
    make_plan(j, &p, to_nobody);
    int fds[7] = {-1, -1, -1, -1, -1, -1, -1};     /* in, out[2], err[2], sock[2] */
    int feed = -1;
    if (open_stdio(j, fds, &feed) != 0) failf(j, "cannot make the pipes: %s", strerror(errno));
    p.fd_in = fds[0];
    p.fd_out = fds[2];
    p.fd_err = fds[4];
    p.fd_sock = fds[6];
    if (!j->failure[0]) j->pid = spawn(ctx, j, &p, to_nobody);
    j->filtered = p.filter != NULL;
    for (int i = 0; i < 7; i++)     /* the children's ends; all of them on failure */
        if (i % 2 == 0 || j->pid < 0) close_fd(&fds[i]);
    if (j->pid < 0) {
        close_fd(&feed);
        j->state = JOB_DONE;
        return;
    }
    j->out.fd = fds[1];
    j->err.fd = fds[3];
    j->sock = fds[5];
    j->feed = feed;
    if (j->feed >= 0) fcntl(j->feed, F_SETFL, O_NONBLOCK);
    fcntl(j->out.fd, F_SETFL, O_NONBLOCK);
    fcntl(j->err.fd, F_SETFL, O_NONBLOCK);
    fcntl(j->sock, F_SETFL, O_NONBLOCK);
#ifdef SYS_pidfd_open
    j->pidfd = (int)syscall(SYS_pidfd_open, j->pid, 0);
#endif
    j->deadline = j->start + j->time;
    if (j->level == LEVEL_USERNS && map_ids(j->pid, p.uid, p.gid) != 0) {
        failf(j, "cannot map the sandbox's uid: %s", strerror(errno));
        kill(j->pid, SIGKILL);
        j->killed = 1;
    } else if (j->level != LEVEL_RAW) {
        send(j->sock, "g", 1, MSG_NOSIGNAL);
    }
}

/* ---- hone's side: the running batch ------------------------------------------------- */

static void stop(Job *j, int why) {
    if (j->stop || j->reaped) return;
    j->stop = why;
    j->backstop = now() + STOP_GRACE;
    if (j->level == LEVEL_RAW) {
        kill(-j->pid, SIGKILL);
        kill(j->pid, SIGKILL);
    } else {
        kill(j->pid, SIGUSR1);
    }
}

/* Grows s->buf to hold need bytes; need never passes s->limit, nor does the buffer. */
static int grow(Stream *s, size_t need) {
    if (need <= s->alloc) return 0;
    size_t want = s->alloc ? s->alloc * 2 : 4096;
    if (want < need) want = need;
    if (want > s->limit) want = s->limit;
    char *nb = realloc(s->buf, want);
    if (!nb) return -1;
    s->buf = nb;
    s->alloc = want;
    return 0;
}

/* Keeps n bytes just read from a CAP or TAIL stream. */
static void keep(Job *j, Stream *s, const char *data, size_t n, int why) {
    if (s->mode == STREAM_TAIL) {
        if (n >= s->limit) {
            s->truncated = s->truncated || n > s->limit || s->len > 0;
            data += n - s->limit;
            n = s->limit;
            s->len = 0;
        } else if (s->len + n > s->limit) {
            size_t drop = s->len + n - s->limit;
            memmove(s->buf, s->buf + drop, s->len - drop);
            s->len -= drop;
            s->truncated = 1;
        }
        if (n > 0 && grow(s, s->len + n) != 0) {
            s->truncated = 1;
            return;
        }
        if (n > 0) memcpy(s->buf + s->len, data, n);
        s->len += n;
        return;
    }
    size_t room = s->limit - s->len, kept = n < room ? n : room;
    if (kept > 0 && grow(s, s->len + kept) != 0) kept = 0;
    if (kept > 0) {
        memcpy(s->buf + s->len, data, kept);
        s->len += kept;
    }
    if (n > kept) {
        s->truncated = 1;
        stop(j, why);
    }
}

/* What a LINES stream can still take: nothing once what receive has not taken fills it,
** and then the program blocks on its writes until receive takes a line. */
static size_t room_for(const Stream *s) {
    return s->mode == STREAM_LINES ? s->limit - (s->len - s->pos) : SIZE_MAX;
}

static void read_stream(Job *j, Stream *s, int why) {
    char chunk[65536];
    for (int round = 0; round < 16 && s->fd >= 0; round++) {  /* 1 MiB, then let others run */
        char *into = chunk;
        size_t want = sizeof chunk;
        if (s->mode == STREAM_LINES) {  /* straight into the buffer, after what is left */
            if (s->pos > 0) memmove(s->buf, s->buf + s->pos, s->len - s->pos);
            s->len -= s->pos;
            s->pos = 0;
            if (room_for(s) < want) want = room_for(s);
            if (want == 0) return;
            if (grow(s, s->len + want) != 0) {
                close_fd(&s->fd);
                stop(j, why);
                return;
            }
            into = s->buf + s->len;
        }
        ssize_t n = read(s->fd, into, want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            close_fd(&s->fd);
            return;
        }
        if (s->mode == STREAM_LINES) s->len += (size_t)n;
        else keep(j, s, chunk, (size_t)n, why);
    }
}

static void read_records(Job *j) {
    while (j->sock >= 0) {
        Record r;
        ssize_t n = recv(j->sock, &r, sizeof r, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            close_fd(&j->sock);
            return;
        }
        if (n != (ssize_t)sizeof r) continue;
        r.what[sizeof r.what - 1] = '\0';
        if (r.type == REC_PID) {
            j->program = r.value;
        } else if (r.type == REC_SETUP && !j->have_setup) {
            j->have_setup = 1;
            j->setup_rec = r;
        } else if (r.type == REC_NOTE) {
            snprintf(j->note, sizeof j->note, "%s: %s", r.what, strerror(r.value));
        } else if (r.type == REC_EXIT) {
            j->have_exit = 1;
            j->exit_rec = r;
        }
    }
}

static void try_reap(Job *j) {
    if (j->reaped) return;
    siginfo_t info;
    info.si_pid = 0;
    if (waitid(P_PID, (id_t)j->pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != j->pid) return;
    /* a raw program's leftovers in its group; while it is a zombie its pid cannot be reused */
    if (j->level == LEVEL_RAW) kill(-j->pid, SIGKILL);
    if (wait4(j->pid, &j->wstatus, WNOHANG, &j->ru) != j->pid) return;
    j->reaped = 1;
    j->end = now();
    j->drain = j->end + DRAIN_GRACE;
    close_fd(&j->pidfd);
    read_records(j);
    close_fd(&j->sock);
}

static void check_timers(Job *j, double t) {
    if (!j->reaped && !j->stop && t >= j->deadline) stop(j, STOP_TIME);
    if (!j->reaped && j->stop && !j->killed && t >= j->backstop) {
        kill(j->pid, SIGKILL);
        if (j->level == LEVEL_NONE && j->program > 0 && !j->have_exit) kill(-j->program, SIGKILL);
        j->killed = 1;
    }
    if (j->reaped && t >= j->drain) {
        close_fd(&j->out.fd);
        close_fd(&j->err.fd);
    }
}

/* poll's timeout for a wake-up at wake (INFINITY: none), at most MAX_POLL_MS. */
static int poll_ms(double wake, double t) {
    if (wake <= t) return 0;
    if (wake - t >= MAX_POLL_MS / 1000.0) return MAX_POLL_MS;
    return (int)ceil((wake - t) * 1000);
}

static double next_wake(const Job *j, double t) {
    double w = !j->reaped ? (j->stop ? j->backstop : j->deadline) : j->drain;
    if (!j->reaped && j->pidfd < 0 && w > t + 0.01) w = t + 0.01;   /* no pidfd: look every 10 ms */
    return w;
}

/* ---- results ------------------------------------------------------------------------ */

/* Makes msg one line: a message goes into prompts and logs. */
static void one_line(char *msg) {
    for (char *s = msg; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = ' ';
}

/* The last non-empty line of a stream, at most cap-1 bytes, or "". */
static void last_line(const Stream *s, char *buf, size_t cap) {
    size_t end = s->len;
    while (end > 0 && (s->buf[end - 1] == '\n' || s->buf[end - 1] == '\r' || s->buf[end - 1] == ' ')) end--;
    size_t begin = end;
    while (begin > 0 && s->buf[begin - 1] != '\n') begin--;
    size_t n = end - begin < cap - 1 ? end - begin : cap - 1;
    if (n) memcpy(buf, s->buf + begin, n);
    buf[n] = '\0';
}

static int names_allocation_failure(const Stream *s) {
    static const char *const phrases[] = {"MemoryError", "Cannot allocate memory", "out of memory",
                                          "Out of memory", "bad_alloc", "memory exhausted",
                                          "failed to allocate", NULL};
    size_t from = s->len > 4096 ? s->len - 4096 : 0;
    for (const char *const *ph = phrases; *ph; ph++)
        if (s->len && memmem(s->buf + from, s->len - from, *ph, strlen(*ph))) return 1;
    return 0;
}

static void set_string(lua_State *L, const char *key, const char *value) {
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

static void push_isolation(lua_State *L, const Context *ctx, const Job *j) {
    char buf[256];
    const char *why = j->level == LEVEL_RAW ? "raw" : !j->namespaces ? "namespaces = false" : ctx->level_reason;
    lua_createtable(L, 0, 5);
    if (j->level == LEVEL_USERNS) {
        set_string(L, "user", "namespace");
    } else {
        snprintf(buf, sizeof buf, "%s: %s", geteuid() == 0 && j->level != LEVEL_RAW ? "uid 65534" : "none", why);
        set_string(L, "user", buf);
    }
    int ns = j->level == LEVEL_USERNS || j->level == LEVEL_ROOTNS;
    snprintf(buf, sizeof buf, "%s: %s", j->level == LEVEL_RAW ? "none" : "subreaper", why);
    set_string(L, "processes", ns ? "namespace" : buf);
    if (ns && j->note[0]) snprintf(buf, sizeof buf, "namespace (%s)", j->note);
    else if (ns) snprintf(buf, sizeof buf, "namespace");
    else snprintf(buf, sizeof buf, "none: %s", why);
    set_string(L, "filesystem", buf);
    int filtered = j->filtered;
    if (j->network) snprintf(buf, sizeof buf, "host");
    else if (ns) snprintf(buf, sizeof buf, "namespace");
    else snprintf(buf, sizeof buf, "%s: %s", filtered ? "seccomp" : "none", why);
    set_string(L, "network", buf);
    if (filtered) snprintf(buf, sizeof buf, "on");
    else snprintf(buf, sizeof buf, "off: %s", j->level == LEVEL_RAW ? "raw" : !j->seccomp ? "seccomp = false" : ctx->seccomp_reason);
    set_string(L, "seccomp", buf);
    lua_setfield(L, -2, "isolation");
}

static void push_stream(lua_State *L, const Stream *s, const char *name, const char *flag) {
    lua_pushlstring(L, s->buf ? s->buf + s->pos : "", s->len - s->pos);
    lua_setfield(L, -2, name);
    lua_pushboolean(L, s->truncated);
    lua_setfield(L, -2, flag);
}

/* How a finished job went: kind NULL when ok, and the one-line message. */
typedef struct Outcome {
    const char *kind;
    char msg[MESSAGE_CAP + 64];
    int code, sig;          /* code -1 and sig 0 when not known */
    double cpu_s;
    long max_rss_kb;
} Outcome;

static void judge(Job *j, Outcome *o) {
    char line[200];
    int status = 0, have_status = 0;
    const struct rusage *ru = NULL;
    memset(o, 0, sizeof *o);
    if (!j->end) j->end = now();
    if (j->failure[0]) {
        o->kind = "setup";
        snprintf(o->msg, sizeof o->msg, "setup: %s", j->failure);
    } else if (j->have_setup) {
        o->kind = "setup";
        snprintf(o->msg, sizeof o->msg, "setup: cannot %s: %s", j->setup_rec.what, strerror(j->setup_rec.value));
    } else if (j->level == LEVEL_RAW) {
        status = j->wstatus, have_status = 1, ru = &j->ru;
    } else if (j->have_exit) {
        status = j->exit_rec.value, have_status = 1, ru = &j->exit_rec.ru;
    }
    o->cpu_s = ru ? (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec * 1e-6 +
                    (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec * 1e-6 : 0;
    o->max_rss_kb = ru ? ru->ru_maxrss : 0;
    int sig = o->sig = have_status && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    int code = o->code = have_status && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (o->kind) {
        /* set up above */
    } else if (j->stop == STOP_INTERRUPT) {
        o->kind = "interrupted";
        snprintf(o->msg, sizeof o->msg, "stopped: hone was interrupted (%s)",
                 hone_interrupted() == SIGINT ? "SIGINT" : "SIGTERM");
    } else if (j->stop == STOP_TIME) {
        o->kind = "timeout";
        snprintf(o->msg, sizeof o->msg, "wall-clock time limit exceeded (%g s)", j->time);
    } else if (j->stop == STOP_LINE) {
        o->kind = "output";
        snprintf(o->msg, sizeof o->msg, "stdout: a line passed the line cap (%.0f bytes)", j->line);
    } else if (j->stop == STOP_CLOSE) {
        o->kind = "closed";
        snprintf(o->msg, sizeof o->msg, "still running at close: stopped");
    } else if (j->stop) {
        o->kind = "output";
        snprintf(o->msg, sizeof o->msg, "%s passed the output cap (%.0f bytes)",
                 j->stop == STOP_STDOUT ? "stdout" : "stderr", j->output);
    } else if (!have_status) {
        o->kind = "setup";
        snprintf(o->msg, sizeof o->msg, "setup: the sandbox's init ended without a report (status %d)", j->wstatus);
    } else if (sig == SIGXCPU || (sig == SIGKILL && j->level != LEVEL_RAW && o->cpu_s >= ceil(j->cpu))) {
        o->kind = "timeout";
        snprintf(o->msg, sizeof o->msg, "CPU time limit exceeded (%g s)", j->cpu);
    } else if ((sig || code != 0) && names_allocation_failure(&j->err)) {
        o->kind = "memory";
        last_line(&j->err, line, sizeof line);
        snprintf(o->msg, sizeof o->msg, "out of memory (address space capped at %.0f bytes): %s", j->memory, line);
    } else if (sig) {
        o->kind = "signal";
        const char *abbrev = sigabbrev_np(sig);
        if (sig == SIGXFSZ)
            snprintf(o->msg, sizeof o->msg, "killed by SIGXFSZ: a file passed the size cap (%.0f bytes)", j->file_size);
        else
            snprintf(o->msg, sizeof o->msg, "killed by signal %d (SIG%s)", sig, abbrev ? abbrev : "?");
    } else if (code != 0) {
        o->kind = "exit";
        last_line(&j->err, line, sizeof line);
        snprintf(o->msg, sizeof o->msg, "exit code %d%s%s", code, line[0] ? ": " : "", line);
    } else {
        snprintf(o->msg, sizeof o->msg, "exit code 0");
    }
    one_line(o->msg);
}

static void push_result(lua_State *L, const Context *ctx, Job *j) {
    Outcome o;
    judge(j, &o);
    lua_createtable(L, 0, 16);
    lua_pushboolean(L, o.kind == NULL);
    lua_setfield(L, -2, "ok");
    if (o.kind) {
        set_string(L, "kind", o.kind);
        set_string(L, "message", o.msg);
    }
    if (o.code >= 0) {
        lua_pushinteger(L, o.code);
        lua_setfield(L, -2, "exit_code");
    }
    if (o.sig) {
        lua_pushinteger(L, o.sig);
        lua_setfield(L, -2, "signal");
    }
    push_stream(L, &j->out, "stdout", "stdout_truncated");
    push_stream(L, &j->err, "stderr", "stderr_truncated");
    lua_pushnumber(L, o.cpu_s);
    lua_setfield(L, -2, "cpu_s");
    lua_pushinteger(L, (lua_Integer)o.max_rss_kb);
    lua_setfield(L, -2, "max_rss_kb");
    lua_pushnumber(L, j->end - j->start);
    lua_setfield(L, -2, "wall_s");
    if (j->keep && j->fresh) set_string(L, "dir", j->dir);
    push_isolation(L, ctx, j);
}

/* Frees what a job holds; kills and reaps its process first if it still runs. */
static void job_release(Job *j) {
    if (j->pid > 0 && !j->reaped) {
        kill(j->pid, SIGKILL);
        if (j->level == LEVEL_RAW) kill(-j->pid, SIGKILL);
        while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR) {}
        j->reaped = 1;
    }
    close_fd(&j->pidfd);
    close_fd(&j->sock);
    close_fd(&j->feed);
    close_fd(&j->out.fd);
    close_fd(&j->err.fd);
    free(j->out.buf);
    free(j->err.buf);
    j->out.buf = j->err.buf = NULL;
    if (j->fresh && !j->keep) remove_tree(j->dir);
    j->fresh = 0;
    if (j->envp)
        for (char **e = j->envp; *e; e++) free(*e);
    if (j->ro_src)
        for (const char **r = j->ro_src; *r; r++) free((char *)*r);
    free(j->argv);
    free(j->envp);
    free(j->ro_src);
    free(j->ro_dst);
    j->argv = j->envp = NULL;
    j->ro_src = j->ro_dst = NULL;
}

static int batch_close(lua_State *L) {
    Batch *b = luaL_checkudata(L, 1, BATCH_MT);
    for (size_t i = 0; i < b->n; i++) job_release(&b->jobs[i]);
    free(b->jobs);
    free(b->fds);
    free(b->owner);
    b->jobs = NULL;
    b->fds = NULL;
    b->owner = NULL;
    b->n = 0;
    return 0;
}

/* ---- reading a spec ----------------------------------------------------------------- */

static const char *const spec_keys[] = {
    "argv", "dir", "keep", "files", "readable", "env", "stdin", "time", "cpu", "memory", "file_size",
    "open_files", "processes", "output", "line", "network", "seccomp", "namespaces", "raw", NULL,
};

/* No descriptors yet, so that releasing a job a bad spec left half read closes nothing. */
static void job_init(Job *j) {
    memset(j, 0, sizeof *j);
    j->pid = -1;
    j->pidfd = j->sock = j->feed = j->out.fd = j->err.fd = -1;
}

static int spec_error(lua_State *L, int i, const char *fmt, const char *a) {
    return luaL_error(L, "sandbox.exec: spec %d: %s", i, lua_pushfstring(L, fmt, a));
}

static double opt_num(lua_State *L, int spec, int i, const char *key, double def, double min) {
    int t = lua_getfield(L, spec, key);
    double v = def;
    if (t != LUA_TNIL) {
        if (t != LUA_TNUMBER) spec_error(L, i, "option '%s' must be a number", key);
        v = (double)lua_tonumber(L, -1);
        if (!(v >= min) || v > 1e18) spec_error(L, i, "option '%s' is out of range", key);
    }
    lua_pop(L, 1);
    return v;
}

static int opt_bool(lua_State *L, int spec, int i, const char *key, int def) {
    int t = lua_getfield(L, spec, key);
    int v = def;
    if (t != LUA_TNIL) {
        if (t != LUA_TBOOLEAN) spec_error(L, i, "option '%s' must be a boolean", key);
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static int bad_file_name(const char *name, size_t len) {
    if (len == 0 || len > 1024 || name[0] == '/' || strlen(name) != len) return 1;
    for (const char *s = name; *s;) {
        const char *end = strchrnul(s, '/');
        size_t n = (size_t)(end - s);
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 1;
        s = *end ? end + 1 : end;
    }
    return 0;
}

static void check_files(lua_State *L, int spec, int i) {
    if (lua_getfield(L, spec, "files") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1)) spec_error(L, i, "option '%s' must be a table", "files");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        size_t len;
        if (lua_type(L, -2) != LUA_TSTRING) spec_error(L, i, "%s", "files: every name must be a string");
        const char *name = lua_tolstring(L, -2, &len);
        if (bad_file_name(name, len)) spec_error(L, i, "files: bad name '%s' (relative, no '.' or '..')", name);
        if (lua_type(L, -1) == LUA_TTABLE) {
            if (lua_getfield(L, -1, "text") != LUA_TSTRING) spec_error(L, i, "files: '%s' needs text = string", name);
            lua_pop(L, 1);
        } else if (lua_type(L, -1) != LUA_TSTRING) {
            spec_error(L, i, "files: '%s' must be a source path or {text = ...}", name);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static char *dup_env(lua_State *L, const char *k, const char *v) {
    size_t n = strlen(k) + strlen(v) + 2;
    char *s = malloc(n);
    if (!s) luaL_error(L, "sandbox.exec: out of memory");
    snprintf(s, n, "%s=%s", k, v);
    return s;
}

/* The minimal environment with the spec's changes, into j->envp (job_release frees it;
** slots stay NULL until filled, so a raise midway leaks nothing). HOME and TMPDIR name the
** work dir, not known yet: j->dir_env says which of them fill_dir_env adds at the start. */
static void read_env(lua_State *L, int spec, int i, Job *j) {
    int t = lua_getfield(L, spec, "env");
    if (t != LUA_TNIL && t != LUA_TTABLE) spec_error(L, i, "option '%s' must be a table", "env");
    size_t n = 0;
    int path = 1, lang = 1;
    j->dir_env = 3;     /* 1: HOME, 2: TMPDIR */
    if (t == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING) spec_error(L, i, "%s", "env: names must be strings");
            const char *k = lua_tostring(L, -2);
            if (!*k || strchr(k, '=')) spec_error(L, i, "env: bad name '%s'", k);
            if (lua_type(L, -1) != LUA_TSTRING && !(lua_isboolean(L, -1) && !lua_toboolean(L, -1)))
                spec_error(L, i, "env: '%s' must be a string or false", k);
            if (!strcmp(k, "PATH")) path = 0;
            if (!strcmp(k, "LANG")) lang = 0;
            if (!strcmp(k, "HOME")) j->dir_env &= ~1;
            if (!strcmp(k, "TMPDIR")) j->dir_env &= ~2;
            n++;
            lua_pop(L, 1);
        }
    }
    j->envp = calloc(n + 5, sizeof *j->envp);   /* PATH, LANG, HOME, TMPDIR, NULL */
    if (!j->envp) luaL_error(L, "sandbox.exec: out of memory");
    size_t used = 0;
    if (path) j->envp[used++] = dup_env(L, "PATH", DEFAULT_PATH);
    if (lang) j->envp[used++] = dup_env(L, "LANG", "C.UTF-8");
    if (t == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -1) == LUA_TSTRING)
                j->envp[used++] = dup_env(L, lua_tostring(L, -2), lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

static void read_spec(lua_State *L, int specs, int i, Job *j) {
    lua_rawgeti(L, specs, i);
    int spec = lua_gettop(L);
    if (!lua_istable(L, spec)) spec_error(L, i, "%s", "a spec must be a table");
    lua_pushnil(L);
    while (lua_next(L, spec)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        const char *const *known = spec_keys;
        while (*known && strcmp(*known, k)) known++;
        if (!*known) spec_error(L, i, "unknown option '%s'", k);
        lua_pop(L, 1);
    }
    j->spec = i;

    if (lua_getfield(L, spec, "argv") != LUA_TTABLE) spec_error(L, i, "%s", "argv must be a list of strings");
    size_t argc = lua_rawlen(L, -1);
    if (argc == 0) spec_error(L, i, "%s", "argv must not be empty");
    j->argv = calloc(argc + 1, sizeof *j->argv);
    if (!j->argv) luaL_error(L, "sandbox.exec: out of memory");
    for (size_t a = 0; a < argc; a++) {
        if (lua_rawgeti(L, -1, (lua_Integer)a + 1) != LUA_TSTRING) spec_error(L, i, "%s", "argv must be a list of strings");
        j->argv[a] = (char *)lua_tostring(L, -1);   /* anchored by the spec */
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    int t = lua_getfield(L, spec, "dir");
    if (t != LUA_TNIL && t != LUA_TSTRING) spec_error(L, i, "option '%s' must be a string", "dir");
    j->given_dir = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);
    t = lua_getfield(L, spec, "stdin");
    if (t != LUA_TNIL && t != LUA_TSTRING) spec_error(L, i, "option '%s' must be a string", "stdin");
    j->stdin_text = t == LUA_TSTRING ? lua_tolstring(L, -1, &j->stdin_len) : NULL;
    lua_pop(L, 1);

    j->time = opt_num(L, spec, i, "time", DEFAULT_TIME, 1e-3);
    j->cpu = opt_num(L, spec, i, "cpu", j->time, 1e-3);
    j->memory = opt_num(L, spec, i, "memory", DEFAULT_MEMORY, 1 << 20);
    j->file_size = opt_num(L, spec, i, "file_size", DEFAULT_FSIZE, 1);
    j->open_files = opt_num(L, spec, i, "open_files", DEFAULT_FILES, 8);
    j->processes = opt_num(L, spec, i, "processes", DEFAULT_PROCS, 1);
    j->output = opt_num(L, spec, i, "output", DEFAULT_OUTPUT, 0);
    j->line = opt_num(L, spec, i, "line", DEFAULT_LINE, 1);
    j->out.limit = j->err.limit = (size_t)j->output;
    j->keep = opt_bool(L, spec, i, "keep", 0);
    j->network = opt_bool(L, spec, i, "network", 0);
    j->seccomp = opt_bool(L, spec, i, "seccomp", 1);
    j->namespaces = opt_bool(L, spec, i, "namespaces", 1);
    j->raw = opt_bool(L, spec, i, "raw", 0);
    check_files(L, spec, i);

    t = lua_getfield(L, spec, "readable");
    if (t != LUA_TNIL && t != LUA_TTABLE) spec_error(L, i, "option '%s' must be a list of paths", "readable");
    size_t nr = t == LUA_TTABLE ? lua_rawlen(L, -1) : 0;
    j->ro_src = calloc(nr + 1, sizeof *j->ro_src);
    j->ro_dst = calloc(nr + 1, sizeof *j->ro_dst);
    if (!j->ro_src || !j->ro_dst) luaL_error(L, "sandbox.exec: out of memory");
    for (size_t r = 0; r < nr; r++) {
        if (lua_rawgeti(L, -1, (lua_Integer)r + 1) != LUA_TSTRING || lua_tostring(L, -1)[0] != '/')
            spec_error(L, i, "%s", "readable: every path must be absolute");
        const char *path = lua_tostring(L, -1);
        char *real = realpath(path, NULL);
        if (!real) spec_error(L, i, "readable: no such path '%s'", path);
        j->ro_src[r] = real;
        j->ro_dst[r] = path;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    read_env(L, spec, i, j);
    lua_pop(L, 1);
}

/* ---- the Lua API -------------------------------------------------------------------- */

/* fd of job j is ready. (A spawned program's stdin is its caller's business.) */
static void handle_fd(Job *j, int fd) {
    if (fd == j->out.fd) read_stream(j, &j->out, STOP_STDOUT);
    else if (fd == j->err.fd) read_stream(j, &j->err, STOP_STDERR);
    else if (fd == j->sock) read_records(j);
    else if (fd == j->pidfd) try_reap(j);
}

static void handle_events(Batch *b, size_t nfds) {
    for (size_t k = 0; k < nfds; k++)
        if (b->fds[k].revents) handle_fd(&b->jobs[b->owner[k]], b->fds[k].fd);
}

static void finish(lua_State *L, Batch *b, Job *j, int results) {
    j->state = JOB_DONE;
    push_result(L, b->ctx, j);
    lua_rawseti(L, results, j->spec);
    job_release(j);
}

static void add_fd(Batch *b, size_t *n, int fd, size_t owner) {
    if (fd < 0) return;
    b->fds[*n].fd = fd;
    b->fds[*n].events = POLLIN;
    b->fds[*n].revents = 0;
    b->owner[*n] = owner;
    (*n)++;
}

static void run_batch(lua_State *L, int specs, Batch *b, int results, size_t jobs) {
    size_t next = 0, running = 0, done = 0;
    while (done < b->n) {
        while (running < jobs && next < b->n) {
            Job *j = &b->jobs[next++];
            if (hone_interrupted()) {   /* hone is stopping: start nothing more */
                j->stop = STOP_INTERRUPT;
                j->start = j->end = now();
                finish(L, b, j, results);
                done++;
                continue;
            }
            start(L, specs, b->ctx, j);
            if (j->state == JOB_RUNNING) {
                running++;
                continue;
            }
            finish(L, b, j, results);   /* could not start: its result is the reason */
            done++;
        }
        if (running == 0) continue;     /* nothing to wait for: start more, or done */
        double t = now(), wake = INFINITY;
        size_t nfds = 0;
        for (size_t i = 0; i < b->n; i++) {
            Job *j = &b->jobs[i];
            if (j->state != JOB_RUNNING) continue;
            add_fd(b, &nfds, j->out.fd, i);
            add_fd(b, &nfds, j->err.fd, i);
            add_fd(b, &nfds, j->sock, i);
            add_fd(b, &nfds, j->pidfd, i);
            double w = next_wake(j, t);
            if (w < wake) wake = w;
        }
        int timeout = poll_ms(wake, t);
        if (poll(b->fds, nfds, timeout) > 0) handle_events(b, nfds);
        int interrupted = hone_interrupted() != 0;
        for (size_t i = 0; i < b->n; i++) {
            Job *j = &b->jobs[i];
            if (j->state != JOB_RUNNING) continue;
            if (interrupted) stop(j, STOP_INTERRUPT);
            if (j->pidfd < 0) try_reap(j);
            check_timers(j, now());
            if (!j->reaped || j->out.fd >= 0 || j->err.fd >= 0) continue;
            finish(L, b, j, results);
            running--;
            done++;
        }
    }
}

static int run_many(lua_State *L, int specs, size_t jobs) {
    Context *ctx = luaL_checkudata(L, lua_upvalueindex(1), CONTEXT_MT);
    size_t n = lua_rawlen(L, specs);
    Batch *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BATCH_MT);
    lua_toclose(L, -1);     /* on any error: kill, reap, close, remove */
    b->ctx = ctx;
    if (jobs > n) jobs = n;
    b->jobs = calloc(n ? n : 1, sizeof *b->jobs);
    b->fds = calloc(4 * (jobs ? jobs : 1), sizeof *b->fds);
    b->owner = calloc(4 * (jobs ? jobs : 1), sizeof *b->owner);
    if (!b->jobs || !b->fds || !b->owner) return luaL_error(L, "sandbox.exec: out of memory");
    for (size_t i = 0; i < n; i++) {
        b->n = i + 1;
        job_init(&b->jobs[i]);
        read_spec(L, specs, (int)i + 1, &b->jobs[i]);
    }
    lua_createtable(L, (int)n, 0);
    int results = lua_gettop(L);
    run_batch(L, specs, b, results, jobs);
    return 1;
}

static int l_run_many(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer jobs = 1;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            if (strcmp(k, "jobs")) return luaL_error(L, "sandbox.exec.run_many: unknown option '%s'", k);
            lua_pop(L, 1);
        }
        lua_getfield(L, 2, "jobs");
        if (!lua_isnil(L, -1)) {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
                return luaL_error(L, "sandbox.exec.run_many: jobs must be a positive integer");
            jobs = lua_tointeger(L, -1);
        }
        lua_pop(L, 1);
    }
    if (jobs > MAX_JOBS) jobs = MAX_JOBS;
    lua_settop(L, 1);
    return run_many(L, 1, (size_t)jobs);
}

static int l_run(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, 2, 1);
    run_many(L, 2, 1);
    lua_rawgeti(L, -1, 1);
    return 1;
}

/* ---- spawned programs --------------------------------------------------------------- */

/* The program has ended and been reaped, or never started. */
static int over(const Job *j) {
    return j->state != JOB_RUNNING || j->reaped;
}

/* One round of waiting on a spawned program: until something happens on its pipes, socket
** or pidfd, one of its timers is due (the time cap, a stop's grace, the drain) or until;
** then handles it. feeding: also wake when its stdin can take more. */
static void pump(Job *j, double until, int feeding) {
    if (j->state != JOB_RUNNING) return;
    if (hone_interrupted()) stop(j, STOP_INTERRUPT);
    int watch[5] = {room_for(&j->out) > 0 ? j->out.fd : -1, j->err.fd, j->sock, j->pidfd, feeding ? j->feed : -1};
    struct pollfd fds[5];
    nfds_t n = 0;
    for (int i = 0; i < 5; i++) {
        if (watch[i] < 0) continue;
        fds[n].fd = watch[i];
        fds[n].events = i == 4 ? POLLOUT : POLLIN;
        fds[n].revents = 0;
        n++;
    }
    double t = now(), wake = next_wake(j, t);
    if (until < wake) wake = until;
    int timeout = poll_ms(wake, t);
    if (poll(fds, n, timeout) > 0)
        for (nfds_t k = 0; k < n; k++)
            if (fds[k].revents && fds[k].fd != j->feed) handle_fd(j, fds[k].fd);
    if (j->pidfd < 0) try_reap(j);
    check_timers(j, now());
}

/* The program takes no more: waits for it to end (at most a stop's grace, or the drain
** grace when it only closed a pipe) and for the rest of its stderr, whose last line the
** message quotes; then writes into why how it ended, or `still` if it has not. */
static void ended(Job *j, char *why, size_t cap, const char *still) {
    double until = now() + (j->stop ? STOP_GRACE : DRAIN_GRACE) + DRAIN_GRACE;
    while ((!over(j) || (j->state == JOB_RUNNING && j->err.fd >= 0)) && now() < until) pump(j, until, 0);
    if (!over(j)) {
        snprintf(why, cap, "%s", still);
        return;
    }
    Outcome o;
    judge(j, &o);
    snprintf(why, cap, "the process ended: %s", o.msg);
}

/* write() without SIGPIPE, which would end hone when the program no longer reads: the
** signal is blocked in this thread for the call and a pending one is taken back. */
static ssize_t write_quietly(int fd, const char *s, size_t len) {
    sigset_t pipe_only, old;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    ssize_t n = write(fd, s, len);
    int e = errno;
    if (n < 0 && e == EPIPE && !sigismember(&old, SIGPIPE)) {
        sigset_t pending;
        struct timespec zero = {0, 0};
        if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) sigtimedwait(&pipe_only, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return n;
}

/* Writes all of s to the program's stdin, reading its output meanwhile (a program that
** writes while hone writes cannot deadlock them). 0, or -1 with why. */
static int feed_text(Job *j, const char *s, size_t len, char *why, size_t cap) {
    while (len > 0) {
        if (j->feed < 0 || over(j) || j->stop) {
            ended(j, why, cap, "the process closed its stdin");
            return -1;
        }
        ssize_t n = write_quietly(j->feed, s, len);
        if (n > 0) {
            s += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            pump(j, INFINITY, 1);
        } else if (!(n < 0 && errno == EINTR)) {
            close_fd(&j->feed);     /* EPIPE: nothing reads it any more */
        }
    }
    return 0;
}

/* A LINES stream becomes a TAIL of `limit` bytes: at close nobody takes lines any more,
** and the program must not block on a full buffer. */
static void to_tail(Stream *s, size_t limit) {
    if (s->mode != STREAM_LINES) return;
    if (s->pos > 0) memmove(s->buf, s->buf + s->pos, s->len - s->pos);
    s->len -= s->pos;
    s->pos = 0;
    if (s->len > limit) {
        memmove(s->buf, s->buf + s->len - limit, limit);
        s->len = limit;
        s->truncated = 1;
    }
    s->mode = STREAM_TAIL;
    s->limit = limit;
}

/* Ends a spawned program: EOF on its stdin, grace seconds to end by itself, then the stop
** of a run's time cap (everything killed); then the rest of its output. */
static void wind_up(Job *j, double grace) {
    close_fd(&j->feed);
    to_tail(&j->out, (size_t)j->output);
    double until = now() + grace;
    while (!over(j) && now() < until) pump(j, until, 0);
    if (!over(j)) stop(j, STOP_CLOSE);
    while (j->state == JOB_RUNNING && (!j->reaped || j->out.fd >= 0 || j->err.fd >= 0)) pump(j, INFINITY, 0);
}

static Process *check_open(lua_State *L) {
    Process *p = luaL_checkudata(L, 1, PROCESS_MT);
    if (!p->open) luaL_error(L, "sandbox.exec: the process is closed");
    return p;
}

static int l_send(lua_State *L) {
    Process *p = check_open(L);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    char why[MESSAGE_CAP + 128];
    if (feed_text(&p->job, text, len, why, sizeof why) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_receive(lua_State *L) {
    Process *p = check_open(L);
    Job *j = &p->job;
    Stream *s = &j->out;
    double wait = luaL_optnumber(L, 2, INFINITY);
    luaL_argcheck(L, wait >= 0, 2, "the timeout must be a number of seconds");
    double until = now() + wait;
    char why[MESSAGE_CAP + 128];
    for (;;) {
        size_t have = s->len - s->pos;
        const char *nl = have ? memchr(s->buf + s->pos, '\n', have) : NULL;
        if (nl || (have && s->fd < 0)) {    /* a line, or what the program left unfinished */
            size_t n = nl ? (size_t)(nl - (s->buf + s->pos)) : have;
            lua_pushlstring(L, s->buf + s->pos, n);
            s->pos += n + (nl != NULL);
            return 1;
        }
        if (have >= s->limit) stop(j, STOP_LINE);
        if (s->fd < 0 || j->stop) {
            ended(j, why, sizeof why, "the process closed its stdout");
            break;
        }
        if (now() >= until) {
            snprintf(why, sizeof why, "no line within %g s", wait);
            break;
        }
        pump(j, until, 0);
    }
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
}

static int l_close(lua_State *L) {
    Process *p = luaL_checkudata(L, 1, PROCESS_MT);
    double grace = luaL_optnumber(L, 2, DEFAULT_CLOSE);
    luaL_argcheck(L, grace >= 0, 2, "the grace must be a number of seconds");
    if (!p->open) return 0;
    wind_up(&p->job, grace);
    p->job.state = JOB_DONE;
    push_result(L, p->ctx, &p->job);
    job_release(&p->job);
    p->open = 0;
    return 1;
}

/* __gc and __close: nothing a spawned program started outlives its handle. */
static int process_gc(lua_State *L) {
    Process *p = luaL_checkudata(L, 1, PROCESS_MT);
    if (!p->open) return 0;
    wind_up(&p->job, 0);
    job_release(&p->job);
    p->open = 0;
    return 0;
}

static int process_tostring(lua_State *L) {
    Process *p = luaL_checkudata(L, 1, PROCESS_MT);
    lua_pushfstring(L, "sandbox.exec process %s (%s)", p->job.argv ? p->job.argv[0] : "?",
                    !p->open ? "closed" : over(&p->job) ? "ended" : "running");
    return 1;
}

static int l_spawn(lua_State *L) {
    Context *ctx = luaL_checkudata(L, lua_upvalueindex(1), CONTEXT_MT);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_createtable(L, 1, 0);       /* 2: a list of the one spec, as run_many reads them */
    lua_pushvalue(L, 1);
    lua_rawseti(L, 2, 1);
    Process *p = lua_newuserdatauv(L, sizeof *p, 2);
    job_init(&p->job);
    p->ctx = ctx;
    p->open = 1;
    luaL_setmetatable(L, PROCESS_MT);   /* from here a raise frees what the job holds */
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 3, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setiuservalue(L, 3, 2);
    Job *j = &p->job;
    j->interactive = 1;
    read_spec(L, 2, 1, j);
    j->out.mode = STREAM_LINES;
    j->out.limit = (size_t)j->line + 1;     /* a line and its newline */
    j->err.mode = STREAM_TAIL;
    start(L, 2, ctx, j);
    char why[MESSAGE_CAP + 128];
    if (j->state == JOB_RUNNING && j->stdin_len > 0) feed_text(j, j->stdin_text, j->stdin_len, why, sizeof why);
    lua_settop(L, 3);
    return 1;
}

static int context_gc(lua_State *L) {
    Context *ctx = luaL_checkudata(L, 1, CONTEXT_MT);
    for (int i = 0; i < 2; i++) {
        free(ctx->filter[i].filter);
        ctx->filter[i].filter = NULL;
    }
    return 0;
}

int hone_open_sandbox_exec(lua_State *L) {
    static const luaL_Reg process_methods[] = {
        {"send", l_send},
        {"receive", l_receive},
        {"close", l_close},
        {NULL, NULL},
    };
    if (luaL_newmetatable(L, PROCESS_MT)) {
        luaL_newlib(L, process_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, process_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, process_gc);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, process_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, BATCH_MT)) {
        lua_pushcfunction(L, batch_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, batch_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, CONTEXT_MT)) {
        lua_pushcfunction(L, context_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 3);
    Context *ctx = lua_newuserdatauv(L, sizeof *ctx, 0);
    memset(ctx, 0, sizeof *ctx);
    ctx->level = LEVEL_USERNS;
    luaL_setmetatable(L, CONTEXT_MT);
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, l_run, 1);
    lua_setfield(L, -3, "run");
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, l_spawn, 1);
    lua_setfield(L, -3, "spawn");
    lua_pushcclosure(L, l_run_many, 1);
    lua_setfield(L, -2, "run_many");
    return 1;
}
