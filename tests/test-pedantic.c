/* The public header must compile as strict C89 (built with -std=c89). */
#include "kaio_posix.h"
#include "kaio_aio_abi.h"

int main(void)
{
	struct kaio_stats st;
	struct kaio_renameat_info ri;

	(void)st;
	(void)ri;
	return KAIO_STAT_MAX > 0 && sizeof(ri) == 40 ? 0 : 1;
}
