/* The C side of benches/c_overhead.rs: `uidcache_message_at` in a loop over the
 * sequence numbers the Rust side also looks up (the same xorshift), timed with
 * CLOCK_MONOTONIC. Usage: message_at DIR EXISTS LOOKUPS SEED ROUNDS MODE
 * (MODE 0: random sequence numbers, 1: ascending). Prints one "ns_per_call" line per round. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "uidcache.h"

static uint64_t xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 7) return 2;
    uint32_t exists = (uint32_t)strtoul(argv[2], NULL, 10);
    uint64_t lookups = strtoull(argv[3], NULL, 10);
    uint64_t seed = strtoull(argv[4], NULL, 10);
    int rounds = atoi(argv[5]);
    int ascending = atoi(argv[6]);
    uidcache_open_options o;
    uidcache_open_options_init(&o);
    o.flags = UIDCACHE_OPEN_READ_ONLY;
    uidcache_cache *c;
    if (uidcache_open(argv[1], &o, &c) != UIDCACHE_OK) {
        fprintf(stderr, "open: %s\n", uidcache_last_error_message());
        return 1;
    }
    uint64_t sum = 0;
    /* Round 0 warms: every block mapped, as in the Rust loop. */
    for (int round = 0; round <= rounds; round++) {
        uint64_t s = seed;
        double start = now_ns();
        for (uint64_t i = 0; i < lookups; i++) {
            uint32_t seq = ascending ? (uint32_t)(i % exists) + 1
                                     : (uint32_t)(xorshift(&s) % exists) + 1;
            uidcache_message m;
            bool found;
            if (uidcache_message_at(c, seq, &m, &found) != UIDCACHE_OK) return 1;
            sum += found ? m.uid : 0;
        }
        double ns = (now_ns() - start) / (double)lookups;
        if (round > 0) printf("ns_per_call %.3f\n", ns);
    }
    printf("sum %llu\n", (unsigned long long)sum);
    uidcache_close(c);
    return 0;
}
