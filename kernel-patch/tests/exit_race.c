/* SPDX-License-Identifier: GPL-2.0 */
/*
 * exit_race: a thread exits right after its threaded request completed.
 *
 * io-wq points the worker's current work at the request until ->do_work
 * returns, and the exit path (aio_thread_exit() -> io_wq_cancel_cb())
 * marks that work IO_WQ_WORK_CANCEL.  If the request were freed inside
 * ->do_work, that write would land in freed memory, or in whatever request
 * got the memory next: here the main thread's OPENATs queued behind busy
 * workers, which would then complete with -ECANCELED instead of an fd.  The window is
 * a few instructions wide: UML never preempts there, so this test catches
 * the bug only with the window widened (run-tests --mutants, mutant
 * "uaf-do-work") or under KASAN; in a normal run it checks that the exit
 * path leaves other requests alone.
 */
#include <pthread.h>
#include "kt.h"

#define ROUNDS	10
#define NQ	8

static int tfile;
static int s1[2], s2[2];

static void *thread_fn(void *arg)
{
	aio_context_t *ctxt = arg;
	struct iocb cb;
	char buf[4], c = 0;
	long long r;

	kt_prep(&cb, IOCB_CMD_PREAD, tfile, buf, 1, 0);
	r = kt_run1(*ctxt, &cb, 5);
	KT_CHECK(r == 1, "thread PREAD: %lld", r);
	/* tell main, wait for its queued reads, then exit at once */
	if (write(s1[1], "1", 1) != 1 || read(s2[0], &c, 1) != 1)
		KT_FAIL("sync");
	return NULL;
}

int main(int argc, char **argv)
{
	static struct kt_blocker b;
	static struct iocb qcb[NQ];
	aio_context_t ctx = 0, ctxt[ROUNDS];
	struct io_event ev[64];
	int round, i, seen;
	pthread_t t;
	char c;

	kt_init(argc, argv, "exit_race");
	kt_sysctl_set(1);
	kt_write_file(kt_path("f"), "x", 1, 0644);
	tfile = open(kt_path("f"), O_RDONLY);
	KT_REQUIRE(tfile >= 0, "open");
	KT_REQUIRE(pipe(s1) == 0 && pipe(s2) == 0, "pipe");
	KT_REQUIRE(io_setup(64, &ctx) == 0, "io_setup");

	for (round = 0; round < ROUNDS; round++) {
		ctxt[round] = 0;
		KT_REQUIRE(io_setup(8, &ctxt[round]) == 0, "io_setup");
		kt_block(ctx, &b);
		KT_REQUIRE(pthread_create(&t, NULL, thread_fn,
					  &ctxt[round]) == 0, "pthread_create");
		KT_REQUIRE(read(s1[0], &c, 1) == 1, "sync");
		/* queued behind the blockers: opens of an existing file */
		for (i = 0; i < NQ; i++) {
			kt_prep(&qcb[i], KAIO_IOCB_CMD_OPENAT, AT_FDCWD,
				kt_path("f"), 0, O_RDONLY);
			KT_REQUIRE(kt_submit1(ctx, &qcb[i]) == 0, "submit");
		}
		KT_REQUIRE(write(s2[1], "2", 1) == 1, "sync");
		pthread_join(t, NULL);

		kt_unblock(&b);
		seen = 0;
		while (seen < b.n + NQ) {
			long n = kt_getevents(ctx, 1, 64, ev, 10);

			if (n <= 0)
				break;
			for (i = 0; i < n; i++) {
				KT_CHECK(ev[i].res >= 0,
					 "round %d: %s: res %lld", round,
					 kt_is_blocker(&b, &ev[i]) ?
					 "blocking open" : "queued OPENAT",
					 (long long)ev[i].res);
				if (ev[i].res >= 0)
					close((int)ev[i].res);
			}
			seen += n;
		}
		KT_CHECK(seen == b.n + NQ, "round %d: %d of %d events", round,
			 seen, b.n + NQ);
		kt_blocker_close(&b);
		if (kt_failed)
			break;
	}
	for (i = 0; i < round && i < ROUNDS; i++)
		io_destroy(ctxt[i]);
	io_destroy(ctx);
	close(tfile);
	kt_sysctl_set(0);
	return kt_done();
}
