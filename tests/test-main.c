/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The unit suite's runner.  Each test runs in its own process (Check's
 * default; CK_FORK=no for a debugger).  The configuration under test comes
 * from the environment (tests/check-*.sh).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "test-common.h"

int main(void)
{
	struct rlimit core = { 0, 0 };
	SRunner *sr;
	int failed;

	setrlimit(RLIMIT_CORE, &core);
	t_uring_ok();	/* once, here: see test-common.c */
	sr = srunner_create(read_suite());
	srunner_add_suite(sr, write_suite());
	srunner_add_suite(sr, fsync_suite());
	srunner_add_suite(sr, error_return_suite());
	srunner_add_suite(sr, suspend_suite());
	srunner_add_suite(sr, cancel_suite());
	srunner_add_suite(sr, cancel2_suite());
	srunner_add_suite(sr, listio_suite());
	srunner_add_suite(sr, sigevent_suite());
	srunner_add_suite(sr, process_suite());
	srunner_add_suite(sr, abi_suite());
	srunner_add_suite(sr, stress_suite());
	srunner_add_suite(sr, rings_suite());
	srunner_add_suite(sr, routing_suite());
	srunner_add_suite(sr, creds_suite());
	srunner_add_suite(sr, queue_suite());
	srunner_add_suite(sr, robust_suite());
	srunner_add_suite(sr, pathops_suite());
	srunner_add_suite(sr, poll_suite());
	srunner_add_suite(sr, identity_suite());
	srunner_add_suite(sr, fidelity_suite());
	srunner_add_suite(sr, review_suite());
	srunner_add_suite(sr, lifecycle_suite());
	srunner_add_suite(sr, adversary_suite());
	srunner_add_suite(sr, sigdefer_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
