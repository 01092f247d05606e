# man/local.mk: man pages, kaio-run, their checks and the lints of the
# project's text (included by Makefile.am).
# Paths are relative to the top directory.

# --- man pages ---------------------------------------------------------------
# The pages of section 3 after the first of each line are aliases: copies of
# it that man/gen-aliases.sh writes (a .so link cannot be read in place with
# man -l).  make rewrites an alias whose target changed; check-man.sh fails
# if one differs.  check-install.sh fails if a page in man/ is not installed.
dist_man_MANS = \
	man/kaio-run.1 \
	man/kaio_stats_get.3 man/kaio_stat_name.3 \
	man/kaio_queue_create.3 man/kaio_queue_reap.3 man/kaio_queue_destroy.3 \
	man/kaio_openat.3 man/kaio_unlinkat.3 man/kaio_renameat.3 \
	man/kaio_readahead.3 \
	man/kaio_poll.3 \
	man/kaio_posix.7 man/kaio_backends.7

all-local: man-aliases
man-aliases:
	@$(SHELL) $(srcdir)/man/gen-aliases.sh $(srcdir)/man
.PHONY: man-aliases

# --- kaio-run -----------------------------------------------------------------
# Generated at make time (not by configure) so that it names the installed
# library as make expands $(libdir), e.g. after "make libdir=...".
bin_SCRIPTS = src/kaio-run
CLEANFILES = src/kaio-run src/kaio-run.tmp

src/kaio-run: $(srcdir)/src/kaio-run.in Makefile
	$(AM_V_GEN)$(MKDIR_P) src && rm -f $@ $@.tmp && \
	sed -e 's|@libdir[@]|$(libdir)|g' -e 's|@VERSION[@]|$(VERSION)|g' \
		$(srcdir)/src/kaio-run.in > $@.tmp && \
	chmod +x $@.tmp && mv -f $@.tmp $@

# --- checks -------------------------------------------------------------------
# check-man.sh lints every page; check-kaio-run.sh tests the wrapper from the
# build tree; check-install.sh installs a fresh build into a temporary prefix
# and builds and runs programs against it with pkg-config alone.
# check-stats.sh runs tests/stats-fork (children that end with _exit())
# under kaio-run --stats and KAIO_STATS=1, and fio's default mode.
TESTS += man/check-man.sh man/check-kaio-run.sh man/check-install.sh \
	man/check-stats.sh
check_SCRIPTS = src/kaio-run

# Lints of the project's own text: every apt-get waits for the dpkg lock;
# README.md's extensions, environment and layout match the code.
TESTS += tests/check-apt-lock.sh tests/check-readme.sh
EXTRA_DIST += tests/check-apt-lock.sh tests/check-readme.sh
# bench/server-bench --redraw draws a chart from a small server.md (SKIP
# without gnuplot, or in a tarball, which has no bench/).
TESTS += tests/check-server-chart.sh
EXTRA_DIST += tests/check-server-chart.sh
check_PROGRAMS += tests/stats-fork
tests_stats_fork_SOURCES = tests/stats-fork.c
EXTRA_DIST += src/kaio-run.in man/check-man.sh man/check-kaio-run.sh \
	man/check-install.sh man/check-stats.sh man/gen-aliases.sh
