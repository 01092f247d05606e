/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Identity: every request runs with the file-system IDs, supplementary
 * groups and effective capabilities of the thread that submitted it, as
 * the system call would in that thread, whichever backend (and whichever
 * pool worker) runs it.  The threads here change their identity the way
 * servers do, for themselves only, with the raw system calls (glibc's
 * wrappers would change every thread, workers included).
 *
 * Also: a NULL or unmapped path fails a path operation's submission with
 * EFAULT, as the system call would, instead of crashing.
 *
 * The suite runs under every backend policy (tests/check-*.sh); under one
 * that is not KAIO_BACKEND=threads it also runs itself once more under it,
 * so the thread pool is always covered.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "kaio_aio_abi.h"
#include "test-common.h"

#define U1	1000
#define U2	2000

static char dir[64];
static int dfd = -1;

/* --- per-thread identity, raw system calls ------------------------------ */

static int caps(int set, uint32_t eff[2], uint32_t prm[2], uint32_t inh[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int i;

	if (!set) {
		if (syscall(SYS_capget, &h, d))
			return -1;
		for (i = 0; i < 2; i++) {
			eff[i] = d[i].effective;
			prm[i] = d[i].permitted;
			inh[i] = d[i].inheritable;
		}
		return 0;
	}
	for (i = 0; i < 2; i++) {
		d[i].effective = eff[i];
		d[i].permitted = prm[i];
		d[i].inheritable = inh[i];
	}
	return (int)syscall(SYS_capset, &h, d);
}

/* This thread only: drop cap from its effective and permitted sets. */
static int drop_cap(int cap)
{
	uint32_t eff[2], prm[2], inh[2];

	if (caps(0, eff, prm, inh))
		return -1;
	eff[cap / 32] &= ~(1u << (cap % 32));
	prm[cap / 32] &= ~(1u << (cap % 32));
	inh[cap / 32] &= ~(1u << (cap % 32));
	return caps(1, eff, prm, inh);
}

/* This thread only becomes uid:uid, with no groups (Samba's way). */
static int become_user(uid_t uid)
{
	if (syscall(SYS_setgroups, 0, NULL) ||
	    syscall(SYS_setresgid, uid, uid, uid) ||
	    syscall(SYS_setresuid, uid, uid, uid))
		return -1;
	return 0;
}

struct job {
	long (*fn)(void *);
	void *arg;
	long ret;
	pthread_t t;
};

static void *run_job(void *p)
{
	struct job *j = p;

	j->ret = j->fn(j->arg);
	return NULL;
}

static void job_start(struct job *j, long (*fn)(void *), void *arg)
{
	j->fn = fn;
	j->arg = arg;
	j->ret = 0;
	ck_assert_int_eq(pthread_create(&j->t, NULL, run_job, j), 0);
}

static long job_join(struct job *j)
{
	ck_assert_int_eq(pthread_join(j->t, NULL), 0);
	return j->ret;
}

/* Run fn(arg) on a new thread and return its result. */
static long on_thread(long (*fn)(void *), void *arg)
{
	struct job j;

	job_start(&j, fn, arg);
	return job_join(&j);
}

/* --- helpers ------------------------------------------------------------ */

static int can_run(void)
{
	uint32_t eff[2], prm[2], inh[2];

	if (geteuid() != 0) {
		printf("SKIP: identity: needs root to switch identities\n");
		return 0;
	}
	if (caps(0, eff, prm, inh) || !(eff[0] & (1u << CAP_SETUID)) ||
	    !(eff[0] & (1u << CAP_DAC_OVERRIDE))) {
		printf("SKIP: identity: no capability support\n");
		return 0;
	}
	return 1;
}

static void scratch(void)
{
	strcpy(dir, "kaio-ident-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0777), 0);
	dfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
}

static void unscratch(void)
{
	char cmd[128];

	close(dfd);
	dfd = -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A root-made file in the scratch directory. */
static void make_file(const char *name, uid_t uid, mode_t mode)
{
	int fd = openat(dfd, name, O_CREAT | O_EXCL | O_WRONLY, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchown(fd, uid, uid), 0);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void prep_open(struct aiocb *cb, const char *name, int flags,
		      mode_t mode)
{
	t_prep(cb, dfd, (void *)name, 0,
	       (off_t)((uint64_t)mode << 32 | (uint32_t)flags));
}

/* Submit and wait; the operation's result, or -errno. */
static long run_op(int (*submit)(struct aiocb *), struct aiocb *cb)
{
	long r;
	int e;

	if (submit(cb))
		return -errno;
	e = t_wait(cb, 10000);
	r = aio_return(cb);
	return r < 0 ? -e : r;
}

static long kopen(const char *name, int flags, mode_t mode)
{
	struct aiocb cb;

	prep_open(&cb, name, flags, mode);
	return run_op(kaio_openat, &cb);
}

/* The owner of a file the caller just made (fd closed); -1 if none. */
static long owner_of(const char *name, gid_t *gid)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return -1;
	*gid = st.st_gid;
	return st.st_uid;
}

/* Keep the pool's workers between requests; start its spawner as root. */
static void pool_init(void)
{
	struct aioinit ai;

	memset(&ai, 0, sizeof(ai));
	ai.aio_threads = 4;
	ai.aio_idle_time = 60;
	aio_init(&ai);
}

/* --- a write by a thread that switched fsuid clears setuid -------------- */

struct wr {
	int fd;		/* written to */
	int listio;	/* with lio_listio() */
	off_t off;
};

static long write_one(struct wr *w)
{
	static char buf[512];
	struct aiocb cb, *list[1] = { &cb };
	long r;

	memset(buf, 'w', sizeof(buf));
	t_prep(&cb, w->fd, buf, sizeof(buf), w->off);
	if (!w->listio)
		return run_op(aio_write, &cb);
	cb.aio_lio_opcode = LIO_WRITE;
	if (lio_listio(LIO_WAIT, list, 1, NULL))
		return -errno;
	r = aio_return(&cb);
	return r < 0 ? -aio_error(&cb) : r;
}

static long fsuid_write(void *arg)
{
	syscall(SYS_setfsgid, U1);
	syscall(SYS_setfsuid, U1);
	return write_one(arg);
}

static long root_write(void *arg)
{
	return write_one(arg);
}

static int suid_set(int fd)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return !!(st.st_mode & S_ISUID);
}

START_TEST(ident_fsuid_write_clears_setuid)
{
	struct wr w;
	int fd[2], i, listio;

	scratch();
	pool_init();
	make_file("suid", 0, 04777);
	fd[0] = openat(dfd, "suid", O_RDWR | O_APPEND);	/* a serial queue */
	fd[1] = openat(dfd, "suid", O_RDWR);		/* by offset */
	ck_assert_int_ge(fd[0], 0);
	ck_assert_int_ge(fd[1], 0);
	/* Root's writes (CAP_FSETID) keep the bit, and start the workers. */
	for (i = 0; i < 2; i++) {
		w.fd = fd[i], w.listio = 0, w.off = 4096 * i;
		ck_assert_int_eq(on_thread((long (*)(void *))root_write, &w), 512);
		ck_assert_msg(suid_set(fd[i]), "root's write cleared setuid");
	}
	/* fsuid 1000 has no CAP_FSETID: its write clears the bit, as its
	 * pwrite() would. */
	for (listio = 0; listio < 2; listio++)
		for (i = 0; i < 2; i++) {
			ck_assert_int_eq(fchmod(fd[i], 04777), 0);
			w.fd = fd[i], w.listio = listio, w.off = 8192 + 512 * i;
			ck_assert_int_eq(on_thread(fsuid_write, &w), 512);
			ck_assert_msg(!suid_set(fd[i]),
				      "a write from fsuid %d kept setuid (%s, %s)",
				      U1, i ? "pwrite" : "O_APPEND",
				      listio ? "lio_listio" : "aio_write");
		}
	close(fd[0]);
	close(fd[1]);
	unscratch();
}
END_TEST

/* --- threads with their own uids (setresuid per thread) ----------------- */

struct usr {
	uid_t uid;
	long other;	/* open of the other user's 0600 file */
	long own;	/* open of its own 0600 file */
	long rootf;	/* open of root's 0600 file */
	long created;	/* O_CREAT of a new file */
	char name[32];
};

static long user_thread(void *arg)
{
	struct usr *u = arg;
	char mine[32], theirs[32];
	long fd;

	if (become_user(u->uid))
		return -1;
	snprintf(mine, sizeof(mine), "own%u", (unsigned)u->uid);
	snprintf(theirs, sizeof(theirs), "own%u",
		 (unsigned)(u->uid == U1 ? U2 : U1));
	snprintf(u->name, sizeof(u->name), "new%u", (unsigned)u->uid);
	u->other = kopen(theirs, O_RDONLY, 0);
	u->own = kopen(mine, O_RDWR, 0);
	u->rootf = kopen("root600", O_RDONLY, 0);
	u->created = fd = kopen(u->name, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (u->other >= 0)
		close((int)u->other);
	if (u->own >= 0)
		close((int)u->own);
	if (u->rootf >= 0)
		close((int)u->rootf);
	if (fd >= 0)
		close((int)fd);
	return 0;
}

static void check_user(struct usr *u)
{
	gid_t gid;

	ck_assert_msg(u->other == -EACCES,
		      "uid %u opened another user's 0600 file: %ld",
		      (unsigned)u->uid, u->other);
	ck_assert_msg(u->own >= 0, "uid %u could not open its own file: %ld",
		      (unsigned)u->uid, u->own);
	ck_assert_msg(u->rootf == -EACCES,
		      "uid %u opened root's 0600 file: %ld",
		      (unsigned)u->uid, u->rootf);
	ck_assert_msg(u->created >= 0, "uid %u could not create: %ld",
		      (unsigned)u->uid, u->created);
	ck_assert_int_eq(owner_of(u->name, &gid), u->uid);
	ck_assert_int_eq(gid, u->uid);
}

static void check_root(void)
{
	gid_t gid;
	long fd;

	fd = kopen("root600", O_RDWR, 0);
	ck_assert_msg(fd >= 0, "root could not open its own file: %ld", fd);
	close((int)fd);
	fd = kopen("own1000", O_RDWR, 0);
	ck_assert_msg(fd >= 0, "root could not open uid 1000's file: %ld", fd);
	close((int)fd);
	fd = kopen("newroot", O_CREAT | O_EXCL | O_WRONLY, 0644);
	ck_assert_msg(fd >= 0, "root could not create: %ld", fd);
	close((int)fd);
	ck_assert_int_eq(owner_of("newroot", &gid), 0);
	ck_assert_int_eq(gid, 0);
}

/*
 * glibc's seteuid() changes every thread of the process, the pool's
 * workers too, and they are not told.  A write submitted as U1 waits for
 * the only worker, which serves a pipe read submitted as U1 before it;
 * then the program goes back to root.  The write must still run as U1:
 * it clears the setuid bit.  A worker that trusted the identity it
 * remembered (U1's, from the read) ran it as root, and the bit stayed.
 * The pool's case: ident_on_pool runs it under KAIO_BACKEND=threads.
 */
START_TEST(ident_seteuid_process_wide)
{
	const char *be = getenv("KAIO_BACKEND");
	static char hello[] = "hello";
	struct aioinit ai;
	struct aiocb pc, wc;
	char b;
	int p[2], fd;

	if (!be || strcmp(be, "threads"))
		return;
	scratch();
	memset(&ai, 0, sizeof(ai));
	ai.aio_threads = 1;
	ai.aio_idle_time = 60;
	aio_init(&ai);
	make_file("suidp", 0, 04777);
	fd = openat(dfd, "suidp", O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	t_pipe(p);
	ck_assert_int_eq(seteuid(U1), 0);
	t_prep(&pc, p[0], &b, 1, 0);
	ck_assert_int_eq(aio_read(&pc), 0);
	usleep(100 * 1000);	/* the worker takes the read */
	t_prep(&wc, fd, hello, 5, 0);
	ck_assert_int_eq(aio_write(&wc), 0);
	ck_assert_int_eq(seteuid(0), 0);
	ck_assert_int_eq(write(p[1], "y", 1), 1);
	ck_assert_int_eq(t_wait(&pc, 10000), 0);
	ck_assert_int_eq(aio_return(&pc), 1);
	ck_assert_int_eq(t_wait(&wc, 10000), 0);
	ck_assert_int_eq(aio_return(&wc), 5);
	ck_assert_msg(!suid_set(fd), "a write submitted as uid %d ran as root",
		      U1);
	close(fd);
	close(p[0]);
	close(p[1]);
	unscratch();
}
END_TEST

START_TEST(ident_setresuid_threads)
{
	struct usr u1 = { .uid = U1 }, u2 = { .uid = U2 };
	struct job j1, j2;

	scratch();
	make_file("own1000", U1, 0600);
	make_file("own2000", U2, 0600);
	make_file("root600", 0, 0600);
	/* The pool's reach is fixed here, by root; the users' threads are
	 * the first to need a worker. */
	pool_init();
	ck_assert_int_eq(on_thread(user_thread, &u2), 0);
	check_user(&u2);
	ck_assert_int_eq(on_thread(user_thread, &u1), 0);
	check_user(&u1);
	check_root();
	/* Both users at once, with root. */
	unlinkat(dfd, "new1000", 0);
	unlinkat(dfd, "new2000", 0);
	unlinkat(dfd, "newroot", 0);
	job_start(&j1, user_thread, &u1);
	job_start(&j2, user_thread, &u2);
	check_root();
	ck_assert_int_eq(job_join(&j1), 0);
	ck_assert_int_eq(job_join(&j2), 0);
	check_user(&u1);
	check_user(&u2);
	unscratch();
}
END_TEST

/*
 * Nothing fixed the pool's reach: a thread that gave up root for good is
 * the first to need a worker.  Root's requests must then still never run
 * as that user: they run as root or fail with EPERM.
 */
START_TEST(ident_unprivileged_first)
{
	struct usr u2 = { .uid = U2 };
	gid_t gid;
	long fd;

	scratch();
	make_file("own1000", U1, 0600);
	make_file("own2000", U2, 0600);
	make_file("root600", 0, 0600);
	ck_assert_int_eq(on_thread(user_thread, &u2), 0);
	check_user(&u2);
	fd = kopen("root600", O_RDWR, 0);
	ck_assert_msg(fd >= 0 || fd == -EPERM,
		      "root's open ran as someone else: %ld", fd);
	if (fd >= 0)
		close((int)fd);
	fd = kopen("newroot", O_CREAT | O_EXCL | O_WRONLY, 0644);
	ck_assert_msg(fd >= 0 || fd == -EPERM,
		      "root's create ran as someone else: %ld", fd);
	if (fd >= 0) {
		close((int)fd);
		ck_assert_int_eq(owner_of("newroot", &gid), 0);
	} else {
		ck_assert_int_eq(owner_of("newroot", &gid), -1);
	}
	unscratch();
}
END_TEST

/* --- a root thread without CAP_DAC_OVERRIDE ----------------------------- */

struct dac {
	long rd, rw, listio;
};

static long nodac_thread(void *arg)
{
	struct dac *d = arg;
	struct aiocb cb, *list[1] = { &cb };

	if (drop_cap(CAP_DAC_OVERRIDE) || drop_cap(CAP_DAC_READ_SEARCH))
		return -1;
	d->rd = kopen("zero", O_RDONLY, 0);
	d->rw = kopen("zero", O_RDWR, 0);
	prep_open(&cb, "zero", O_RDWR, 0);
	cb.aio_lio_opcode = LIO_KAIO_OPENAT;
	if (lio_listio(LIO_WAIT, list, 1, NULL) && errno != EIO)
		d->listio = -errno;
	else
		d->listio = aio_error(&cb) ? -aio_error(&cb) : aio_return(&cb);
	return 0;
}

START_TEST(ident_capdrop_thread)
{
	struct dac d;
	long fd;

	scratch();
	pool_init();
	make_file("zero", 0, 0);
	/* Root with every capability opens it (and starts the workers). */
	fd = kopen("zero", O_RDWR, 0);
	ck_assert_msg(fd >= 0, "root could not open a mode 000 file: %ld", fd);
	close((int)fd);
	ck_assert_int_eq(on_thread(nodac_thread, &d), 0);
	ck_assert_msg(d.rd == -EACCES && d.rw == -EACCES && d.listio == -EACCES,
		      "a thread without CAP_DAC_OVERRIDE opened a mode 000 "
		      "file: %ld %ld %ld", d.rd, d.rw, d.listio);
	/* The workers can still do it for root. */
	fd = kopen("zero", O_RDWR, 0);
	ck_assert_msg(fd >= 0, "root lost CAP_DAC_OVERRIDE: %ld", fd);
	close((int)fd);
	unscratch();
}
END_TEST

/* --- EFAULT: NULL and unmapped paths ------------------------------------ */

static void want_efault(int (*submit)(struct aiocb *), struct aiocb *cb,
			const char *what)
{
	errno = 0;
	ck_assert_msg(submit(cb) == -1 && errno == EFAULT,
		      "%s: want EFAULT at submission, got errno %d", what, errno);
	ck_assert_int_eq(aio_error(cb), EFAULT);
}

START_TEST(ident_efault_paths)
{
	struct kaio_renameat_info ri;
	struct aiocb cb, *list[1] = { &cb };
	long pg = sysconf(_SC_PAGESIZE);
	char *map, *edge, *big;

	/* Two pages: the first readable, the second not. */
	map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mprotect(map + pg, pg, PROT_NONE), 0);
	memset(map, 'a', pg);		/* no NUL before the bad page */
	edge = map + pg - 3;

	prep_open(&cb, NULL, O_RDONLY, 0);
	want_efault(kaio_openat, &cb, "openat NULL");
	prep_open(&cb, (const char *)8, O_RDONLY, 0);
	want_efault(kaio_openat, &cb, "openat unmapped");
	prep_open(&cb, map + pg, O_RDONLY, 0);
	want_efault(kaio_openat, &cb, "openat PROT_NONE");
	prep_open(&cb, edge, O_RDONLY, 0);
	want_efault(kaio_openat, &cb, "openat runs into PROT_NONE");
	t_prep(&cb, AT_FDCWD, NULL, 0, 0);
	want_efault(kaio_unlinkat, &cb, "unlinkat NULL");
	t_prep(&cb, AT_FDCWD, (void *)8, 0, 0);
	want_efault(kaio_unlinkat, &cb, "unlinkat unmapped");
	t_prep(&cb, AT_FDCWD, edge, 0, 0);
	want_efault(kaio_unlinkat, &cb, "unlinkat runs into PROT_NONE");

	memset(&ri, 0, sizeof(ri));
	ri.olddirfd = AT_FDCWD;
	ri.newdirfd = AT_FDCWD;
	ri.newpath = (uintptr_t)"kaio-ident-none";
	t_prep(&cb, AT_FDCWD, &ri, sizeof(ri), 0);
	want_efault(kaio_renameat, &cb, "renameat NULL oldpath");
	ri.oldpath = (uintptr_t)"kaio-ident-none";
	ri.newpath = (uintptr_t)edge;
	t_prep(&cb, AT_FDCWD, &ri, sizeof(ri), 0);
	want_efault(kaio_renameat, &cb, "renameat bad newpath");
	/* The struct itself unmapped (NULL stays EINVAL, as documented). */
	t_prep(&cb, AT_FDCWD, map + pg, sizeof(ri), 0);
	want_efault(kaio_renameat, &cb, "renameat info unmapped");
	t_prep(&cb, AT_FDCWD, map + pg - sizeof(ri) / 2, sizeof(ri), 0);
	want_efault(kaio_renameat, &cb, "renameat info half mapped");

	/* In a list: that entry is refused with EFAULT; the call fails
	 * with that errno when it submitted nothing else (as glibc's). */
	prep_open(&cb, (const char *)8, O_RDONLY, 0);
	cb.aio_lio_opcode = LIO_KAIO_OPENAT;
	errno = 0;
	ck_assert_int_eq(lio_listio(LIO_WAIT, list, 1, NULL), -1);
	ck_assert_int_eq(errno, EFAULT);
	ck_assert_int_eq(aio_error(&cb), EFAULT);

	/* No NUL in PATH_MAX bytes: ENAMETOOLONG, as getname() says. */
	big = malloc(PATH_MAX + 16);
	ck_assert_ptr_nonnull(big);
	memset(big, 'b', PATH_MAX + 15);
	big[PATH_MAX + 15] = '\0';
	prep_open(&cb, big, O_RDONLY, 0);
	errno = 0;
	ck_assert_int_eq(kaio_openat(&cb), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	/* A path that ends just before the bad page is fine. */
	map[pg - 1] = '\0';
	t_prep(&cb, AT_FDCWD, edge, 0, 0);
	ck_assert_int_eq(kaio_unlinkat(&cb), 0);
	T_WAIT_ERR(&cb, 10000, ENOENT);
	free(big);
	munmap(map, 2 * pg);
}
END_TEST

/* --- the same suite on the thread pool ---------------------------------- */

START_TEST(ident_on_pool)
{
	const char *b = getenv("KAIO_BACKEND");
	int status;
	pid_t pid;

	if (getenv("KAIO_IDENT_NESTED") || (b && !strcmp(b, "threads")))
		return;		/* this run is the pool's already */
	pid = t_fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("KAIO_IDENT_NESTED", "1", 1);
		setenv("KAIO_BACKEND", "threads", 1);
		setenv("KAIO_NOWAIT", "0", 1);
		setenv("CK_RUN_SUITE", "identity", 1);
		unsetenv("CK_RUN_CASE");
		execl("/proc/self/exe", "kaio-check", (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the identity suite failed under KAIO_BACKEND=threads");
}
END_TEST

Suite *identity_suite(void)
{
	Suite *s = suite_create("identity");
	TCase *tc = t_tcase("identity");

	if (can_run()) {
		tcase_add_test(tc, ident_fsuid_write_clears_setuid);
		tcase_add_test(tc, ident_seteuid_process_wide);
		tcase_add_test(tc, ident_setresuid_threads);
		tcase_add_test(tc, ident_unprivileged_first);
		tcase_add_test(tc, ident_capdrop_thread);
	}
	tcase_add_test(tc, ident_efault_paths);
	tcase_add_test(tc, ident_on_pool);
	suite_add_tcase(s, tc);
	return s;
}
