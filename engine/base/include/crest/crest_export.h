/*
 * crest_export.h — CREST_API marks the functions libcrest.so exports.
 *
 * crest's libraries are compiled with -fvisibility=hidden: a function is part
 * of the shared library's interface only when its declaration in an installed
 * header starts with CREST_API (as zstd's ZSTDLIB_API and SQLite's SQLITE_API
 * do). Everything else — internal modules, even with external linkage — stays
 * inside the library. Every public function of an installed header carries it;
 * ctest's `exports` test checks both directions.
 */
#ifndef CREST_EXPORT_H
#define CREST_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define CREST_API __attribute__((visibility("default")))
#else
#define CREST_API
#endif

#endif /* CREST_EXPORT_H */
