/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kinit: PID 1 of the initramfs booted by "run-tests --qemu".  It does
 * what uml-init.sh does under UML: mount /proc and a tmpfs scratch
 * directory, run each test (listed in kcheck.tests) with a timeout, print
 * the KCHECK-* lines run-tests parses, then power the machine off.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define TIMEOUT 60

/* Print state and current system call of every thread of a hung test. */
static void dump_tasks(const char *dir)
{
	char path[512], buf[512];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		const char *files[] = { "stat", "syscall", "wchan" };
		unsigned i;

		if (e->d_name[0] == '.')
			continue;
		for (i = 0; i < 3; i++) {
			FILE *f;

			snprintf(path, sizeof(path), "%s/%s/%s", dir, e->d_name,
				 files[i]);
			f = fopen(path, "r");
			if (!f)
				continue;
			if (fgets(buf, sizeof(buf), f))
				printf("kinit: %s: %s%s", path, buf,
				       strchr(buf, '\n') ? "" : "\n");
			fclose(f);
		}
	}
	closedir(d);
}

static void dump(pid_t pid)
{
	char dir[64];
	DIR *d = opendir("/proc");
	struct dirent *e;

	printf("kinit: test %d timed out; its tasks:\n", (int)pid);
	/* the test and any children it forked */
	while (d && (e = readdir(d))) {
		char path[300], buf[512];
		FILE *f;
		int p = atoi(e->d_name), ppid = 0;

		if (p <= 1)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", p);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			char *c = strrchr(buf, ')');

			if (c)
				sscanf(c + 2, "%*c %d", &ppid);
		}
		fclose(f);
		if (p == pid || ppid == pid) {
			snprintf(dir, sizeof(dir), "/proc/%d/task", p);
			dump_tasks(dir);
		}
	}
	if (d)
		closedir(d);
	fflush(stdout);
}

static int run(const char *name)
{
	char dir[256], prog[256];
	struct timespec t0, t;
	int status;
	pid_t pid;

	snprintf(dir, sizeof(dir), "/scratch/%s", name);
	snprintf(prog, sizeof(prog), "/tests/%s", name);
	mkdir(dir, 0755);
	printf("KCHECK-START %s\n", name);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl(prog, prog, dir, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return 126;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > TIMEOUT) {
			dump(pid);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 137;
		}
		usleep(10000);
	}
	/* reap orphans the test left behind */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int main(void)
{
	char line[4096], *tok, *save;
	FILE *f;
	long ncpu;

	mkdir("/proc", 0555);
	mkdir("/scratch", 0755);
	if (mount("proc", "/proc", "proc", 0, NULL))
		printf("KCHECK-ERROR mount proc: %s\n", strerror(errno));
	if (mount("tmpfs", "/scratch", "tmpfs", 0, "size=256m,mode=0755"))
		printf("KCHECK-ERROR mount tmpfs: %s\n", strerror(errno));
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	printf("kcheck: %ld CPUs online\n", ncpu);

	f = fopen("/tests/kcheck.tests", "r");
	if (!f || !fgets(line, sizeof(line), f)) {
		printf("KCHECK-ERROR no test list\n");
	} else {
		for (tok = strtok_r(line, ", \n", &save); tok;
		     tok = strtok_r(NULL, ", \n", &save))
			printf("KCHECK-TEST %s rc=%d\n", tok, run(tok));
		printf("KCHECK-DONE\n");
	}
	fflush(stdout);
	sync();
	reboot(RB_AUTOBOOT);	/* qemu runs with -no-reboot: this ends it */
	return 0;
}
