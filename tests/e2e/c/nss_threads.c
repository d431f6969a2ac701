/* nss_threads: THREADS threads look up USER (expecting UID) and GROUP through glibc NSS in a loop
   until STOPFILE exists, while someone else republishes the cache. Prints "ready" once every
   thread has made its first lookup, and at the end "lookups=N failed=M fds_after_join=K".
   Exits 0 iff no lookup failed.
   usage: nss_threads THREADS USER UID GROUP STOPFILE */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *user, *group, *stopfile;
static uid_t want_uid;
static atomic_long lookups, failed, started;
static atomic_int stop;

static void *worker(void *arg) {
    (void)arg;
    char buf[16384];
    int first = 1;
    while (!atomic_load(&stop)) {
        struct passwd pw, *pwr = NULL;
        struct group gr, *grr = NULL;
        int e1 = getpwnam_r(user, &pw, buf, sizeof buf, &pwr);
        if (e1 != 0 || pwr == NULL || pwr->pw_uid != want_uid) {
            if (atomic_fetch_add(&failed, 1) < 10)
                fprintf(stderr, "getpwnam_r(%s) failed: ret=%d found=%d errno=%d\n", user, e1, pwr != NULL, errno);
        }
        int e2 = getgrnam_r(group, &gr, buf, sizeof buf, &grr);
        if (e2 != 0 || grr == NULL) {
            if (atomic_fetch_add(&failed, 1) < 10)
                fprintf(stderr, "getgrnam_r(%s) failed: ret=%d found=%d\n", group, e2, grr != NULL);
        }
        struct passwd *pu = NULL;
        int e3 = getpwuid_r(want_uid, &pw, buf, sizeof buf, &pu);
        if (e3 != 0 || pu == NULL || strcmp(pu->pw_name, user) != 0) {
            if (atomic_fetch_add(&failed, 1) < 10)
                fprintf(stderr, "getpwuid_r(%u) failed: ret=%d found=%d\n", (unsigned)want_uid, e3, pu != NULL);
        }
        atomic_fetch_add(&lookups, 3);
        if (first) { atomic_fetch_add(&started, 1); first = 0; }
        usleep(200);
    }
    return NULL;
}

static int count_cache_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    struct dirent *e;
    char path[300], target[4096];
    while ((e = readdir(d))) {
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len <= 0) continue;
        target[len] = 0;
        if (strstr(target, "cache.db")) n++;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: %s THREADS USER UID GROUP STOPFILE\n", argv[0]); return 2; }
    int n = atoi(argv[1]);
    user = argv[2]; want_uid = (uid_t)atol(argv[3]); group = argv[4]; stopfile = argv[5];
    pthread_t *t = calloc(n, sizeof *t);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, worker, NULL)) { perror("pthread_create"); return 2; }
    while (atomic_load(&started) < n) usleep(1000);
    printf("ready\n"); fflush(stdout);
    while (access(stopfile, F_OK) != 0) usleep(10000);
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    printf("lookups=%ld failed=%ld fds_after_join=%d\n", atomic_load(&lookups), atomic_load(&failed), count_cache_fds());
    return atomic_load(&failed) == 0 ? 0 : 1;
}
