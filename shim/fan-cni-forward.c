/*
 * fan-cni-forward: the `fan` CNI plugin executable when a fan agent runs on the host. A runtime starts one
 * plugin process per call; a Node.js process costs ~100 ms just to start, this one ~1 ms. It only forwards:
 * the CNI_* environment and stdin go to the agent (`fanctl agent`) over its unix socket, and the agent's
 * stdout, stderr and exit code become this process's. The wire format is src/agent/protocol.ts:
 *
 *   request:  "FCQ1" | u32 N | N x (u32 len, "KEY=VALUE") | u32 len, stdin
 *   response: "FCR1" | i32 exit code | u32 len, stdout | u32 len, stderr     (big-endian)
 *
 * Socket: $FAN_AGENT_SOCKET, else ${FAN_STATE_DIR:-/run/fan}/agent.sock.
 * Usage: fan-cni-forward [FALLBACK ARGV...]. When no agent accepts the connection (no socket, stale socket),
 * FALLBACK is exec'd with FAN_CNI_IN_PROCESS=1 and the untouched stdin (the Node plugin, doing the call itself);
 * without FALLBACK the call fails with CNI error 11.
 *
 * `fanctl cni install` copies this binary as the `fan` plugin and writes its settings into `fan_config` below
 * (after the marker line, in place of the zeros), so the runtime execs one small binary and no shell:
 *   FAN_STATE_DIR:=DIR      the state dir when the environment has none
 *   FALLBACK=WORD           one word of FALLBACK per line (used when argv has none) When the agent accepted the call and vanished before
 * answering, the call fails with CNI error 11 (try again later): it may have been partly done, and the next call
 * repairs it.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

struct buf {
	char *data;
	size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		char *grown = realloc(b->data, cap);
		if (!grown) {
			fputs("fan-cni-forward: out of memory\n", stderr);
			exit(1);
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static void put_u32(struct buf *b, uint32_t n)
{
	unsigned char be[4] = { n >> 24, n >> 16, n >> 8, n };
	put(b, be, 4);
}

static int read_all(int fd, struct buf *b)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		put(b, chunk, (size_t)n);
	}
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The config's cniVersion (a plain quoted string), for error documents; "1.0.0" when there is none. */
static void cni_version(const struct buf *in, char *out, size_t size)
{
	snprintf(out, size, "1.0.0");
	if (!in->data)
		return;
	const char *key = "\"cniVersion\"";
	const char *end = in->data + in->len;
	for (const char *p = in->data; p + strlen(key) < end; p++) {
		if (memcmp(p, key, strlen(key)) != 0)
			continue;
		p += strlen(key);
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':'))
			p++;
		if (p >= end || *p != '"')
			return;
		const char *start = ++p;
		while (p < end && *p != '"' && *p != '\\' && (size_t)(p - start) < size - 1)
			p++;
		if (p < end && *p == '"') {
			memcpy(out, start, (size_t)(p - start));
			out[p - start] = 0;
		}
		return;
	}
}

/* CNI error 11 on stdout (the runtime reads it), the reason on stderr; exit 1. */
static void fail(const struct buf *in, const char *reason)
{
	char version[32];
	cni_version(in, version, sizeof version);
	printf("{\"cniVersion\":\"%s\",\"code\":11,\"msg\":\"fan: ", version);
	for (const char *p = reason; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		if ((unsigned char)*p >= 0x20)
			putchar(*p);
	}
	printf("\",\"details\":\"retry the call: ADD replaces what an interrupted ADD of the same container left, "
	       "DEL is idempotent; start the agent with fanctl agent\"}\n");
	fprintf(stderr, "fan-cni: %s\n", reason);
	exit(1);
}

#define CONFIG_MARKER "@@FAN-CNI-FORWARD-CONFIG@@\n"
/* Not static, not const: the compiler must read it at run time, since install rewrites it in the file. */
char fan_config[4096] = CONFIG_MARKER;

/* [0] stands for argv[0]; the words follow. */
static char *fallback_argv[66];

/* Applies the settings install wrote; returns the number of FALLBACK words. */
static int load_config(void)
{
	int words = 0;
	char *p = fan_config + strlen(CONFIG_MARKER);
	char *end = fan_config + sizeof fan_config - 1;
	while (p < end && *p) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		*nl = 0;
		if (strncmp(p, "FAN_STATE_DIR:=", 15) == 0)
			setenv("FAN_STATE_DIR", p + 15, 0);
		else if (strncmp(p, "FALLBACK=", 9) == 0 && words < 63)
			fallback_argv[1 + words++] = p + 9;
		p = nl + 1;
	}
	fallback_argv[1 + words] = NULL;
	return words;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	int configured = load_config();
	if (argc <= 1 && configured > 0) {
		argc = configured + 1;
		fallback_argv[0] = argv[0];
		argv = fallback_argv;
	}
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *socket_env = getenv("FAN_AGENT_SOCKET");
	const char *state = getenv("FAN_STATE_DIR");
	int written = socket_env && *socket_env ? snprintf(path, sizeof path, "%s", socket_env)
						: snprintf(path, sizeof path, "%s/agent.sock", state && *state ? state : "/run/fan");
	struct buf in = { 0 };
	if (written < 0 || (size_t)written >= sizeof path)
		fail(&in, "the fan agent socket path is too long");

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		char reason[512];
		snprintf(reason, sizeof reason, "no fan agent at %s (%s)", path, strerror(errno));
		if (argc > 1) {
			setenv("FAN_CNI_IN_PROCESS", "1", 1);
			execv(argv[1], argv + 1);
			snprintf(reason, sizeof reason, "no fan agent at %s, and the in-process plugin %s cannot run (%s)", path, argv[1],
				 strerror(errno));
		}
		fail(&in, reason);
	}

	if (read_all(0, &in) != 0)
		fail(&in, "cannot read the network configuration on stdin");
	struct buf req = { 0 };
	put(&req, "FCQ1", 4);
	uint32_t count = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "CNI_", 4) == 0)
			count++;
	put_u32(&req, count);
	for (char **e = environ; *e; e++) {
		if (strncmp(*e, "CNI_", 4) != 0)
			continue;
		put_u32(&req, (uint32_t)strlen(*e));
		put(&req, *e, strlen(*e));
	}
	put_u32(&req, (uint32_t)in.len);
	if (in.len)
		put(&req, in.data, in.len);

	char reason[512];
	struct buf res = { 0 };
	if (write_all(fd, req.data, req.len) != 0 || read_all(fd, &res) != 0) {
		snprintf(reason, sizeof reason, "the connection to the fan agent at %s failed (%s)", path, strerror(errno));
		fail(&in, reason);
	}
	const unsigned char *r = (const unsigned char *)res.data;
	uint32_t out_len = 0, err_len = 0;
	int complete = res.len >= 12 && memcmp(r, "FCR1", 4) == 0;
	if (complete) {
		out_len = get_u32(r + 8);
		complete = res.len >= 12 + (size_t)out_len + 4;
	}
	if (complete) {
		err_len = get_u32(r + 12 + out_len);
		complete = res.len >= 16 + (size_t)out_len + err_len;
	}
	if (!complete) {
		snprintf(reason, sizeof reason, "the fan agent at %s closed the connection before answering (it may have stopped)", path);
		fail(&in, reason);
	}
	int code = (int)get_u32(r + 4);
	write_all(1, res.data + 12, out_len);
	write_all(2, res.data + 16 + out_len, err_len);
	return code;
}
