/* nss_fork: looks USER up, waits for a line on stdin (the cache is republished meanwhile, adding
   NEWUSER), then forks: the child must resolve USER and NEWUSER (it has to reopen the cache: a
   handle inherited from the parent is not its own), and the parent must still resolve USER.
   Then the same again from a thread of the child (a fork of a multi-threaded state).
   usage: nss_fork USER NEWUSER GROUP */
#define _GNU_SOURCE
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int lookup(const char *who, const char *name) {
    char buf[16384];
    struct passwd pw, *r = NULL;
    int e = getpwnam_r(name, &pw, buf, sizeof buf, &r);
    if (e != 0 || r == NULL) {
        printf("%s: getpwnam_r(%s) failed (ret=%d, found=%d)\n", who, name, e, r != NULL);
        return 1;
    }
    printf("%s: %s uid=%u\n", who, name, (unsigned)r->pw_uid);
    return 0;
}

static int lookup_group(const char *who, const char *name) {
    char buf[16384];
    struct group gr, *r = NULL;
    int e = getgrnam_r(name, &gr, buf, sizeof buf, &r);
    if (e != 0 || r == NULL) {
        printf("%s: getgrnam_r(%s) failed (ret=%d, found=%d)\n", who, name, e, r != NULL);
        return 1;
    }
    printf("%s: group %s gid=%u\n", who, name, (unsigned)r->gr_gid);
    return 0;
}

static const char *user, *newuser, *group;

static void *thread_lookups(void *arg) {
    (void)arg;
    long bad = lookup("grandchild-thread", user) + lookup("grandchild-thread", newuser);
    return (void *)bad;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s USER NEWUSER GROUP\n", argv[0]); return 2; }
    user = argv[1]; newuser = argv[2]; group = argv[3];
    setvbuf(stdout, NULL, _IONBF, 0);
    if (lookup("parent", user) || lookup_group("parent", group)) return 1;
    printf("ready\n");
    char line[64];
    if (!fgets(line, sizeof line, stdin)) return 2;

    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) {
        int bad = lookup("child", user) + lookup("child", newuser) + lookup_group("child", group);
        /* A grandchild forked from the child after the child's own lookups, looking up from a thread. */
        pid_t g = fork();
        if (g == 0) {
            pthread_t t;
            void *ret = NULL;
            if (pthread_create(&t, NULL, thread_lookups, NULL)) _exit(1);
            pthread_join(t, &ret);
            _exit(ret == NULL && lookup("grandchild", user) == 0 ? 0 : 1);
        }
        int st = 0;
        waitpid(g, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { printf("grandchild failed\n"); bad++; }
        _exit(bad ? 1 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    int bad = !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    if (bad) printf("child failed (status %d)\n", st);
    bad += lookup("parent-after", user);
    printf(bad ? "FAILED\n" : "OK\n");
    return bad ? 1 : 0;
}
