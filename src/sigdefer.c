/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigdefer.c - the program's signal handlers wait while a thread reaps,
 * without a signal mask.
 *
 * An application thread that holds a ring's reaping role (reap.c) must run
 * no handler between taking the role and giving it back, but in its wait:
 * a handler's aio_suspend() (async-signal-safe) would wait for completions
 * that only the interrupted frame can reap, or find a batch half done.
 * Blocking every signal around that window costs two rt_sigprocmask calls
 * per wait: on a VM where a system call costs a microsecond, the whole gap
 * between an O_DIRECT read at depth 1 and fio's io_uring engine.
 *
 * So the library puts its own handler (entry()) in front of every handler
 * the program installs (sigaction(), signal() and their kin below), and
 * the window is a thread-local flag, kaio__tls_defer.  Every call of the
 * library that counts its depth (kaio__tls_depth) is such a window too.
 * A signal that comes:
 * - outside them: the program's handler runs at once, with the kernel's
 *   arguments (the same siginfo and ucontext);
 * - inside: deferred.  The signal is blocked, queued again to this thread
 *   with its siginfo (rt_tgsigqueueinfo), and added to the mask the
 *   interrupted frame returns to (uc_sigmask).  Where the call holds
 *   nothing of the library any more (kaio__let_in(), the call's return:
 *   kaio__call_leave(); a window's end outside a call) it is unblocked,
 *   and the kernel delivers it again, in a frame of its own.  A handler
 *   that never returns (siglongjmp()) then leaves nothing held.
 *   Or rather, kept here (kept_put()): its handler is called there, before
 *   its number is unblocked, in the order the signals were caught.
 * - at a window's wait, kaio__park_call(): deferred too, and the wait
 *   ends.  Caught before its system call, the frame is moved to return
 *   -EINTR instead of entering it; caught after it, the call has ended
 *   (with EINTR, or done).  Either way nothing was consumed, and the
 *   caller lets the role go and the handler in.  A wait entered with a
 *   signal deferred returns -EINTR without entering.
 *
 * The mask stays the fallback, chosen for each window: where this file's
 * names do not reach the program first (a sanitizer that handles signals
 * itself, a library loaded with dlopen()), on a machine other than x86_64,
 * with KAIO_SIGDEFER=0, and for good once a handler shows up that was
 * installed behind these names (a raw rt_sigaction system call).
 *
 * Not wrapped: the signals of faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGTRAP, SIGSYS), which a window never raises, and glibc's own.
 * sigaction() reports the program's handler and flags, never entry().
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "kaio-int.h"
#include "sys.h"

__thread int kaio__tls_defer __attribute__((tls_model("initial-exec")));
__thread unsigned long long kaio__tls_sigdeferred
	__attribute__((tls_model("initial-exec")));
__thread unsigned long long kaio__tls_sigwaiting
	__attribute__((tls_model("initial-exec")));

/* The sigmask a backend's reap_batch() gets to wait in kaio__park_call(). */
const sigset_t kaio__park_mask;

#if defined(__x86_64__)
/*
 * long kaio__park_call(const unsigned long long *deferred, long nr,
 *			long a1, long a2, long a3, long a4, long a5, long a6)
 * The system call nr, -errno on failure; -EINTR without it if *deferred.
 */
__asm__(
	".text\n"
	".globl kaio__park_call\n"
	".hidden kaio__park_call\n"
	".type kaio__park_call,@function\n"
	"kaio__park_call:\n"
	"	.cfi_startproc\n"	/* unwound by a cancellation in the wait */
	"	.byte 0xf3,0x0f,0x1e,0xfa\n"	/* endbr64 */
	"	mov %rdi,%r11\n"
	"	mov %rsi,%rax\n"
	"	mov %rdx,%rdi\n"
	"	mov %rcx,%rsi\n"
	"	mov %r8,%rdx\n"
	"	mov %r9,%r10\n"
	"	mov 8(%rsp),%r8\n"
	"	mov 16(%rsp),%r9\n"
	".globl kaio__park_begin\n"
	".hidden kaio__park_begin\n"
	"kaio__park_begin:\n"
	"	cmpq $0,(%r11)\n"
	"	jne kaio__park_bail\n"
	".globl kaio__park_sys\n"
	".hidden kaio__park_sys\n"
	"kaio__park_sys:\n"
	"	syscall\n"
	".globl kaio__park_end\n"
	".hidden kaio__park_end\n"
	"kaio__park_end:\n"
	"	ret\n"
	".globl kaio__park_bail\n"
	".hidden kaio__park_bail\n"
	"kaio__park_bail:\n"
	"	mov $-4,%rax\n"			/* -EINTR */
	"	ret\n"
	"	.cfi_endproc\n"
	".size kaio__park_call,.-kaio__park_call\n");

extern const char kaio__park_begin[] KAIO_HIDDEN;
extern const char kaio__park_sys[] KAIO_HIDDEN;
extern const char kaio__park_end[] KAIO_HIDDEN;
extern const char kaio__park_bail[] KAIO_HIDDEN;
#define PARK_OK	1
#else
long kaio__park_call(const unsigned long long *deferred, long nr, long a1,
		     long a2, long a3, long a4, long a5, long a6)
{
	if (*deferred)
		return -EINTR;
	return sys_call6(nr, a1, a2, a3, a4, a5, a6);
}
#define PARK_OK	0
#endif

/* The kernel's first real-time signal: below it, standard ones, of which
 * one of each is pending at most. */
#define KERNEL_SIGRTMIN	32

/* The program's handler of each signal, behind entry(): a seqlock. */
struct slot {
	atomic_uint seq;
	void *_Atomic fn;
	atomic_int flags;
	atomic_ulong mask;	/* sa_mask, as the kernel keeps it */
};

struct handler {
	void *fn;
	int flags;
	unsigned long mask;
};

#define NSLOTS	65
static struct slot slots[NSLOTS];
static atomic_flag wlock = ATOMIC_FLAG_INIT;
static atomic_int active;	/* windows defer (else they mask) */
static atomic_uint calls;	/* calls of the names below: the probe */

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef sighandler_t (*signal_fn)(int, sighandler_t);

static sigaction_fn real_sigaction;
static signal_fn real_signal, real_sysv_signal, real_sigset;

/* glibc's functions; looked up by the constructor (kaio__sigdefer_setup()),
 * or by the first call, if another constructor comes first. */
static int reals(void)
{
	static atomic_int found;

	if (kaio_likely(atomic_load_explicit(&found, memory_order_acquire)))
		return 1;
	real_sigaction = (sigaction_fn)dlvsym(RTLD_NEXT, "sigaction",
					      "GLIBC_2.2.5");
	real_signal = (signal_fn)dlvsym(RTLD_NEXT, "signal", "GLIBC_2.2.5");
	real_sysv_signal = (signal_fn)dlvsym(RTLD_NEXT, "sysv_signal",
					     "GLIBC_2.2.5");
	real_sigset = (signal_fn)dlvsym(RTLD_NEXT, "sigset", "GLIBC_2.2.5");
	if (!real_sigaction || !real_signal || !real_sysv_signal ||
	    !real_sigset)
		return 0;
	atomic_store_explicit(&found, 1, memory_order_release);
	return 1;
}

static void entry(int sig, siginfo_t *si, void *ucv);

static int wrappable(int sig)
{
	switch (sig) {
	case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL: case SIGTRAP:
	case SIGSYS: case SIGKILL: case SIGSTOP:
		return 0;
	}
	/* glibc keeps SIGRTMIN's first two (SIGCANCEL, SIGSETXID). */
	return sig >= 1 && sig < NSLOTS && (sig < 32 || sig >= SIGRTMIN);
}

static int is_handler(void *fn)
{
	return fn != (void *)SIG_DFL && fn != (void *)SIG_IGN &&
	       fn != (void *)SIG_ERR;
}

/* The program's handler of sig, and the slot's sequence (even) it was
 * read at.  A writer holds the slot odd across its system call too: a
 * reader of a handler caught meanwhile waits for it, asleep (a real-time
 * thread's sched_yield() would not let a writer of lower priority run on
 * its CPU). */
static unsigned read_slot(int sig, struct handler *h)
{
	const struct timespec nap = { 0, 50 * 1000 };
	struct slot *s = &slots[sig];
	unsigned a, b;

	for (;;) {
		a = atomic_load_explicit(&s->seq, memory_order_acquire);
		h->fn = atomic_load_explicit(&s->fn, memory_order_relaxed);
		h->flags = atomic_load_explicit(&s->flags,
						memory_order_relaxed);
		h->mask = atomic_load_explicit(&s->mask, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		b = atomic_load_explicit(&s->seq, memory_order_relaxed);
		if (!(a & 1) && a == b)
			return a;
		if (a & 1)
			sys_call6(SYS_futex, (long)&s->seq,
				  FUTEX_WAIT | FUTEX_PRIVATE_FLAG, (long)a,
				  (long)&nap, 0, 0);
	}
}

/*
 * A writer's change of sig (its slot and the kernel's action) is bracketed
 * by two of these, under wlock: the sequence is odd while it is under way.
 * The release store keeps what came before (the change) ahead of it, the
 * fence keeps what comes after (the change) behind it.
 */
static void slot_bump(int sig)
{
	struct slot *s = &slots[sig];

	atomic_store_explicit(&s->seq,
			      atomic_load_explicit(&s->seq,
						   memory_order_relaxed) + 1,
			      memory_order_release);
	atomic_thread_fence(memory_order_release);
}

static void write_slot(int sig, const struct handler *h)
{
	struct slot *s = &slots[sig];

	atomic_store_explicit(&s->fn, h->fn, memory_order_relaxed);
	atomic_store_explicit(&s->flags, h->flags, memory_order_relaxed);
	atomic_store_explicit(&s->mask, h->mask, memory_order_relaxed);
}

static unsigned long kmask(const sigset_t *set)
{
	unsigned long m;

	memcpy(&m, set, sizeof(m));
	return m;
}

static void set_kmask(sigset_t *set, unsigned long m)
{
	sigemptyset(set);
	memcpy(set, &m, sizeof(m));
}

/* Every signal blocked in this thread; the mask before in *old if old. */
static void block_all(unsigned long *old)
{
	unsigned long all = ~0UL;

	sys_call6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&all, (long)old, 8, 0,
		  0);
}

/* Writers: one at a time, and no handler of this thread meanwhile (they
 * are async-signal-safe: a handler may install a handler). */
static void lock(unsigned long *old)
{
	block_all(old);
	while (atomic_flag_test_and_set_explicit(&wlock, memory_order_acquire))
		sys_call6(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
}

static void unlock(const unsigned long *old)
{
	atomic_flag_clear_explicit(&wlock, memory_order_release);
	sys_call6(SYS_rt_sigprocmask, SIG_SETMASK, (long)old, 0, 8, 0, 0);
}

/* entry() in front of h, with h's flags and mask. */
static int install(int sig, const struct handler *h)
{
	struct sigaction act;

	memset(&act, 0, sizeof(act));
	act.sa_sigaction = entry;
	act.sa_flags = h->flags | SA_SIGINFO;
	set_kmask(&act.sa_mask, h->mask);
	return real_sigaction(sig, &act, NULL);
}

/* The kernel's action old as the program set it (behind entry(): prev). */
static void view(int sig, const struct sigaction *old,
		 const struct handler *prev, struct sigaction *oact)
{
	*oact = *old;
	if (old->sa_sigaction == entry) {
		oact->sa_sigaction = (void (*)(int, siginfo_t *, void *))prev->fn;
		oact->sa_flags = (old->sa_flags & ~SA_SIGINFO) |
				 (prev->flags & SA_SIGINFO);
	} else if (wrappable(sig) && is_handler((void *)old->sa_handler)) {
		/* Installed behind these names: windows mask from now on. */
		kaio__sigdefer_foreign();
	}
}

/* What another name installed (signal(), sigset()): entry() goes in
 * front of a handler; a disposition is kept in the slot as it is.
 * Between two slot_bump()s. */
static void rewrap_locked(int sig)
{
	struct sigaction cur;
	struct handler h;

	if (real_sigaction(sig, NULL, &cur) || cur.sa_sigaction == entry)
		return;
	h.fn = (void *)cur.sa_sigaction;
	h.flags = cur.sa_flags;
	h.mask = kmask(&cur.sa_mask);
	write_slot(sig, &h);
	if (is_handler(h.fn))
		install(sig, &h);
}

/* Was the frame uc interrupted at a park?  Before its system call (or at
 * it, to be restarted), it is moved to return -EINTR instead. */
static int at_park(ucontext_t *uc)
{
#if PARK_OK
	greg_t *ip = &uc->uc_mcontext.gregs[REG_RIP];
	uintptr_t pc = (uintptr_t)*ip;

	if (pc >= (uintptr_t)kaio__park_begin &&
	    pc <= (uintptr_t)kaio__park_sys) {
		*ip = (greg_t)(uintptr_t)kaio__park_bail;
		return 1;
	}
	/* After it: only if the call took nothing.  io_getevents() returns
	 * the events it took, which are the interrupted frame's to complete
	 * (a handler's aio_suspend() would wait for them in the ring). */
	return pc == (uintptr_t)kaio__park_end &&
	       (long)uc->uc_mcontext.gregs[REG_RAX] <= 0;
#else
	(void)uc;
	return 0;
#endif
}

/*
 * The signals held back in this thread, kept here in the order they were
 * caught until they are let in (unblock()), which calls their handlers
 * in that order before it unblocks their numbers.  That is the order the
 * kernel ran them in: where several are pending, it stacks a frame for
 * each and the last one's handler runs first, and so is caught first.
 * Queued again instead, a real-time signal went behind the copies of its
 * number already pending (pthread_sigqueue() to a thread looping in the
 * library's calls: 4,300-4,800 of 20,000 out of order), and one of two
 * numbers sent in turn behind the other.  A number stays blocked while a
 * copy of it is kept, so the ring holds one copy of a number at most.
 * Queued again as before: a signal whose handler has SA_NODEFER (later
 * copies must be able to come in during it), and one caught with the
 * ring full.  A ring with one writer and one reader, both this thread: a
 * writer nests in the reader's handlers, the reader never in a writer's
 * entry() but at a park that could not queue again (let_in(), which
 * stops at a slot not yet filled); a reader nested in another's taking
 * of a slot (kept_taking) leaves the ring to it.  The siginfo is kept to
 * KEPT_SI bytes: every field the kernel fills for the signals wrapped.
 */
#define NKEPT	4
#define KEPT_SI	48

/* A slot's sig once taken out ahead of the head (unblock()). */
#define KEPT_TAKEN	(-1)

struct kept {
	int sig;		/* 0 while the slot is filled */
	unsigned begun;		/* handler frames begun before it came */
	unsigned char si[KEPT_SI];
};

static __thread struct kept kept[NKEPT]
	__attribute__((tls_model("initial-exec")));
static __thread unsigned kept_head __attribute__((tls_model("initial-exec")));
static __thread unsigned kept_tail __attribute__((tls_model("initial-exec")));
/* A let-in is taking one out (unblock()): another, nested, must not. */
static __thread int kept_taking __attribute__((tls_model("initial-exec")));
/* Handler frames counted in on this thread so far (count_in()). */
static __thread unsigned begun __attribute__((tls_model("initial-exec")));

static int kept_put(int sig, const siginfo_t *si, const struct handler *h)
{
	struct kept *k;
	unsigned t;

	if (h->flags & SA_NODEFER)
		return 0;
	t = __atomic_fetch_add(&kept_tail, 1, __ATOMIC_RELAXED);
	if (t - kept_head >= NKEPT) {
		/* A writer nested meanwhile found it full too. */
		__atomic_fetch_sub(&kept_tail, 1, __ATOMIC_RELAXED);
		return 0;
	}
	k = &kept[t % NKEPT];
	k->begun = __atomic_load_n(&begun, __ATOMIC_RELAXED);
	memcpy(k->si, si, KEPT_SI);
	atomic_signal_fence(memory_order_seq_cst);
	__atomic_store_n(&k->sig, sig, __ATOMIC_RELAXED);
	return 1;
}

/* The bits of the signals kept. */
unsigned long long kaio__sigdefer_kept(void)
{
	unsigned long long bits = 0;
	unsigned i, tail = __atomic_load_n(&kept_tail, __ATOMIC_RELAXED);
	int sig;

	for (i = kept_head; i != tail; i++) {
		sig = __atomic_load_n(&kept[i % NKEPT].sig, __ATOMIC_RELAXED);
		if (sig > 0)
			bits |= 1ULL << (sig - 1);
	}
	return bits;
}

static void call(const struct handler *h, int sig, siginfo_t *si, void *uc);
static void run(const struct handler *h, int sig, siginfo_t *si, void *uc);
static unsigned long unmasked(unsigned long frame, unsigned long own);

/* Handlers of the program this thread runs now (call()); left above 0 by
 * one that jumped out, for good. */
static __thread int handlers_live __attribute__((tls_model("initial-exec")));
/* entry()s begun on this thread: did one come in between? */
static __thread unsigned entries __attribute__((tls_model("initial-exec")));

/*
 * Where the first NLIVE frames counted in handlers_live are (an address
 * in the frame of the entry(), call() or kept_run() that counted it), the
 * mask each handler runs with (its sa_mask and number: live_mask), and
 * which of them are on the thread's alternate stack (a bit each), as the
 * last entry() was told of it (uc_stack; alt_size 0: none).  A handler
 * that leaves by siglongjmp() or setcontext() does not count itself out:
 * the jump does (jumped()), or handlers_live stayed raised on the thread
 * for good, and a later handler's call of the library left what it let
 * in blocked as that handler's frame returned.
 */
#define NLIVE	8
static __thread unsigned long live_sp[NLIVE], live_mask[NLIVE]
	__attribute__((tls_model("initial-exec")));
static __thread unsigned live_seq[NLIVE]
	__attribute__((tls_model("initial-exec")));
static __thread unsigned live_alt __attribute__((tls_model("initial-exec")));
static __thread unsigned long alt_lo, alt_size
	__attribute__((tls_model("initial-exec")));

static void live_note(int at, unsigned long sp, unsigned long mask,
		      unsigned seq, int on)
{
	if (at < 0 || at >= NLIVE)
		return;
	live_sp[at] = sp;
	live_mask[at] = mask;
	live_seq[at] = seq;
	if (on)
		live_alt |= 1U << at;
	else
		live_alt &= ~(1U << at);
}

/*
 * handlers_live, from live to live + 1, for the frame at sp of a handler
 * that runs with mask (h's sa_mask, and sig unless SA_NODEFER).  Noted
 * before and after the count: a handler that comes in between notes its
 * own at the same place and counts itself out again, before this one
 * goes on.
 */
static void count_in(int live, unsigned long sp, const struct handler *h,
		     int sig)
{
	unsigned long mask = h->mask;
	unsigned seq = __atomic_add_fetch(&begun, 1, __ATOMIC_RELAXED);
	int on = sp - alt_lo < alt_size;

	if (!(h->flags & SA_NODEFER))
		mask |= 1UL << (sig - 1);
	live_note(live, sp, mask, seq, on);
	atomic_signal_fence(memory_order_seq_cst);
	handlers_live = live + 1;
	atomic_signal_fence(memory_order_seq_cst);
	live_note(live, sp, mask, seq, on);
}

/*
 * The thread's alternate stack, as the kernel tells entry() (uc_stack).
 * None, inside a handler: with SS_AUTODISARM the kernel takes it away
 * while a handler runs on it, and a frame nested there, or a jump back
 * into that handler, was then counted as off it (an outside review: the
 * handler counted out while it ran, or a jump out of a nested one that
 * left both counted).  The stack it had stays the one.
 */
static void alt_seen(const ucontext_t *uc)
{
	if (!uc->uc_stack.ss_size && handlers_live)
		return;
	alt_lo = (unsigned long)uc->uc_stack.ss_sp;
	alt_size = uc->uc_stack.ss_size;
}

/*
 * How many of the handler frames counted stay for a jump to stack address
 * to: it leaves those below it.  A frame on the alternate stack is left
 * by a jump off that stack too; one elsewhere stays for a jump onto it
 * (to a handler nested in it there).  A frame past the first NLIVE stays
 * while the last noted one does (it is nested in that one).
 */
static int staying(unsigned long to)
{
	int n = handlers_live, i, on, there = to - alt_lo < alt_size;

	while (n > 0) {
		i = n > NLIVE ? NLIVE - 1 : n - 1;
		on = live_alt >> i & 1;
		if (on ? there && to < live_sp[i] : there || to < live_sp[i])
			break;
		n = i;
	}
	return n;
}

/* A jump to stack address to: the frames it leaves are counted out. */
static void jumped(unsigned long to)
{
	int n = staying(to);

	if (n != handlers_live) {
		atomic_signal_fence(memory_order_seq_cst);
		handlers_live = n;
	}
}

/* sig queued again to this thread, with its siginfo: 0, or the error. */
static long requeue(int sig, const siginfo_t *si)
{
	return sys_call6(SYS_rt_tgsigqueueinfo,
			 sys_call6(SYS_getpid, 0, 0, 0, 0, 0, 0),
			 sys_call6(SYS_gettid, 0, 0, 0, 0, 0, 0), sig,
			 (long)si, 0, 0);
}

/*
 * A kept signal's handler h runs, as the kernel would run it: with its
 * sa_mask blocked (unblock() blocks it, mask, before it takes the signal
 * out, and restores the mask after it), and a ucontext of this point
 * whose mask is the one it returns to (old, the mask before, but bits,
 * about to be let in).  One whose action is no handler any more is queued
 * again (SIG_DFL: for the kernel to act on as it is let in) or dropped
 * (SIG_IGN).  A handler that calls setcontext() on its ucontext returns
 * so.  Returns what of old a handler that came since the take (entries
 * was seen at seen before it) let in: the restore must not block it again.
 */
static unsigned long kept_run(int sig, siginfo_t *si, unsigned long long bits,
			      const struct handler *h, unsigned long old,
			      unsigned long mask, unsigned seen)
{
	volatile int back = 0, live = handlers_live;
	volatile unsigned long gone = 0;
	unsigned long m;
	ucontext_t uc;
	int saved = errno;

	if (!is_handler(h->fn)) {
		if (h->fn != (void *)SIG_IGN)
			requeue(sig, si);
		goto out;
	}
	getcontext(&uc);
	if (back) {
		/* Back through setcontext(): call() did not count it out,
		 * and keep_behind() would stay off on this thread. */
		handlers_live = live;
		goto out;
	}
	back = 1;
	/* Counted from here, one that comes runs nested and lets in
	 * nothing of old; one before may have (unmasked()). */
	count_in(live, (unsigned long)__builtin_frame_address(0), h, sig);
	if (entries != seen)
		gone = unmasked(old, mask | 1UL << (sig - 1));
	m = old & ~((unsigned long)bits | 1UL << (sig - 1) | gone);
	memcpy(&uc.uc_sigmask, &m, sizeof(m));
	errno = saved;
	run(h, sig, si, &uc);
	atomic_signal_fence(memory_order_seq_cst);
	handlers_live = live;
out:
	errno = saved;
	return gone;
}

/*
 * The sa_masks of the handlers of the kept signals after the one at head.
 * The kernel stacks a frame for each signal it delivers at once, and the
 * handler on top runs with the masks of all the frames below it: a signal
 * one of those masks blocks waits until that handler has run.  Taken out
 * of the ring one at a time, the rest would not block it: a third number
 * sent while the first kept handler ran (its own mask empty) ran nested in
 * it, ahead of a kept one whose mask blocks it and that was sent before it
 * (an outside tester: 0-5 of 20,000 pairs swapped).
 */
static unsigned long kept_masks(unsigned head)
{
	unsigned i, tail = __atomic_load_n(&kept_tail, __ATOMIC_RELAXED);
	unsigned long m = 0;
	struct handler h;
	int sig;

	for (i = head + 1; i != tail; i++) {
		sig = __atomic_load_n(&kept[i % NKEPT].sig, __ATOMIC_RELAXED);
		if (sig > 0 && (read_slot(sig, &h), is_handler(h.fn)))
			m |= h.mask;
	}
	return m;
}

/*
 * What the program's handlers running on this thread block (live_mask)
 * of a signal kept after seen of them had begun: it waits, as a pending
 * one waits for the kernel, until the handler that blocks it has
 * returned.  Only the frames begun after it came: one that ran when it
 * came did not block it (the kernel delivered it), whatever its sa_mask
 * (a handler that unblocked it itself, one left by a jump no wrapper saw:
 * kaio_posix(7), BUGS).  Nor a frame the stack pointer here is already
 * above (staying()): left, it holds nothing.
 */
static unsigned long live_held(unsigned seen)
{
	unsigned long m = 0;
	int n, i;

	if (!handlers_live)
		return 0;
	n = staying((unsigned long)__builtin_frame_address(0));
	for (i = 0; i < n && i < NLIVE; i++)
		if ((int)(live_seq[i] - seen) > 0)
			m |= live_mask[i];
	return m;
}

/*
 * Does a handler running here hold the kept signal at slot i (taken or
 * not)?  Only while its number is blocked: a handler that unblocked it
 * itself (sigprocmask()) would have had it delivered there, in glibc.
 */
static int kept_held(unsigned i, int sig)
{
	unsigned long cur;

	if (!(live_held(kept[i % NKEPT].begun) & 1UL << (sig - 1)))
		return 0;
	sys_call6(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)&cur, 8, 0, 0);
	return cur >> (sig - 1) & 1;
}

/*
 * The kept signals but the one at t that a handler running here, or the
 * one at t about to run (mask: its sa_mask and number), holds.
 */
static unsigned long long kept_behind_held(unsigned t, unsigned long mask)
{
	unsigned i, tail = __atomic_load_n(&kept_tail, __ATOMIC_RELAXED);
	unsigned long long m = 0;
	int sig;

	for (i = kept_head; i != tail; i++) {
		sig = __atomic_load_n(&kept[i % NKEPT].sig, __ATOMIC_RELAXED);
		if (i != t && sig > 0 &&
		    ((mask | live_held(kept[i % NKEPT].begun)) &
		     1UL << (sig - 1)))
			m |= 1ULL << (sig - 1);
	}
	return m;
}

/*
 * The first kept signal after the one at head that no handler running
 * here holds, as the kernel delivers one that no mask blocks while others
 * wait pending; head if none.
 */
static unsigned kept_unheld(unsigned head)
{
	unsigned i, tail = __atomic_load_n(&kept_tail, __ATOMIC_RELAXED);
	int sig;

	for (i = head + 1; i != tail; i++) {
		sig = __atomic_load_n(&kept[i % NKEPT].sig, __ATOMIC_RELAXED);
		if (!sig)
			break;		/* being filled */
		if (sig > 0 && !kept_held(i, sig))
			return i;
	}
	return head;
}

/* The standard signals among bits. */
#define STANDARD(bits)	((bits) & ((1ULL << (KERNEL_SIGRTMIN - 1)) - 1))

/*
 * The standard signals of std that are still kept waited, in glibc,
 * pending while the kept handler that blocks them ran: a copy of one
 * sent meanwhile (by that handler, say) merged with it, and its handler
 * runs once.  Such a copy, pending now and not before the handler
 * began (the caller's look), is taken out: its number is held.
 */
static void merge_pending(unsigned long long std)
{
	struct timespec zero = { 0, 0 };
	unsigned long one;

	std &= kaio__sigdefer_kept();
	while (std) {
		one = std & -std;
		std &= std - 1;
		sys_call6(SYS_rt_sigtimedwait, (long)&one, 0, (long)&zero, 8,
			  0, 0);
	}
}

/*
 * Unblock bits, which this thread held back: the kept signals' handlers
 * run first, in the order caught.  Each is taken out before it runs, and
 * the bits of the rest are held back again meanwhile: a handler that
 * jumps out leaves them for the next call's end to let in.  Each runs
 * with its sa_mask and those of the rest blocked (kept_masks()), and the
 * mask is then restored with every number still kept in it: one caught
 * and kept in the moment before the handler began (keep_behind()) stays
 * blocked while it is kept, or a second copy could run ahead of it.  The
 * handler's own number is let in there, as its sigreturn would, where
 * a copy that comes then waits its turn.  A kept one that a handler
 * running here blocks stops the let-in (live_held()): it and those
 * behind it wait, held in kaio__tls_sigwaiting, for the let-in or call
 * below that handler; one behind it that none holds comes in first.  Returns whether a handler ran or a number was let
 * in (kaio__let_in(): the wait's EINTR).
 */
static int unblock(unsigned long long bits)
{
	unsigned char si[sizeof(siginfo_t)];
	unsigned long long rest, still, lib, now, held, std, before = 0;
	unsigned long m, old = 0, gone;
	struct handler hd;
	unsigned h, t, seen;
	int sig, ran = 0;

	/* Nested in another let-in's taking one out: the kept ones are its
	 * to let in. */
	if (kept_taking)
		goto leave_kept;
	for (;;) {
		kept_taking = 1;
		atomic_signal_fence(memory_order_seq_cst);
		h = kept_head;
		if (h == __atomic_load_n(&kept_tail, __ATOMIC_RELAXED) ||
		    !(sig = __atomic_load_n(&kept[h % NKEPT].sig,
					    __ATOMIC_RELAXED))) {
			atomic_signal_fence(memory_order_seq_cst);
			kept_taking = 0;
			break;
		}
		if (sig == KEPT_TAKEN) {
			/* Taken out ahead of it: a hole, passed. */
			__atomic_store_n(&kept[h % NKEPT].sig, 0,
					 __ATOMIC_RELAXED);
			kept_head = h + 1;
			atomic_signal_fence(memory_order_seq_cst);
			kept_taking = 0;
			continue;
		}
		t = h;
		if (kept_held(h, sig)) {
			/* A handler running here blocks it (one kept before
			 * it, whose own call lets in): it waits for the let-in
			 * or call below that handler, and the first one behind
			 * it that none blocks comes in ahead of it. */
			t = kept_unheld(h);
			if (t == h) {
				atomic_signal_fence(memory_order_seq_cst);
				kept_taking = 0;
				goto leave_kept;
			}
			sig = __atomic_load_n(&kept[t % NKEPT].sig,
					      __ATOMIC_RELAXED);
		}
		/* Its handler's sa_mask blocked before it is taken out: a
		 * signal of that mask that comes from now on waits pending
		 * until the handler is done.  Blocked after, as kept_run()
		 * did, such a signal ran first if it came in between (two
		 * numbers sent in turn, a handler blocking both: 0-2 of
		 * 5,000 pairs swapped). */
		read_slot(sig, &hd);
		m = is_handler(hd.fn) ? (hd.mask | kept_masks(t)) &
					~(1UL << (sig - 1)) : 0;
		held = kept_behind_held(t, is_handler(hd.fn) ?
					   hd.mask | 1UL << (sig - 1) : 0);
		seen = entries;
		atomic_signal_fence(memory_order_seq_cst);
		sys_call6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&m, (long)&old,
			  8, 0, 0);
		/* What of old the library holds (each number kept, or held
		 * back to be let in): not the program's mask. */
		lib = bits | kaio__sigdefer_kept() |
		      __atomic_load_n(&kaio__tls_sigdeferred, __ATOMIC_RELAXED);
		memset(si, 0, sizeof(si));
		memcpy(si, kept[t % NKEPT].si, KEPT_SI);
		if (t != h) {
			__atomic_store_n(&kept[t % NKEPT].sig, KEPT_TAKEN,
					 __ATOMIC_RELAXED);
		} else {
			__atomic_store_n(&kept[h % NKEPT].sig, 0,
					 __ATOMIC_RELAXED);
			kept_head = h + 1;
		}
		atomic_signal_fence(memory_order_seq_cst);
		kept_taking = 0;
		/* Kept since bits were taken (in a handler's own call): let
		 * in here too. */
		__atomic_fetch_and(&kaio__tls_sigwaiting, ~(1ULL << (sig - 1)),
				   __ATOMIC_RELAXED);
		if (!(bits & 1ULL << (sig - 1))) {
			__atomic_fetch_and(&kaio__tls_sigdeferred,
					   ~(1ULL << (sig - 1)),
					   __ATOMIC_RELAXED);
			bits |= 1ULL << (sig - 1);
		}
		/* The rest is let in by the handler's own call, at its end or
		 * as its wait begins, but what a running handler's mask
		 * blocks: that waits for it to return.  None is a signal held
		 * back in that call: it ends none of its waits with EINTR
		 * (glibc ran it before the handler's body, or holds it). */
		rest = kaio__sigdefer_kept();
		held &= rest;
		if (rest)
			__atomic_fetch_or(&kaio__tls_sigwaiting, rest,
					  __ATOMIC_RELAXED);
		std = STANDARD(held);
		if (std)
			sys_call6(SYS_rt_sigpending, (long)&before, 8, 0, 0, 0,
				  0);
		gone = kept_run(sig, (siginfo_t *)si, bits, &hd, old, m, seen);
		ran = 1;
		if (std)
			merge_pending(std & ~before);
		/*
		 * The mask is restored as the kernel's sigreturn restores it:
		 * the program's part as it was before the handler (whatever
		 * the handler blocked), the library's as it is now (a kept
		 * one a nested let-in ran is not blocked again, nor one a
		 * handler that came before it began let in: gone).  The
		 * handler's own number comes in, unless a copy is kept: left
		 * blocked until every kept one had run, a signal its mask
		 * held ran as it returned, and that one's handler's pair,
		 * sent in turn, came in with the first number still blocked:
		 * the second ran first (two numbers sent in turn to a thread
		 * looping in the library's calls: 3 of 40,000 pairs in CI).
		 * A copy that comes then is kept behind the rest
		 * (keep_behind()); inside a program's handler, or on a
		 * thread one jumped out on, it runs at once (kaio_posix(7)).
		 * None comes in between the look and the mask: one kept
		 * there was unblocked, and one let in by a handler's own
		 * call there blocked again, for good.
		 */
		block_all(NULL);
		still = kaio__sigdefer_kept();
		bits &= ~((1ULL << (sig - 1)) & ~still);
		now = bits | still | __atomic_load_n(&kaio__tls_sigdeferred,
						     __ATOMIC_RELAXED);
		/* Inside a handler of the program, a number it held may be
		 * in that handler's mask too: only the kept handler's own
		 * goes, the handler's frame lets in the rest (entry()'s
		 * unheld(), or the unblock() that runs it). */
		if (handlers_live)
			lib = (1ULL << (sig - 1)) & ~still;
		m = (old & ~((unsigned long)lib | gone)) | (unsigned long)now;
		sys_call6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&m, 0, 8, 0,
			  0);
		/* Only those of rest still kept: one a nested let-in ran
		 * and that was caught again since, and queued again (the
		 * ring full), is held by that bit alone.  Cleared, it stayed
		 * blocked for good, and its number's later copies never ran
		 * (an outside tester's storm of eight numbers). */
		rest &= kaio__sigdefer_kept();
		if (rest) {
			__atomic_fetch_and(&kaio__tls_sigdeferred, ~rest,
					   __ATOMIC_RELAXED);
			__atomic_fetch_and(&kaio__tls_sigwaiting, ~rest,
					   __ATOMIC_RELAXED);
		}
	}
	goto out;
leave_kept:
	/* Held, not held back in a wait: a park would end at once. */
	rest = kaio__sigdefer_kept();
	__atomic_fetch_and(&kaio__tls_sigdeferred, ~rest, __ATOMIC_RELAXED);
	__atomic_fetch_or(&kaio__tls_sigwaiting, rest, __ATOMIC_RELAXED);
	bits &= ~rest;
out:
	if (bits)
		sys_call6(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&bits, 0, 8,
			  0, 0);
	return ran || bits;
}

/* What was held back in this thread comes in (outside windows): did a
 * handler run, or a number come in? */
int kaio__sigdefer_let_go(void)
{
	unsigned long long bits;

	bits = __atomic_exchange_n(&kaio__tls_sigdeferred, 0, __ATOMIC_RELAXED);
	bits |= __atomic_exchange_n(&kaio__tls_sigwaiting, 0, __ATOMIC_RELAXED);
	return bits ? unblock(bits) : 0;
}

/* The numbers this thread ever held back (hold()): only those can be let
 * in under a frame that still blocks them (stripped()). */
static __thread unsigned long held_ever
	__attribute__((tls_model("initial-exec")));

/* sig, kept or queued again, stays blocked as the frame uc returns and
 * until this thread lets it in. */
static void hold(int sig, ucontext_t *uc)
{
	held_ever |= 1UL << (sig - 1);
	sigaddset(&uc->uc_sigmask, sig);
	__atomic_fetch_or(&kaio__tls_sigdeferred, 1ULL << (sig - 1),
			  __ATOMIC_RELAXED);
}

/* Hold sig back until the window ends (see the top).  0 if it cannot be
 * kept or queued again (RLIMIT_SIGPENDING): the handler runs at once then
 * (entry()).  seq: the slot's sequence h was read at. */
static int defer(int sig, siginfo_t *si, ucontext_t *uc,
		 const struct handler *h, unsigned seq)
{
	unsigned long one = 1UL << (sig - 1), old, all;
	struct sigaction cur;

	sys_call6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&one, (long)&old, 8, 0,
		  0);
	if (kept_put(sig, si, h))
		goto held;
	if (requeue(sig, si)) {
		sys_call6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8,
			  0, 0);
		return 0;
	}
	/* The kernel reset it on delivery; the copy queued is the one
	 * delivery (not re-installed if the queueing failed, nor over what
	 * another thread installed since: a writer after the delivery
	 * leaves the slot changed, or the action other than the default). */
	if (h->flags & SA_RESETHAND) {
		lock(&all);
		if (atomic_load_explicit(&slots[sig].seq,
					 memory_order_relaxed) == seq &&
		    !real_sigaction(sig, NULL, &cur) &&
		    cur.sa_handler == SIG_DFL) {
			slot_bump(sig);
			install(sig, h);
			slot_bump(sig);
		}
		unlock(&all);
	}
held:
	hold(sig, uc);
	return 1;
}

/*
 * What is held back stays blocked as the frame uc returns.  Needed beyond
 * the frame that deferred a signal: when several are pending, the kernel
 * stacks a frame for each before any runs, so an outer frame (one caught
 * at a park, say) saved a mask from before the inner ones deferred
 * theirs, and would let them all in again as it returns (measured: every
 * one of 16 pending signals deferred 16 times).
 */
static void keep(ucontext_t *uc)
{
	unsigned long long bits = kaio__tls_sigdeferred | kaio__tls_sigwaiting;
	unsigned long m;

	if (!bits)
		return;
	memcpy(&m, &uc->uc_sigmask, sizeof(m));
	m |= (unsigned long)bits;
	memcpy(&uc->uc_sigmask, &m, sizeof(m));
}

/*
 * At a park, when the signal could not be queued again (entry()), what
 * the window held back comes in first: the kernel stacked
 * their frames on this one's and they ran first, deferred (or they came
 * as the park began).  They run as this handler will, and before it, as
 * without the library; left for the window's close, they ran after it,
 * or in it, as a window it opened closed.  Those the handler's mask
 * blocks wait for it to return (p->deferred: the window's again then).
 */
static void let_in(ucontext_t *uc, const struct handler *h, int sig,
		   struct kaio_parked *p)
{
	unsigned long long bits = __atomic_exchange_n(&kaio__tls_sigdeferred,
						      0, __ATOMIC_RELAXED);
	unsigned long long kept_bits = kaio__sigdefer_kept();
	unsigned long m, held = h->mask;

	if (!(h->flags & SA_NODEFER))
		held |= 1UL << (sig - 1);
	/* The kept ones run in their order, or wait with the first one the
	 * handler's mask holds back. */
	if (kept_bits & held)
		held |= kept_bits;
	p->deferred = bits & held;
	bits &= ~(unsigned long long)held;
	if (!bits)
		return;
	memcpy(&m, &uc->uc_sigmask, sizeof(m));
	m &= ~(unsigned long)bits;
	memcpy(&uc->uc_sigmask, &m, sizeof(m));
	unblock(bits);
}

/* The program's handlers this thread ran (eintr.c). */
__thread unsigned long kaio__tls_handled
	__attribute__((tls_model("initial-exec")));

/* As the kernel calls it on x86_64: with siginfo and ucontext, also for
 * a handler installed without SA_SIGINFO (some read them all the same). */
static void run(const struct handler *h, int sig, siginfo_t *si, void *uc)
{
	kaio__tls_handled++;
	((void (*)(int, siginfo_t *, void *))h->fn)(sig, si, uc);
}

/* Counted in handlers_live while it runs. */
static void call(const struct handler *h, int sig, siginfo_t *si, void *uc)
{
	int live = handlers_live;

	count_in(live, (unsigned long)__builtin_frame_address(0), h, sig);
	run(h, sig, si, uc);
	atomic_signal_fence(memory_order_seq_cst);
	handlers_live = live;
}

/*
 * A signal outside calls and handlers while the ring holds some: kept
 * behind them (1), not run before them.  The ring is then being let in,
 * or about to be: a call gave its depth back and has yet to take them
 * out (kaio__call_leave(), kaio__let_in()), or unblock() is between two.
 * That let-in takes the ring until it finds it empty, so it runs this
 * one too.  Run at once, it came before signals caught earlier: two
 * numbers sent in turn to a thread looping in the library's calls, with
 * another test busy beside, swapped 10-49 of 40,000 pairs under native
 * AIO.  Not where a handler runs (nested in it, as the kernel nests) or
 * one jumped out (handlers_live): the ring may then wait for the next
 * call.  1 if kept.
 */
static int keep_behind(int sig, siginfo_t *si, ucontext_t *uc,
		       const struct handler *h)
{
	unsigned long one = 1UL << (sig - 1), old;

	if (handlers_live || !kaio__sigdefer_on() ||
	    kept_head == __atomic_load_n(&kept_tail, __ATOMIC_RELAXED))
		return 0;
	sys_call6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&one, (long)&old, 8, 0,
		  0);
	if (!kept_put(sig, si, h)) {
		sys_call6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8,
			  0, 0);
		return 0;
	}
	hold(sig, uc);
	return 1;
}

/*
 * A handler that ran here let in, through its own calls of the library,
 * some of what the thread held back when it was caught (held): those are
 * not blocked again as the frame uc returns.  They were: the interrupted
 * frame's mask had them, and nothing held them any more (a storm of
 * signals at a thread looping in aio_read() and aio_suspend(), a handler
 * of which calls aio_suspend(): SIGRTMIN+4 and SIGUSR1 blocked for good).
 */
static void unheld(ucontext_t *uc, unsigned long long held)
{
	unsigned long m;

	held &= ~(__atomic_load_n(&kaio__tls_sigdeferred, __ATOMIC_RELAXED) |
		  kaio__sigdefer_kept());
	if (!held)
		return;
	memcpy(&m, &uc->uc_sigmask, sizeof(m));
	m &= ~(unsigned long)held;
	memcpy(&uc->uc_sigmask, &m, sizeof(m));
}

/*
 * What of the frame uc's mask a signal let in before this entry() looked:
 * one the kernel stacked on it as it delivered both, or that came at its
 * first instructions, whose handler's own call let in what the thread held
 * back.  That one's unheld() took them out of the mask it returned to,
 * this entry()'s, not out of uc, and they were blocked again for good as
 * this frame returned (a storm under load: SIGWINCH and SIGRTMIN+2 left
 * blocked in 1 run of 8).  Its handler's sa_mask is made whole again too:
 * it ran without it.  0 unless the thread ever held back one of the
 * numbers this frame blocks (one system call then).
 */
static unsigned long stripped(const ucontext_t *uc, const struct handler *h,
			      int sig)
{
	unsigned long frame, own = h->mask;

	memcpy(&frame, &uc->uc_sigmask, sizeof(frame));
	/* Its own number left out of the look: after one was held back,
	 * each later one (a profiling timer's) would pay the system call. */
	if (!((frame | own) & held_ever))
		return 0;
	if (!(h->flags & SA_NODEFER))
		own |= 1UL << (sig - 1);
	return unmasked(frame, own);
}

/* What of frame, blocked as a handler began, is not blocked now: a
 * handler nested before it let it in.  own, the handler's sa_mask and
 * number, is blocked again where it was let in so.  Only numbers the
 * thread ever held back count: one a nested handler unblocked itself (in
 * its ucontext) is the program's doing, as without the library. */
static unsigned long unmasked(unsigned long frame, unsigned long own)
{
	unsigned long cur, gone;

	sys_call6(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)&cur, 8, 0, 0);
	gone = own & ~cur & held_ever;
	if (gone)
		sys_call6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&gone, 0, 8, 0,
			  0);
	return frame & ~cur & held_ever;
}

/*
 * The frame uc returns with what the thread holds now (keep()), and
 * without what of held, held when it was looked at, is let in since
 * (unheld()).  Every signal blocked from the look on, if anything was or
 * is held: one that came between it and the frame's sigreturn, whose
 * handler's own call let in what uc still carried, left that blocked for
 * good (uc's mask comes back whole with the sigreturn).
 */
static void leave(ucontext_t *uc, unsigned long long held)
{
	if (held || __atomic_load_n(&kaio__tls_sigdeferred, __ATOMIC_RELAXED) ||
	    kept_head != __atomic_load_n(&kept_tail, __ATOMIC_RELAXED))
		block_all(NULL);
	unheld(uc, held);
	keep(uc);
}

/* The kernel's handler of every wrapped signal. */
static void entry(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	struct kaio_parked park;
	unsigned long long held;
	struct handler h;
	unsigned seq;
	int saved = errno, parked, live;

	entries++;
	alt_seen(uc);
	atomic_signal_fence(memory_order_seq_cst);
	seq = read_slot(sig, &h);
	if (!is_handler(h.fn))
		return;
	if (!kaio__tls_defer &&
	    (!kaio__tls_depth || !kaio__sigdefer_on())) {
		/* What the thread holds, which uc may carry (let in as the
		 * frame returns if let in meanwhile), looked at first; then
		 * what a signal that came before the look let in already
		 * (stripped()).  Not where a handler of the program was
		 * interrupted: its mask may block some of them too (it lets
		 * them in as it returns, here or in unblock()). */
		live = handlers_live;
		held = live ? 0 : kaio__tls_sigdeferred | kaio__sigdefer_kept();
		if (!kaio__tls_depth && keep_behind(sig, si, uc, &h)) {
			/* sig too, held in uc now: a signal that comes
			 * before the frame returns may let it in.  (Kept
			 * behind only outside handlers: live is 0.) */
			held |= 1ULL << (sig - 1) | stripped(uc, &h, sig);
			errno = saved;
			leave(uc, held);
			return;
		}
		/* Counted as a handler of the program from here: one that
		 * comes now runs nested in it and takes nothing out of its
		 * mask (what it lets in, held has). */
		count_in(live, (unsigned long)__builtin_frame_address(0), &h,
			 sig);
		if (!live)
			held |= stripped(uc, &h, sig);
		errno = saved;
		run(&h, sig, si, uc);
		atomic_signal_fence(memory_order_seq_cst);
		handlers_live = live;
		leave(uc, held);
		return;
	}
	/* In a call of the library: held back, also at a park, whose wait
	 * ends with EINTR (at_park()).  The handler runs where the call
	 * holds nothing (kaio__let_in()), or as it returns. */
	parked = at_park(uc);
	if (defer(sig, si, uc, &h, seq)) {
		errno = saved;
	} else if (parked) {
		/* Not queued again (RLIMIT_SIGPENDING): it runs here, where
		 * the state is whole, as in the masked wait; signals that
		 * come during the handler are not held back (they were not
		 * in that wait either), nor after it if it never returns. */
		kaio__park_enter(&park);
		let_in(uc, &h, sig, &park);
		errno = saved;
		call(&h, sig, si, uc);
		kaio__park_leave(&park);
	} else {
		/*
		 * Not queued again (RLIMIT_SIGPENDING reached): it runs now,
		 * inside the window, never as at a park (the state is not
		 * whole: a wait of its handler must not reap here), and
		 * windows mask from now on, as where names are bypassed.
		 */
		kaio__sigdefer_foreign();
		errno = saved;
		call(&h, sig, si, uc);
	}
	keep(uc);
}

/* The fork child: no other thread holds the writers' lock there. */
void kaio__sigdefer_fork_child(void)
{
	unsigned long long bits;
	unsigned seq;
	int i;

	/* What the forking thread kept was sent to the parent: its numbers,
	 * blocked as the parent held them, come in (none is pending here). */
	bits = kaio__sigdefer_kept() | kaio__tls_sigwaiting;
	kaio__tls_sigwaiting = 0;
	kaio__tls_sigdeferred &= ~bits;
	if (bits)
		sys_call6(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&bits, 0, 8,
			  0, 0);
	kept_head = kept_tail = 0;
	kept_taking = 0;
	for (i = 0; i < NKEPT; i++)
		kept[i].sig = 0;

	atomic_flag_clear_explicit(&wlock, memory_order_relaxed);
	/* A writer the fork caught midway left its slot odd: readers would
	 * spin for ever.  Whole again, with what it had written. */
	for (i = 0; i < NSLOTS; i++) {
		seq = atomic_load_explicit(&slots[i].seq, memory_order_relaxed);
		if (seq & 1)
			atomic_store_explicit(&slots[i].seq, seq + 1,
					      memory_order_relaxed);
	}
}

int kaio__sigdefer_on(void)
{
	return atomic_load_explicit(&active, memory_order_relaxed);
}

/* A handler ran in a window, not at its park: one installed behind these
 * names (reap.c).  Windows mask from now on. */
void kaio__sigdefer_foreign(void)
{
	atomic_store_explicit(&active, 0, memory_order_relaxed);
}

/* The names.  Each is async-signal-safe where glibc's is. */
#define ENTRY(ret, name, params) \
	__attribute__((visibility("default"))) ret kaio_sig_##name params; \
	ret kaio_sig_##name params

ENTRY(int, sigaction, (int sig, const struct sigaction *act,
		       struct sigaction *oact))
{
	struct sigaction kact, kold;
	struct handler prev = { 0 }, h;
	unsigned long old;
	unsigned seq;
	int ret, wrap;

	atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
	if (!reals() && !real_sigaction) {
		errno = ENOSYS;
		return -1;
	}
	if (!wrappable(sig))
		return real_sigaction(sig, act, oact);
	if (!act) {		/* a look: no lock (suspend.c looks often) */
		if (!oact)
			return real_sigaction(sig, NULL, NULL);
		do {	/* the kernel's action and the slot of one time */
			seq = read_slot(sig, &prev);
			ret = real_sigaction(sig, NULL, &kold);
			atomic_thread_fence(memory_order_acquire);
		} while (!ret && atomic_load_explicit(&slots[sig].seq,
						      memory_order_relaxed) != seq);
		if (!ret)
			view(sig, &kold, &prev, oact);
		return ret;
	}
	wrap = is_handler((void *)act->sa_handler) &&
	       atomic_load(&active);
	lock(&old);
	read_slot(sig, &prev);
	slot_bump(sig);
	if (wrap) {
		h.fn = (void *)act->sa_sigaction;
		h.flags = act->sa_flags;
		h.mask = kmask(&act->sa_mask);
		/* entry() itself, as a raw rt_sigaction() read it, put back:
		 * the program's handler stays behind it (never entry()). */
		if (act->sa_sigaction == entry)
			h = prev;
		write_slot(sig, &h);
		kact = *act;
		kact.sa_sigaction = entry;
		kact.sa_flags |= SA_SIGINFO;
	} else if (!is_handler((void *)act->sa_handler)) {
		/* SIG_DFL, SIG_IGN: a handler caught since the kernel took
		 * it must not run, nor put its own back (defer()). */
		h.fn = (void *)act->sa_handler;
		h.flags = act->sa_flags;
		h.mask = kmask(&act->sa_mask);
		write_slot(sig, &h);
	}
	ret = real_sigaction(sig, wrap ? &kact : act, &kold);
	if (ret)
		write_slot(sig, &prev);
	slot_bump(sig);
	unlock(&old);
	if (!ret && oact)
		view(sig, &kold, &prev, oact);
	return ret;
}

/* signal(), sysv_signal(), sigset(): glibc's, then entry() in front. */
static sighandler_t family(signal_fn *fnp, int sig, sighandler_t disp)
{
	signal_fn fn;
	struct handler prev = { 0 };
	sighandler_t ret;
	unsigned long old;
	int saved;

	atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
	reals();
	fn = *fnp;
	if (!fn) {
		errno = ENOSYS;
		return SIG_ERR;
	}
	if (!wrappable(sig))
		return fn(sig, disp);
	lock(&old);
	read_slot(sig, &prev);
	slot_bump(sig);
	ret = fn(sig, disp);
	saved = errno;
	if (ret != SIG_ERR && atomic_load(&active))
		rewrap_locked(sig);
	slot_bump(sig);
	unlock(&old);
	errno = saved;
	if (ret == (sighandler_t)(void *)entry)
		ret = (sighandler_t)prev.fn;
	return ret;
}

ENTRY(sighandler_t, signal, (int sig, sighandler_t disp))
{
	return family(&real_signal, sig, disp);
}

ENTRY(sighandler_t, sysv_signal, (int sig, sighandler_t disp))
{
	return family(&real_sysv_signal, sig, disp);
}

ENTRY(sighandler_t, sigset, (int sig, sighandler_t disp))
{
	return family(&real_sigset, sig, disp);
}

/*
 * The program's jumps out of a handler: longjmp() and its kin count the
 * frames they leave out of handlers_live (jumped()), then glibc's jump.
 * A jmp_buf keeps the stack pointer as glibc's PTR_MANGLE left it: xored
 * with the thread's pointer guard (%fs:0x30), rotated left by 17 bits.
 * The setup checks that on a jmp_buf of its own (jump_known).
 */
typedef void __attribute__((noreturn)) (*jump_fn)(struct __jmp_buf_tag *,
						 int);
typedef int (*setcontext_fn)(const ucontext_t *);

static int jump_known;

#if defined(__x86_64__)
static unsigned long jmp_sp(const struct __jmp_buf_tag *env)
{
	unsigned long v, guard;

	memcpy(&v, (const char *)env->__jmpbuf + 6 * sizeof(long), sizeof(v));
	__asm__("mov %%fs:0x30, %0" : "=r"(guard));
	return (v >> 17 | v << 47) ^ guard;
}

/* Does jmp_sp() read setjmp()'s stack pointer?  It lies just below this
 * frame. */
static __attribute__((noinline)) int jmp_sp_checked(void)
{
	unsigned long here = (unsigned long)__builtin_frame_address(0), sp;
	jmp_buf jb;

	if (setjmp(jb))
		return 0;
	sp = jmp_sp(jb);
	return sp < here && here - sp < 4096;
}
#else
static unsigned long jmp_sp(const struct __jmp_buf_tag *env)
{
	(void)env;
	return 0;
}

static int jmp_sp_checked(void)
{
	return 0;
}
#endif

static void leaving(const struct __jmp_buf_tag *env)
{
	if (handlers_live && jump_known)
		jumped(jmp_sp(env));
}

/* name@ver: counts out what it leaves, then glibc's (KAIO_REAL); with
 * none to go to (not glibc) it aborts, as it cannot return. */
#define JUMP(name, ver) \
	KAIO_REAL(jump_fn, name, ver) \
	ENTRY(void, name, (struct __jmp_buf_tag *env, int val)) \
	{ \
		jump_fn to; \
		leaving(env); \
		to = get_##name(); \
		if (!to) \
			abort(); \
		to(env, val); \
	}

JUMP(longjmp, "GLIBC_2.2.5")
JUMP(_longjmp, "GLIBC_2.2.5")
JUMP(siglongjmp, "GLIBC_2.2.5")
JUMP(__longjmp_chk, "GLIBC_2.11")
KAIO_REAL(setcontext_fn, setcontext, "GLIBC_2.2.5")

/* Looked up here, by the constructor, not first in a handler (dlvsym()
 * is not async-signal-safe). */
static void jumps_setup(void)
{
	get_longjmp();
	get__longjmp();
	get_siglongjmp();
	get___longjmp_chk();
	get_setcontext();
	jump_known = jmp_sp_checked();
}

/* To a context's stack pointer (a handler's own ucontext: the point the
 * signal interrupted). */
ENTRY(int, setcontext, (const ucontext_t *uc))
{
	setcontext_fn to;

#if defined(__x86_64__)
	if (handlers_live)
		jumped((unsigned long)uc->uc_mcontext.gregs[REG_RSP]);
#endif
	to = get_setcontext();
	if (!to)
		abort();
	return to(uc);
}

/*
 * Not exported in a build with ThreadSanitizer: its runtime calls the next
 * sigaction() while it starts, before instrumented code may run, and it
 * defers the program's handlers itself (windows mask there).
 */
#if !defined(__SANITIZE_THREAD__)
#define EXPORT_AS(entry, name) \
	KAIO_ALIAS(kaio_sig_##entry, kaio_sigv_##name); \
	KAIO_DEFSYMVER(kaio_sigv_##name, name, GLIBC_2.2.5)
#else
#define EXPORT_AS(entry, name) \
	extern int kaio_sig_no_##name
#endif

EXPORT_AS(sigaction, sigaction);
EXPORT_AS(sigaction, __sigaction);
EXPORT_AS(signal, signal);
EXPORT_AS(signal, bsd_signal);
EXPORT_AS(signal, ssignal);
EXPORT_AS(sysv_signal, sysv_signal);
EXPORT_AS(sysv_signal, __sysv_signal);
EXPORT_AS(sigset, sigset);
EXPORT_AS(longjmp, longjmp);
EXPORT_AS(_longjmp, _longjmp);
EXPORT_AS(siglongjmp, siglongjmp);
EXPORT_AS(setcontext, setcontext);
#if !defined(__SANITIZE_THREAD__)
KAIO_ALIAS(kaio_sig___longjmp_chk, kaio_sigv___longjmp_chk);
KAIO_DEFSYMVER(kaio_sigv___longjmp_chk, __longjmp_chk, GLIBC_2.11);
#endif

/*
 * Once, from the constructor (init.c): find glibc's functions; check that
 * every name reaches its function here as the program binds it (a call
 * with signal 0, which glibc refuses, must count here); put entry() in
 * front of the handlers already installed.  Windows defer only then.
 */
void kaio__sigdefer_setup(void)
{
	static const char *const names[] = {
		"sigaction", "__sigaction", "signal", "bsd_signal", "ssignal",
		"sysv_signal", "__sysv_signal", "sigset",
	};
	struct sigaction cur;
	unsigned long old;
	unsigned before;
	const char *env = getenv("KAIO_SIGDEFER");
	size_t i;
	int saved = errno, sig;
	void *p;

#if defined(__SANITIZE_THREAD__)
	env = "0";
#endif
	jumps_setup();
	if (!reals() || !PARK_OK || (env && !strcmp(env, "0")))
		goto out;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		p = dlsym(RTLD_DEFAULT, names[i]);
		if (!p)
			goto out;
		before = atomic_load(&calls);
		if (i < 2)
			((sigaction_fn)p)(0, NULL, &cur);
		else
			((signal_fn)p)(0, SIG_DFL);
		if (atomic_load(&calls) == before)
			goto out;
	}
	lock(&old);
	for (sig = 1; sig < NSLOTS; sig++) {
		if (!wrappable(sig))
			continue;
		slot_bump(sig);
		rewrap_locked(sig);
		slot_bump(sig);
	}
	atomic_store(&active, 1);
	unlock(&old);
out:
	errno = saved;
}
