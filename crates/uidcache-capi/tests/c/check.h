/* Shared by the C tests: a check that names the line, the status and the library's
 * message, and exits 1 (the Rust harness, tests/c_suite.rs, asserts the exit code). */
#ifndef UIDCACHE_TEST_CHECK_H
#define UIDCACHE_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uidcache.h"

static inline const char *last_message(void) {
    const char *m = uidcache_last_error_message();
    return m ? m : "(none)";
}

/* A call that must return `want`. */
#define EXPECT(want, call)                                                              \
    do {                                                                                \
        uidcache_status got_ = (call);                                                  \
        if (got_ != (want)) {                                                           \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s); last error: %s\n", \
                    __FILE__, __LINE__, #call, (int)got_, (int)(want), #want,           \
                    last_message());                                                    \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

/* A call that must succeed. */
#define OK(call) EXPECT(UIDCACHE_OK, call)

/* A condition that must hold. */
#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

/* The last error message on this thread contains `needle`. */
#define MESSAGE_HAS(needle)                                                          \
    do {                                                                             \
        if (strstr(last_message(), (needle)) == NULL) {                              \
            fprintf(stderr, "%s:%d: last error \"%s\" lacks \"%s\"\n", __FILE__,     \
                    __LINE__, last_message(), (needle));                             \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

/* `base/name` into `out`. */
static inline void join(char *out, size_t cap, const char *base, const char *name) {
    int n = snprintf(out, cap, "%s/%s", base, name);
    CHECK(n > 0 && (size_t)n < cap);
}

#endif
