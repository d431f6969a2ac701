/* nss_erange: too small a buffer gives ERANGE (glibc retries with a bigger one); every size from 0
   up to the one that fits gives ERANGE or the complete, correct entry, never a torn one.
   usage: nss_erange USER GROUP */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s USER GROUP\n", argv[0]); return 2; }
    const char *user = argv[1], *group = argv[2];
    static char big[1 << 16];
    struct passwd pw, *pr;
    struct group gr, *gres;
    if (getpwnam_r(user, &pw, big, sizeof big, &pr) || !pr) { printf("%s not found\n", user); return 1; }
    char want_pw[4096];
    snprintf(want_pw, sizeof want_pw, "%s:%s:%u:%u:%s:%s:%s", pr->pw_name, pr->pw_passwd,
             (unsigned)pr->pw_uid, (unsigned)pr->pw_gid, pr->pw_gecos, pr->pw_dir, pr->pw_shell);
    if (getgrnam_r(group, &gr, big, sizeof big, &gres) || !gres) { printf("%s not found\n", group); return 1; }
    int want_members = 0;
    while (gres->gr_mem[want_members]) want_members++;
    gid_t want_gid = gres->gr_gid;

    int erange = 0, ok_from = -1;
    for (size_t size = 0; size < 512; size++) {
        char *buf = malloc(size ? size : 1);
        int e = getpwnam_r(user, &pw, buf, size, &pr);
        if (e == ERANGE) { erange++; if (pr) { printf("pw size %zu: ERANGE with a result\n", size); return 1; } }
        else if (e == 0 && pr) {
            char got[4096];
            snprintf(got, sizeof got, "%s:%s:%u:%u:%s:%s:%s", pr->pw_name, pr->pw_passwd,
                     (unsigned)pr->pw_uid, (unsigned)pr->pw_gid, pr->pw_gecos, pr->pw_dir, pr->pw_shell);
            if (strcmp(got, want_pw)) { printf("pw size %zu: got %s want %s\n", size, got, want_pw); return 1; }
            if (ok_from < 0) ok_from = (int)size;
        } else { printf("pw size %zu: ret %d found %d\n", size, e, pr != NULL); return 1; }
        free(buf);
    }
    if (erange == 0 || ok_from < 0) { printf("getpwnam_r: erange=%d ok_from=%d\n", erange, ok_from); return 1; }
    printf("getpwnam_r: ERANGE below %d bytes, then the full entry\n", ok_from);

    erange = 0; ok_from = -1;
    for (size_t size = 0; size < 16384; size++) {
        char *buf = malloc(size ? size : 1);
        int e = getgrnam_r(group, &gr, buf, size, &gres);
        if (e == ERANGE) erange++;
        else if (e == 0 && gres) {
            int n = 0;
            while (gres->gr_mem[n]) n++;
            if (n != want_members || gres->gr_gid != want_gid || strcmp(gres->gr_name, group)) {
                printf("gr size %zu: torn entry (%d members)\n", size, n); return 1;
            }
            if (ok_from < 0) ok_from = (int)size;
        } else { printf("gr size %zu: ret %d found %d\n", size, e, gres != NULL); return 1; }
        free(buf);
    }
    if (erange == 0 || ok_from < 0) { printf("getgrnam_r: erange=%d ok_from=%d\n", erange, ok_from); return 1; }
    printf("getgrnam_r: ERANGE below %d bytes, then the full entry (%d members)\n", ok_from, want_members);

    /* getgrouplist with too small an array: -1 and the needed count. */
    gid_t groups[256];
    int n = 1;
    int r = getgrouplist(user, pw.pw_gid, groups, &n);
    int needed = n;
    n = 256;
    int r2 = getgrouplist(user, pw.pw_gid, groups, &n);
    if (r != -1 || r2 != n || needed != n) { printf("getgrouplist: small r=%d needed=%d, full r=%d n=%d\n", r, needed, r2, n); return 1; }
    printf("getgrouplist: -1 with 1 slot, then %d groups\n", n);
    return 0;
}
