/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kaio-proto.h - the wire protocol and the data pattern shared by
 * kaio-fileserver and kaio-loader.
 *
 * Request (32 bytes, host byte order: both ends are on 127.0.0.1):
 *   op, file, offset, len, id; a WRITE's len bytes of payload follow.
 * Reply (16 bytes): id, status (bytes done, 0, or -errno), len; len bytes
 *   of data follow (READ, INFO).
 *
 * Every byte of every file is a function of (file, offset): kp_fill()
 * makes it, kp_check() checks it.  WRITEs carry that same content, so
 * the files never change and every READ payload stays verifiable.
 */
#ifndef KAIO_PROTO_H
#define KAIO_PROTO_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { KP_READ = 1, KP_WRITE = 2, KP_FSYNC = 3, KP_PING = 4, KP_INFO = 5 };

#define KP_MAX_LEN	(1u << 20)	/* largest READ/WRITE */
#define KP_ALIGN	4096		/* buffers (for O_DIRECT) */

struct kp_req {
	uint8_t op;
	uint8_t pad[3];
	uint32_t file;
	uint64_t offset;
	uint32_t len;
	uint32_t pad2;
	uint64_t id;
};

struct kp_rep {
	uint64_t id;
	int32_t status;
	uint32_t len;
};

struct kp_info {			/* the data of an INFO reply */
	uint32_t files;
	uint32_t max_len;
	uint64_t size;
	uint32_t direct;
	uint32_t pad;
};

_Static_assert(sizeof(struct kp_req) == 32, "kp_req");
_Static_assert(sizeof(struct kp_rep) == 16, "kp_rep");

static inline uint64_t kp_word(uint32_t file, uint64_t widx)
{
	uint64_t z = ((uint64_t)file << 44) ^ widx ^ 0x6b61696f5f706f73ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void kp_fill(void *buf, uint32_t file, uint64_t off, size_t len)
{
	unsigned char *p = buf;

	if (!(off & 7))
		for (; len >= 8; len -= 8, off += 8, p += 8) {
			uint64_t w = kp_word(file, off >> 3);

			memcpy(p, &w, 8);
		}
	while (len) {
		uint64_t w = kp_word(file, off >> 3);
		size_t s = off & 7, n = 8 - s;

		if (n > len)
			n = len;
		memcpy(p, (char *)&w + s, n);
		p += n;
		off += n;
		len -= n;
	}
}

/* kp_check - the index of the first wrong byte, or len if all are right. */
static inline size_t kp_check(const void *buf, uint32_t file, uint64_t off,
			      size_t len)
{
	const unsigned char *p = buf;
	size_t done = 0;

	/* Fast path: whole aligned words (the loader's 4 KiB blocks). */
	if (!(off & 7))
		for (; len - done >= 8; done += 8, off += 8) {
			uint64_t w, g;

			memcpy(&g, p + done, 8);
			w = kp_word(file, off >> 3);
			if (g != w)
				break;
		}
	while (done < len) {
		uint64_t w = kp_word(file, off >> 3);
		size_t s = off & 7, n = 8 - s, i;

		if (n > len - done)
			n = len - done;
		if (memcmp(p + done, (char *)&w + s, n))
			for (i = 0; i < n; i++)
				if (p[done + i] != ((unsigned char *)&w)[s + i])
					return done + i;
		done += n;
		off += n;
	}
	return len;
}

/*
 * kp_reserve - make room for need more bytes at *len in an output buffer
 * whose bytes before *off are sent: reuse them first, then grow.  0, or
 * -1 if the buffer could not grow.
 */
static inline int kp_reserve(char **buf, size_t *off, size_t *len,
			     size_t *cap, size_t need)
{
	char *p;

	if (*off && *off == *len)
		*off = *len = 0;
	if (*len + need <= *cap)
		return 0;
	if (*off) {
		memmove(*buf, *buf + *off, *len - *off);
		*len -= *off;
		*off = 0;
	}
	if (*len + need > *cap) {
		p = realloc(*buf, (*len + need) * 2);
		if (!p)
			return -1;
		*buf = p;
		*cap = (*len + need) * 2;
	}
	return 0;
}

/*
 * kp_recv - receive what fd has into *buf, grown so that 64 KiB always
 * fit.  Returns the bytes added to *len, 0 at EOF, or -1 with errno
 * (EAGAIN: nothing more for now; ENOMEM: the buffer could not grow).
 */
static inline ssize_t kp_recv(int fd, char **buf, size_t *cap, size_t *len)
{
	ssize_t n;
	char *p;

	if (*cap - *len < 65536) {
		p = realloc(*buf, *cap * 2);
		if (!p) {
			errno = ENOMEM;
			return -1;
		}
		*buf = p;
		*cap *= 2;
	}
	do
		n = recv(fd, *buf + *len, *cap - *len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		*len += (size_t)n;
	return n;
}

#endif /* KAIO_PROTO_H */
