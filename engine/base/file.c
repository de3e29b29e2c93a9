/*
 * file.c — bounded reads of regular files; see crest_file.h. The check is
 * made on the open descriptor (fstat), not on the name, so a file swapped for
 * a FIFO between a check and the open cannot slip through.
 */
#define _POSIX_C_SOURCE 200809L
#include "crest/crest_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *crest_file_kind_name(crest_file_kind kind)
{
    switch (kind) {
#define CREST_FILE_KIND_NAME(name, str, cap)                                                                 \
    case CREST_FILE_##name:                                                                                  \
        return str;
        CREST_FILE_KIND_LIST(CREST_FILE_KIND_NAME)
#undef CREST_FILE_KIND_NAME
    case CREST_FILE_KIND_COUNT:
        break;
    }
    return "?";
}

size_t crest_file_default_cap(crest_file_kind kind)
{
    switch (kind) {
#define CREST_FILE_KIND_CAP(name, str, cap)                                                                  \
    case CREST_FILE_##name:                                                                                  \
        return (size_t)(cap);
        CREST_FILE_KIND_LIST(CREST_FILE_KIND_CAP)
#undef CREST_FILE_KIND_CAP
    case CREST_FILE_KIND_COUNT:
        break;
    }
    return 0;
}

static const char *type_name(mode_t m)
{
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

crest_status crest_file_read(const char *path, size_t max_bytes, const char *what, char **data, size_t *len,
                             crest_diag *diag)
{
    *data = NULL;
    *len = 0;
    if (!what)
        what = "file";
    /* O_NONBLOCK: opening a FIFO without a writer must not hang. */
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return crest_diag_set(diag, CREST_ERR_IO, path, 0, 0, "cannot open the %s: %s.", what,
                              strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        const int e = errno;
        close(fd);
        return crest_diag_set(diag, CREST_ERR_IO, path, 0, 0, "cannot stat the %s: %s.", what, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return crest_diag_set(diag, CREST_ERR_INVALID, path, 0, 0, "the %s is %s; a regular file is needed.",
                              what, type_name(sb.st_mode));
    }
    if ((unsigned long long)sb.st_size > (unsigned long long)max_bytes) {
        close(fd);
        return crest_diag_set(diag, CREST_ERR_RANGE, path, 0, 0,
                              "the %s is %llu bytes, over the cap of %zu bytes for this kind of file.", what,
                              (unsigned long long)sb.st_size, max_bytes);
    }
    /* The size may change while reading: read at most max_bytes + 1. */
    size_t cap = (size_t)sb.st_size + 1;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return crest_diag_set(diag, CREST_ERR_NOMEM, path, 0, 0, "out of memory reading the %s.", what);
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (cap > max_bytes)
                break;
            size_t ncap = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                close(fd);
                return crest_diag_set(diag, CREST_ERR_NOMEM, path, 0, 0, "out of memory reading the %s.",
                                      what);
            }
            buf = nb;
            cap = ncap;
        }
        const ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            const int e = errno;
            free(buf);
            close(fd);
            return crest_diag_set(diag, CREST_ERR_IO, path, 0, 0, "cannot read the %s: %s.", what,
                                  strerror(e));
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (n > max_bytes) {
        free(buf);
        return crest_diag_set(diag, CREST_ERR_RANGE, path, 0, 0,
                              "the %s grew over the cap of %zu bytes while it was read.", what, max_bytes);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return CREST_OK;
}

const char *crest_excerpt(char *buf, size_t cap, const char *s, size_t n, size_t max_chars)
{
    size_t o = 0;
    if (!cap)
        return buf;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        if (i == max_chars) {
            memcpy(buf + o, "\xE2\x80\xA6", 3); /* … */
            o += 3;
            break;
        }
        const unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != 0x7f && c != '\\') {
            buf[o++] = (char)c;
        } else {
            snprintf(buf + o, cap - o, "\\x%02x", c);
            o += 4;
        }
    }
    buf[o] = '\0';
    return buf;
}
