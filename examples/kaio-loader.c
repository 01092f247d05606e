/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kaio-loader - load generator for kaio-fileserver.  One thread, one
 * epoll loop, --connections sockets to 127.0.0.1 with --depth requests
 * outstanding on each.  Checks every READ payload against the pattern of
 * kaio-proto.h (WRITEs carry that pattern, so later READs check them),
 * counts errors, and reports throughput and latency percentiles.
 *
 * Last line of stdout: "result key=value ..." for scripts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kaio-proto.h"

struct pending {
	uint64_t id;
	double t0;
	uint8_t op;
	uint32_t file, len;
	uint64_t off;
};

struct lconn {
	int fd;
	char *out;
	size_t outoff, outlen, outcap;
	char *in;
	size_t inlen, incap;
	struct pending *pend;	/* depth slots */
	int npend;
	int want_out;
};

struct lat {
	double *v;
	size_t n, cap;
};

static int port, nconn = 4, depth = 8, hot, seed = 1, verbose;
static double duration = 5, warmup = 0;
static unsigned bs_min = 4096, bs_max = 65536;
static int mix[6] = { 0, 90, 5, 1, 4, 0 };	/* by KP_ op */
static int mix_total;
static int server_pid;
static const char *label = "";

static struct kp_info info;
static uint64_t next_id = 1;
static uint64_t rng;
static int ep;

static struct {
	unsigned long done, by_op[6], errors, verify_errors, status_errors,
		proto_errors, timeouts, bytes;
} cnt;
static struct lat lat_all, lat_ping;
static int measuring;

static void die(const char *what)
{
	fprintf(stderr, "kaio-loader: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void lat_add(struct lat *l, double us)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 65536;
		l->v = realloc(l->v, l->cap * sizeof(double));
		if (!l->v)
			die("realloc");
	}
	l->v[l->n++] = us;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(struct lat *l, double p)
{
	size_t i;

	if (!l->n)
		return 0;
	i = (size_t)(p / 100.0 * l->n);
	if (i >= l->n)
		i = l->n - 1;
	return l->v[i];
}

/* /proc/PID/stat utime+stime+cutime+cstime, plus that of its live
 * children (--fork servers): clock ticks. */
static long long proc_ticks(int pid, int *ppid)
{
	char path[64], buf[1024], *p;
	long long ut, st, cut, cst;
	int pp;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lld %lld %lld %lld", &pp, &ut, &st, &cut, &cst) != 5)
		return -1;
	if (ppid)
		*ppid = pp;
	return ut + st + cut + cst;
}

static long long server_ticks(void)
{
	long long t, total;
	struct dirent *d;
	DIR *dp;

	total = proc_ticks(server_pid, NULL);
	if (total < 0)
		return -1;
	dp = opendir("/proc");
	if (!dp)
		return total;
	while ((d = readdir(dp))) {
		int pid, pp = 0;

		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		pid = atoi(d->d_name);
		if (pid == server_pid)
			continue;
		t = proc_ticks(pid, &pp);
		if (t >= 0 && pp == server_pid)
			total += t;
	}
	closedir(dp);
	return total;
}

static void out_reserve(struct lconn *c, size_t need)
{
	if (kp_reserve(&c->out, &c->outoff, &c->outlen, &c->outcap, need))
		die("realloc");
}

static int pick_op(void)
{
	int r = rnd() % mix_total, op;

	for (op = 1; op < 6; op++) {
		if (r < mix[op])
			return op;
		r -= mix[op];
	}
	return KP_PING;
}

static void send_req(struct lconn *c, int op)
{
	struct pending *p = &c->pend[c->npend++];
	struct kp_req q = { .op = op };

	p->id = next_id++;
	p->op = op;
	p->len = 0;
	p->file = 0;
	p->off = 0;
	if (op == KP_READ || op == KP_WRITE || op == KP_FSYNC) {
		unsigned blocks = (bs_max - bs_min) / 4096 + 1;
		uint64_t span;

		p->len = bs_min + (rnd() % blocks) * 4096;
		if (hot) {
			/* one file, 16 offsets: always in cache */
			p->file = 0;
			span = 16;
		} else {
			p->file = rnd() % info.files;
			span = (info.size - p->len) / 4096 + 1;
		}
		p->off = (rnd() % span) * 4096;
		if (p->off + p->len > info.size)
			p->off = info.size - p->len;
		if (op == KP_FSYNC)
			p->len = 0;
	}
	q.file = p->file;
	q.offset = p->off;
	q.len = p->len;
	q.id = p->id;
	out_reserve(c, sizeof(q) + (op == KP_WRITE ? p->len : 0));
	memcpy(c->out + c->outlen, &q, sizeof(q));
	c->outlen += sizeof(q);
	if (op == KP_WRITE) {
		kp_fill(c->out + c->outlen, p->file, p->off, p->len);
		c->outlen += p->len;
	}
	p->t0 = now();
}

static void flush(struct lconn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff,
				 c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			die("send");
		}
		c->outoff += n;
	}
	if ((c->outoff < c->outlen) != c->want_out) {
		struct epoll_event e = { .data.ptr = c };

		c->want_out = c->outoff < c->outlen;
		e.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
			die("epoll_ctl");
	}
}

/* Check a reply against its request and record its latency. */
static void got_reply(struct lconn *c, const struct kp_rep *r,
		      const char *data, double t)
{
	struct pending *p = NULL;
	int i, bad = 0;

	for (i = 0; i < c->npend; i++)
		if (c->pend[i].id == r->id) {
			p = &c->pend[i];
			break;
		}
	if (!p) {
		cnt.proto_errors++;
		cnt.errors++;
		if (verbose)
			fprintf(stderr, "kaio-loader: reply for unknown id %llu\n",
				(unsigned long long)r->id);
		return;
	}
	switch (p->op) {
	case KP_READ:
		if (r->status != (int32_t)p->len || r->len != p->len) {
			cnt.status_errors++;
			bad = 1;
		} else if (kp_check(data, p->file, p->off, p->len) != p->len) {
			cnt.verify_errors++;
			bad = 1;
		}
		break;
	case KP_WRITE:
		if (r->status != (int32_t)p->len || r->len) {
			cnt.status_errors++;
			bad = 1;
		}
		break;
	default:
		if (r->status != 0 || r->len) {
			cnt.status_errors++;
			bad = 1;
		}
		break;
	}
	if (bad) {
		cnt.errors++;
		if (verbose || cnt.errors <= 5)
			fprintf(stderr, "kaio-loader: bad reply: op=%d file=%u "
				"off=%llu len=%u status=%d rlen=%u\n", p->op,
				p->file, (unsigned long long)p->off, p->len,
				r->status, r->len);
	}
	if (measuring) {
		double us = (t - p->t0) * 1e6;

		cnt.done++;
		cnt.by_op[p->op]++;
		cnt.bytes += p->len;
		lat_add(&lat_all, us);
		if (p->op == KP_PING)
			lat_add(&lat_ping, us);
	}
	*p = c->pend[--c->npend];
}

/* Read what is there; parse replies.  Returns the number handled. */
static int conn_in(struct lconn *c)
{
	int handled = 0;
	size_t pos = 0;
	double t;

	for (;;) {
		ssize_t n = kp_recv(c->fd, &c->in, &c->incap, &c->inlen);

		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			die("recv");
		if (n == 0) {
			fprintf(stderr, "kaio-loader: server closed the connection\n");
			cnt.errors++;
			return -1;
		}
		if ((size_t)n < 65536)
			break;
	}
	t = now();
	while (c->inlen - pos >= sizeof(struct kp_rep)) {
		struct kp_rep r;

		memcpy(&r, c->in + pos, sizeof(r));
		if (r.len > KP_MAX_LEN) {
			fprintf(stderr, "kaio-loader: bad reply length %u\n", r.len);
			cnt.errors++;
			return -1;
		}
		if (c->inlen - pos < sizeof(r) + r.len)
			break;
		got_reply(c, &r, c->in + pos + sizeof(r), t);
		pos += sizeof(r) + r.len;
		handled++;
	}
	if (pos) {
		memmove(c->in, c->in + pos, c->inlen - pos);
		c->inlen -= pos;
	}
	return handled;
}

static int connect_one(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		die("socket");
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect 127.0.0.1");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* INFO over a blocking socket before the run. */
static void get_info(int fd)
{
	struct kp_req q = { .op = KP_INFO, .id = 0 };
	struct kp_rep r;
	size_t got = 0;
	char buf[sizeof(r) + sizeof(info)];

	if (send(fd, &q, sizeof(q), 0) != sizeof(q))
		die("send");
	while (got < sizeof(buf)) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);

		if (n <= 0)
			die("recv INFO");
		got += n;
	}
	memcpy(&r, buf, sizeof(r));
	memcpy(&info, buf + sizeof(r), sizeof(info));
	if (r.len != sizeof(info) || !info.files || !info.size) {
		fprintf(stderr, "kaio-loader: bad INFO reply\n");
		exit(1);
	}
}

static void parse_mix(char *s)
{
	char *tok, *save;

	memset(mix, 0, sizeof(mix));
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int v;

		if (!eq)
			goto bad;
		*eq = 0;
		v = atoi(eq + 1);
		if (v < 0)
			goto bad;
		if (!strcmp(tok, "read"))
			mix[KP_READ] = v;
		else if (!strcmp(tok, "write"))
			mix[KP_WRITE] = v;
		else if (!strcmp(tok, "fsync"))
			mix[KP_FSYNC] = v;
		else if (!strcmp(tok, "ping"))
			mix[KP_PING] = v;
		else
			goto bad;
	}
	return;
bad:
	fprintf(stderr, "kaio-loader: bad --mix (want read=N,write=N,fsync=N,ping=N)\n");
	exit(2);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: kaio-loader --port=N [options]\n"
"  --connections=C   sockets (default 4)\n"
"  --depth=D         outstanding requests per socket (default 8)\n"
"  --duration=S      seconds measured (default 5)\n"
"  --warmup=S        seconds run before measuring (default 0)\n"
"  --mix=LIST        read=90,write=5,fsync=1,ping=4 (weights; default)\n"
"  --bs-min=B --bs-max=B   READ/WRITE sizes, 4 KiB steps (default 4096..65536)\n"
"  --hot             one file, 16 offsets (else random over all files)\n"
"  --seed=N          random seed (default 1)\n"
"  --server-pid=PID  report the server's CPU per request (with children)\n"
"  --label=TEXT      copied into the result line\n"
"  --verbose\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", 1, 0, 'p' }, { "connections", 1, 0, 'c' },
		{ "depth", 1, 0, 'd' }, { "duration", 1, 0, 't' },
		{ "warmup", 1, 0, 'w' }, { "mix", 1, 0, 'm' },
		{ "bs-min", 1, 0, 'a' }, { "bs-max", 1, 0, 'b' },
		{ "hot", 0, 0, 'H' }, { "seed", 1, 0, 's' },
		{ "server-pid", 1, 0, 'P' }, { "label", 1, 0, 'l' },
		{ "verbose", 0, 0, 'v' }, { "help", 0, 0, 'h' }, { 0 },
	};
	struct lconn *conns;
	struct epoll_event ev[64];
	double t_start, t_measure, t_stop, t_end, t_deadline;
	long long ticks0 = -1, ticks1 = -1;
	unsigned long outstanding;
	int c, i, issuing = 1;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p': port = atoi(optarg); break;
		case 'c': nconn = atoi(optarg); break;
		case 'd': depth = atoi(optarg); break;
		case 't': duration = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 'm': parse_mix(optarg); break;
		case 'a': bs_min = strtoul(optarg, NULL, 0); break;
		case 'b': bs_max = strtoul(optarg, NULL, 0); break;
		case 'H': hot = 1; break;
		case 's': seed = atoi(optarg); break;
		case 'P': server_pid = atoi(optarg); break;
		case 'l': label = optarg; break;
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	mix_total = mix[1] + mix[2] + mix[3] + mix[4];
	if (port <= 0 || nconn < 1 || depth < 1 || duration <= 0 ||
	    duration > 3600 || warmup < 0 || !mix_total || bs_min < 4096 ||
	    bs_min % 4096 || bs_max % 4096 || bs_max < bs_min ||
	    bs_max > KP_MAX_LEN) {
		usage(stderr);
		return 2;
	}
	rng = seed * 0x2545f4914f6cdd1dull;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	conns = calloc(nconn, sizeof(*conns));
	for (i = 0; i < nconn; i++) {
		struct lconn *lc = &conns[i];
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = lc };

		lc->fd = connect_one();
		if (i == 0)
			get_info(lc->fd);
		lc->pend = calloc(depth, sizeof(*lc->pend));
		lc->incap = 2 * (KP_MAX_LEN + sizeof(struct kp_rep));
		lc->in = malloc(lc->incap);
		if (!lc->pend || !lc->in)
			die("malloc");
		if (epoll_ctl(ep, EPOLL_CTL_ADD, lc->fd, &e) < 0)
			die("epoll_ctl");
	}
	if (info.size < bs_max) {
		fprintf(stderr, "kaio-loader: files (%llu bytes) smaller than --bs-max\n",
			(unsigned long long)info.size);
		return 2;
	}
	for (i = 0; i < nconn; i++)
		if (fcntl(conns[i].fd, F_SETFL, O_NONBLOCK) < 0)
			die("fcntl");
	t_start = now();
	t_measure = t_start + warmup;
	t_stop = t_measure + duration;
	t_deadline = t_stop + 10;	/* replies still owed after this: errors */
	measuring = warmup == 0;
	if (measuring && server_pid)
		ticks0 = server_ticks();
	for (i = 0; i < nconn; i++) {
		while (conns[i].npend < depth)
			send_req(&conns[i], pick_op());
		flush(&conns[i]);
	}
	t_end = t_stop;
	for (;;) {
		double t = now();
		int n;

		if (!measuring && issuing && t >= t_measure) {
			measuring = 1;
			if (server_pid)
				ticks0 = server_ticks();
			t_measure = t;
		}
		if (issuing && t >= t_stop) {
			issuing = 0;
			t_end = t;
			if (server_pid)
				ticks1 = server_ticks();
		}
		outstanding = 0;
		for (i = 0; i < nconn; i++)
			outstanding += conns[i].npend;
		if (!issuing && (!outstanding || t > t_deadline))
			break;
		n = epoll_wait(ep, ev, 64, 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			struct lconn *lc = ev[i].data.ptr;

			if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				if (conn_in(lc) < 0) {
					issuing = 0;
					t_deadline = 0;
					t_end = now();
					break;
				}
			}
			if (issuing && now() < t_stop)
				while (lc->npend < depth)
					send_req(lc, pick_op());
			flush(lc);
		}
		/* Replies after t_stop are checked, but are not counted. */
		if (!issuing)
			measuring = 0;
	}
	outstanding = 0;
	for (i = 0; i < nconn; i++)
		outstanding += conns[i].npend;
	cnt.timeouts = outstanding;
	cnt.errors += outstanding;

	qsort(lat_all.v, lat_all.n, sizeof(double), dcmp);
	qsort(lat_ping.v, lat_ping.n, sizeof(double), dcmp);
	{
		double secs = t_end - t_measure;
		double rps = secs > 0 ? cnt.done / secs : 0;
		double cpu_us = -1;
		long hz = sysconf(_SC_CLK_TCK);

		if (ticks0 >= 0 && ticks1 >= 0 && cnt.done)
			cpu_us = (double)(ticks1 - ticks0) / hz * 1e6 / cnt.done;
		printf("kaio-loader: %lu requests in %.2f s: %.0f req/s, %.1f MiB/s; "
		       "%lu errors (verify %lu, status %lu, protocol %lu, timeout %lu)\n",
		       cnt.done, secs, rps, cnt.bytes / secs / 1048576, cnt.errors,
		       cnt.verify_errors, cnt.status_errors, cnt.proto_errors,
		       cnt.timeouts);
		printf("kaio-loader: latency us p50 %.1f p99 %.1f p99.9 %.1f; "
		       "ping p50 %.1f p99 %.1f p99.9 %.1f (%zu pings)\n",
		       pct(&lat_all, 50), pct(&lat_all, 99), pct(&lat_all, 99.9),
		       pct(&lat_ping, 50), pct(&lat_ping, 99),
		       pct(&lat_ping, 99.9), lat_ping.n);
		if (cpu_us >= 0)
			printf("kaio-loader: server CPU %.1f us per request\n", cpu_us);
		printf("result label=%s reqs=%lu secs=%.3f rps=%.0f mibps=%.1f "
		       "p50_us=%.1f p99_us=%.1f p999_us=%.1f pings=%zu "
		       "ping_p50_us=%.1f ping_p99_us=%.1f ping_p999_us=%.1f "
		       "read=%lu write=%lu fsync=%lu ping=%lu "
		       "cpu_us_per_req=%.2f errors=%lu verify_errors=%lu "
		       "status_errors=%lu proto_errors=%lu timeouts=%lu\n",
		       *label ? label : "-", cnt.done, secs, rps,
		       cnt.bytes / secs / 1048576, pct(&lat_all, 50),
		       pct(&lat_all, 99), pct(&lat_all, 99.9), lat_ping.n,
		       pct(&lat_ping, 50), pct(&lat_ping, 99),
		       pct(&lat_ping, 99.9), cnt.by_op[KP_READ],
		       cnt.by_op[KP_WRITE], cnt.by_op[KP_FSYNC],
		       cnt.by_op[KP_PING], cpu_us, cnt.errors,
		       cnt.verify_errors, cnt.status_errors, cnt.proto_errors,
		       cnt.timeouts);
	}
	for (i = 0; i < nconn; i++)
		close(conns[i].fd);
	return cnt.errors ? 1 : 0;
}
