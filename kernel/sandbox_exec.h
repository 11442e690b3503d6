/*
** sandbox_exec.h - hone.sandbox.exec: run untrusted programs, in any language, in a
** process sandbox; one at a time, several in parallel, or one to talk to over its stdin
** and stdout.
**
** Lua side:
**   result = hone.sandbox.exec.run(spec)
**   results = hone.sandbox.exec.run_many(specs [, {jobs = n}])
**       Runs every spec, at most jobs (default 1) at once, and returns the results in
**       the order of specs. One poll loop over all the children's pipes; no threads.
**   proc = hone.sandbox.exec.spawn(spec)
**       Starts one program to talk to: the same spec and the same isolation as run, but
**       stdin is a pipe hone writes and stdout is read line by line. A program that could
**       not start is still a proc: receive says why, close returns the setup result.
**     proc:send(text) -> true | nil, reason
**       Writes all of text to its stdin, reading its output meanwhile; waits as long as
**       the program does not read, up to its time cap.
**     proc:receive([timeout_s]) -> line | nil, reason
**       The next line of its stdout without the "\n" (bytes as written, "\r" kept); an
**       unfinished last line comes back as a line once stdout ends. Waits at most
**       timeout_s seconds (default: until its time cap). reason is one line:
**         "no line within 2 s"                        the program goes on
**         "the process ended: exit code 1: ValueError: bad"   run's message for how it
**             ended (its last stderr line), also for "wall-clock time limit exceeded
**             (N s)" and "stdout: a line passed the line cap (N bytes)"
**         "the process closed its stdout" / "... its stdin"   and still ran a second later
**       send gives the same reasons. A line longer than `line` bytes stops the program.
**     proc:close([grace_s]) -> result
**       Closes its stdin, gives it grace_s (default 1) seconds to end by itself, then
**       kills everything still running, as the time cap does, and returns run's result:
**       kind "closed" ("still running at close: stopped") when it had to be killed;
**       stdout holds what receive had not taken. Afterwards send and receive raise and
**       close returns nothing. __close and __gc close it with no grace: no process
**       outlives its proc.
** run, run_many and spawn raise only for a bad spec (an unknown option, a wrong type, a
** bad file name), before anything starts; whatever goes wrong after that comes back as a
** result (spawn: as a reason, then a result).
**
** spec:
**   argv        non-empty list of strings; argv[1] is looked up on the program's PATH
**               unless it holds a slash                                         required
**   dir         work dir to use: created if missing, never removed. Default: a fresh
**               $TMPDIR/hone-sandbox-XXXXXX (TMPDIR defaults to /tmp), removed afterwards
**   keep        true: keep the fresh work dir and return it as result.dir
**   files       {name = "/source/path" | {text = "...", executable = bool}}: copied into
**               the work dir first. name is relative, may hold subfolders, never "." or
**               ".."; a copied file keeps its executable bits
**   readable    list of extra absolute paths shown read-only (a venv, a data set); each
**               is resolved (realpath) on the host and shown at the path given
**   env         {NAME = value | false}: set in (false: removed from) the minimal
**               environment PATH=/usr/local/bin:/usr/bin:/bin, HOME=dir, TMPDIR=dir,
**               LANG=C.UTF-8. Nothing of hone's own environment (API keys) gets in.
**   stdin       text on standard input (default: empty); spawn sends it first
**   time        wall-clock seconds (60); spawn: the program's whole life, checked whenever
**               hone waits on it (send, receive, close)
**   cpu         CPU seconds (= time)
**   memory      bytes of address space, RLIMIT_AS (2 GiB)
**   file_size   bytes per written file (256 MiB)      open_files  descriptors (256)
**   processes   processes and threads at once, the program's own included (64)
**   output      bytes kept of stdout and of stderr each (1 MiB); spawn: of stderr, its
**               last bytes (a long-lived program may talk for hours), never a stop
**   line        spawn: bytes in one line of stdout, newline excluded (16 MiB); what
**               receive has not taken is held up to that, then the program waits
**   network     true: share the host's network (default false: no network)
**   seccomp     false: no system-call filter (default true)
**   namespaces  false: no namespaces, as on a machine without them (how the tests check
**               the fallbacks)
**   raw         true: bare fork/exec with the pipes and the wall-clock cap, nothing else:
**               for comparison (make bench), never for candidates
**
** result:
**   ok          true when the program exited with code 0 and hit no cap
**   kind        nil when ok, else "exit" (a non-zero code), "signal", "timeout" (wall or
**               CPU time), "memory", "output" (a stream passed its cap), "setup" (the
**               sandbox could not be made, or argv[1] could not be run), "closed" (spawn:
**               killed at close)
**   message     one line, e.g. "exit code 1: ValueError: bad input"
**   exit_code, signal      whichever applies (signal is the number)
**   stdout, stderr, stdout_truncated, stderr_truncated
**   cpu_s, max_rss_kb      user+system CPU seconds and peak resident KiB of the program
**               and of the descendants it waited for (wait4). The kernel's peak includes
**               the memory the program shared with init (a copy of hone's) until exec, so
**               it never reads below hone's own resident memory at the time (a few MB)
**   wall_s      start to reap
**   dir         the work dir, when keep is true
**   isolation   {user, processes, filesystem, network, seccomp}: "namespace" or "on"
**               where the machine allows it, else what stood in and why, e.g.
**               "subreaper: user namespace: Operation not permitted", or "none: ...";
**               network is "host" when network = true
**
** Each run is two processes. An init process (pid 1 of new user, pid, mount, network,
** IPC and UTS namespaces) builds the filesystem view, forks the program and reaps; when
** the program ends it reports, exits, and the kernel kills whatever is left in the pid
** namespace: nothing outlives a run. The program, before exec: its own process group,
** the rlimits (core dumps off), identity uid/gid 65534 (nobody; hone's own uid when hone
** is not root), no capabilities (bounding set included), no_new_privs, then the seccomp
** filter. What it sees:
**   read-only   /usr /bin /sbin /lib /lib32 /lib64 /libx32 /etc, and `readable`
**               (each path's own mount only, not the mounts below it)
**   writable    the work dir (same absolute path as on the host); /tmp and /dev/shm,
**               private 64 MiB tmpfs each, gone with the run
**   devices     /dev/null zero full random urandom tty
**   /proc       the run's own pid namespace, read-only
**   nothing else: no /home, /root, /var, /run, /sys, /opt, /mnt, hone's folders
**   network     only its own loopback: no route out, nothing of the host's 127.0.0.1
** When hone runs as root the work dir's contents are handed to uid 65534 first.
** The seccomp filter answers EPERM to mount and namespace calls (clone with CLONE_NEW*,
** unshare, setns), ptrace and process_vm_*, bpf, perf_event_open, userfaultfd, keyrings,
** modules, kexec, reboot, swap, clocks, hostname, io_uring, kill(-1), and ENOSYS to clone3
** (libc falls back to clone); other architectures' system calls kill the program.
**
** Fallbacks, recorded in result.isolation. Without user namespaces hone as root still
** makes the other namespaces and runs the program as uid 65534; then `processes` counts
** every uid-65534 process on the machine. With no namespaces at all: no filesystem view
** (the program sees what uid 65534, or hone's uid, may see), no network namespace (the
** seccomp filter then refuses sockets other than AF_UNIX and AF_NETLINK), and the init
** process is a child subreaper that kills the program's group and every orphan it
** inherits when the program ends or is stopped. The first namespace set that works is
** remembered for the rest of the process.
**
** Stopping: at the wall-clock cap, or when a stream passes `output` (the extra bytes are
** dropped and the *_truncated flag set), hone asks init (SIGUSR1) to kill everything; init
** still reports the program's rusage. If init has not ended 2 s later it is killed.
**
** Memory: `memory` caps the address space, so an allocation fails rather than the
** machine swapping. kind is "memory" when the program died (non-zero exit or a signal)
** and the end of its stderr names an allocation failure: MemoryError, "Cannot allocate
** memory", "out of memory", "bad_alloc", "memory exhausted", "failed to allocate".
** SIGXCPU, or SIGKILL once the CPU cap is used up, is a "timeout".
*/
#ifndef HONE_SANDBOX_EXEC_H
#define HONE_SANDBOX_EXEC_H

#include <lua.h>

int hone_open_sandbox_exec(lua_State *L);

#endif
