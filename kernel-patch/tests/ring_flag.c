/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ring_flag: io_setup() sets AIO_RING_COMPAT_THREADED in the ring header's
 * compat_features if and only if fs.aio-auto-threads was 1 at that time.
 */
#include "kt.h"

struct ring_head {	/* the head of struct aio_ring in fs/aio.c */
	unsigned id, nr, head, tail, magic, compat_features;
	unsigned incompat_features, header_length;
};

static unsigned features(aio_context_t ctx)
{
	const struct ring_head *r = (const void *)ctx;

	KT_REQUIRE(r->magic == 0xa10a10a1, "ring magic %#x", r->magic);
	return r->compat_features;
}

int main(int argc, char **argv)
{
	aio_context_t off = 0, on = 0, off2 = 0;

	kt_init(argc, argv, "ring_flag");

	kt_sysctl_set(0);
	KT_REQUIRE(io_setup(8, &off) == 0, "io_setup");
	kt_sysctl_set(1);
	KT_REQUIRE(io_setup(8, &on) == 0, "io_setup");
	kt_sysctl_set(0);
	KT_REQUIRE(io_setup(8, &off2) == 0, "io_setup");

	printf("compat_features: off %#x on %#x off-again %#x\n",
	       features(off), features(on), features(off2));
	KT_CHECK(!(features(off) & KAIO_AIO_RING_COMPAT_THREADED),
		 "flag set with the sysctl at 0");
	KT_CHECK(features(on) & KAIO_AIO_RING_COMPAT_THREADED,
		 "flag clear with the sysctl at 1");
	KT_CHECK(!(features(off2) & KAIO_AIO_RING_COMPAT_THREADED),
		 "flag set after the sysctl went back to 0");
	/* the mainline bit 1 is untouched */
	KT_CHECK(features(off) & 1, "AIO_RING_COMPAT_FEATURES bit lost");
	KT_CHECK(features(on) & 1, "AIO_RING_COMPAT_FEATURES bit lost");

	io_destroy(off);
	io_destroy(on);
	io_destroy(off2);
	return kt_done();
}
