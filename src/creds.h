/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * creds.h - the identity a request runs with on a pool worker (creds.c).
 */
#ifndef KAIO_CREDS_H
#define KAIO_CREDS_H

#include <stdint.h>
#include <sys/types.h>

#define KAIO_CREDS_NINLINE	16	/* supplementary groups kept inline */

/*
 * What the kernel checks a file operation against, of one thread: its
 * file-system user and group IDs, supplementary groups and effective
 * capabilities.  Groups are in the kernel's (sorted) order.
 */
struct kaio_creds {
	uid_t fsuid;
	gid_t fsgid;
	uint32_t cap[2];		/* effective capabilities */
	int ngroups;
	gid_t grp[KAIO_CREDS_NINLINE];	/* ngroups <= KAIO_CREDS_NINLINE */
	gid_t *more;			/* ngroups > KAIO_CREDS_NINLINE */
};

/* A pool worker's own identity: what it runs with now, and its ceiling. */
struct kaio_wcreds {
	struct kaio_creds cur;		/* valid if known */
	int known;
	int more_cap;			/* gids cur.more has room for */
	uint32_t prm[2], inh[2];	/* never changed by the worker */
	int ok;				/* prm and inh were read */
};

struct kaio_req;
struct kaio_batch;

#define KAIO_CREDS_HIDDEN	__attribute__((visibility("hidden")))

/* Submission side, in the submitting thread. */
int kaio__creds_capture(struct kaio_creds *c) KAIO_CREDS_HIDDEN;
void kaio__creds_release(struct kaio_creds *c) KAIO_CREDS_HIDDEN;
int kaio__creds_prepare(struct kaio_req *req) KAIO_CREDS_HIDDEN;
void kaio__creds_window(struct kaio_req *req,
			struct kaio_batch *batch) KAIO_CREDS_HIDDEN;
/* A kernel backend's aio_cancel(), leaving a request to run. */
void kaio__creds_keep(struct kaio_req *req) KAIO_CREDS_HIDDEN;
/* pool.c: before a request is queued for a worker. */
int kaio__creds_for_pool(struct kaio_req *req) KAIO_CREDS_HIDDEN;
/* Worker side. */
void kaio__creds_worker_init(struct kaio_wcreds *w) KAIO_CREDS_HIDDEN;
int kaio__creds_apply(struct kaio_wcreds *w,
		      const struct kaio_creds *c) KAIO_CREDS_HIDDEN;
void kaio__creds_worker_fini(struct kaio_wcreds *w) KAIO_CREDS_HIDDEN;

#endif /* KAIO_CREDS_H */
