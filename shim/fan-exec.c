/*
 * fan-exec: runs the kernel tools (ip, nft, tc, bpftool, ...) on behalf of a fan Node.js process.
 *
 * Why: Node.js starts a child with fork(), which copies the page tables of the whole process and blocks its only
 * thread meanwhile: 3-5 ms per child for the agent (80-100 MB resident) on a small host, several times what the
 * tool itself costs, and nothing else runs during it. This process is small, and posix_spawn() here uses a
 * vfork-style clone, so a child costs a fraction of a millisecond and the Node.js process never blocks.
 *
 * Protocol (src/kernel/exec-helper.ts), on stdin and stdout, little-endian u32 fields:
 *   request:  u32 size | u32 id | u32 timeout ms (0: none) | u32 argc | argc x NUL-terminated | u32 n, stdin
 *   response: u32 size | u32 id | u32 status | i32 value | u32 n, stdout | u32 n, stderr
 *             status 0: exited with code `value`; 1: killed by signal `value`; 2: timed out (killed);
 *             3: could not start, errno `value`
 * `size` counts the bytes after itself. Requests are served concurrently; responses come in completion order.
 * stdin, stdout and stderr of each child are memory files, so no pipe is ever multiplexed. The child gets this
 * process's environment and working directory, default signal handling and an empty signal mask.
 *
 * This process exits when its stdin closes or its parent dies; children still running are left to finish.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_FRAME (256u << 20)

struct job {
	struct job *next;
	pid_t pid;
	uint32_t id;
	int out, err;
	int64_t deadline; /* ms on the monotonic clock, 0: none */
	int timed_out;
};

static struct job *jobs;

static void die(const char *what)
{
	fprintf(stderr, "fan-exec: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_all(const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			exit(0); /* the parent is gone */
		p += n;
		len -= (size_t)n;
	}
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* The whole content of memory file `fd`, in a malloc'd buffer; closes it. */
static char *slurp(int fd, uint32_t *len)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char *data = malloc(size > 0 ? (size_t)size : 1);
	if (!data)
		die("malloc");
	*len = 0;
	if (size > 0 && pread(fd, data, (size_t)size, 0) == size)
		*len = (uint32_t)size;
	close(fd);
	return data;
}

static void respond(uint32_t id, uint32_t status, int32_t value, int out, int err)
{
	uint32_t out_len = 0, err_len = 0;
	char *out_data = out >= 0 ? slurp(out, &out_len) : NULL;
	char *err_data = err >= 0 ? slurp(err, &err_len) : NULL;
	unsigned char head[24];
	put32(head, 16 + out_len + 4 + err_len);
	put32(head + 4, id);
	put32(head + 8, status);
	put32(head + 12, (uint32_t)value);
	put32(head + 16, out_len);
	write_all(head, 20);
	write_all(out_data ? out_data : "", out_len);
	put32(head, err_len);
	write_all(head, 4);
	write_all(err_data ? err_data : "", err_len);
	free(out_data);
	free(err_data);
}

static int memory_file(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		die("memfd_create");
	return fd;
}

/* Starts the command of one request frame (after its size field). */
static void start(const unsigned char *frame, uint32_t size)
{
	if (size < 16)
		die("short request");
	uint32_t id = get32(frame), timeout = get32(frame + 4), argc = get32(frame + 8);
	const unsigned char *p = frame + 12, *end = frame + size;
	if (argc == 0 || argc > 65536)
		die("bad argument count");
	char **argv = calloc(argc + 1, sizeof(char *));
	if (!argv)
		die("calloc");
	for (uint32_t i = 0; i < argc; i++) {
		const unsigned char *nul = memchr(p, 0, (size_t)(end - p));
		if (!nul)
			die("unterminated argument");
		argv[i] = (char *)p;
		p = nul + 1;
	}
	if (end - p < 4 || (uint32_t)(end - p - 4) < get32(p))
		die("bad stdin length");
	uint32_t in_len = get32(p);
	int in = memory_file("stdin"), out = memory_file("stdout"), err = memory_file("stderr");
	if (in_len > 0 && pwrite(in, p + 4, in_len, 0) != (ssize_t)in_len)
		die("write stdin");

	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, in, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&actions, err, STDERR_FILENO);
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	int failed = posix_spawnp(&pid, argv[0], &actions, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	posix_spawnattr_destroy(&attr);
	free(argv);
	close(in);
	if (failed) {
		close(out);
		close(err);
		respond(id, 3, failed, -1, -1);
		return;
	}
	struct job *job = calloc(1, sizeof(*job));
	if (!job)
		die("calloc");
	*job = (struct job){ jobs, pid, id, out, err, timeout ? now_ms() + timeout : 0, 0 };
	jobs = job;
}

static void reap(void)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		for (struct job **at = &jobs; *at; at = &(*at)->next) {
			struct job *job = *at;
			if (job->pid != pid)
				continue;
			*at = job->next;
			if (job->timed_out)
				respond(job->id, 2, 0, job->out, job->err);
			else if (WIFSIGNALED(status))
				respond(job->id, 1, WTERMSIG(status), job->out, job->err);
			else
				respond(job->id, 0, WEXITSTATUS(status), job->out, job->err);
			free(job);
			break;
		}
	}
}

/* Kills the children past their deadline; returns the poll timeout until the next one (-1: none). */
static int expire(void)
{
	int64_t now = now_ms(), next = -1;
	for (struct job *job = jobs; job; job = job->next) {
		if (!job->deadline || job->timed_out)
			continue;
		if (job->deadline <= now) {
			job->timed_out = 1;
			kill(job->pid, SIGKILL);
		} else if (next < 0 || job->deadline - now < next) {
			next = job->deadline - now;
		}
	}
	return next < 0 ? -1 : (int)(next > 60000 ? 60000 : next);
}

int main(void)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		die("prctl");
	if (getppid() == 1)
		return 0; /* the parent died before the line above */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0)
		die("sigprocmask");
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("signalfd");
	signal(SIGPIPE, SIG_IGN);

	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		struct pollfd fds[2] = { { STDIN_FILENO, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		if (poll(fds, 2, expire()) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo info;
			while (read(sfd, &info, sizeof(info)) == sizeof(info))
				;
			reap();
		}
		if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 131072;
			buf = realloc(buf, cap);
			if (!buf)
				die("realloc");
		}
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return 0; /* stdin closed: the parent is done */
		len += (size_t)n;
		size_t at = 0;
		while (len - at >= 4) {
			uint32_t size = get32(buf + at);
			if (size > MAX_FRAME)
				die("request too large");
			if (len - at - 4 < size) {
				while (cap < size + 4) {
					cap *= 2;
					buf = realloc(buf, cap);
					if (!buf)
						die("realloc");
				}
				break;
			}
			start(buf + at + 4, size);
			at += 4 + (size_t)size;
		}
		memmove(buf, buf + at, len - at);
		len -= at;
	}
}
