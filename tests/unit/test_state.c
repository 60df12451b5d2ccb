/* The state directory that running agents publish for --list (agent/state.c): a file per
 * agent and kind, replaced whole; the files of agents that died without removing theirs
 * (SIGKILL) are removed by the next agent's first publish; --list reads only the files of
 * agents still running. Sabotage: without sweep_dead() test_dead_agents_swept fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "state.h"
#include "test_tmpdir.h"

static char dir[] = "/tmp/sslc-test-state-XXXXXX";

/* A pid that no process has: a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

static bool exists(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

struct seen {
	int n, agent, pid;
	struct sslc_proc_stat st;
};

static void on_proc(void *ctx, int agent, int pid, const struct sslc_proc_stat *st)
{
	struct seen *s = ctx;

	s->n++;
	s->agent = agent;
	s->pid = pid;
	s->st = *st;
}

static void test_dead_agents_swept(void **state)
{
	char stale[64], own[64];
	struct seen s = {0};

	(void)state;
	snprintf(stale, sizeof(stale), "agent-%d.excluded", (int)dead_pid());
	put(stale, "10.0.0.1:443 10.0.0.2:5000\n");
	put("unrelated.txt", "kept\n");
	assert_int_equal(state_publish_kind(dir, "processes", "42 3 2 1000 1\nnot a line\n"), 0);
	assert_false(exists(stale));
	assert_true(exists("unrelated.txt"));
	snprintf(own, sizeof(own), "agent-%d.processes", (int)getpid());
	assert_true(exists(own));
	assert_int_equal(state_read_procs(dir, on_proc, &s), 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.agent, getpid());
	assert_int_equal(s.pid, 42);
	assert_int_equal(s.st.sessions, 3);
	assert_int_equal(s.st.attributed, 2);
	assert_int_equal(s.st.unattributed_bytes, 1000);
	assert_int_equal(s.st.conflicts, 1);
	/* published empty: the file goes */
	assert_int_equal(state_publish_kind(dir, "processes", NULL), 0);
	assert_false(exists(own));
}

static void test_dead_agents_not_read(void **state)
{
	char stale[64];
	struct seen s = {0};
	FILE *out = tmpfile();

	(void)state;
	assert_non_null(out);
	/* written after this process's one sweep: only the readers' check keeps it out */
	snprintf(stale, sizeof(stale), "agent-%d.processes", (int)dead_pid());
	put(stale, "7 1 1 0 0\n");
	snprintf(stale, sizeof(stale), "agent-%d.excluded", (int)dead_pid());
	put(stale, "x\n");
	assert_int_equal(state_read_procs(dir, on_proc, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(state_print_all(dir, out), 0);
	assert_int_equal(ftell(out), 0);
	fclose(out);
}

static int setup(void **state)
{
	(void)state;
	return test_tmpdir_make(dir);
}

static int teardown(void **state)
{
	(void)state;
	return test_tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dead_agents_swept),
	    cmocka_unit_test(test_dead_agents_not_read),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
