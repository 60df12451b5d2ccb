/* What a system call costs a program that has nothing to do with TLS, for bench/syscall_cost.sh
 * to compare with and without the agent: getppid() (a system call that touches no socket) and
 * a 64-byte write() + read() over a UNIX socket pair (socket operations, which the agent's
 * socket hooks see). Prints one line per measure: its name and the nanoseconds per call, the
 * lowest of ROUNDS rounds of N calls each (the least disturbed round on a shared machine).
 *
 *   syscall_cost [-r ROUNDS] [-n N]          (defaults: 40 rounds of 100000 calls each) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long number(const char *s, const char *what, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > 100000000) {
		fprintf(stderr, "syscall_cost: %s %s: a number from %ld to 100000000\n", what, s,
			min);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long rounds = 40, n = 100000;
	double best_ppid = 1e18, best_rw = 1e18;
	char buf[64];
	int sv[2], opt;

	while ((opt = getopt(argc, argv, "r:n:")) != -1) {
		if (opt == 'r')
			rounds = number(optarg, "-r", 1);
		else if (opt == 'n')
			n = number(optarg, "-n", 2); /* the socket pair: one write and one read */
		else {
			fprintf(stderr, "usage: syscall_cost [-r ROUNDS] [-n CALLS]\n");
			return 2;
		}
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		fprintf(stderr, "syscall_cost: socketpair: %s\n", strerror(errno));
		return 1;
	}
	memset(buf, 'x', sizeof(buf));
	for (long r = 0; r < rounds; r++) {
		double t0 = now_ns();

		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		double t1 = now_ns();
		for (long i = 0; i < n / 2; i++) {
			if (write(sv[0], buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
			    read(sv[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
				fprintf(stderr, "syscall_cost: socket pair: %s\n", strerror(errno));
				return 1;
			}
		}
		double t2 = now_ns();
		double ppid = (t1 - t0) / (double)n, rw = (t2 - t1) / (double)(n / 2 * 2);

		if (ppid < best_ppid)
			best_ppid = ppid;
		if (rw < best_rw)
			best_rw = rw;
	}
	printf("getppid %.1f\nunix_socket_write_read %.1f\n", best_ppid, best_rw);
	return 0;
}
