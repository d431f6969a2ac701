/* timed_command LOG COMMAND [ARGS...]: runs COMMAND, appends its wall time in ns (spawn to exit) to
   LOG, and exits with its status, passing its output through. bench/login_bench.sh puts it in
   front of the AuthorizedPrincipalsCommand to time the command inside sshd, apart from sshd's own
   work around it. A benchmark aid, never installed. */
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv) {
    struct timespec a, b;
    int status;
    pid_t pid;
    if (argc < 3) return 2;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0) return 127;
    if (waitpid(pid, &status, 0) != pid) return 127;
    clock_gettime(CLOCK_MONOTONIC, &b);
    FILE *log = fopen(argv[1], "a");
    if (log) {
        fprintf(log, "%lld\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
        fclose(log);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
