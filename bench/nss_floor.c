/* libnss_floor.so.2: an NSS module that answers every point lookup at once with a fixed entry,
   without looking anything up. bench/run.sh times it like the real backends: what remains is
   glibc's own cost per call (its nsswitch.conf check is a stat(2) on every call, the locks, the
   dispatch), the floor under any NSS module on this machine. A benchmark aid, never installed. */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <string.h>
#include <sys/types.h>

static enum nss_status fill_passwd(const char *name, uid_t uid, struct passwd *pw, char *buf,
                                   size_t len, int *errnop) {
    static const char fixed[] = "*\0Floor\0/home/floor\0/bin/sh";
    size_t n = strlen(name) + 1;
    if (len < n + sizeof fixed) {
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }
    memcpy(buf, name, n);
    memcpy(buf + n, fixed, sizeof fixed);
    pw->pw_name = buf;
    pw->pw_passwd = buf + n;
    pw->pw_gecos = buf + n + 2;
    pw->pw_dir = buf + n + 8;
    pw->pw_shell = buf + n + 20;
    pw->pw_uid = uid;
    pw->pw_gid = uid;
    return NSS_STATUS_SUCCESS;
}

static enum nss_status fill_group(const char *name, gid_t gid, struct group *gr, char *buf,
                                  size_t len, int *errnop) {
    size_t n = strlen(name) + 1, pad = (sizeof(char *) - (size_t)buf % sizeof(char *)) % sizeof(char *);
    if (len < pad + sizeof(char *) + n + 2) {
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }
    char **members = (char **)(buf + pad);
    members[0] = NULL;
    char *p = buf + pad + sizeof(char *);
    memcpy(p, name, n);
    memcpy(p + n, "*", 2);
    gr->gr_name = p;
    gr->gr_passwd = p + n;
    gr->gr_gid = gid;
    gr->gr_mem = members;
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_floor_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len,
                                      int *errnop) {
    return fill_passwd(name, 100001, pw, buf, len, errnop);
}

enum nss_status _nss_floor_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len,
                                      int *errnop) {
    return fill_passwd("floor", uid, pw, buf, len, errnop);
}

enum nss_status _nss_floor_getgrnam_r(const char *name, struct group *gr, char *buf, size_t len,
                                      int *errnop) {
    return fill_group(name, 100001, gr, buf, len, errnop);
}

enum nss_status _nss_floor_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len,
                                      int *errnop) {
    return fill_group("floor", gid, gr, buf, len, errnop);
}

enum nss_status _nss_floor_initgroups_dyn(const char *user, gid_t group, long *start, long *size,
                                          gid_t **groups, long limit, int *errnop) {
    (void)user, (void)group, (void)start, (void)size, (void)groups, (void)limit, (void)errnop;
    return NSS_STATUS_SUCCESS;
}
