/*
 * crest_file.h — reading the files a policy names (criteria, list and band
 * tables, models, the FX and capacity tables): regular files only, with a size cap, read
 * with a bound. A device (/dev/zero), a FIFO or a directory is refused before
 * a byte is read, and opening never blocks (a FIFO without a writer). What is
 * read is what is hashed and parsed: loaders take bytes from a
 * crest_file_reader, so a file is read once.
 */
#ifndef CREST_FILE_H
#define CREST_FILE_H

#include <stddef.h>

#include "crest/crest_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kinds of file a policy names. X(ENUM_SUFFIX, "name", default cap in bytes) */
#define CREST_FILE_KIND_LIST(X)                                                                              \
    X(POLICY, "policy", 4ull << 20)                                                                          \
    X(CRITERIA, "criteria", 16ull << 20)                                                                     \
    X(LIST, "list", 256ull << 20)                                                                            \
    X(BAND, "band", 64ull << 20)                                                                             \
    X(MODEL, "model", 1ull << 30)                                                                            \
    X(FX, "fx", 64ull << 20)                                                                                 \
    X(CAPACITY, "capacity", 16ull << 20)

typedef enum crest_file_kind {
#define CREST_FILE_KIND_ENUM(name, str, cap) CREST_FILE_##name,
    CREST_FILE_KIND_LIST(CREST_FILE_KIND_ENUM)
#undef CREST_FILE_KIND_ENUM
        CREST_FILE_KIND_COUNT
} crest_file_kind;

/* "criteria", "list", … ; "?" when out of range. */
CREST_API const char *crest_file_kind_name(crest_file_kind kind);
/* The default size cap of a kind, in bytes. */
CREST_API size_t crest_file_default_cap(crest_file_kind kind);

/*
 * Read the whole of a regular file of at most max_bytes bytes into a new
 * NUL-terminated buffer (*data, freed by the caller; *len excludes the NUL).
 * The file is opened without blocking and checked with fstat before reading;
 * at most max_bytes + 1 bytes are ever read. what names the file's role in
 * messages ("criteria file", "model file").
 * Returns CREST_OK; CREST_ERR_IO (cannot open or read), CREST_ERR_INVALID (not
 * a regular file), CREST_ERR_RANGE (over the cap), CREST_ERR_NOMEM.
 */
CREST_API crest_status crest_file_read(const char *path, size_t max_bytes, const char *what, char **data,
                                       size_t *len, crest_diag *diag);

/*
 * Where a loader gets the bytes of a file it needs: kind and path say which
 * (name is the table's name for lists and bands, else NULL). On success
 * the data and len outputs hold bytes owned by the reader that stay valid until the
 * loader returns (the reader's owner may keep them longer). On failure the
 * reader fills diag and returns its status.
 */
typedef crest_status (*crest_file_reader)(void *ctx, crest_file_kind kind, const char *path, const char *name,
                                          const char **data, size_t *len, crest_diag *diag);

/*
 * A bounded excerpt of untrusted text for a message: at most max_chars bytes
 * of s[0..n), control bytes and '\\' written as \xNN, '…' appended
 * when cut. Writes a NUL-terminated string into buf[cap] and returns buf.
 */
CREST_API const char *crest_excerpt(char *buf, size_t cap, const char *s, size_t n, size_t max_chars);

#ifdef __cplusplus
}
#endif
#endif
