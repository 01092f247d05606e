/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * support-stubs.c - what glibc's support/support_paths.c would define from
 * glibc's build tree.  support_test_main.c only reads support_objdir_root
 * for its --debug / container path, which run-glibc-tests does not use.
 */
const char support_objdir_root[] = "";
