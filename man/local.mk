# man/local.mk: man pages, kaio-run and their checks (included by Makefile.am).
