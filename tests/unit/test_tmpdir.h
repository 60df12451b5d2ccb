/* A private temporary directory for a unit test: made from a mkdtemp template under /tmp
 * (mode 0700), removed with everything in it (never following a link out of it). */
#ifndef SSLC_TEST_TMPDIR_H
#define SSLC_TEST_TMPDIR_H

/* template: "/tmp/sslc-NAME-XXXXXX", filled in place. 0, or -1 with errno. */
int test_tmpdir_make(char *template_);
/* Removes dir and its contents. 0, or -1 when something stayed. */
int test_tmpdir_remove(const char *dir);

#endif
