/*
 * The public header must compile as strict C89 (built with -std=c89
 * -pedantic -Werror), given POSIX.1b, which <aio.h> needs as well.
 */
#define _POSIX_C_SOURCE 199309L
#include "kaio_posix.h"
#include "kaio_aio_abi.h"

int main(void)
{
	struct kaio_stats st;
	struct kaio_renameat_info ri;
	struct kaio_event ev;

	(void)st;
	(void)ri;
	(void)ev;
	return KAIO_STAT_MAX > 0 && sizeof(ri) == 40 ? 0 : 1;
}
