/*
 * test_cli_sha256.c — the input hash of the replay's provenance block
 * (cli_file_sha256, engine/cli/cli_util.c): the known digests, mapped and
 * read (CREST_NO_MMAP=1) alike, nothing for a pipe or when stopped, and a
 * file cut short while it is hashed: the mapping faults (SIGBUS), which must
 * end in the digest of the file as it then is, never in a crash.
 */
#define _GNU_SOURCE /* setenv, ftruncate */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const int go = 0;

/* A temporary file holding len bytes of pattern (NULL: a sparse file of zeros). */
static int temp_file(char *path, const char *pattern, size_t len)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, 4096, "%s/crest_sha256_XXXXXX", dir && *dir ? dir : "/tmp");
    const int fd = mkstemp(path);
    cr_assert(fd >= 0, "mkstemp %s", path);
    if (pattern) {
        const size_t plen = strlen(pattern);
        for (size_t at = 0; at < len;) {
            const size_t n = len - at < plen ? len - at : plen;
            cr_assert_eq(write(fd, pattern, n), (ssize_t)n);
            at += n;
        }
    } else {
        cr_assert_eq(ftruncate(fd, (off_t)len), 0);
    }
    return fd;
}

/* The digest of len zero bytes, computed here. */
static void zeros_digest(size_t len, char hex[CREST_SHA256_HEX])
{
    static const char zero[1 << 16];
    crest_sha256 h;
    crest_sha256_init(&h);
    for (size_t at = 0; at < len; at += sizeof zero)
        crest_sha256_update(&h, zero, len - at < sizeof zero ? len - at : sizeof zero);
    uint8_t d[CREST_SHA256_BYTES];
    crest_sha256_final(&h, d);
    crest_sha256_hex(d, hex);
}

Test(cli_sha256, known_digests_mapped_and_read)
{
    char path[4096], hex[CREST_SHA256_HEX], hex2[CREST_SHA256_HEX];
    int fd = temp_file(path, "abc", 3);
    cr_assert_eq(cli_file_sha256(fd, hex, &go), 0);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cr_assert_eq(lseek(fd, 0, SEEK_CUR), 3, "the file's offset is not moved");
    close(fd);
    unlink(path);
    fd = temp_file(path, "", 0);
    cr_assert_eq(cli_file_sha256(fd, hex, &go), 0);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    close(fd);
    unlink(path);
    /* 5 MB and a bit: several steps and releases of the mapping. */
    fd = temp_file(path, "2024-01-01,\"Sports shoes, rubber sole\",JP,SEA,2753.51\n", (5u << 20) + 12345);
    cr_assert_eq(cli_file_sha256(fd, hex, &go), 0);
    setenv("CREST_NO_MMAP", "1", 1);
    cr_assert_eq(cli_file_sha256(fd, hex2, &go), 0);
    unsetenv("CREST_NO_MMAP");
    cr_assert_str_eq(hex, hex2);
    const int stop = 1;
    cr_assert_eq(cli_file_sha256(fd, hex, &stop), -1);
    cr_assert_str_eq(hex, "");
    close(fd);
    unlink(path);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(cli_file_sha256(p[0], hex, &go), -1, "a pipe's bytes are its reader's alone");
    close(p[0]);
    close(p[1]);
}

typedef struct hash_job {
    int fd, rc;
    char hex[CREST_SHA256_HEX];
} hash_job;

static void *hash_thread(void *arg)
{
    hash_job *j = arg;
    j->rc = cli_file_sha256(j->fd, j->hex, &go);
    return NULL;
}

/* A 512 MiB file (sparse: zeros) cut to 1 MiB + 7 bytes 20 ms into its hash:
 * the mapping faults past the new end; the hash is then the digest of what
 * the file holds (or, when the cut came after the hash, of what it held). */
Test(cli_sha256, a_file_cut_short_while_hashed, .timeout = 120)
{
    const size_t big = (size_t)512 << 20, small = ((size_t)1 << 20) + 7;
    char full[CREST_SHA256_HEX], cut[CREST_SHA256_HEX];
    zeros_digest(big, full);
    zeros_digest(small, cut);
    unsigned n_cut = 0;
    for (int round = 0; round < 3; round++) {
        char path[4096];
        hash_job j = {temp_file(path, NULL, big), -1, ""};
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, hash_thread, &j), 0);
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
        cr_assert_eq(ftruncate(j.fd, (off_t)small), 0);
        pthread_join(t, NULL);
        cr_assert_eq(j.rc, 0);
        cr_assert(!strcmp(j.hex, cut) || !strcmp(j.hex, full),
                  "round %d: %s is neither the cut file's nor the whole's", round, j.hex);
        n_cut += !strcmp(j.hex, cut);
        close(j.fd);
        unlink(path);
    }
    cr_log_info("%u of 3 cuts came while the file was hashed", n_cut);
}
