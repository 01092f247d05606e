/* SPDX-License-Identifier: GPL-2.0 */
/*
 * audit: the path operations a worker performs are audited as io_uring
 * audits its own.  The test is the audit daemon: it enables audit over
 * NETLINK_AUDIT, registers its own pid for the records (a child submits
 * the requests: audit ignores its daemon's own process), and adds a rule
 * on the io_uring list (AUDIT_FILTER_URING_EXIT, as "auditctl -a
 * always,io_uring -U openat -U renameat -U unlinkat" would).  Then an
 * OPENAT(O_CREAT) must give a URINGOP record (type 1336) with uring_op=18
 * (IORING_OP_OPENAT), success=yes and exit= the fd, and a PATH record with
 * the file's name; an OPENAT of a missing file success=no exit=-2; a
 * RENAMEAT uring_op=35 and an UNLINKAT uring_op=36, with their names.
 * The records carry the submitter's uid.  Without CONFIG_AUDIT (no
 * NETLINK_AUDIT) it says SKIP and passes.
 */
#include "kt.h"
#include <sys/socket.h>
#include <linux/audit.h>
#include <linux/netlink.h>

#ifndef AUDIT_FILTER_URING_EXIT
#define AUDIT_FILTER_URING_EXIT	0x07
#endif
#ifndef AUDIT_URINGOP
#define AUDIT_URINGOP	1336
#endif

#define OP_OPENAT	18	/* IORING_OP_OPENAT */
#define OP_RENAMEAT	35
#define OP_UNLINKAT	36

static int nl = -1;
static unsigned int seq;

/* Send a request; returns 0 or the -errno of its ack. */
static int audit_request(int type, const void *data, size_t len)
{
	static char buf[8192] __attribute__((aligned(8)));
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	double end = kt_now() + 5;

	memset(buf, 0, NLMSG_SPACE(len));
	nh->nlmsg_len = NLMSG_LENGTH(len);
	nh->nlmsg_type = type;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nh->nlmsg_seq = ++seq;
	memcpy(NLMSG_DATA(nh), data, len);
	if (sendto(nl, buf, nh->nlmsg_len, 0, (struct sockaddr *)&to,
		   sizeof(to)) < 0)
		return -errno;
	while (kt_now() < end) {
		ssize_t n = recv(nl, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN) {
			kt_sleep_ms(5);
			continue;
		}
		if (n < 0)
			return -errno;
		for (; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n))
			if (nh->nlmsg_type == NLMSG_ERROR &&
			    nh->nlmsg_seq == seq)
				return ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
		nh = (struct nlmsghdr *)buf;
	}
	return -ETIMEDOUT;
}

static int audit_rule(int type)
{
	struct audit_rule_data r;

	memset(&r, 0, sizeof(r));
	r.flags = AUDIT_FILTER_URING_EXIT;
	r.action = AUDIT_ALWAYS;
	r.mask[OP_OPENAT / 32] |= 1U << (OP_OPENAT % 32);
	r.mask[OP_RENAMEAT / 32] |= 1U << (OP_RENAMEAT % 32);
	r.mask[OP_UNLINKAT / 32] |= 1U << (OP_UNLINKAT % 32);
	return audit_request(type, &r, sizeof(r));
}

static int audit_set(int enabled, int pid)
{
	struct audit_status st;

	memset(&st, 0, sizeof(st));
	st.mask = AUDIT_STATUS_ENABLED | AUDIT_STATUS_PID;
	st.enabled = enabled;
	st.pid = pid;
	return audit_request(AUDIT_SET, &st, sizeof(st));
}

/*
 * Collect the records of the next event that has a URINGOP record with
 * " uring_op=@op ", within 5 s; @uringop and @paths get its URINGOP
 * record and its PATH records (concatenated).  Returns 1 if found.
 */
static int audit_event(int op, char *uringop, size_t ulen, char *paths,
		       size_t plen)
{
	static char buf[16384] __attribute__((aligned(8)));
	char want[32], serial[64] = "";
	double end = kt_now() + 5, found_at = 0;
	int found = 0;

	snprintf(want, sizeof(want), "uring_op=%d ", op);
	*uringop = *paths = 0;
	while (kt_now() < end) {
		struct nlmsghdr *nh = (struct nlmsghdr *)buf;
		ssize_t n = recv(nl, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN) {
			/* no AUDIT_EOE within 1 s: take what came */
			if (found && kt_now() > found_at + 1)
				return 1;
			kt_sleep_ms(5);
			continue;
		}
		if (n < 0)
			break;
		for (; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
			char *text = NLMSG_DATA(nh), *id;
			int tlen = nh->nlmsg_len - NLMSG_HDRLEN;
			char line[2048];

			snprintf(line, sizeof(line), "%.*s", tlen, text);
			/* "audit(1234.567:89): ..." */
			id = strstr(line, "audit(");
			if (nh->nlmsg_type == AUDIT_URINGOP && !found &&
			    strstr(line, want)) {
				found = 1;
				found_at = kt_now();
				snprintf(uringop, ulen, "%s", line);
				if (id)
					snprintf(serial, sizeof(serial), "%.*s",
						 (int)(strchr(id, ')') - id),
						 id);
			} else if (found && nh->nlmsg_type == AUDIT_PATH &&
				   id && !strncmp(id, serial,
						  strlen(serial))) {
				size_t l = strlen(paths);

				snprintf(paths + l, plen - l, "%s\n", line);
			} else if (found && nh->nlmsg_type == AUDIT_EOE) {
				return 1;
			}
		}
	}
	return found;
}

static void expect(int op, const char *what, const char *result,
		   const char *name)
{
	static char u[2048], p[8192];
	char nm[600];

	if (!audit_event(op, u, sizeof(u), p, sizeof(p))) {
		KT_FAIL("%s: no URINGOP record with uring_op=%d", what, op);
		return;
	}
	printf("%s: %s\n", what, u);
	KT_CHECK(strstr(u, result) != NULL, "%s: want \"%s\" in: %s", what,
		 result, u);
	KT_CHECK(strstr(u, " uid=0 ") != NULL, "%s: uid: %s", what, u);
	snprintf(nm, sizeof(nm), "name=\"%s\"", name);
	KT_CHECK(strstr(p, nm) != NULL, "%s: no PATH record with %s: %s",
		 what, nm, p);
}

/*
 * The audited process: audit ignores the operations of the process that is
 * its daemon (auditd_test_task()), so a child submits them.  It sends the
 * four results to the parent.
 */
static void submitter(int out)
{
	struct aio_renameat_info info;
	aio_context_t ctx = 0;
	long long r[4];
	struct iocb cb;

	if (io_setup(8, &ctx))
		_exit(2);
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("audited"), 0,
		O_CREAT | O_WRONLY | ((long long)0644 << 32));
	r[0] = kt_run1(ctx, &cb, 5);
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("missing"), 0,
		O_RDONLY);
	r[1] = kt_run1(ctx, &cb, 5);
	memset(&info, 0, sizeof(info));
	info.olddirfd = AT_FDCWD;
	info.oldpath = (unsigned long)kt_path("audited");
	info.newdirfd = AT_FDCWD;
	info.newpath = (unsigned long)kt_path("renamed");
	kt_prep(&cb, KAIO_IOCB_CMD_RENAMEAT, -1, &info, sizeof(info), 0);
	r[2] = kt_run1(ctx, &cb, 5);
	kt_prep(&cb, KAIO_IOCB_CMD_UNLINKAT, AT_FDCWD, kt_path("renamed"), 0,
		0);
	r[3] = kt_run1(ctx, &cb, 5);
	if (write(out, r, sizeof(r)) != sizeof(r))
		_exit(3);
	_exit(0);
}

int main(int argc, char **argv)
{
	long long r[4] = { KT_NO_EVENT, KT_NO_EVENT, KT_NO_EVENT, KT_NO_EVENT };
	int err, p[2], status;
	char res[64];
	pid_t pid;

	kt_init(argc, argv, "audit");
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	if (nl < 0 && (errno == EPROTONOSUPPORT || errno == EAFNOSUPPORT ||
		       errno == ENOSYS)) {
		printf("audit: SKIP (no NETLINK_AUDIT: %s)\n", strerror(errno));
		return 0;
	}
	KT_REQUIRE(nl >= 0, "socket: %s", strerror(errno));
	err = audit_set(1, getpid());
	KT_REQUIRE(err == 0, "AUDIT_SET: %s", strerror(-err));
	err = audit_rule(AUDIT_ADD_RULE);
	KT_REQUIRE(err == 0, "AUDIT_ADD_RULE: %s", strerror(-err));
	/* workers get an audit context only once audit was enabled */
	kt_sysctl_set(1);
	KT_REQUIRE(pipe(p) == 0, "pipe");
	pid = fork();
	KT_REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		close(nl);
		submitter(p[1]);
	}
	close(p[1]);
	KT_CHECK(read(p[0], r, sizeof(r)) == sizeof(r), "no results");
	KT_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		 WEXITSTATUS(status) == 0, "submitter status %#x", status);

	KT_CHECK(r[0] >= 0, "OPENAT: %lld", r[0]);
	snprintf(res, sizeof(res), "success=yes exit=%lld ", r[0]);
	expect(OP_OPENAT, "OPENAT", res, kt_path("audited"));
	KT_CHECK(r[1] == -ENOENT, "OPENAT of a missing file: %lld", r[1]);
	expect(OP_OPENAT, "OPENAT missing", "success=no exit=-2 ",
	       kt_path("missing"));
	KT_CHECK(r[2] == 0, "RENAMEAT: %lld", r[2]);
	expect(OP_RENAMEAT, "RENAMEAT", "success=yes exit=0 ",
	       kt_path("renamed"));
	KT_CHECK(r[3] == 0, "UNLINKAT: %lld", r[3]);
	expect(OP_UNLINKAT, "UNLINKAT", "success=yes exit=0 ",
	       kt_path("renamed"));

	kt_sysctl_set(0);
	audit_rule(AUDIT_DEL_RULE);
	audit_set(0, 0);
	close(nl);
	return kt_done();
}
