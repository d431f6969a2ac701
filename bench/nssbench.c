/* nssbench: ns/op of getpwnam_r / getpwuid_r / getgrnam_r / getgrgid_r / getgrouplist through
   glibc NSS (whatever nsswitch.conf says), plus enumeration (setpwent/getpwent/endpwent and
   setgrent/getgrent/endgrent).

   usage: nssbench USER UID GROUP GID N [N_GROUPLIST] [--budget-ms MS] [--enum]
     N, N_GROUPLIST  at most this many timed calls per function (N_GROUPLIST defaults to N)
     --budget-ms MS  stop a function's loop once MS milliseconds have passed (default: no limit),
                     so a slow backend (files at the end of 100k lines) still finishes; the
                     number of calls actually made is printed
     --enum          also time full enumerations of passwd and group

   With NSSBENCH_CLOCK=cpu in the environment every figure is the process's CPU time instead of
   wall time: on a machine busy with other work, time spent preempted then does not count, so two
   runs compare fairly.

   The first call of each kind is timed separately ("first call": includes nsswitch.conf parsing,
   dlopen, opening the backend's files); the ns/op figures are warm, the median of 5 batches.
   Output: one human line per function, then machine-readable lines
     RESULT <function> <ns_per_op> <calls> <failures> <first_call_ns>
     RESULT enum_passwd <ns_total> <entries> 0 0   (with --enum; likewise enum_group) */
#define _GNU_SOURCE
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec t;
    clock_gettime(bench_clock, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static char buf[1 << 20];

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *pos[6];
    int npos = 0, do_enum = 0;
    double budget_ns = 0;
    const char *clock_name = getenv("NSSBENCH_CLOCK");
    if (clock_name && strcmp(clock_name, "cpu") == 0)
        bench_clock = CLOCK_PROCESS_CPUTIME_ID;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--enum")) do_enum = 1;
        else if (!strcmp(argv[i], "--budget-ms") && i + 1 < argc) budget_ns = atof(argv[++i]) * 1e6;
        else if (npos < 6) pos[npos++] = argv[i];
        else npos = 99;
    }
    if (npos < 5 || npos > 6) {
        fprintf(stderr, "usage: %s USER UID GROUP GID N [N_GROUPLIST] [--budget-ms MS] [--enum]\n", argv[0]);
        return 2;
    }
    const char *user = pos[0], *group = pos[2];
    uid_t uid = (uid_t)atol(pos[1]);
    gid_t gid = (gid_t)atol(pos[3]);
    long n = atol(pos[4]), ng = npos > 5 ? atol(pos[5]) : n;
    struct passwd pw, *pwr;
    struct group gr, *grr;
    double t0, t1, cold;
    long fail, i;
    static gid_t groups[1 << 16];
    int ngroups = 0, status = 0;

    /* Each function runs in BATCHES batches of a fifth of the calls (and of the budget); the
       ns/op printed is the median batch's, so a moment of other work on the machine (this is a
       shared VM) does not move the figure. */
#define BATCHES 5
#define BENCH(label, iters, call, okexpr)                                                        \
    do {                                                                                         \
        t0 = now(); call; t1 = now();                                                            \
        if (!(okexpr)) {                                                                         \
            printf("%-14s NOT FOUND\n", label);                                                  \
            printf("RESULT %s notfound 0 1 0\n", label);                                         \
            status = 1;                                                                          \
            break;                                                                               \
        }                                                                                        \
        cold = t1 - t0; fail = 0;                                                                \
        double per[BATCHES];                                                                     \
        long total = 0, per_batch = (iters) / BATCHES > 0 ? (iters) / BATCHES : 1;               \
        for (int b = 0; b < BATCHES; b++) {                                                      \
            t0 = now();                                                                          \
            for (i = 0; i < per_batch; i++) {                                                    \
                call;                                                                            \
                if (!(okexpr)) fail++;                                                           \
                if (budget_ns > 0 && (i & 7) == 7 && now() - t0 > budget_ns / BATCHES) { i++; break; } \
            }                                                                                    \
            per[b] = (now() - t0) / i;                                                           \
            total += i;                                                                          \
        }                                                                                        \
        qsort(per, BATCHES, sizeof per[0], cmp_double);                                          \
        printf("%-14s %12.0f ns/op  (median of %d batches, fastest %.0f; first call %10.0f ns, n=%ld, fail=%ld)\n", \
               label, per[BATCHES / 2], BATCHES, per[0], cold, total, fail);                     \
        printf("RESULT %s %.0f %ld %ld %.0f\n", label, per[BATCHES / 2], total, fail, cold);     \
        if (fail) status = 1;                                                                    \
    } while (0)

    BENCH("getpwnam_r", n, getpwnam_r(user, &pw, buf, sizeof buf, &pwr), pwr != NULL);
    BENCH("getpwuid_r", n, getpwuid_r(uid, &pw, buf, sizeof buf, &pwr), pwr != NULL);
    BENCH("getgrnam_r", n, getgrnam_r(group, &gr, buf, sizeof buf, &grr), grr != NULL);
    BENCH("getgrgid_r", n, getgrgid_r(gid, &gr, buf, sizeof buf, &grr), grr != NULL);
    gid_t base = 65534;
    if (getpwnam_r(user, &pw, buf, sizeof buf, &pwr) == 0 && pwr) base = pwr->pw_gid;
    BENCH("getgrouplist", ng,
          (ngroups = (int)(sizeof groups / sizeof groups[0]), getgrouplist(user, base, groups, &ngroups)),
          ngroups > 1);
    printf("getgrouplist(%s) -> %d groups\n", user, ngroups);

    if (do_enum) {
        long count = 0;
        struct passwd *p;
        t0 = now();
        setpwent();
        while ((p = getpwent()) != NULL) count++;
        endpwent();
        t1 = now();
        printf("%-14s %12.0f ns total (%ld entries)\n", "enum_passwd", t1 - t0, count);
        printf("RESULT enum_passwd %.0f %ld 0 0\n", t1 - t0, count);
        struct group *g;
        count = 0;
        t0 = now();
        setgrent();
        while ((g = getgrent()) != NULL) count++;
        endgrent();
        t1 = now();
        printf("%-14s %12.0f ns total (%ld entries)\n", "enum_group", t1 - t0, count);
        printf("RESULT enum_group %.0f %ld 0 0\n", t1 - t0, count);
    }
    return status;
}
